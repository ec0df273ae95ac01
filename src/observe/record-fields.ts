// The tracking-event fields every event about a queued message shares, taken from its spool
// record (Message-ID and Subject were read once at receipt and travel in the record).
import type { SpoolRecord } from '../queue/record.js';

export function recordFields(rec: SpoolRecord) {
  return {
    queueId: rec.id,
    sessionId: rec.sessionId,
    messageId: rec.messageId ?? null,
    sender: rec.mailFrom,
    subject: rec.subject ?? null,
    size: rec.size,
    clientIp: rec.client.ip || undefined,
    inbound: rec.client.inbound,
  } as const;
}
