// Outbound sessions on the delivery thread (session-worker.ts), seen from the main thread: the
// same OutboundSession the pools use, so the pools, the TLS policy and every retry rule stay
// here, while nodemailer's command/reply handling, dot-stuffing and socket writes no longer take
// the thread that answers inbound SMTP. One worker per process, started at the first connection.
// The worker holds the process open only while it has sessions (an idle daemon's CLI tools exit).
// If it dies, every session on it ends as a dropped connection (the messages are deferred, never
// lost) and the next connection starts a new one.
import { Worker } from 'node:worker_threads';
import type { Readable } from 'node:stream';
import type { DeliveryTimeouts } from '../domain/model.js';
import type { Logger } from '../observe/log.js';
import { ParkableSession, type OutboundSession, type SendInfo, type SessionOpener, type SessionOptions, type SmtpError } from './connection.js';
import { fromWire, infoFromWire, optionsToWire, toWire, type FromWorker, type ToWorker } from './session-protocol.js';
import type { TlsFacts } from './tls-policy.js';
import { WholeBody } from '../queue/whole-body.js';

/** Body bytes posted and not yet taken by the worker, past which the spool stream is paused. */
const BODY_WINDOW_BYTES = 1024 * 1024;
/** Body bytes gathered before they are posted (a message up to this size crosses in one post). */
const POST_BYTES = 64 * 1024;

const lost = (): SmtpError => Object.assign(new Error('Connection closed unexpectedly (delivery thread exited)'), { code: 'ECONNECTION', command: 'CONN' });

/** Bytes the body owns outright (WholeBody.transferable, an ArrayBuffer of their own) move as they are. */
function moved(body: WholeBody): { data: Uint8Array[]; transfer: ArrayBuffer[] } | null {
  const b = body.whole;
  if (!body.transferable || b.byteOffset !== 0 || b.buffer.byteLength !== b.length || !(b.buffer instanceof ArrayBuffer)) return null;
  const u = new Uint8Array(b.buffer, 0, b.length);
  return { data: [u], transfer: [b.buffer] };
}

/** One copy into memory the message owns, so it can be transferred instead of cloned again. */
function packed(chunks: Buffer[], bytes: number): { data: Uint8Array[]; transfer: ArrayBuffer[] } {
  if (!bytes) return { data: [], transfer: [] };
  const u = new Uint8Array(bytes);
  let at = 0;
  for (const c of chunks) {
    u.set(c, at);
    at += c.length;
  }
  return { data: [u], transfer: [u.buffer] };
}

interface Pending<T> {
  tx: number;
  resolve: (v: T) => void;
  reject: (e: SmtpError) => void;
}

class SessionHost {
  private worker: Worker | null = null;
  private seq = 0;
  readonly sessions = new Map<number, RemoteSession>();
  private readonly opening = new Map<number, { resolve: (s: RemoteSession) => void; reject: (e: SmtpError) => void; key: string; fallback: boolean }>();
  log: Logger | undefined;
  /** Sessions the worker opened (tests: proof that delivery runs there). */
  opened = 0;

  get threadId(): number | null {
    return this.worker?.threadId ?? null;
  }

  /** Tests: the thread dies as a crash would end it. */
  async terminate(): Promise<void> {
    await this.worker?.terminate();
  }

  open(options: SessionOptions, key: string, timeouts: DeliveryTimeouts, plaintextFallback: boolean, signal?: AbortSignal): Promise<RemoteSession> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason as SmtpError);
      const id = ++this.seq;
      const onAbort = () => {
        if (!this.opening.delete(id)) return;
        this.post({ type: 'abort-open', id, error: toWire(signal!.reason) });
        this.refresh();
        reject(signal!.reason as SmtpError);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      this.opening.set(id, {
        resolve: (s) => (done(), resolve(s)),
        reject: (e) => (done(), reject(e)),
        key,
        fallback: plaintextFallback,
      });
      this.post({ type: 'open', id, options: optionsToWire(options), key, timeouts, plaintextFallback });
      this.refresh();
    });
  }

  post(m: ToWorker, transfer: ArrayBuffer[] = []): void {
    this.start().postMessage(m, transfer);
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./session-worker.js', import.meta.url));
    w.on('message', (m: FromWorker) => this.onMessage(m));
    w.on('error', (err) => this.log?.error({ stage: 'deliver', err: err.message }, 'delivery thread failed; its sessions are cut and their messages deferred'));
    w.on('exit', () => {
      if (this.worker !== w) return;
      this.worker = null;
      for (const o of this.opening.values()) o.reject(lost());
      this.opening.clear();
      for (const s of [...this.sessions.values()]) s.ended(lost());
      this.sessions.clear();
    });
    this.worker = w;
    return w;
  }

  /** The worker keeps the process alive only while something is open or opening. */
  refresh(): void {
    if (!this.worker) return;
    if (this.sessions.size || this.opening.size) this.worker.ref();
    else this.worker.unref();
  }

  private onMessage(m: FromWorker): void {
    if (m.type === 'opened') {
      const o = this.opening.get(m.id);
      if (!o) return this.post({ type: 'close', id: m.id }); // aborted meanwhile
      this.opening.delete(m.id);
      this.opened++;
      const s = new RemoteSession(this, m.id, o.key, o.fallback, m.secure, m.facts);
      this.sessions.set(m.id, s);
      o.resolve(s);
    } else if (m.type === 'open-failed') {
      const o = this.opening.get(m.id);
      this.opening.delete(m.id);
      o?.reject(fromWire(m.error));
    } else {
      const s = this.sessions.get(m.id);
      if (!s) return;
      if (m.type === 'closed') {
        this.sessions.delete(m.id);
        s.ended(null);
      } else s.onMessage(m);
    }
    this.refresh();
  }
}

