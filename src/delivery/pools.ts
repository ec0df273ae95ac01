// Outbound connection pools, one per outbound connector (not per host): the connector's
// maxConnections caps its open connections across all of its smart hosts / MX hosts together, and
// a connection carries at most maxMessagesPerConnection transactions before it is closed and a
// fresh one opened. Each new session is judged by the connector's TLS policy before it carries mail.
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import type tls from 'node:tls';
import type { OutboundConnector } from '../domain/model.js';
import type { Logger } from '../observe/log.js';
import { SmtpSession, type SendInfo, type SessionOptions, type SmtpError } from './connection.js';
import { evaluateTls, policyReply, tlsConnectOptions } from './tls-policy.js';

const CONNECT_TIMEOUT_MS = 15_000;
const GREETING_TIMEOUT_MS = 15_000;
const SOCKET_TIMEOUT_MS = 120_000;
/** An idle connection is kept this long for the next message (Postfix caches for 2 s by default). */
const IDLE_KEEP_MS = 5_000;
/** How long a delivery waits for a free connection slot before it is deferred. */
const SLOT_WAIT_TIMEOUT_MS = 10 * 60_000;

export interface PoolTarget {
  /** Address to connect to (already resolved). */
  host: string;
  port: number;
  /** Smart host / MX name: TLS SNI, DomainValidation default, logs. */
  name: string;
}

export interface Envelope {
  from: string;
  to: string[];
}

export const targetKey = (t: PoolTarget): string => `${t.host}:${t.port}`;

export class Pools {
  private readonly pools = new Map<string, { signature: string; pool: ConnectorPool }>();
  constructor(
    private readonly heloName: () => string,
    private readonly log?: Logger,
  ) {}

  /** One SMTP transaction for `envelope` through the connector's pool; rejects with an SmtpError. */
  send(connector: OutboundConnector, target: PoolTarget, envelope: Envelope, body: () => Readable): Promise<SendInfo> {
    let pool: ConnectorPool;
    try {
      pool = this.poolFor(connector);
    } catch (err) {
      // An unreadable tlsCa/tlsCert/tlsKey file is our problem, not the host's: a local error (defer).
      const e = err as SmtpError;
      return Promise.reject(Object.assign(e, { code: 'ECONFIG', command: 'API', response: `connector ${connector.name}: ${e.message}` }));
    }
    return pool.send(target, envelope, body);
  }

  private poolFor(connector: OutboundConnector): ConnectorPool {
    const signature = JSON.stringify([connector, this.heloName()]);
    const existing = this.pools.get(connector.name);
    if (existing && existing.signature === signature) return existing.pool;
    // The connector changed on reload: the old pool drains (its busy sessions close when done).
    existing?.pool.retire();
    const pool = new ConnectorPool(connector, this.heloName(), tlsConnectOptions(connector), this.log);
    this.pools.set(connector.name, { signature, pool });
    return pool;
  }

  closeAll(): void {
    for (const p of this.pools.values()) p.pool.retire();
    this.pools.clear();
  }
}

class ConnectorPool {
  private open = 0;
  private readonly idle: SmtpSession[] = [];
  private readonly waiters = new Set<() => void>();
  private retired = false;

  constructor(
    private readonly connector: OutboundConnector,
    private readonly helo: string,
    private readonly tls: tls.ConnectionOptions,
    private readonly log: Logger | undefined,
  ) {}

  async send(target: PoolTarget, envelope: Envelope, body: () => Readable): Promise<SendInfo> {
    for (let attempt = 0; ; attempt++) {
      const session = await this.acquire(target);
      const reused = session.messages > 0;
      const stream = body();
      try {
        const info = await session.send(envelope, stream);
        this.release(session, 'keep');
        return info;
      } catch (err) {
        const e = err as SmtpError;
        // A refused envelope or message leaves the session usable after RSET (as nodemailer's pool does).
        const refused = (e.code === 'EENVELOPE' || e.code === 'EMESSAGE') && e.responseCode !== 421;
        this.release(session, refused ? 'reset' : 'close');
        // A cached connection the server had already dropped: nothing was sent, so try a fresh one once.
        const stale = reused && !e.responseCode && stream.readableDidRead === false;
        if (stale && attempt === 0) continue;
        stream.destroy();
        throw err;
      }
    }
  }

