// Per-stage timeouts of one outbound SMTP session (Postfix's smtp_helo/mail/rcpt/data_init/
// data_xfer/data_done timeouts). nodemailer bounds connect and greeting itself; for the rest it has
// one inactivity timer, which a peer trickling bytes defeats. This watch follows the session through
// nodemailer's transaction log (a public option: each command sent, each reply received) and the
// message body as nodemailer reads it, and cuts the session when a stage overruns.
import { Readable } from 'node:stream';
import type { DeliveryTimeouts } from '../domain/model.js';
import type { SmtpError } from './connection.js';

type Stage = 'command' | 'dataInit' | 'dataTransfer' | 'dataDone';

interface Owed {
  stage: Stage;
  /** The command as nodemailer names stages (MAIL FROM, RCPT TO, DATA …), for the error. */
  command: string;
}

const STAGE_KEY: Record<Stage, keyof DeliveryTimeouts> = {
  command: 'commandMs',
  dataInit: 'dataInitMs',
  dataTransfer: 'dataTransferMs',
  dataDone: 'dataDoneMs',
};

const COMMAND_NAMES: Record<string, string> = { MAIL: 'MAIL FROM', RCPT: 'RCPT TO' };

function owedFor(line: string): Owed {
  const verb = /^\S+/.exec(line)?.[0]?.toUpperCase() ?? '';
  if (verb === 'DATA') return { stage: 'dataInit', command: 'DATA' };
  return { stage: 'command', command: COMMAND_NAMES[verb] ?? verb };
}

const WAITING_FOR: Record<Stage, string> = {
  command: 'the reply to',
  dataInit: 'the reply to',
  dataTransfer: 'the peer to take more of the message after',
  dataDone: 'the reply after the end of',
};

export class StageWatch {
  /** Set once a stage overran; the session is then closed and every pending call fails with it. */
  error: SmtpError | null = null;
  /** Called once when a stage overruns. */
  onExpire: (err: SmtpError) => void = () => undefined;
  private readonly owed: Owed[] = [];
  private timer: NodeJS.Timeout | undefined;
  private current: Owed | null = null;

  /** A bunyan-style logger for nodemailer: only the transaction lines are read. */
  readonly logger = {
    debug: (entry: { tnx?: string }, line: unknown) => {
      if (entry?.tnx === 'client') this.sent(String(line));
      else if (entry?.tnx === 'server') this.replied();
    },
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
    trace: () => undefined,
    fatal: () => undefined,
  };

  constructor(private readonly timeouts: DeliveryTimeouts) {}

  private sent(line: string): void {
    this.owed.push(owedFor(line));
    if (this.owed.length === 1) this.arm(this.owed[0]!);
  }

  private replied(): void {
    // The greeting and other unsolicited replies arrive with nothing owed: nodemailer times those.
    if (!this.owed.length) return;
    this.owed.shift();
    const next = this.owed[0];
    if (next) this.arm(next);
    else this.disarm();
  }

  /** nodemailer began reading the message (after 354): the transfer stage, re-armed per chunk. */
  dataProgress(): void {
    if (this.current?.stage === 'dataTransfer' && this.timer) this.timer.refresh();
    else this.arm({ stage: 'dataTransfer', command: 'DATA' });
  }

  /** The whole message was handed over: the final reply is owed. */
  dataEnded(): void {
    this.owed.push({ stage: 'dataDone', command: 'DATA' });
    if (this.owed.length === 1) this.arm(this.owed[0]!);
  }

  private arm(owed: Owed): void {
    clearTimeout(this.timer);
    this.current = owed;
    const ms = this.timeouts[STAGE_KEY[owed.stage]];
    this.timer = setTimeout(() => this.expire(owed, ms), ms);
    this.timer.unref();
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.current = null;
  }

  private expire(owed: Owed, ms: number): void {
    this.disarm();
    if (this.error) return;
    const text = `Timed out after ${ms / 1000} s waiting for ${WAITING_FOR[owed.stage]} ${owed.command} (delivery.timeouts.${owed.stage})`;
    this.error = Object.assign(new Error(text), { code: 'ETIMEDOUT', command: owed.command, response: text, timeoutStage: owed.stage });
    this.onExpire(this.error);
  }
}

/**
 * The body as nodemailer will read it, reporting each chunk and the end to `watch`. The source is
 * not touched until nodemailer reads (after 354), so a pool can still tell an unread body.
 */
export function watchedBody(src: Readable, watch: StageWatch): Readable {
  let started = false;
  const out = new Readable({
    read() {
      if (started) {
        src.resume();
        return;
      }
      started = true;
      src.on('data', (chunk: Buffer) => {
        watch.dataProgress();
        if (!out.push(chunk)) src.pause();
      });
      src.once('end', () => {
        watch.dataEnded();
        out.push(null);
      });
      src.once('error', (err) => out.destroy(err));
    },
    destroy(err, callback) {
      src.destroy();
      callback(err);
    },
  });
  return out;
}
