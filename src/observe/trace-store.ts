// The message trace store's contract: tracking events in, per-message history out. The embedded
// store is SQLite (sqlite-trace-store.ts, written by a worker thread); a shared one (PostgreSQL,
// for several replicas) implements the same interface. Rows are one per event and recipient.
import type { TrackingEvent } from './events.js';

export type TimedEvent = TrackingEvent & { time: number };

/** One stored event for one recipient ('' when the event named none, e.g. a refused MAIL FROM). */
export interface TraceRow {
  time: number;
  kind: TrackingEvent['kind'];
  queueId: string | null;
  sessionId: string | null;
  messageId: string | null;
  sender: string;
  recipient: string;
  subject: string | null;
  size: number | null;
  clientIp: string | null;
  inbound: string | null;
  outbound: string | null;
  rule: string | null;
  remoteHost: string | null;
  remoteIp: string | null;
  reply: string | null;
  reason: string | null;
  /** filter, quarantineType and detail, as given. */
  extra: { filter?: TrackingEvent['filter']; quarantineType?: string; detail?: Record<string, unknown> } | null;
}

export interface TraceQuery {
  sender?: string;
  recipient?: string;
  messageId?: string;
  since?: number;
  until?: number;
  /** At most this many messages (queue ids or refused sessions) are returned. */
  limit?: number;
}

export interface TraceStore {
  write(batch: readonly TimedEvent[]): Promise<void>;
  /** Every row of each message one of whose rows matches, oldest first. */
  query(q: TraceQuery): Promise<TraceRow[]>;
  /** Every row of one queue id, oldest first. */
  details(queueId: string): Promise<TraceRow[]>;
  /** Deletes rows older than `before` (ms since the epoch); resolves with how many. */
  prune(before: number): Promise<number>;
  close(): Promise<void>;
}

/** The rows one event becomes: one per recipient, the subject left out unless kept. */
export function rowsOf(e: TimedEvent, includeSubject: boolean): TraceRow[] {
  const extra =
    e.filter || e.quarantineType || e.detail
      ? { ...(e.filter ? { filter: e.filter } : {}), ...(e.quarantineType ? { quarantineType: e.quarantineType } : {}), ...(e.detail ? { detail: { ...e.detail } } : {}) }
      : null;
  const base = {
    time: e.time,
    kind: e.kind,
    queueId: e.queueId,
    sessionId: e.sessionId ?? null,
    messageId: e.messageId ?? null,
    sender: e.sender,
    subject: includeSubject ? (e.subject ?? null) : null,
    size: e.size ?? null,
    clientIp: e.clientIp ?? null,
    inbound: e.inbound ?? null,
    outbound: e.outbound ?? null,
    rule: e.rule ?? null,
    remoteHost: e.remoteHost ?? null,
    remoteIp: e.remoteIp ?? null,
    reply: e.reply ?? null,
    reason: e.reason ?? null,
    extra,
  };
  const rcpts = e.recipients.length ? e.recipients : [''];
  return rcpts.map((recipient) => ({ ...base, recipient }));
}
