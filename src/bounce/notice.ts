// Pure DSN decisions: which recipients' senders asked to hear about which event (RFC 3461 NOTIFY),
// how a recipient's stored state reads as a DSN entry, and the expiry diagnostic in EOP's shape
// ("4.4.7 QUEUE.Expired … LED=<last error>"). The scheduler calls these; bouncer.ts does the I/O.
import type { RcptState } from '../queue/record.js';
import type { DsnAction, DsnRecipient } from './render-dsn.js';

export type NoticeKind = 'failure' | 'delay' | 'success';

const NOTIFY_KEYWORD: Record<NoticeKind, string> = { failure: 'FAILURE', delay: 'DELAY', success: 'SUCCESS' };

/** RFC 3461 §4.1: without NOTIFY an MTA reports failures (and may report delays), never success. */
export function wantsNotice(notify: readonly string[] | undefined, kind: NoticeKind): boolean {
  if (!notify || notify.length === 0) return kind !== 'success';
  return notify.map((n) => n.toUpperCase()).includes(NOTIFY_KEYWORD[kind]);
}

/** The stored lastError is "<enhanced status> <diagnostic>"; these two keep that format in one place. */
export function formatLastError(status: string, diagnostic: string): string {
  return `${status} ${diagnostic}`;
}

export function parseLastError(lastError: string | null, fallbackStatus: string): { status: string; diagnostic: string } {
  const m = /^([245]\.\d{1,3}\.\d{1,3}) ([^]*)$/.exec(lastError ?? '');
  if (m) return { status: m[1]!, diagnostic: m[2]! };
  return { status: fallbackStatus, diagnostic: lastError ?? '' };
}

/** "127.0.0.1:2525" → "127.0.0.1"; "[::1]:25" or "::1:25" style → "::1"; a bare name stays. */
export function hostWithoutPort(hostPort: string | null): string | null {
  if (!hostPort) return null;
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(hostPort);
  if (bracket) return bracket[1]!;
  const m = /^(.*):(\d+)$/.exec(hostPort);
  return m ? m[1]! : hostPort;
}

const IP_RE = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]*:[0-9a-f:]+)$/i;

/**
 * The diagnostic a recipient gets when its message outlives delivery.retry.lifetime, as EOP words
 * it: the expiry, then the last error (LED) and the last host tried, so the sender's admin sees why.
 */
export function expiredDiagnostic(
  lastError: string | null,
  lastHost: string | null,
  lastHostName: string | null = null,
): { status: string; diagnostic: string } {
  const last = lastError ? parseLastError(lastError, '4.0.0').diagnostic : 'none (no delivery attempt completed)';
  const host = hostWithoutPort(lastHost);
  const name = lastHostName ?? host;
  const where =
    (name ? `;[LastAttemptedServerName=${name}]` : '') + (host && IP_RE.test(host) ? `;[LastAttemptedIP=${lastHost}]` : '');
  return { status: '4.4.7', diagnostic: `550 4.4.7 QUEUE.Expired; message expired [LED=${last.replace(/[[\]]/g, '')}]${where}` };
}

/** One DSN entry from a recipient's stored state (and, for a success, the reply just received). */
export function dsnRecipient(
  r: RcptState,
  action: DsnAction,
  ctx: { now: number; willRetryUntil?: number; reply?: string | null },
): DsnRecipient {
  const success = action === 'relayed' || action === 'delivered';
  const parsed = success ? { status: '2.0.0', diagnostic: ctx.reply ?? '' } : parseLastError(r.lastError, action === 'failed' ? '5.0.0' : '4.0.0');
  return {
    address: r.address,
    orcpt: r.orcpt,
    action,
    status: parsed.status,
    diagnostic: parsed.diagnostic || null,
    remoteMta: r.lastHostName ?? hostWithoutPort(r.lastHost),
    lastAttempt: r.attempts > 0 ? new Date(r.updatedAt || ctx.now) : null,
    willRetryUntil: ctx.willRetryUntil !== undefined ? new Date(ctx.willRetryUntil) : null,
  };
}
