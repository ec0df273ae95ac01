// The process-wide structured logger: JSON lines on stdout (pino). Every decision is logged
// with { sessionId, queueId, stage, connector, reason } so one message can be followed end to end.
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(level = process.env.SLUICE_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { svc: 'sluice' }, timestamp: pino.stdTimeFunctions.isoTime });
}
