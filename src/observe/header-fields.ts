// Message-ID and Subject for the message trace, read once at receipt from the first bytes of the
// header block (no MIME parse): the listener feeds the DATA chunks until the header ends or
// HEADER_SCAN_BYTES have been seen, then asks for the two fields. Pure apart from its buffer.
import libmime from 'libmime';

/** Enough for the header block of nearly all mail; a field beyond it is reported as absent. */
export const HEADER_SCAN_BYTES = 16 * 1024;
const MAX_FIELD_CHARS = 998;

export interface HeaderFields {
  messageId: string | null;
  subject: string | null;
}

export class HeaderScanner {
  private readonly parts: Buffer[] = [];
  private bytes = 0;
  private done = false;

  /** Keeps the chunk's bytes while the header block may still be open. */
  scan(chunk: Buffer): void {
    if (this.done) return;
    const take = chunk.subarray(0, HEADER_SCAN_BYTES - this.bytes);
    this.parts.push(take);
    this.bytes += take.length;
    if (this.bytes >= HEADER_SCAN_BYTES || take.includes('\r\n\r\n') || take.includes('\n\n')) this.done = true;
  }

  fields(): HeaderFields {
    return headerFields(Buffer.concat(this.parts).toString('latin1'));
  }
}

/** The unfolded value of each wanted field in `head` (the text up to the blank line). */
export function headerFields(text: string): HeaderFields {
  const end = text.search(/\r?\n\r?\n/);
  const head = end < 0 ? text : text.slice(0, end);
  const out: HeaderFields = { messageId: null, subject: null };
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim().slice(0, MAX_FIELD_CHARS);
    if (name === 'message-id' && out.messageId === null) out.messageId = value.replace(/^<|>$/g, '') || null;
    else if (name === 'subject' && out.subject === null) out.subject = decodeSubject(value);
  }
  return out;
}

function decodeSubject(raw: string): string {
  // Raw 8-bit bytes were read as latin1; most such subjects are UTF-8 sent without encoding.
  const text = /[\x80-\xff]/.test(raw) ? Buffer.from(raw, 'latin1').toString('utf8') : raw;
  try {
    return libmime.decodeWords(text);
  } catch {
    return text;
  }
}