  private async acquire(target: PoolTarget): Promise<SmtpSession> {
    const key = targetKey(target);
    const deadline = Date.now() + SLOT_WAIT_TIMEOUT_MS;
    for (;;) {
      const cached = this.takeIdle(key);
      if (cached) return cached;
      if (this.open < this.connector.maxConnections) {
        this.open++;
        let session: SmtpSession;
        try {
          session = await this.connect(target);
        } catch (err) {
          this.freeSlot();
          throw err;
        }
        // The slot is given back only when the socket is gone, so the peer never sees more than the cap.
        void session.closed.then(() => {
          this.dropIdle(session);
          this.freeSlot();
        });
        return session;
      }
      // Every slot is taken: an idle connection to another host gives its slot up for this one.
      const other = this.idle.find((s) => s.key !== key);
      if (other) {
        this.dropIdle(other);
        other.quit();
      }
      await this.waitForChange(deadline);
    }
  }

  private async connect(target: PoolTarget): Promise<SmtpSession> {
    const settings = this.connector.tlsSettings;
    let session: SmtpSession;
    try {
      session = await SmtpSession.open(this.options(target, false), targetKey(target));
    } catch (err) {
      const e = err as SmtpError;
      if (e.code !== 'ETLS') throw err;
      if (settings !== null) throw this.policyError(target, `TlsNegotiationFailed ${e.message}`);
      // Opportunistic TLS (tlsSettings: null) only: a broken handshake is retried once in plaintext on
      // the same host, as Postfix's `may` level does; any required level never downgrades.
      this.log?.warn(
        { stage: 'deliver', connector: this.connector.name, host: targetKey(target), err: e.message },
        'TLS handshake failed; retrying in plaintext (opportunistic TLS)',
      );
      return SmtpSession.open(this.options(target, true), targetKey(target), true);
    }
    const verdict = evaluateTls(settings, this.connector.tlsDomain ?? target.name, session.tlsFacts());
    if (!verdict.ok) {
      session.quit();
      throw this.policyError(target, verdict.message);
    }
    return session;
  }

  private policyError(target: PoolTarget, message: string): SmtpError {
    const response = policyReply(message);
    this.log?.warn({ stage: 'deliver', connector: this.connector.name, host: targetKey(target), name: target.name, code: 'E_TLS_POLICY', response }, 'TLS policy refused the session');
    return Object.assign(new Error(response), { code: 'E_TLS_POLICY', responseCode: 450, response, command: 'STARTTLS' });
  }

  private options(target: PoolTarget, plaintext: boolean): SessionOptions {
    return {
      host: target.host,
      port: target.port,
      secure: false,
      name: this.helo,
      // STARTTLS whenever offered; a refused STARTTLS continues in plaintext and evaluateTls decides.
      opportunisticTLS: true,
      ignoreTLS: plaintext,
      ...(isIP(target.name) ? {} : { servername: target.name }),
      tls: this.tls,
      connectionTimeout: CONNECT_TIMEOUT_MS,
      greetingTimeout: GREETING_TIMEOUT_MS,
      socketTimeout: SOCKET_TIMEOUT_MS,
    };
  }

  private release(session: SmtpSession, how: 'keep' | 'reset' | 'close'): void {
    const spent = session.messages >= this.connector.maxMessagesPerConnection;
    if (how === 'close' || this.retired || spent || session.isClosed) {
      if (how === 'close') session.close();
      else session.quit();
      return;
    }
    const park = () => {
      this.idle.push(session);
      session.park(IDLE_KEEP_MS, () => {
        this.dropIdle(session);
        session.quit();
      });
      this.wake();
    };
    if (how === 'keep') return park();
    session.reset().then(park, () => session.close());
  }

  private takeIdle(key: string): SmtpSession | undefined {
    const i = this.idle.findIndex((s) => s.key === key && !s.isClosed);
    if (i < 0) return undefined;
    const [session] = this.idle.splice(i, 1);
    session!.unpark();
    return session;
  }

  private dropIdle(session: SmtpSession): void {
    const i = this.idle.indexOf(session);
    if (i >= 0) this.idle.splice(i, 1);
  }

  private freeSlot(): void {
    this.open--;
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private waitForChange(deadline: number): Promise<void> {
    const left = deadline - Date.now();
    if (left <= 0) {
      const err: SmtpError = Object.assign(new Error(`no free connection to ${this.connector.name} within ${SLOT_WAIT_TIMEOUT_MS} ms`), { code: 'EPOOLWAIT' });
      return Promise.reject(err);
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, left);
      this.waiters.add(done);
    });
  }

  retire(): void {
    this.retired = true;
    for (const s of this.idle.splice(0)) s.quit();
  }
}
