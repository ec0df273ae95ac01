// The recipient callout probe (recipientValidation mode Callout, Postfix's reject_unverified_recipient):
// one short SMTP session to the domain's smart host, MAIL FROM:<> and RCPT TO:<address>, then QUIT;
// never DATA. Answers 'valid' (2xx to RCPT), 'invalid' (5xx to RCPT) or 'unknown' (anything else:
// no connection, a timeout, a 4xx, a refused MAIL FROM), which the caller must treat as accepted.
import net from 'node:net';

export type ProbeAnswer =
  | { readonly result: 'valid' | 'invalid'; readonly reply: string }
  | { readonly result: 'unknown'; readonly reason: string };

export interface ProbeTarget {
  readonly host: string;
  readonly port: number;
}

/** The whole probe, connect to QUIT; well under a client's 5-minute RCPT timeout (RFC 5321 §4.5.3.2). */
export const CALLOUT_TIMEOUT_MS = 10_000;
const MAX_REPLY_OCTETS = 64 * 1024;

/** Reads complete SMTP replies ("250-…\r\n250 …\r\n") from a socket. */
class ReplyReader {
  private buf = '';
  private wake: (() => void) | null = null;
  private ended = false;

  constructor(socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buf += d;
      this.wake?.();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
  }

  async next(): Promise<string> {
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m[0].length);
        return m[0].trimEnd();
      }
      if (this.ended) throw new Error('connection closed');
      if (this.buf.length > MAX_REPLY_OCTETS) throw new Error('reply too long');
      await new Promise<void>((r) => (this.wake = r));
      this.wake = null;
    }
  }
}

const code = (reply: string): number => Number(reply.slice(0, 3));
const lastLine = (reply: string): string => reply.split(/\r?\n/).pop() ?? reply;

export async function probeRecipient(target: ProbeTarget, heloName: string, address: string, timeoutMs = CALLOUT_TIMEOUT_MS): Promise<ProbeAnswer> {
  const socket = net.connect({ host: target.host, port: target.port });
  socket.on('error', () => undefined); // reported through the reader's close
  const timer = setTimeout(() => socket.destroy(new Error('timeout')), timeoutMs);
  const reader = new ReplyReader(socket);
  const say = async (line: string): Promise<string> => {
    socket.write(line + '\r\n');
    return reader.next();
  };
  try {
    const greeting = await reader.next();
    if (code(greeting) !== 220) return { result: 'unknown', reason: `greeting: ${lastLine(greeting)}` };
    let hello = await say(`EHLO ${heloName}`);
    if (code(hello) !== 250) hello = await say(`HELO ${heloName}`);
    if (code(hello) !== 250) return { result: 'unknown', reason: `EHLO: ${lastLine(hello)}` };
    const mail = await say('MAIL FROM:<>');
    if (code(mail) !== 250) return { result: 'unknown', reason: `MAIL FROM:<>: ${lastLine(mail)}` };
    const rcpt = await say(`RCPT TO:<${address}>`);
    const c = code(rcpt);
    socket.write('RSET\r\nQUIT\r\n');
    if (c >= 200 && c < 300) return { result: 'valid', reply: lastLine(rcpt) };
    if (c >= 500 && c < 600) return { result: 'invalid', reply: lastLine(rcpt) };
    return { result: 'unknown', reason: `RCPT: ${lastLine(rcpt)}` };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { result: 'unknown', reason: socket.errored ? `${(socket.errored as NodeJS.ErrnoException).code ?? socket.errored.message}` : e.message };
  } finally {
    clearTimeout(timer);
    socket.end();
    setTimeout(() => socket.destroy(), 1_000).unref();
  }
}