let shared: SessionHost | null = null;
const sessionHost = (): SessionHost => (shared ??= new SessionHost());

/** Opens sessions on the process's delivery thread; `log` hears about a thread that died. */
export function remoteOpener(log?: Logger): SessionOpener {
  const host = sessionHost();
  host.log ??= log;
  return (options, key, timeouts, plaintextFallback, signal) => host.open(options, key, timeouts, plaintextFallback, signal);
}

/** The process's delivery thread as tests see it. */
export function deliveryThread(): Pick<SessionHost, 'opened' | 'threadId' | 'terminate'> {
  return sessionHost();
}

export class RemoteSession extends ParkableSession implements OutboundSession {
  readonly onDeliveryThread = true;
  messages = 0;
  isClosed = false;
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private txSeq = 0;
  private sending: (Pending<SendInfo> & { acked(bytes: number): void }) | null = null;
  private resetting: Pending<void> | null = null;

  constructor(
    private readonly host: SessionHost,
    private readonly id: number,
    readonly key: string,
    readonly plaintextFallback: boolean,
    readonly secure: boolean,
    private readonly facts: TlsFacts,
  ) {
    super();
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  tlsFacts(): TlsFacts {
    return this.facts;
  }

  send(envelope: { from: string; to: string[] }, body: Readable): Promise<SendInfo> {
    this.messages++;
    const tx = ++this.txSeq;
    return new Promise((resolve, reject) => {
      if (this.isClosed) return reject(Object.assign(lost(), { message: 'Connection closed unexpectedly', unsent: true }));
      let started = false;
      let finished = false;
      let held: Buffer[] = [];
      let heldBytes = 0;
      let posted = 0;
      let acked = 0;
      const flush = (end: boolean) => {
        const { data, transfer } = packed(held, heldBytes);
        posted += heldBytes;
        held = [];
        heldBytes = 0;
        if (!started) this.host.post({ type: 'send', id: this.id, tx, envelope, chunks: data, end }, transfer);
        else this.host.post({ type: 'chunks', id: this.id, tx, chunks: data, end }, transfer);
        started = true;
        if (!end && posted - acked > BODY_WINDOW_BYTES) body.pause();
      };
      const onData = (c: Buffer) => {
        held.push(c);
        heldBytes += c.length;
        if (heldBytes >= POST_BYTES) flush(false);
      };
      const onEnd = () => {
        finished = true;
        flush(true);
      };
      const onError = (err: Error) => {
        if (finished) return;
        finished = true;
        stop();
        if (!started) return settle(() => reject(err as SmtpError));
        this.host.post({ type: 'body-error', id: this.id, tx, error: toWire(err) });
      };
      const stop = () => {
        body.off('data', onData);
        body.off('end', onEnd);
        body.off('error', onError);
        body.pause();
      };
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        this.sending = null;
        fn();
      };
      // A body held whole crosses in one post, without listening to it as a stream.
      const whole = body instanceof WholeBody && body.whole.length <= BODY_WINDOW_BYTES ? body : null;
      if (whole) {
        const { data, transfer } = moved(whole) ?? packed([whole.whole], whole.whole.length);
        posted = whole.whole.length;
        finished = true;
        started = true;
        this.host.post({ type: 'send', id: this.id, tx, envelope, chunks: data, end: true }, transfer);
      }
      this.sending = {
        tx,
        resolve: (info) => settle(() => resolve(info)),
        reject: (err) => {
          stop();
          settle(() => reject(err));
        },
        acked: (bytes) => {
          acked = bytes;
          if (posted - acked <= BODY_WINDOW_BYTES && !finished) body.resume();
        },
      };
      if (whole) return;
      body.on('data', onData);
      body.once('end', onEnd);
      body.once('error', onError);
    });
  }

  onMessage(m: Exclude<FromWorker, { type: 'opened' | 'open-failed' | 'closed' }>): void {
    if (m.type === 'reset-done') {
      const r = this.resetting;
      if (r?.tx !== m.tx) return;
      this.resetting = null;
      if (m.error) r.reject(fromWire(m.error));
      else r.resolve();
      return;
    }
    const s = this.sending;
    if (s?.tx !== m.tx) return;
    if (m.type === 'ack') s.acked(m.bytes);
    else if (m.type === 'sent') s.resolve(infoFromWire(m.info));
    else s.reject(fromWire(m.error));
  }

  /** The worker's socket is gone (or the worker itself): everything pending fails as a dropped connection. */
  ended(err: SmtpError | null): void {
    if (this.isClosed) return;
    this.isClosed = true;
    clearTimeout(this.idleTimer);
    const e = err ?? Object.assign(new Error('Connection closed unexpectedly'), { code: 'ECONNECTION', command: 'CONN' });
    this.sending?.reject(e);
    this.resetting?.reject(e);
    this.resetting = null;
    this.resolveClosed();
  }

  reset(): Promise<void> {
    const tx = ++this.txSeq;
    return new Promise((resolve, reject) => {
      if (this.isClosed) return reject(lost());
      this.resetting = { tx, resolve, reject };
      this.host.post({ type: 'reset', id: this.id, tx });
    });
  }

  /** QUIT on the worker, whose session cuts a peer that never answers it (connection.ts). */
  quit(): void {
    clearTimeout(this.idleTimer);
    if (this.isClosed) return;
    this.host.post({ type: 'quit', id: this.id });
  }

  close(): void {
    clearTimeout(this.idleTimer);
    if (this.isClosed) return;
    this.host.post({ type: 'close', id: this.id });
  }
}
