// What a delivery attempt does to a spool record, pure: per-recipient outcomes applied, expiry
// after delivery.retry.lifetime, the DSN the new state owes (failure, success for NOTIFY=SUCCESS,
// the one delay warning) and the next step (retry at, failed/, done). Takes and returns plain
// records with `now` as an input; the queue manager (scheduler.ts) does the I/O and the logging.
import type { Model } from '../domain/model.js';
import type { RcptOutcome } from '../delivery/deliver.js';
import { dsnRecipient, expiredDiagnostic, formatLastError, wantsNotice } from '../bounce/notice.js';
import type { DsnRecipient } from '../bounce/render-dsn.js';
import { expiresAt, nextAttemptAt } from './backoff.js';
import { pendingRcpts, type RcptState, type SpoolRecord } from './record.js';
import type { TrackingEvent } from '../observe/events.js';
import { recordEvent } from '../observe/record-fields.js';

type Delivery = Pick<Model['delivery'], 'retry' | 'delayWarningMs'>;

/** One decision, as the tracking event the scheduler hands to track(). */
export type QueueEvent = TrackingEvent;

export interface Applied {
  record: SpoolRecord;
  events: QueueEvent[];
  /** Delivered recipients' final replies, for success DSNs. */
  replies: Map<string, string>;
}

const copy = (rec: SpoolRecord): SpoolRecord => ({ ...rec, rcpts: rec.rcpts.map((r) => ({ ...r })) });

/**
 * Applies one attempt's outcomes: each pending recipient it names is delivered, failed or stays
 * pending with its last error. `countAttempt` adds one to the message's attempt counter (the
 * backoff's input): once per delivery round, however many destinations the round had.
 */
export function applyOutcomes(rec: SpoolRecord, outcomes: readonly RcptOutcome[], now: number, countAttempt: boolean): Applied {
  const next = copy(rec);
  const events: QueueEvent[] = [];
  const replies = new Map<string, string>();
  if (outcomes.length && countAttempt) next.attempts++;
  for (const o of outcomes) {
    const r = next.rcpts.find((x) => x.address === o.address && x.status === 'pending');
    if (!r) continue;
    r.attempts++;
    r.updatedAt = now;
    r.lastHost = o.host;
    r.lastHostName = o.hostName ?? null;
    const { action, status, diagnostic } = o.outcome;
    const event = (kind: 'DELIVER' | 'FAIL' | 'DEFER', detail: Record<string, unknown>): QueueEvent =>
      recordEvent(rec, { kind, time: now, recipients: [r.address], outbound: o.connector, rule: o.outcome.rule, remoteHost: o.hostName ?? null, remoteIp: o.host, reply: diagnostic, detail });
    if (action === 'delivered') {
      r.status = 'delivered';
      r.lastError = null;
      replies.set(r.address, diagnostic);
      events.push(event('DELIVER', { status, route: r.route.rule, attempt: r.attempts, response: diagnostic, latencyMs: now - rec.receivedAt, tls: o.tls }));
    } else if (action === 'bounce') {
      r.status = 'failed';
      r.lastError = formatLastError(status, diagnostic);
      events.push(event('FAIL', { status, route: r.route.rule, attempt: r.attempts, error: diagnostic }));
    } else {
      r.lastError = formatLastError(status, diagnostic);
      events.push(event('DEFER', { status, route: r.route.rule, attempt: r.attempts, error: diagnostic }));
    }
  }
  return { record: next, events, replies };
}

/** Fails every pending recipient with `status` and `reason` (admin bounce, or expiry). */
export function failPending(rec: SpoolRecord, now: number, lastError: (r: RcptState) => string): SpoolRecord {
  const next = copy(rec);
  for (const r of pendingRcpts(next)) {
    r.status = 'failed';
    r.updatedAt = now;
    r.lastError = lastError(r);
  }
  return next;
}

/** Queue lifetime reached: every pending recipient fails with EOP's expiry status and its last error. */
export function expire(rec: SpoolRecord, now: number, delivery: Delivery): { record: SpoolRecord; events: QueueEvent[] } {
  if (now < expiresAt(rec.receivedAt, delivery.retry) || pendingRcpts(rec).length === 0) return { record: rec, events: [] };
  const events: QueueEvent[] = [];
  const record = failPending(rec, now, (r) => {
    const { status, diagnostic } = expiredDiagnostic(r.lastError, r.lastHost, r.lastHostName ?? null);
    events.push(
      recordEvent(rec, {
        kind: 'EXPIRE',
        time: now,
        recipients: [r.address],
        outbound: r.route.connector,
        remoteHost: r.lastHostName ?? null,
        remoteIp: r.lastHost,
        reply: diagnostic,
        reason: 'queue lifetime (delivery.retry.lifetime) reached',
        detail: { status, error: diagnostic },
      }),
    );
    return formatLastError(status, diagnostic);
  });
  return { record, events };
}

export interface Notices {
  /** The record with `notified` / `delayWarnedAt` set: adopt it once the DSN is queued. */
  record: SpoolRecord;
  /** The one DSN this state calls for; empty when none is owed. */
  entries: DsnRecipient[];
  /** Entries owed but not sent: a null-sender message (never bounce a bounce). */
  suppressed: string[];
}

/**
 * The DSN a record's state owes: failures and NOTIFY=SUCCESS deliveries not yet notified, and the
 * one delay warning once delivery.delayWarning has passed. Never for a null sender.
 */
export function owedNotices(rec: SpoolRecord, now: number, delivery: Delivery, replies: ReadonlyMap<string, string>): Notices {
  const next = copy(rec);
  const owed = next.rcpts.filter((r) => r.status !== 'pending' && !r.notified);
  const entries: DsnRecipient[] = [];
  for (const r of owed) {
    if (r.status === 'failed' && wantsNotice(r.notify, 'failure')) entries.push(dsnRecipient(r, 'failed', { now }));
    // The next hop is not asked to report (the deliverer does not pass NOTIFY on): "relayed".
    if (r.status === 'delivered' && wantsNotice(r.notify, 'success')) {
      entries.push(dsnRecipient(r, 'relayed', { now, reply: replies.get(r.address) ?? null }));
    }
  }
  const warnAfter = delivery.delayWarningMs;
  const pending = pendingRcpts(next);
  const warnDue = warnAfter !== null && next.delayWarnedAt === undefined && pending.length > 0 && now - next.receivedAt >= warnAfter;
  if (warnDue) {
    const until = expiresAt(next.receivedAt, delivery.retry);
    for (const r of pending) if (wantsNotice(r.notify, 'delay')) entries.push(dsnRecipient(r, 'delayed', { now, willRetryUntil: until }));
  }
  for (const r of owed) r.notified = true;
  if (warnDue) next.delayWarnedAt = now;
  if (!next.mailFrom && entries.length) return { record: next, entries: [], suppressed: entries.map((e) => e.address) };
  return { record: next, entries, suppressed: [] };
}

export type NextStep = { kind: 'retry'; at: number } | { kind: 'failed' } | { kind: 'done' };

/** After a round: retry at the backoff (clamped to expiry), or leave the queue for failed/ or for good. */
export function nextStep(rec: SpoolRecord, now: number, delivery: Delivery): NextStep {
  if (pendingRcpts(rec).length) return { kind: 'retry', at: nextAttemptAt(rec.attempts, rec.receivedAt, now, delivery.retry) };
  return rec.rcpts.some((r) => r.status === 'failed') ? { kind: 'failed' } : { kind: 'done' };
}
