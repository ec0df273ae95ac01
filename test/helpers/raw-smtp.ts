// A byte-exact SMTP client for tests that must send what real clients won't: bare LF,
// pipelined commands, smuggling attempts, oversized SIZE= values. Every wait is bounded.
import net from 'node:net';
import type { Duplex } from 'node:stream';

export class RawSmtp {
  private buf = '';
  private waiters: (() => void)[] = [];
  closed = false;

  /** Wraps any duplex stream: a plain socket, or the TLS socket after a STARTTLS upgrade. */
  constructor(readonly socket: Duplex) {
    socket.on('data', (d: Buffer | string) => {
      this.buf += typeof d === 'string' ? d : d.toString('latin1');
      this.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number, opts: { localAddress?: string; host?: string } = {}): Promise<RawSmtp> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: opts.host ?? '127.0.0.1', ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
      s.once('connect', () => resolve(new RawSmtp(s)));
      s.once('error', reject);
    });
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves with the next complete (possibly multi-line) reply, or '' if the peer closed. */
  async reply(timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m[0].length);
        return m[0].trimEnd();
      }
      if (this.closed) return '';
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no SMTP reply within ${timeoutMs} ms (buffer: ${JSON.stringify(this.buf)})`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Whatever arrived and was not consumed as a reply. */
  pending(): string {
    return this.buf;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Sends one command line (CRLF added) and returns its reply. */
  async cmd(line: string, timeoutMs?: number): Promise<string> {
    this.write(line + '\r\n');
    return this.reply(timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }
}
