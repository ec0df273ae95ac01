// The log sink of track(): one JSON line per tracking event, at info. The
// message text and field names are the ones the message path logged before events existed
// ('message queued', 'delivered', 'recipient refused' …, with rcpt, connector, status, error),
// so log searches and alerts written against them keep working.
import type { Logger } from './log.js';
import type { Sink, TrackingEvent } from './events.js';

/** REJECT's detail.stage: where in the transaction the refusal was given. */
export type RejectStage = 'connect' | 'mail' | 'rcpt' | 'data';

const REJECT_MESSAGES: Record<string, string> = {
  connect: 'session refused',
  mail: 'sender refused',
  rcpt: 'recipient refused',
  data: 'message refused',
};

const MESSAGES: Record<TrackingEvent['kind'], string> = {
  RECEIVE: 'message queued',
  REJECT: 'message refused',
  FILTER: 'filter verdict',
  QUARANTINE: 'message quarantined',
  RELEASE: 'message released from quarantine',
  DEFER: 'delivery deferred',
  DELIVER: 'delivered',
  FAIL: 'delivery failed permanently',
  DSN: 'DSN queued',
  EXPIRE: 'message expired',
  REDIRECT: 'message redirected',
  DROP: 'message dropped',
};

const STAGES: Record<TrackingEvent['kind'], string> = {
  RECEIVE: 'spool',
  REJECT: 'policy',
  FILTER: 'filter',
  QUARANTINE: 'filter',
  RELEASE: 'quarantine',
  DEFER: 'deliver',
  DELIVER: 'deliver',
  FAIL: 'deliver',
  DSN: 'bounce',
  EXPIRE: 'queue',
  REDIRECT: 'filter',
  DROP: 'filter',
};

export function logMessage(e: TrackingEvent): string {
  if (e.kind === 'REJECT') return REJECT_MESSAGES[String(e.detail?.stage)] ?? MESSAGES.REJECT;
  return MESSAGES[e.kind];
}

/** The log line's fields: the event's, under the names the log used before, nulls left out. */
export function logFields(e: TrackingEvent & { time: number }, includeSubject: boolean): Record<string, unknown> {
  const f: Record<string, unknown> = {
    stage: STAGES[e.kind],
    event: e.kind,
    queueId: e.queueId,
    sessionId: e.sessionId,
    messageId: e.messageId,
    mailFrom: e.sender,
    ...(e.recipients.length === 1 ? { rcpt: e.recipients[0] } : { rcpts: e.recipients }),
    subject: includeSubject ? e.subject : undefined,
    size: e.size,
    ip: e.clientIp,
    inbound: e.inbound,
    connector: e.outbound,
    rule: e.rule,
    host: e.remoteHost,
    remoteIp: e.remoteIp,
    reply: e.reply,
    reason: e.reason,
    filter: e.filter,
    quarantineType: e.quarantineType,
    ...e.detail,
  };
  for (const k of Object.keys(f)) if (f[k] === undefined || f[k] === null) delete f[k];
  return f;
}

/** Every event at info: an event is a record of what happened, not a fault of the gateway. */
export function logSink(log: Logger, opts: { includeSubject: () => boolean }): Sink {
  return (e) => {
    if (!log.isLevelEnabled('info')) return;
    log.info(logFields(e, opts.includeSubject()), logMessage(e));
  };
}
