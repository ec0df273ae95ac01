// Outbound connection pools, one per destination (a smart-host connector, or one MX domain): its
// window (the connector's maxConnections, or delivery.concurrency.perDomain) caps its open
// connections across all of its hosts together, and a connection carries at most
// maxMessagesPerConnection transactions before a fresh one is opened. Each new session is judged by
// the connector's TLS policy before it carries mail. The queue manager dispatches no more
// deliveries than the window, so a delivery never waits here for long: at most for a connection
// that is closing (QUIT) to give its slot back.
// In cluster mode with Redis (issue 13) the window is cluster-wide: each new connection also holds
// a lease from the slot gate (cluster/slot-leases.ts) until its socket is gone. Without a gate
// (a single node) nothing here awaits anything more than before.
import { setMaxListeners } from 'node:events';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import type tls from 'node:tls';
import type { DeliveryTimeouts, OutboundConnector } from '../domain/model.js';
import type { Logger } from '../observe/log.js';
import { DELIVERY_TIMEOUT_DEFAULTS } from '../domain/connector-defaults.js';
import { SmtpSession, type OutboundSession, type SendInfo, type SessionOpener, type SessionOptions, type SmtpError } from './connection.js';
import { remoteOpener } from './remote-session.js';
import { evaluateTls, policyReply, tlsConnectOptions } from './tls-policy.js';
import type { Lease, LeaseGate } from '../cluster/slot-leases.js';

/** An idle connection is kept this long for the next message (Postfix caches for 2 s by default). */
const IDLE_KEEP_MS = 5_000;
/**
 * How long a delivery waits for a slot held by a connection that is closing: a QUIT is cut after
 * 5 s (connection.ts), so a slot comes back within this. The queue manager's window does the rest.
 */
const SLOT_WAIT_TIMEOUT_MS = 6_000;
/**
 * A message larger than this is delivered by a session on this thread, not the delivery thread:
 * its body would cross as fresh memory, which the delivery thread's heap (little JavaScript of its
 * own, so rarely collected) gives back only once about 64 MB have piled up. A 100 MB message grew
 * the process by ~100 MB that way against ~35 MB here.
 */
export const DELIVERY_THREAD_MAX_BYTES = 1024 * 1024;
/** In cluster mode an idle connection holds a slot another replica may be waiting for: keep it briefly. */
const CLUSTER_IDLE_KEEP_MS = 1_000;
/** A slot held by another replica frees without a local event: ask the cluster again this often. */
const CLUSTER_SLOT_POLL_MS = 100;

/** The cluster's connection slots: leases per destination key, and a call when this replica holds too many. */
export interface SlotGate extends LeaseGate {
  onOver(fn: (key: string, idleToClose: number) => void): void;
}

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

/** Which pool: the destination's key, its connector and its window. */
export interface PoolSpec {
  key: string;
  connector: OutboundConnector;
  maxConnections: number;
}

/** A destination's pool and the settings it was built with. */
interface PoolSlot {
  signature: string;
  pool: ConnectorPool;
  connector: OutboundConnector;
  maxConnections: number;
  helo: string;
  timeouts: DeliveryTimeouts;
}

export class Pools {
  private readonly pools = new Map<string, PoolSlot>();
  private stopping = false;
  /** Pools replaced by refreshTls() whose sessions are still finishing (a stop cuts them too). */
  private readonly retiring = new Set<ConnectorPool>();
  constructor(
    private readonly heloName: () => string,
    private readonly log?: Logger,
    private readonly timeouts: () => DeliveryTimeouts = () => DELIVERY_TIMEOUT_DEFAULTS,
    /** Cluster-wide slots (cluster mode with Redis); null on a single node. */
    private readonly slots: SlotGate | null = null,
    /** Where sessions run: the delivery thread, or this thread with SLUICE_DELIVERY_THREAD=0 (A/B runs). */
    private readonly opener: SessionOpener = process.env.SLUICE_DELIVERY_THREAD === '0' ? SmtpSession.open : remoteOpener(log),
  ) {
    slots?.onOver((key, n) => this.pools.get(key)?.pool.shedIdle(n));
  }

  /**
   * One SMTP transaction for `envelope` through the destination's pool; rejects with an SmtpError.
   * `size` (the message's bytes, when known) keeps a large message off the delivery thread.
   */
  send(spec: PoolSpec, target: PoolTarget, envelope: Envelope, body: () => Readable, size = 0): Promise<SendInfo> {
    if (this.stopping) return Promise.reject(stoppingError());
    let pool: ConnectorPool;
    try {
      pool = this.poolFor(spec);
    } catch (err) {
      // An unreadable tlsCa/tlsCert/tlsKey file is our problem, not the host's: a local error (defer).
      const e = err as SmtpError;
      return Promise.reject(Object.assign(e, { code: 'ECONFIG', command: 'API', response: `connector ${spec.connector.name}: ${e.message}` }));
    }
    return pool.send(target, envelope, body, size > DELIVERY_THREAD_MAX_BYTES);
  }

