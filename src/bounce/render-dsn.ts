// Renders a delivery status notification (RFC 3464 multipart/report; report-type=delivery-status)
// from plain data: a human-readable part, the message/delivery-status part and the original
// message (headers, or the whole message for RET=FULL). Pure: dates, ids and bytes come in.

export type DsnAction = 'failed' | 'delayed' | 'delivered' | 'relayed';

export interface DsnRecipient {
  /** The address Sluice tried (Final-Recipient). */
  address: string;
  /** ORCPT as the client gave it, decoded: "rfc822;bob@contoso.com". */
  orcpt?: string | undefined;
  action: DsnAction;
  /** Enhanced status code, e.g. "5.1.1". */
  status: string;
  /** The remote reply or the local reason, e.g. "550 5.1.1 <bob@contoso.com>: user unknown". */
  diagnostic?: string | null | undefined;
  /** Host that gave the reply, without port. */
  remoteMta?: string | null | undefined;
  lastAttempt?: Date | null | undefined;
  /** For "delayed": when Sluice gives up (the queue lifetime). */
  willRetryUntil?: Date | null | undefined;
}

export interface DsnInput {
  reportingMta: string;
  /** The original sender: the DSN's To. */
  to: string;
  date: Date;
  messageId: string;
  boundary: string;
  queueId: string;
  arrivalDate: Date;
  envid?: string | null | undefined;
  recipients: readonly DsnRecipient[];
  /** The original header block (without the blank line) … */
  originalHeaders: Buffer;
  /** … or, when the client asked for RET=FULL and the DSN reports a failure, the whole message. */
  originalFull?: Buffer | null | undefined;
}

const CRLF = '\r\n';
/** Diagnostic text is folded below the 998-octet line limit of RFC 5322. */
const FOLD_AT_CHARS = 76;

const SUBJECT_PREFIX: Record<DsnAction, string> = {
  failed: 'Undeliverable',
  delayed: 'Delivery delayed',
  delivered: 'Delivered',
  relayed: 'Relayed',
};

const HUMAN_INTRO: Record<DsnAction, string> = {
  failed: 'Delivery has failed to these recipients or groups:',
  delayed: 'Delivery has been delayed to these recipients or groups. Sluice will keep trying; you do not need to resend:',
  delivered: 'Your message has been delivered to these recipients or groups:',
  relayed:
    'Your message has been relayed to these recipients or groups. The next server does not report delivery, ' +
    'so no further notification will follow:',
};

/** RFC 5322 date-time in UTC, e.g. "Tue, 05 Nov 2024 10:00:00 +0000". */
export function rfc5322Date(d: Date): string {
  return d.toUTCString().replace(/GMT$/, '+0000');
}

/** Address type for Final-/Original-Recipient: rfc822, or utf-8 (RFC 6533) for an internationalised address. */
function addressField(address: string): string {
  return /^[\x20-\x7e]*$/.test(address) ? `rfc822; ${address}` : `utf-8; ${address}`;
}

/** "rfc822;bob@x" → "rfc822; bob@x" (the address type the client gave is kept). */
function orcptField(orcpt: string): string {
  const i = orcpt.indexOf(';');
  return i < 0 ? `rfc822; ${orcpt}` : `${orcpt.slice(0, i).trim()}; ${orcpt.slice(i + 1).trim()}`;
}

/** Makes untrusted reply text a single header-safe line and folds it at spaces. */
export function foldField(name: string, value: string): string {
  const clean = value.replace(/[\r\n\t]+/g, ' ').replace(/[^\x20-\x7e\u00a0-\uffff]/g, '?').trim();
  const words = clean.split(' ');
  const lines: string[] = [];
  let line = `${name}:`;
  for (const w of words) {
    if (line.length + 1 + w.length > FOLD_AT_CHARS && line.trim().length > name.length + 1) {
      lines.push(line);
      line = ' ';
    }
    line += (line === ' ' ? '' : ' ') + w;
  }
  lines.push(line);
  return lines.join(CRLF);
}

/** The header value of the original Subject, unfolded, or '' when absent. */
export function originalSubject(headers: Buffer): string {
  const text = headers.toString('latin1');
  const m = /(?:^|\r?\n)subject:[ \t]*((?:[^\r\n]*)(?:\r?\n[ \t][^\r\n]*)*)/i.exec(text);
  return m?.[1] ? m[1].replace(/\r?\n[ \t]/g, ' ').trim() : '';
}

function encodeSubject(prefix: string, original: string): string {
  const full = original ? `${prefix}: ${original}` : prefix;
  // Raw 8-bit in the original subject is re-encoded; encoded-words pass through unchanged.
  if (/^[\x20-\x7e]*$/.test(full)) return foldField('Subject', full);
  const b64 = Buffer.from(original, 'latin1').toString('base64');
  return `Subject: ${prefix}: =?UTF-8?B?${b64}?=`;
}

