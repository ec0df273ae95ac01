// A small, byte-exact SMTP client for what smtp-source cannot do: STARTTLS, and timing each
// message from the end of DATA ("<CRLF>.<CRLF>" written) to the 250 reply. One message per
// connection, like smtp-source without -d; noDelay on; each command and the message in one write.
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

const REPLY_TIMEOUT_MS = 60_000;
const LINE_BYTES = 78;

export interface ClientLoad {
  port: number;
  sessions: number;
  messages: number;
  bodyBytes: number;
  rcpts: number;
  starttls: boolean;
  timeoutMs: number;
}

export interface ClientResult {
  /** DATA-end → 250, milliseconds, one per accepted message. */
  latenciesMs: number[];
  failures: number;
  firstError?: string;
}

/** A body of `bytes` bytes in CRLF lines that never start with '.'. */
export function body(bytes: number): Buffer {
  const line = Buffer.from('x'.repeat(LINE_BYTES - 2) + '\r\n');
  const out = Buffer.alloc(bytes);
  for (let o = 0; o < bytes; o += LINE_BYTES) line.copy(out, o, 0, Math.min(LINE_BYTES, bytes - o));
  if (bytes >= 2) out.write('\r\n', bytes - 2);
  return out;
}

export function message(n: number, bodyBytes: number): Buffer {
  const head = `From: <sender@fabrikam.example>\r\nTo: <user@contoso.com>\r\nSubject: bench ${n}\r\nMessage-ID: <${n}.${Date.now()}@bench.example>\r\n\r\n`;
  return Buffer.concat([Buffer.from(head), body(bodyBytes), Buffer.from('.\r\n')]);
}

/** Reads SMTP replies off a socket; `next()` resolves with the next complete (multi-line) reply. */
export class Conversation {
  private buf = '';
  private waiting: ((r: string) => void) | null = null;
  private replies: string[] = [];
  private failed: Error | null = null;
  private onErr: ((e: Error) => void) | null = null;
  constructor(public sock: Socket | TLSSocket) {
    this.attach(sock);
  }
  attach(sock: Socket | TLSSocket): void {
    this.sock = sock;
    sock.setNoDelay(true);
    sock.setEncoding('latin1');
    sock.on('data', (c: string) => this.feed(c));
    sock.on('error', (e) => this.fail(e));
    sock.on('close', () => this.fail(new Error('connection closed')));
  }
  private feed(c: string): void {
    this.buf += c;
    let end: number;
    // A reply is complete at a line whose 4th character is a space ("250 ok").
    while ((end = this.completeReply()) >= 0) {
      this.replies.push(this.buf.slice(0, end));
      this.buf = this.buf.slice(end);
    }
    this.flush();
  }
  private completeReply(): number {
    let start = 0;
    for (;;) {
      const nl = this.buf.indexOf('\n', start);
      if (nl < 0) return -1;
      if (this.buf[start + 3] !== '-') return nl + 1;
      start = nl + 1;
    }
  }
  private flush(): void {
    if (this.waiting && this.replies.length) {
      const w = this.waiting;
      this.waiting = null;
      w(this.replies.shift()!);
    }
  }
  private fail(e: Error): void {
    this.failed ??= e;
    this.onErr?.(e);
  }
  next(): Promise<string> {
    if (this.replies.length) return Promise.resolve(this.replies.shift()!);
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('reply timeout')), REPLY_TIMEOUT_MS);
      this.waiting = (r) => (clearTimeout(t), (this.onErr = null), resolve(r));
      this.onErr = (e) => (clearTimeout(t), (this.waiting = null), reject(e));
    });
  }
  async expect(code: string, line?: string | Buffer): Promise<string> {
    if (line !== undefined) this.sock.write(line);
    const r = await this.next();
    if (!r.startsWith(code)) throw new Error(`expected ${code}, got ${r.trim()}`);
    return r;
  }
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, noDelay: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Connect, greet, EHLO and (optionally) STARTTLS + EHLO again. */
export async function session(port: number, starttls: boolean): Promise<Conversation> {
  const c = new Conversation(await open(port));
  await c.expect('220');
  const ehlo = await c.expect('250', 'EHLO client.fabrikam.example\r\n');
  if (!starttls) return c;
  if (!/STARTTLS/i.test(ehlo)) throw new Error('server does not offer STARTTLS');
  await c.expect('220', 'STARTTLS\r\n');
  const plain = c.sock as Socket;
  plain.removeAllListeners('data').removeAllListeners('close').removeAllListeners('error');
  const secure = await new Promise<TLSSocket>((resolve, reject) => {
    const t = tlsConnect({ socket: plain, rejectUnauthorized: false, servername: 'localhost' }, () => resolve(t));
    t.once('error', reject);
  });
  c.attach(secure);
  await c.expect('250', 'EHLO client.fabrikam.example\r\n');
  return c;
}

/** One transaction; returns the DATA-end → 250 time in ms. */
export async function sendOne(c: Conversation, n: number, load: Pick<ClientLoad, 'bodyBytes' | 'rcpts'>): Promise<number> {
  await c.expect('250', 'MAIL FROM:<sender@fabrikam.example>\r\n');
  for (let r = 1; r <= load.rcpts; r++) await c.expect('250', `RCPT TO:<${load.rcpts > 1 ? r : ''}user@contoso.com>\r\n`);
  await c.expect('354', 'DATA\r\n');
  const t0 = performance.now();
  await c.expect('250', message(n, load.bodyBytes));
  return performance.now() - t0;
}

/** `sessions` workers, each message on a fresh connection, until `messages` are sent or time runs out. */
export async function runClient(load: ClientLoad): Promise<ClientResult> {
  const res: ClientResult = { latenciesMs: [], failures: 0 };
  const deadline = Date.now() + load.timeoutMs;
  let next = 0;
  const worker = async () => {
    while (next < load.messages && Date.now() < deadline) {
      const n = next++;
      let c: Conversation | undefined;
      try {
        c = await session(load.port, load.starttls);
        res.latenciesMs.push(await sendOne(c, n, load));
        c.sock.write('QUIT\r\n');
        c.sock.end();
      } catch (e) {
        res.failures++;
        res.firstError ??= (e as Error).message;
        c?.sock.destroy();
      }
    }
  };
  await Promise.all(Array.from({ length: load.sessions }, worker));
  return res;
}

/** True once something on `port` answers with a 220 greeting. */
export function greets(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => (s.destroy(), resolve(ok));
    s.setTimeout(timeoutMs, () => done(false));
    s.once('error', () => done(false));
    s.setEncoding('latin1').once('data', (c: string) => done(c.startsWith('220')));
  });
}
