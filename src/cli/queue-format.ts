// How the queue tools print a message: the Postfix-like listing line (mailq), its JSON object
// (one per line, as `postqueue -j`), and the detailed `queue show` view. Pure: records and the
// current time in, text out. Remote replies are shown with control characters removed.
import type { SpoolRecord } from '../queue/record.js';
import { rcptConnector, type QueueStatus } from '../queue/scan.js';

const ID_WIDTH = 22;

export const LIST_HEADER =
  `${'ID'.padEnd(ID_WIDTH)}  ${'SIZE'.padStart(9)}  ${'AGE'.padStart(5)}  ATTEMPTS  ${'NEXT'.padEnd(7)}  ${'STATUS'.padEnd(8)}  SENDER\n`;

/** Remote replies end up in lastError; never let them move the admin's cursor or ring a bell. */
function clean(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

const sender = (rec: SpoolRecord) => `<${clean(rec.mailFrom)}>`;

function nextAttempt(rec: SpoolRecord, status: QueueStatus, now: number): string {
  if (status === 'hold' || status === 'failed') return '-';
  return rec.nextAttemptAt <= now ? 'now' : `in ${formatDuration(rec.nextAttemptAt - now)}`;
}

/** One message line, then one indented line per recipient: `  <rcpt> <state> [connector] last error`. */
export function listEntry(rec: SpoolRecord, status: QueueStatus, now: number): string {
  const line =
    `${rec.id.padEnd(ID_WIDTH)}  ${String(rec.size).padStart(9)}  ${formatDuration(now - rec.receivedAt).padStart(5)}  ` +
    `${String(rec.attempts).padStart(8)}  ${nextAttempt(rec, status, now).padEnd(7)}  ${status.padEnd(8)}  ${sender(rec)}\n`;
  const rcpts = rec.rcpts.map((r) => {
    const err = r.lastError ? ` ${clean(r.lastError)}` : '';
    return `  <${clean(r.address)}> ${r.status} [${clean(rcptConnector(r))}]${err}\n`;
  });
  return line + rcpts.join('');
}

const iso = (ms: number | null | undefined) => (typeof ms === 'number' ? new Date(ms).toISOString() : null);

export interface QueueEntryJson {
  id: string;
  status: QueueStatus;
  sender: string;
  size: number;
  receivedAt: string | null;
  ageSeconds: number;
  attempts: number;
  nextAttemptAt: string | null;
  client: SpoolRecord['client'] | null;
  recipients: {
    address: string;
    state: string;
    connector: string;
    rule: string | null;
    attempts: number;
    lastError: string | null;
    lastHost: string | null;
    updatedAt: string | null;
  }[];
}

export function jsonEntry(rec: SpoolRecord, status: QueueStatus, now: number): QueueEntryJson {
  return {
    id: rec.id,
    status,
    sender: rec.mailFrom,
    size: rec.size,
    receivedAt: iso(rec.receivedAt),
    ageSeconds: Math.max(0, Math.round((now - rec.receivedAt) / 1000)),
    attempts: rec.attempts,
    nextAttemptAt: status === 'hold' || status === 'failed' ? null : iso(rec.nextAttemptAt),
    client: rec.client ?? null,
    recipients: rec.rcpts.map((r) => ({
      address: r.address,
      state: r.status,
      connector: rcptConnector(r),
      rule: r.route?.rule ?? null,
      attempts: r.attempts ?? 0,
      lastError: r.lastError ?? null,
      lastHost: r.lastHost ?? null,
      updatedAt: iso(r.updatedAt),
    })),
  };
}

/** `queue show ID`: every stored fact about one message, then its header block. */
export function showText(rec: SpoolRecord, status: QueueStatus, now: number, headers: string | null): string {
  const c = rec.client;
  const lines = [
    `Queue ID:   ${rec.id}`,
    `Status:     ${status}`,
    `Sender:     ${sender(rec)}`,
    `Size:       ${rec.size} bytes`,
    `Received:   ${iso(rec.receivedAt)} (${formatDuration(now - rec.receivedAt)} ago)`,
    c ? `Client:     ${clean(c.ip)} helo=${clean(c.helo ?? '')} tls=${c.tls ? 'yes' : 'no'} inbound=${c.inbound ? `"${clean(c.inbound)}"` : '(none)'}` : null,
    `Attempts:   ${rec.attempts}`,
    `Next:       ${status === 'hold' || status === 'failed' ? '-' : `${iso(rec.nextAttemptAt)} (${nextAttempt(rec, status, now)})`}`,
    rec.dsn ? `DSN:        RET=${rec.dsn.ret ?? '-'} ENVID=${clean(rec.dsn.envid ?? '-')}` : null,
    'Recipients:',
  ];
  for (const r of rec.rcpts) {
    lines.push(`  <${clean(r.address)}> ${r.status} [${clean(rcptConnector(r))}] rule=${clean(r.route?.rule ?? '')} attempts=${r.attempts ?? 0}`);
    if (r.lastHost) lines.push(`      last host:  ${clean(r.lastHost)}`);
    if (r.lastError) lines.push(`      last error: ${clean(r.lastError)}`);
    if (r.notify?.length) lines.push(`      notify:     ${r.notify.join(',')}`);
  }
  lines.push('Headers:');
  if (headers === null) lines.push('  (message body missing)');
  else for (const h of headers.split(/\r?\n/)) lines.push(`  ${h.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, '?')}`);
  return lines.filter((l) => l !== null).join('\n') + '\n';
}
