// Load senders with bookkeeping for fault tests: N concurrent SMTP clients (byte-exact raw
// sessions and nodemailer pools) send numbered messages (X-Test-Seq) and record which ones the
// server acknowledged (250 after DATA). deliveredCounts() tallies what the smart hosts received.
import nodemailer from 'nodemailer';
import { RawSmtp } from './raw-smtp.js';
import type { ReceivedMessage } from './smart-host.js';

const MESSAGES_PER_SESSION = 20;
const RECONNECT_PAUSE_MS = 50;
const REPLY_TIMEOUT_MS = 10_000;

export interface LoadMessage {
  from: string;
  to: string;
}

export interface LoadOptions {
  port: number;
  count: number;
  rawWorkers: number;
  nodemailerWorkers: number;
  /** Absolute time (Date.now()) after which no new message is started. */
  deadline: number;
  envelope: (seq: number) => LoadMessage;
  /** Stops the load early (all workers finish their current message). */
  signal?: AbortSignal;
}

export interface Ledger {
  /** Sequence numbers the server answered 250 to after DATA. */
  acked: Set<number>;
  /** Sequence numbers whose transaction failed after DATA began or was cut (may or may not arrive). */
  unacked: Set<number>;
  /** Reasons a transaction was not acknowledged, counted. */
  reasons: Map<string, number>;
}

export const SEQ_HEADER = 'X-Test-Seq';

export function loadMessage(seq: number, env: LoadMessage): string {
  return (
    `From: <${env.from}>\r\nTo: <${env.to}>\r\nSubject: load ${seq}\r\n` +
    `Message-ID: <load-${seq}@fault.test>\r\n${SEQ_HEADER}: ${seq}\r\nDate: ${new Date().toUTCString()}\r\n\r\n` +
    `Message number ${seq} of the fault load.\r\n`
  );
}

/** Sequence number of a received message, or null. */
export function seqOf(m: ReceivedMessage): number | null {
  const hit = new RegExp(`^${SEQ_HEADER}: (\\d+)\\r?$`, 'm').exec(m.raw.toString('latin1'));
  return hit ? Number(hit[1]) : null;
}

/** How many times each sequence number reached any of the smart hosts. */
export function deliveredCounts(hosts: { messages: ReceivedMessage[] }[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const h of hosts) {
    for (const m of h.messages) {
      const s = seqOf(m);
      if (s !== null) counts.set(s, (counts.get(s) ?? 0) + 1);
    }
  }
  return counts;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runLoad(o: LoadOptions): Promise<Ledger> {
  const ledger: Ledger = { acked: new Set(), unacked: new Set(), reasons: new Map() };
  let next = 0;
  const take = (): number | null => (next < o.count && Date.now() < o.deadline && !o.signal?.aborted ? next++ : null);
  const fail = (seq: number, reason: string) => {
    ledger.unacked.add(seq);
    const key = reason.slice(0, 40);
    ledger.reasons.set(key, (ledger.reasons.get(key) ?? 0) + 1);
  };
  const workers: Promise<void>[] = [];
  for (let i = 0; i < o.rawWorkers; i++) workers.push(rawWorker(o, take, ledger, fail));
  for (let i = 0; i < o.nodemailerWorkers; i++) workers.push(nodemailerWorker(o, take, ledger, fail));
  await Promise.all(workers);
  return ledger;
}

/** Connects, retrying while the daemon is down (refused) until the deadline; null when out of time. */
async function connectRaw(o: LoadOptions): Promise<RawSmtp | null> {
  while (Date.now() < o.deadline && !o.signal?.aborted) {
    try {
      const c = await RawSmtp.connect(o.port);
      const greeting = await c.reply(REPLY_TIMEOUT_MS);
      if (greeting.startsWith('220') && (await c.cmd('EHLO load.fault.test', REPLY_TIMEOUT_MS)).startsWith('250')) return c;
      c.close();
    } catch {
      // refused or reset while the daemon restarts
    }
    await sleep(RECONNECT_PAUSE_MS);
  }
  return null;
}

async function rawWorker(o: LoadOptions, take: () => number | null, ledger: Ledger, fail: (s: number, r: string) => void): Promise<void> {
  let conn: RawSmtp | null = null;
  let sent = 0;
  for (let seq = take(); seq !== null; seq = take()) {
    if (!conn || conn.closed || sent >= MESSAGES_PER_SESSION) {
      if (conn && !conn.closed) conn.close();
      conn = await connectRaw(o);
      sent = 0;
      if (!conn) return fail(seq, 'no connection before the deadline');
    }
    sent++;
    const env = o.envelope(seq);
    try {
      // Until DATA's 354 nothing can be delivered, so a failure there is retried on a new session.
      const pre = [await conn.cmd(`MAIL FROM:<${env.from}>`), await conn.cmd(`RCPT TO:<${env.to}>`), await conn.cmd('DATA')];
      if (!pre[0]!.startsWith('250') || !pre[1]!.startsWith('250') || !pre[2]!.startsWith('354')) {
        fail(seq, `refused before data: ${pre.find((r) => !/^(250|354)/.test(r)) || 'closed'}`);
        conn.close();
        continue;
      }
      const reply = await conn.cmd(loadMessage(seq, env) + '.', REPLY_TIMEOUT_MS);
      if (reply.startsWith('250')) ledger.acked.add(seq);
      else fail(seq, reply === '' ? 'connection cut after DATA' : `data: ${reply}`);
    } catch (err) {
      fail(seq, `raw: ${(err as Error).message}`);
      conn.close();
    }
  }
  if (conn && !conn.closed) {
    conn.write('QUIT\r\n');
    conn.close();
  }
}

async function nodemailerWorker(o: LoadOptions, take: () => number | null, ledger: Ledger, fail: (s: number, r: string) => void): Promise<void> {
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: 1,
    maxMessages: MESSAGES_PER_SESSION,
    host: '127.0.0.1',
    port: o.port,
    secure: false,
    ignoreTLS: true,
    connectionTimeout: 5_000,
    greetingTimeout: 5_000,
    socketTimeout: REPLY_TIMEOUT_MS,
  } as Parameters<typeof nodemailer.createTransport>[0]);
  try {
    for (let seq = take(); seq !== null; seq = take()) {
      const env = o.envelope(seq);
      for (;;) {
        try {
          await transport.sendMail({ envelope: { from: env.from, to: [env.to] }, raw: loadMessage(seq, env) });
          ledger.acked.add(seq);
        } catch (err) {
          const e = err as { code?: string; message: string };
          // Refused at connect: nothing was sent, so the same message is simply tried again.
          if (/ECONNREFUSED/.test(e.message) && Date.now() < o.deadline) {
            await sleep(RECONNECT_PAUSE_MS);
            continue;
          }
          fail(seq, `nodemailer: ${e.code ?? ''} ${e.message}`);
        }
        break;
      }
    }
  } finally {
    transport.close();
  }
}
