// Parses a delivery status notification as a smart host received it, by hand and strictly:
// top-level headers, the multipart/report parts, the message/delivery-status field groups
// (unfolded, lower-case names) and the returned original. Tests assert on these structures.
import assert from 'node:assert/strict';

export interface ParsedDsn {
  headers: Record<string, string>;
  contentType: string;
  parts: { contentType: string; body: string }[];
  human: string;
  perMessage: Record<string, string>;
  recipients: Record<string, string>[];
  /** 'text/rfc822-headers' or 'message/rfc822'. */
  originalType: string;
  original: string;
}

function headerMap(block: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of block.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return out;
}

export function parseDsn(raw: Buffer): ParsedDsn {
  const text = raw.toString('utf8');
  const split = text.indexOf('\r\n\r\n');
  assert.ok(split > 0, 'DSN has a header block');
  const headers = headerMap(text.slice(0, split));
  const contentType = headers['content-type'] ?? '';
  assert.match(contentType, /^multipart\/report;/i, 'DSN is multipart/report');
  assert.match(contentType, /report-type=delivery-status/i, 'report-type=delivery-status');
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  assert.ok(boundary, 'multipart boundary');
  const body = text.slice(split + 4);
  const end = body.indexOf(`\r\n--${boundary}--`);
  assert.ok(end > 0, 'closing boundary');
  const parts = body
    .slice(0, end)
    .split(`--${boundary}\r\n`)
    .slice(1)
    .map((p) => {
      const i = p.indexOf('\r\n\r\n');
      const h = headerMap(p.slice(0, i));
      return { contentType: (h['content-type'] ?? 'text/plain').split(';')[0]!.trim().toLowerCase(), body: p.slice(i + 4).replace(/\r\n$/, '') };
    });
  assert.equal(parts.length, 3, 'human part, delivery-status part, original');
  assert.equal(parts[0]!.contentType, 'text/plain');
  assert.equal(parts[1]!.contentType, 'message/delivery-status');
  const groups = parts[1]!.body
    .trim()
    .split(/\r\n\r\n/)
    .map(headerMap);
  return {
    headers,
    contentType,
    parts,
    human: parts[0]!.body,
    perMessage: groups[0]!,
    recipients: groups.slice(1),
    originalType: parts[2]!.contentType,
    original: parts[2]!.body,
  };
}

/** The delivery-status group for one Final-Recipient, or undefined. */
export function recipientGroup(dsn: ParsedDsn, address: string): Record<string, string> | undefined {
  return dsn.recipients.find((r) => (r['final-recipient'] ?? '').toLowerCase() === `rfc822; ${address.toLowerCase()}`);
}
