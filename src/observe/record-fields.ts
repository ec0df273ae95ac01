// Tracking events about a queued message: the fields every such event shares, taken from its
// spool record (Message-ID and Subject were read once at receipt and travel in the record), and
// what the event itself says. One object literal in one fixed field order: spreading the shared
// fields into each event (one per recipient and attempt) showed in the delivery path's profile.
import type { SpoolRecord } from '../queue/record.js';
import type { TrackingEvent } from './events.js';

export type RecordEventFields = Pick<TrackingEvent, 'kind' | 'recipients' | 'outbound' | 'rule' | 'remoteHost' | 'remoteIp' | 'reply' | 'reason' | 'detail'> & { time: number };

export function recordEvent(rec: SpoolRecord, e: RecordEventFields): TrackingEvent & { time: number } {
  return {
    kind: e.kind,
    time: e.time,
    queueId: rec.id,
    sessionId: rec.sessionId,
    messageId: rec.messageId ?? null,
    sender: rec.mailFrom,
    recipients: e.recipients,
    subject: rec.subject ?? null,
    size: rec.size,
    clientIp: rec.client.ip || undefined,
    inbound: rec.client.inbound,
    outbound: e.outbound,
    rule: e.rule,
    remoteHost: e.remoteHost,
    remoteIp: e.remoteIp,
    reply: e.reply,
    reason: e.reason,
    detail: e.detail,
  };
}
