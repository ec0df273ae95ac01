// One smart host or MX probed stage by stage for `sluice validate`: TCP connect, the 220 greeting,
// EHLO (and its extensions), STARTTLS with the connector's TLS options (client certificate, CAs)
// and the presented certificate judged by evaluateTls(), the pure code delivery uses. Nothing
// is sent after the second EHLO but QUIT; the test message goes through the real delivery pool.
import net from 'node:net';
import tls from 'node:tls';
import type { OutboundConnector } from '../domain/model.js';
import { evaluateTls, factsFromSocket, policyReply, tlsConnectOptions } from './tls-policy.js';
import type { PoolTarget } from './pools.js';

export type StageStatus = 'passed' | 'failed' | 'skipped';

export interface StageResult {
  stage: 'Connector' | 'Resolve' | 'Connect' | 'EHLO' | 'TLS' | 'Send';
  target: string | null;
  status: StageStatus;
  ms: number;
  detail: string;
  /** EHLO: the extensions offered; TLS: the presented certificate. */
  data?: Record<string, unknown>;
}

const LINE_MAX = 4096;

/** Reads SMTP replies line by line from a socket that may be swapped (after STARTTLS). */
class ReplyReader {
  private buf = '';
  private waiting: ((reply: string) => void) | null = null;
  private failed: Error | null = null;
  private socket!: net.Socket;
  private readonly onData = (chunk: Buffer) => {
    this.buf += chunk.toString('latin1');
    if (this.buf.length > LINE_MAX * 64) this.fail(new Error('reply too long'));
    this.flush();
  };
  private readonly onEnd = () => this.fail(new Error('connection closed by the server'));
  private readonly onError = (err: Error) => this.fail(err);

  attach(socket: net.Socket): void {
    if (this.socket) for (const [e, f] of [['data', this.onData], ['end', this.onEnd], ['error', this.onError]] as const) this.socket.off(e, f);
    this.socket = socket;
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
  }

  detach(): void {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
  }

  private fail(err: Error): void {
    this.failed ??= err;
    this.flush();
  }

  /** A complete reply (all its lines) is there when a line has a space after the code. */
  private complete(): string | null {
    const lines = this.buf.split('\r\n');
    for (let i = 0; i < lines.length - 1; i++) {
      if (/^\d{3}(?: |$)/.test(lines[i]!)) {
        const reply = lines.slice(0, i + 1).join('\n');
        this.buf = lines.slice(i + 1).join('\r\n');
        return reply;
      }
    }
    return null;
  }

  private flush(): void {
    if (!this.waiting) return;
    const r = this.complete();
    if (r !== null) {
      const w = this.waiting;
      this.waiting = null;
      w(r);
    } else if (this.failed) {
      const w = this.waiting;
      this.waiting = null;
      w(`ERR ${this.failed.message}`);
    }
  }

  next(timeoutMs: number): Promise<string> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        resolve(`ERR no reply within ${timeoutMs / 1000} s`);
      }, timeoutMs);
      this.waiting = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
      this.flush();
    });
  }
}

const ok = (reply: string, code: string) => reply.startsWith(code);
const firstLine = (reply: string) => reply.split('\n')[0] ?? '';

