// The header trust boundary where a message leaves (issue 9): organisation headers
// (X-MS-Exchange-Organization-*) are ours and never reach a foreign server. An outbound connector
// with cloudServicesMailEnabled (hybrid: the receiving server is our own Exchange) gets them as
// X-MS-Exchange-CrossPremises-* headers, which it turns back into organisation headers; any other
// destination gets neither kind. Pure, over raw fields.
import { joinFields, renameField, splitFields, type RawField } from './header-fields.js';

export const ORG_PREFIX = 'X-MS-Exchange-Organization-';
export const CROSS_PREMISES_PREFIX = 'X-MS-Exchange-CrossPremises-';

const startsWithCi = (name: string, prefix: string): boolean => name.length > prefix.length && name.slice(0, prefix.length).toLowerCase() === prefix.toLowerCase();
export const isOrgHeader = (name: string): boolean => startsWithCi(name, ORG_PREFIX);
export const isCrossPremisesHeader = (name: string): boolean => startsWithCi(name, CROSS_PREMISES_PREFIX);

export function outboundOrgHeaders(fields: readonly RawField[], cloudServicesMailEnabled: boolean): RawField[] {
  const out: RawField[] = [];
  for (const f of fields) {
    // Cross-premises headers already in the message were written by someone else: ours replace them.
    if (isCrossPremisesHeader(f.name)) continue;
    if (!isOrgHeader(f.name)) out.push(f);
    else if (cloudServicesMailEnabled) out.push(renameField(f, CROSS_PREMISES_PREFIX + f.name.slice(ORG_PREFIX.length)));
  }
  return out;
}

/**
 * A message (or its head) with the organisation and cross-premises headers of its header block
 * removed: what a DSN may return to a sender, who is outside the boundary.
 */
export function withoutOrgHeaders(msg: Buffer): Buffer {
  const end = msg.indexOf('\r\n\r\n');
  const headEnd = end < 0 ? msg.length : end + 2;
  const fields = splitFields(msg.subarray(0, headEnd).toString('latin1'));
  const kept = outboundOrgHeaders(fields, false);
  if (kept.length === fields.length) return msg;
  return Buffer.concat([Buffer.from(joinFields(kept), 'latin1'), msg.subarray(headEnd)]);
}