function headlineAction(recipients: readonly DsnRecipient[]): DsnAction {
  const order: DsnAction[] = ['failed', 'delayed', 'relayed', 'delivered'];
  return order.find((a) => recipients.some((r) => r.action === a)) ?? 'failed';
}

function humanPart(input: DsnInput): string {
  const lines: string[] = [];
  for (const action of ['failed', 'delayed', 'relayed', 'delivered'] as const) {
    const rs = input.recipients.filter((r) => r.action === action);
    if (!rs.length) continue;
    lines.push(HUMAN_INTRO[action], '');
    for (const r of rs) {
      lines.push(r.address);
      if (r.diagnostic) lines.push(`${r.remoteMta ? 'Remote server' : 'Sluice'} returned '${oneLine(r.diagnostic)}'`);
      lines.push('');
    }
  }
  lines.push('Diagnostic information for administrators:', '', `Generating server: ${input.reportingMta}`, `Queue ID: ${input.queueId}`, '');
  for (const r of input.recipients) {
    lines.push(`${r.address}`, `${r.remoteMta ?? input.reportingMta}`, `${r.status} ${oneLine(r.diagnostic ?? '')}`.trim(), '');
  }
  return lines.join(CRLF);
}

const oneLine = (s: string): string => s.replace(/[\r\n]+/g, ' ').trim();

/** "smtp" for a server reply; a local reason (admin bounce, DNS) is typed X-Sluice, as Postfix uses X-Postfix. */
const diagnosticType = (d: string): string => (/^[2-5]\d\d[ -]/.test(d) ? 'smtp' : 'X-Sluice');

function statusPart(input: DsnInput): string {
  const msg = [`Reporting-MTA: dns; ${input.reportingMta}`, `X-Sluice-Queue-ID: ${input.queueId}`];
  if (input.envid) msg.push(foldField('Original-Envelope-Id', input.envid));
  msg.push(`Arrival-Date: ${rfc5322Date(input.arrivalDate)}`);
  const blocks = [msg.join(CRLF)];
  for (const r of input.recipients) {
    const f: string[] = [];
    if (r.orcpt) f.push(`Original-Recipient: ${orcptField(r.orcpt)}`);
    f.push(`Final-Recipient: ${addressField(r.address)}`, `Action: ${r.action}`, `Status: ${r.status}`);
    if (r.remoteMta) f.push(`Remote-MTA: dns; ${r.remoteMta}`);
    if (r.diagnostic) f.push(foldField('Diagnostic-Code', `${diagnosticType(r.diagnostic)}; ${r.diagnostic}`));
    if (r.lastAttempt) f.push(`Last-Attempt-Date: ${rfc5322Date(r.lastAttempt)}`);
    if (r.willRetryUntil) f.push(`Will-Retry-Until: ${rfc5322Date(r.willRetryUntil)}`);
    blocks.push(f.join(CRLF));
  }
  return blocks.join(CRLF + CRLF) + CRLF;
}

/** The complete DSN message (headers and body) with CRLF line ends. */
export function renderDsn(input: DsnInput): Buffer {
  const b = input.boundary;
  const headline = headlineAction(input.recipients);
  const head = [
    `From: Mail Delivery System <MAILER-DAEMON@${input.reportingMta}>`,
    `To: <${input.to}>`,
    encodeSubject(SUBJECT_PREFIX[headline], originalSubject(input.originalHeaders)),
    `Date: ${rfc5322Date(input.date)}`,
    `Message-ID: ${input.messageId}`,
    // RFC 3834: an automatic reply, so vacation responders and the like stay quiet.
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status;${CRLF} boundary="${b}"`,
    '',
    'This is a delivery status notification in MIME format (RFC 3464).',
    '',
  ].join(CRLF);
  const parts = [
    `--${b}${CRLF}Content-Type: text/plain; charset=utf-8${CRLF}Content-Transfer-Encoding: 8bit${CRLF}${CRLF}${humanPart(input)}${CRLF}`,
    `--${b}${CRLF}Content-Type: message/delivery-status${CRLF}${CRLF}${statusPart(input)}`,
  ];
  const pre = Buffer.from(head + CRLF + parts.join(CRLF) + CRLF, 'utf8');
  const original = input.originalFull ?? null;
  const origHead = original
    ? `--${b}${CRLF}Content-Type: message/rfc822${CRLF}Content-Description: Undelivered Message${CRLF}${CRLF}`
    : `--${b}${CRLF}Content-Type: text/rfc822-headers${CRLF}Content-Description: Undelivered Message Headers${CRLF}${CRLF}`;
  const origBody = original ?? input.originalHeaders;
  const endsWithCrlf = origBody.length >= 2 && origBody[origBody.length - 2] === 13 && origBody[origBody.length - 1] === 10;
  return Buffer.concat([
    pre,
    Buffer.from(origHead, 'latin1'),
    origBody,
    Buffer.from(`${endsWithCrlf ? '' : CRLF}${CRLF}--${b}--${CRLF}`, 'latin1'),
  ]);
}
