// Pure: stored trace rows → EOP's message trace view. `summarise` gives one row per message and
// recipient with EOP's status (Delivered, Failed, Pending, Quarantined, FilteredAsSpam,
// Expanded); `detailLines` renders every event of a message, delivery failures in EOP's
// [{LED=…};{MSG=…};{FQDN=…};{IP=…};{LRT=…}] form. The `sluice trace` command prints these.
import type { TraceRow } from './trace-store.js';

export const TRACE_STATUSES = ['Delivered', 'Failed', 'Pending', 'Quarantined', 'FilteredAsSpam', 'Expanded'] as const;
export type TraceStatus = (typeof TRACE_STATUSES)[number];

export interface TraceSummary {
  date: number;
  queueId: string | null;
  messageId: string | null;
  sender: string;
  recipient: string;
  subject: string | null;
  status: TraceStatus;
  /** Outbound connector once routed, else the inbound one (EOP shows the connector used). */
  connector: string | null;
  /** The last reply for a message not delivered (the refusal, the deferral). */
  reply: string | null;
}

const SPAM_VERDICT = /spam|bulk|phish/i;

/** The status one event leaves a recipient in, or null when it does not change it. */
function statusAfter(r: TraceRow, current: TraceStatus | null): TraceStatus | null {
  switch (r.kind) {
    case 'RECEIVE':
    case 'DEFER':
    case 'RELEASE':
      return current === 'FilteredAsSpam' ? current : 'Pending';
    case 'DELIVER':
      // EOP keeps FilteredAsSpam for spam delivered to the junk folder.
      return current === 'FilteredAsSpam' ? current : 'Delivered';
    case 'FAIL':
    case 'EXPIRE':
    case 'REJECT':
      return 'Failed';
    case 'QUARANTINE':
      return 'Quarantined';
    case 'FILTER':
      return r.extra?.filter && SPAM_VERDICT.test(r.extra.filter.verdict) ? 'FilteredAsSpam' : null;
    case 'DROP':
      return r.extra?.filter && SPAM_VERDICT.test(r.extra.filter.verdict) ? 'FilteredAsSpam' : 'Failed';
    case 'REDIRECT':
      return 'Expanded';
    case 'DSN':
      return null;
  }
}

const messageKey = (r: TraceRow): string => (r.queueId !== null ? `q:${r.queueId}` : `s:${r.sessionId ?? ''}`);

/** Rows in time order (as the store returns them) → one summary per message and recipient, newest first. */
export function summarise(rows: readonly TraceRow[]): TraceSummary[] {
  const byKey = new Map<string, TraceSummary>();
  for (const r of rows) {
    // A message-level event (no recipient) is not a row of its own once recipients are known.
    const key = `${messageKey(r)}\n${r.recipient.toLowerCase()}`;
    let s = byKey.get(key);
    if (!s) {
      s = { date: r.time, queueId: r.queueId, messageId: r.messageId, sender: r.sender, recipient: r.recipient, subject: r.subject, status: 'Pending', connector: null, reply: null };
      byKey.set(key, s);
    }
    s.messageId ??= r.messageId;
    s.subject ??= r.subject;
    s.status = statusAfter(r, s.status) ?? s.status;
    if (r.kind !== 'DSN') s.connector = r.outbound ?? s.connector ?? r.inbound;
    if (r.reply !== null && r.kind !== 'DSN') s.reply = r.kind === 'DELIVER' ? null : r.reply;
  }
  return [...byKey.values()].sort((a, b) => b.date - a.date);
}

const iso = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');

/** EOP's delivery failure detail: last error, message, remote FQDN and IP, last retry time. */
export function eopFailureDetail(r: TraceRow): string {
  const ip = r.remoteIp?.replace(/:\d+$/, '').replace(/^\[|\]$/g, '') ?? '';
  const msg = r.reason ?? String(r.extra?.detail?.status ?? '');
  return `[{LED=${r.reply ?? ''}};{MSG=${msg}};{FQDN=${r.remoteHost ?? ''}};{IP=${ip}};{LRT=${iso(r.time)}}]`;
}

function detailOf(r: TraceRow): string {
  const via = (c: string | null) => (c ? ` via connector "${c}"` : '');
  const filter = r.extra?.filter;
  switch (r.kind) {
    case 'RECEIVE':
      return `Received from ${r.clientIp ?? 'unknown'}${via(r.inbound)}${r.reason ? ` (${r.reason})` : ''}; ${r.size ?? 0} bytes`;
    case 'REJECT':
      return `Refused at ${String(r.extra?.detail?.stage ?? 'SMTP').toUpperCase()} from ${r.clientIp ?? 'unknown'}: ${r.reply ?? ''}${r.reason ? ` (reason: ${r.reason})` : ''}`;
    case 'DELIVER':
      return `Delivered${via(r.outbound)} to ${r.remoteHost ?? r.remoteIp ?? 'unknown'}${r.remoteHost && r.remoteIp ? ` [${r.remoteIp}]` : ''}: ${r.reply ?? ''}`;
    case 'DEFER':
      return `Deferred${via(r.outbound)}, will retry: ${eopFailureDetail(r)}`;
    case 'FAIL':
      return `Failed${via(r.outbound)}: ${eopFailureDetail(r)}`;
    case 'EXPIRE':
      return `Expired: ${eopFailureDetail(r)}`;
    case 'DSN':
      return `Non-delivery report (DSN) sent: ${r.reason ?? ''}`;
    case 'FILTER':
      return `Filter ${filter?.name ?? '?'} (${filter?.stage ?? '?'}): ${filter?.verdict ?? '?'}${filter?.score != null ? ` score ${filter.score}` : ''}${filter?.rule ? ` rule ${filter.rule}` : ''}`;
    case 'QUARANTINE':
      return `Quarantined (${r.extra?.quarantineType ?? 'unknown'})${filter ? ` by ${filter.name}: ${filter.verdict}` : ''}${r.reason ? `: ${r.reason}` : ''}`;
    default:
      return [r.reason, r.reply, filter ? `${filter.name}: ${filter.verdict}` : null].filter(Boolean).join('; ');
  }
}

/** One line per event and recipient: time, event, recipient, detail. */
export function detailLines(rows: readonly TraceRow[]): string[] {
  return rows.map((r) => `${iso(r.time)}  ${r.kind.padEnd(10)} ${(r.recipient || '-').padEnd(30)} ${detailOf(r)}`);
}

/** Plain text columns, EOP's order: date, sender, recipient, subject, status, connector, then queue id and reply. */
export function summaryTable(rows: readonly TraceSummary[]): string {
  const head = ['Date', 'Sender', 'Recipient', 'Subject', 'Status', 'Connector', 'Queue ID', 'Reply'];
  const cells = rows.map((s) => [iso(s.date), s.sender || '<>', s.recipient || '-', s.subject ?? '', s.status, s.connector ?? '', s.queueId ?? '-', s.reply ?? '']);
  const widths = head.map((h, i) => Math.min(40, Math.max(h.length, ...cells.map((c) => c[i]!.length))));
  const fmt = (c: string[]) =>
    c
      .map((v, i) => (i === c.length - 1 ? v : (v.length > widths[i]! ? `${v.slice(0, widths[i]! - 1)}…` : v).padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [fmt(head), ...cells.map(fmt)].join('\n') + '\n';
}
