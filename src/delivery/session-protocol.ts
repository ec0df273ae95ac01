// The messages between the delivery thread (session-worker.ts, where nodemailer's sessions run)
// and the pools on the main thread (remote-session.ts), and the pure conversions of what cannot
// cross a thread as is: errors lose their class and own fields in a structured clone, and a TLS
// option that is a function (checkServerIdentity) cannot be cloned at all.
import type tls from 'node:tls';
import type { DeliveryTimeouts } from '../domain/model.js';
import type { SendInfo, SessionOptions, SmtpError } from './connection.js';
import type { TlsFacts } from './tls-policy.js';

/** An SmtpError as plain data. */
export interface WireError {
  message: string;
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  recipient?: string;
  originalCode?: string;
  timeoutStage?: string;
  /** Nothing of the message was read by the session: a stale cached connection may be retried. */
  unsent?: boolean;
  rejectedErrors?: WireError[];
}

export type WireInfo = Omit<SendInfo, 'rejectedErrors'> & { rejectedErrors?: WireError[] };

/** Session options without the TLS callback (the worker puts back the one the pools use). */
export type WireOptions = Omit<SessionOptions, 'tls'> & { tls?: Omit<tls.ConnectionOptions, 'checkServerIdentity'> };

export type ToWorker =
  | { type: 'open'; id: number; options: WireOptions; key: string; timeouts: DeliveryTimeouts; plaintextFallback: boolean }
  | { type: 'abort-open'; id: number; error: WireError }
  /** The first message of a transaction carries the envelope and as much of the body as was ready. */
  | { type: 'send'; id: number; tx: number; envelope: { from: string; to: string[] }; chunks: Uint8Array[]; end: boolean }
  | { type: 'chunks'; id: number; tx: number; chunks: Uint8Array[]; end: boolean }
  | { type: 'body-error'; id: number; tx: number; error: WireError }
  | { type: 'reset'; id: number; tx: number }
  | { type: 'quit'; id: number }
  | { type: 'close'; id: number };

export type FromWorker =
  | { type: 'opened'; id: number; secure: boolean; facts: TlsFacts }
  | { type: 'open-failed'; id: number; error: WireError }
  | { type: 'sent'; id: number; tx: number; info: WireInfo }
  | { type: 'send-failed'; id: number; tx: number; error: WireError }
  /** The worker's copy of the body went down to this many bytes taken: the sender may go on. */
  | { type: 'ack'; id: number; tx: number; bytes: number }
  | { type: 'reset-done'; id: number; tx: number; error?: WireError }
  | { type: 'closed'; id: number };

const ERROR_FIELDS = ['code', 'responseCode', 'response', 'command', 'recipient', 'originalCode', 'timeoutStage', 'unsent'] as const;

export function toWire(err: unknown): WireError {
  const e = (err ?? {}) as SmtpError & Record<string, unknown>;
  const out: WireError = { message: typeof e.message === 'string' ? e.message : String(err) };
  for (const k of ERROR_FIELDS) if (e[k] !== undefined && e[k] !== null) (out as unknown as Record<string, unknown>)[k] = e[k];
  if (Array.isArray(e.rejectedErrors)) out.rejectedErrors = e.rejectedErrors.map(toWire);
  return out;
}

export function fromWire(w: WireError): SmtpError {
  const { message, rejectedErrors, ...fields } = w;
  const err: SmtpError = Object.assign(new Error(message), fields);
  if (rejectedErrors) err.rejectedErrors = rejectedErrors.map(fromWire);
  return err;
}

export function infoToWire(info: SendInfo): WireInfo {
  return {
    accepted: [...(info.accepted ?? [])].map(String),
    rejected: [...(info.rejected ?? [])].map(String),
    response: String(info.response ?? ''),
    ...(info.rejectedErrors?.length ? { rejectedErrors: info.rejectedErrors.map(toWire) } : {}),
    ...(info.secure === undefined ? {} : { secure: info.secure }),
  };
}

export function infoFromWire(w: WireInfo): SendInfo {
  const { rejectedErrors, ...rest } = w;
  return { ...rest, ...(rejectedErrors ? { rejectedErrors: rejectedErrors.map(fromWire) } : {}) };
}

/** The options as they can cross: the identity callback stays behind (the pools always pass a no-op one). */
export function optionsToWire(o: SessionOptions): WireOptions {
  if (!o.tls) return o as WireOptions;
  const { checkServerIdentity: _drop, ...tlsRest } = o.tls;
  return { ...o, tls: tlsRest };
}

/**
 * Back to nodemailer's options in the worker. Node never rejects a certificate in the pools
 * (tls-policy.ts judges the facts afterwards), so the identity check is always the no-op; Buffers
 * arrive as Uint8Arrays and are made Buffers again for tls.connect.
 */
export function optionsFromWire(o: WireOptions): SessionOptions {
  if (!o.tls) return o as SessionOptions;
  const t: tls.ConnectionOptions = { ...o.tls, checkServerIdentity: () => undefined };
  for (const k of ['cert', 'key'] as const) if (t[k] instanceof Uint8Array) t[k] = Buffer.from(t[k] as Uint8Array);
  return { ...o, tls: t } as SessionOptions;
}
