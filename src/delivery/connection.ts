// One outbound SMTP session (nodemailer's SMTPConnection) behind promises: open (connect, EHLO,
// STARTTLS when offered), send transactions, RSET, QUIT. `closed` resolves once the socket is gone,
// which is when the pool gives the connection slot back. Errors carry nodemailer's fields.
// Every stage has its own timeout (delivery.timeouts, stage-watch.ts): a peer that never greets,
// stops answering a command or stalls in DATA is cut, and the error names the stage.
import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { factsFromSocket, type TlsFacts } from './tls-policy.js';
import type { DeliveryTimeouts } from '../domain/model.js';
import { StageWatch, watchedBody } from './stage-watch.js';

const QUIT_TIMEOUT_MS = 5_000;

export interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  recipient?: string;
  rejectedErrors?: SmtpError[];
  /** Set by SmtpSession.send: the transaction failed before any of the body was read. */
  unsent?: boolean;
}

/** Marks an error after which nothing of the body had been read: a stale cached connection may be retried. */
function unsentMark(err: SmtpError, body: Readable): SmtpError {
  err.unsent = body.readableDidRead === false;
  return err;
}

export interface SendInfo {
  accepted: string[];
  rejected: string[];
  rejectedErrors?: SmtpError[];
  response: string;
  /** Whether the session ran TLS when the message went (metrics). */
  secure?: boolean;
}

export type SessionOptions = ConstructorParameters<typeof SMTPConnection>[0] & {};

/** What the pools use of one outbound session: SmtpSession here, RemoteSession on the delivery thread. */
export interface OutboundSession {
  /** Whether the session runs on the delivery thread (remote-session.ts) or on this one. */
  readonly onDeliveryThread: boolean;
  messages: number;
  readonly isClosed: boolean;
  readonly closed: Promise<void>;
  readonly key: string;
  readonly plaintextFallback: boolean;
  readonly secure: boolean;
  tlsFacts(): TlsFacts;
  send(envelope: { from: string; to: string[] }, body: Readable): Promise<SendInfo>;
  reset(): Promise<void>;
  park(ms: number, onIdleExpired: () => void): void;
  unpark(): void;
  quit(): void;
  close(): void;
}

/** Opens a session: SmtpSession.open's signature. */
export type SessionOpener = (options: SessionOptions, key: string, timeouts: DeliveryTimeouts, plaintextFallback: boolean, signal?: AbortSignal) => Promise<OutboundSession>;

/** The idle timer of a session the pool keeps for the next message (both kinds of session). */
export abstract class ParkableSession {
  protected idleTimer: NodeJS.Timeout | undefined;

  /** Parks the session; `onIdleExpired` runs if nobody takes it within `ms`. */
  park(ms: number, onIdleExpired: () => void): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(onIdleExpired, ms);
    this.idleTimer.unref();
  }

  unpark(): void {
    clearTimeout(this.idleTimer);
  }
}

export class SmtpSession extends ParkableSession implements OutboundSession {
  readonly onDeliveryThread = false;
  /** Transactions started on this connection (accepted or refused). */
  messages = 0;
  isClosed = false;
  readonly closed: Promise<void>;

  private constructor(
    private readonly conn: SMTPConnection,
    /** Pool key of the target (ip:port). */
    readonly key: string,
    readonly plaintextFallback: boolean,
    private readonly watch: StageWatch,
  ) {
    super();
    this.closed = new Promise((resolve) => {
      conn.once('end', () => {
        this.isClosed = true;
        clearTimeout(this.idleTimer);
        resolve();
      });
    });
    // Errors after connect reach the caller through the send callback; open() keeps a no-op
    // 'error' listener so a server dropping an idle session cannot crash the process.
  }

  static open(options: SessionOptions, key: string, timeouts: DeliveryTimeouts, plaintextFallback = false, signal?: AbortSignal): Promise<SmtpSession> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason as SmtpError);
      const watch = new StageWatch(timeouts);
      // nodemailer's transaction log is the documented way to see each command and reply go by.
      const conn = new SMTPConnection({ ...options, logger: watch.logger, transactionLog: true, debug: false });
      watch.onExpire = (err) => {
        fail(err);
        conn.close();
      };
      let settled = false;
      const fail = (cause: SmtpError) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        const err = watch.error ?? cause;
        // A socket error in the middle of STARTTLS is a failed handshake whatever nodemailer calls it
        // (it reports a peer that hangs up mid-handshake as ESOCKET); the pool's TLS fallback keys on ETLS.
        if (conn.upgrading && err.code !== 'ETLS') Object.assign(err, { originalCode: err.code, code: 'ETLS' });
        conn.close();
        reject(err);
      };
      // A late second 'error' (e.g. from the socket while closing) must not go unhandled.
      conn.on('error', () => undefined);
      conn.once('error', fail);
      conn.once('end', () => fail(Object.assign(new Error('Connection closed unexpectedly'), { code: 'ECONNECTION', command: 'CONN' })));
      const onAbort = () => {
        fail(signal!.reason as SmtpError);
        conn.close();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      conn.connect((err?: Error | null) => {
        signal?.removeEventListener('abort', onAbort);
        if (err) return fail(err);
        if (settled) return;
        settled = true;
        conn.removeListener('error', fail);
        resolve(new SmtpSession(conn, key, plaintextFallback, watch));
      });
    });
  }

  /** TLS facts of the session; nodemailer keeps the upgraded socket in `_socket` (declared in its typings). */
  tlsFacts(): TlsFacts {
    const socket = this.conn.secure ? (this.conn._socket as TLSSocket) : null;
    return factsFromSocket(socket);
  }

  get secure(): boolean {
    return this.conn.secure;
  }

  send(envelope: { from: string; to: string[] }, body: Readable): Promise<SendInfo> {
    this.messages++;
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        this.watch.onExpire = () => this.conn.close();
        fn();
      };
      this.watch.onExpire = (err) => {
        settle(() => reject(unsentMark(err, body)));
        this.conn.close();
      };
      this.conn.send(envelope, watchedBody(body, this.watch), (err, info) =>
        settle(() => (err ? reject(unsentMark(this.watch.error ?? err, body)) : resolve({ ...(info as unknown as SendInfo), secure: this.conn.secure }))),
      );
    });
  }

  reset(): Promise<void> {
    return new Promise((resolve, reject) => this.conn.reset((err) => (err ? reject(err) : resolve())));
  }

  /** Polite close: QUIT, then the socket ends; a server that never answers is cut off. */
  quit(): void {
    clearTimeout(this.idleTimer);
    if (this.isClosed) return;
    try {
      this.conn.quit();
    } catch {
      this.conn.close();
    }
    setTimeout(() => this.conn.close(), QUIT_TIMEOUT_MS).unref();
  }

  close(): void {
    clearTimeout(this.idleTimer);
    this.conn.close();
  }
}