function connect(target: PoolTarget, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: target.host, port: target.port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no connection within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function upgrade(socket: net.Socket, target: PoolTarget, c: OutboundConnector, timeoutMs: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const t = tls.connect({ ...tlsConnectOptions(c), socket, ...(net.isIP(target.name) ? {} : { servername: target.name }) });
    const timer = setTimeout(() => {
      t.destroy();
      reject(new Error(`no TLS handshake within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    t.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(t);
    });
    t.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export interface ProbeResult {
  stages: StageResult[];
  /** Every stage passed: the test message may be sent to this target. */
  usable: boolean;
}

/** Connect, EHLO, TLS for one target; stops at the first stage that fails. */
export async function probeHost(target: PoolTarget, c: OutboundConnector, helo: string, timeoutMs: number): Promise<ProbeResult> {
  const where = `${target.name === target.host ? target.host : `${target.name} (${target.host})`}:${target.port}`;
  const stages: StageResult[] = [];
  let t0 = Date.now();
  const record = (stage: StageResult['stage'], status: StageStatus, detail: string, data?: Record<string, unknown>) => {
    stages.push({ stage, target: where, status, ms: Date.now() - t0, detail, ...(data ? { data } : {}) });
    t0 = Date.now();
    return status === 'passed';
  };
  let socket: net.Socket;
  try {
    socket = await connect(target, timeoutMs);
  } catch (err) {
    record('Connect', 'failed', (err as Error).message);
    return { stages, usable: false };
  }
  const reader = new ReplyReader();
  reader.attach(socket);
  let live: net.Socket = socket;
  const command = async (line: string) => {
    live.write(line + '\r\n');
    return reader.next(timeoutMs);
  };
  try {
    const greeting = await reader.next(timeoutMs);
    if (!record('Connect', ok(greeting, '220') ? 'passed' : 'failed', firstLine(greeting))) return { stages, usable: false };
    let ehlo = await command(`EHLO ${helo}`);
    const extensions = ehlo.split('\n').slice(1).map((l) => l.slice(4));
    if (!record('EHLO', ok(ehlo, '250') ? 'passed' : 'failed', firstLine(ehlo), { extensions })) return { stages, usable: false };
    const offersTls = extensions.some((e) => /^STARTTLS\b/i.test(e));
    if (!offersTls) {
      const verdict = evaluateTls(c.tlsSettings, c.tlsDomain ?? target.name, factsFromSocket(null));
      record('TLS', verdict.ok ? 'passed' : 'failed', verdict.ok ? 'STARTTLS not offered; the connector allows plaintext (opportunistic TLS)' : policyReply(verdict.message));
      return { stages, usable: verdict.ok };
    }
    const starttls = await command('STARTTLS');
    if (!ok(starttls, '220')) {
      const verdict = evaluateTls(c.tlsSettings, c.tlsDomain ?? target.name, factsFromSocket(null));
      record('TLS', verdict.ok ? 'passed' : 'failed', `STARTTLS refused: ${firstLine(starttls)}`);
      return { stages, usable: verdict.ok };
    }
    reader.detach();
    let secure: tls.TLSSocket;
    try {
      secure = await upgrade(socket, target, c, timeoutMs);
    } catch (err) {
      record('TLS', 'failed', `handshake failed: ${(err as Error).message}`);
      return { stages, usable: false };
    }
    live = secure;
    reader.attach(secure);
    const facts = factsFromSocket(secure);
    const peer = secure.getPeerCertificate();
    const cert = {
      subject: facts.subjectCn,
      sans: [...facts.dnsNames, ...facts.ipAddresses],
      issuer: (peer?.issuer?.CN as string | undefined) ?? null,
      validTo: peer?.valid_to ?? null,
      protocol: secure.getProtocol(),
      chainVerified: facts.authorized,
      chainError: facts.authorizationError,
      tlsSettings: c.tlsSettings ?? 'opportunistic',
      expectedName: c.tlsDomain ?? target.name,
    };
    const verdict = evaluateTls(c.tlsSettings, c.tlsDomain ?? target.name, facts);
    if (!record('TLS', verdict.ok ? 'passed' : 'failed', verdict.ok ? `${cert.protocol}, certificate CN=${cert.subject ?? '(none)'} accepted under ${cert.tlsSettings}` : policyReply(verdict.message), cert)) {
      return { stages, usable: false };
    }
    ehlo = await command(`EHLO ${helo}`);
    return { stages, usable: ok(ehlo, '250') };
  } finally {
    live.write('QUIT\r\n');
    live.end();
    setTimeout(() => live.destroy(), 1_000).unref();
  }
}