  private poolFor(spec: PoolSpec): ConnectorPool {
    const timeouts = this.timeouts();
    const helo = this.heloName();
    const existing = this.pools.get(spec.key);
    // The model is frozen and replaced whole on reload: the same objects mean the same settings,
    // so the signature is only built (a JSON.stringify per message otherwise) when one changed.
    const same = existing && existing.connector === spec.connector && existing.maxConnections === spec.maxConnections && existing.helo === helo && existing.timeouts === timeouts;
    if (existing && same) return existing.pool;
    const signature = JSON.stringify([spec.connector, spec.maxConnections, helo, timeouts]);
    if (existing && existing.signature === signature) {
      Object.assign(existing, { connector: spec.connector, maxConnections: spec.maxConnections, helo, timeouts });
      return existing.pool;
    }
    // The connector changed on reload: the old pool drains (its busy sessions close when done).
    existing?.pool.retire();
    const pool = new ConnectorPool(spec.connector, spec.maxConnections, this.heloName(), tlsConnectOptions(spec.connector), timeouts, this.log, this.slots ? { gate: this.slots, key: spec.key } : null, this.opener);
    this.pools.set(spec.key, { signature, pool, connector: spec.connector, maxConnections: spec.maxConnections, helo, timeouts });
    return pool;
  }

  /** Connections per destination pool, for `sluice connectors` (live state over the control socket). */
  stats(): { key: string; connector: string; open: number; busy: number }[] {
    return [...this.pools].map(([key, p]) => ({ key, connector: p.connector.name, ...p.pool.counts }));
  }

  /** Drops pools with nothing open (MX pools are per domain, so they come and go). */
  sweep(): void {
    for (const [key, p] of this.pools) if (p.pool.isEmpty) this.pools.delete(key);
    for (const p of this.retiring) if (p.isEmpty) this.retiring.delete(p);
  }

  /**
   * Renewed tlsCert/tlsKey/tlsCa files: every pool is rebuilt at its next message, reading the
   * files again; sessions in flight finish on the connection they have.
   */
  refreshTls(): void {
    for (const p of this.pools.values()) {
      p.pool.retire();
      this.retiring.add(p.pool);
    }
    this.pools.clear();
  }

  closeAll(): void {
    for (const p of this.pools.values()) p.pool.retire();
    this.pools.clear();
  }

  /**
   * Stop without waiting for slow peers: cuts every session in flight (also those still
   * connecting or waiting for a greeting), and refuses new ones. Their messages are deferred.
   */
  abortAll(): void {
    this.stopping = true;
    for (const p of this.pools.values()) p.pool.abort();
    for (const p of this.retiring) p.abort();
    this.pools.clear();
    this.retiring.clear();
  }
}

const stoppingError = (): SmtpError =>
  Object.assign(new Error('delivery cut short: sluice is stopping'), { code: 'ESTOPPING', command: 'API', response: 'delivery cut short: sluice is stopping' });

class ConnectorPool {
  private open = 0;
  private readonly idle: OutboundSession[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly busy = new Set<OutboundSession>();
  private readonly aborter = new AbortController();
  private retired = false;

  constructor(
    private readonly connector: OutboundConnector,
    private readonly maxConnections: number,
    private readonly helo: string,
    private readonly tls: tls.ConnectionOptions,
    private readonly timeouts: DeliveryTimeouts,
    private readonly log: Logger | undefined,
    private readonly cluster: { gate: LeaseGate; key: string } | null = null,
    private readonly opener: SessionOpener = SmtpSession.open,
  ) {
    // Every connection being opened listens for the stop: up to the window at once.
    setMaxListeners(0, this.aborter.signal);
  }

  get counts(): { open: number; busy: number } {
    return { open: this.open, busy: this.busy.size };
  }

  get isEmpty(): boolean {
    return this.open === 0 && this.waiters.size === 0;
  }

  /** `local`: the session must run on this thread (a large message), not the delivery thread. */
  async send(target: PoolTarget, envelope: Envelope, body: () => Readable, local = false): Promise<SendInfo> {
    for (let attempt = 0; ; attempt++) {
      const session = await this.acquire(target, local);
      this.busy.add(session);
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
        const stale = reused && !e.responseCode && e.unsent === true;
        if (stale && attempt === 0) continue;
        stream.destroy();
        throw err;
      }
    }
  }

