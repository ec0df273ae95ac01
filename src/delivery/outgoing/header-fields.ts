// The header block of a message as a list of raw fields, byte-exact (latin1 strings: one char per
// octet), for the rewrites done where a message leaves Sluice. Pure: no streams, no I/O.

export interface RawField {
  /** Field name as written (case kept). */
  readonly name: string;
  /** The physical lines of the field, each CRLF-terminated, exactly as stored. */
  readonly raw: string;
}

/** Splits a header block (CRLF-terminated lines, no blank line) into fields; junk lines stay their own field. */
export function splitFields(block: string): RawField[] {
  const fields: RawField[] = [];
  let start = 0;
  while (start < block.length) {
    let end = block.indexOf('\r\n', start);
    end = end < 0 ? block.length : end + 2;
    // Continuation lines (starting with SP or HTAB) belong to the field before them.
    while (end < block.length && (block[end] === ' ' || block[end] === '\t')) {
      const next = block.indexOf('\r\n', end);
      end = next < 0 ? block.length : next + 2;
    }
    const raw = block.slice(start, end);
    const colon = raw.indexOf(':');
    fields.push({ name: colon > 0 ? raw.slice(0, colon).trim() : '', raw });
    start = end;
  }
  return fields;
}

export const joinFields = (fields: readonly RawField[]): string => fields.map((f) => f.raw).join('');

/** The unfolded value of a field (after the colon, CRLFs removed, outer whitespace trimmed). */
export function fieldValue(f: RawField): string {
  const colon = f.raw.indexOf(':');
  return f.raw.slice(colon + 1).replace(/\r\n/g, '').trim();
}

/** A field renamed, its value kept byte for byte. */
export function renameField(f: RawField, name: string): RawField {
  const colon = f.raw.indexOf(':');
  return { name, raw: name + f.raw.slice(colon) };
}

/** The domain of the first address in a From: value ("Ann <ann@contoso.com>", "ann@contoso.com"); null when none. */
export function fromDomain(fields: readonly RawField[]): string | null {
  const from = fields.find((f) => f.name.toLowerCase() === 'from');
  if (!from) return null;
  const value = fieldValue(from).replace(/\([^()]*\)/g, ' ');
  const angle = /<([^<>]*)>/.exec(value);
  const addr = (angle ? angle[1]! : (value.split(',')[0] ?? '')).trim();
  const at = addr.lastIndexOf('@');
  if (at < 0) return null;
  const domain = addr.slice(at + 1).trim().replace(/\.$/, '').toLowerCase();
  return /^[a-z0-9.-]+$/.test(domain) ? domain : null;
}