  private async acquire(target: PoolTarget, local: boolean): Promise<OutboundSession> {
    const key = targetKey(target);
    const deadline = Date.now() + SLOT_WAIT_TIMEOUT_MS;
    for (;;) {
      const cached = this.takeIdle(key, local);
      if (cached) return cached;
      if (this.open < this.maxConnections) {
        this.open++;
        let lease: Lease | null = null;
        if (this.cluster) {
          lease = await this.cluster.gate.acquire(this.cluster.key, this.maxConnections);
          if (!lease) {
            // Every slot is held somewhere in the cluster: wait for one, then defer (EPOOLWAIT).
            this.open--;
            await this.waitForChange(deadline, CLUSTER_SLOT_POLL_MS);
            continue;
          }
        }
        let session: OutboundSession;
        try {
          session = await this.connect(target, local ? SmtpSession.open : this.opener);
        } catch (err) {
          this.freeSlot(lease);
          throw err;
        }
        // The slot is given back only when the socket is gone, so the peer never sees more than the cap.
        void session.closed.then(() => {
          this.dropIdle(session);
          this.freeSlot(lease);
        });
        return session;
      }
      // Every slot is taken: an idle connection to another host gives its slot up for this one.
      const other = this.idle.find((s) => s.key !== key || this.kindDiffers(s, local));
      if (other) {
        this.dropIdle(other);
        other.quit();
      }
      await this.waitForChange(deadline);
    }
  }

  private async connect(target: PoolTarget, open: SessionOpener): Promise<OutboundSession> {
    const settings = this.connector.tlsSettings;
    let session: OutboundSession;
    try {
      session = await open(this.options(target, false), targetKey(target), this.timeouts, false, this.aborter.signal);
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
      return open(this.options(target, true), targetKey(target), this.timeouts, true, this.aborter.signal);
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
      connectionTimeout: this.timeouts.connectMs,
      dnsTimeout: this.timeouts.connectMs,
      greetingTimeout: this.timeouts.greetingMs,
      // nodemailer's own inactivity timer is only a backstop: stage-watch.ts times each stage.
      socketTimeout: Math.max(...Object.values(this.timeouts)),
    };
  }

  private release(session: OutboundSession, how: 'keep' | 'reset' | 'close'): void {
    this.busy.delete(session);
    const spent = session.messages >= this.connector.maxMessagesPerConnection;
    if (how === 'close' || this.retired || spent || session.isClosed) {
      if (how === 'close') session.close();
      else session.quit();
      return;
    }
    const park = () => {
      this.idle.push(session);
      session.park(this.cluster ? CLUSTER_IDLE_KEEP_MS : IDLE_KEEP_MS, () => {
        this.dropIdle(session);
        session.quit();
      });
      this.wake();
    };
    if (how === 'keep') return park();
    session.reset().then(park, () => session.close());
  }

  /** A session of the other kind than wanted: a large message wants one on this thread. */
  private kindDiffers(s: OutboundSession, local: boolean): boolean {
    return local && s.onDeliveryThread;
  }

  private takeIdle(key: string, local: boolean): OutboundSession | undefined {
    const i = this.idle.findIndex((s) => s.key === key && !s.isClosed && !this.kindDiffers(s, local));
    if (i < 0) return undefined;
    const [session] = this.idle.splice(i, 1);
    session!.unpark();
    return session;
  }

  private dropIdle(session: OutboundSession): void {
    const i = this.idle.indexOf(session);
    if (i >= 0) this.idle.splice(i, 1);
  }

  private freeSlot(lease: Lease | null): void {
    this.open--;
    if (lease) this.cluster?.gate.release(lease);
    this.wake();
  }

  /** Above this replica's share of a cluster-wide cap: close up to `n` idle connections. */
  shedIdle(n: number): void {
    for (const s of this.idle.splice(0, n)) s.quit();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private waitForChange(deadline: number, pollMs = Infinity): Promise<void> {
    const left = deadline - Date.now();
    if (left <= 0) {
      const err: SmtpError = Object.assign(new Error(`no free connection to ${this.connector.name} within ${SLOT_WAIT_TIMEOUT_MS} ms`), { code: 'EPOOLWAIT', command: 'API' });
      return Promise.reject(err);
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(left, pollMs));
      this.waiters.add(done);
    });
  }

  abort(): void {
    this.retire();
    this.aborter.abort(stoppingError());
    for (const s of this.busy) s.close();
  }

  retire(): void {
    this.retired = true;
    for (const s of this.idle.splice(0)) s.quit();
  }
}
