// Message-ID and Subject for the message trace, read once at receipt from the header block the
// listener parses from the DATA bytes as they arrive (filters/header-block.ts; no MIME parse).
// Pure.
import libmime from 'libmime';

const MAX_FIELD_CHARS = 998;

export interface HeaderFields {
  messageId: string | null;
  subject: string | null;
}

/**
 * The same two fields from a header block already parsed (filters/header-block.ts), each read from
 * its raw line exactly as headerFields() reads it: the listener parses the block once for both.
 */
export function traceFieldsOf(fields: readonly { readonly name: string; readonly line: string }[]): HeaderFields {
  const out: HeaderFields = { messageId: null, subject: null };
  for (const f of fields) {
    if (out.messageId !== null && out.subject !== null) break;
    const name = f.name.toLowerCase();
    if ((name === 'message-id' && out.messageId === null) || (name === 'subject' && out.subject === null)) {
      const got = headerFields(f.line);
      out.messageId ??= got.messageId;
      out.subject ??= got.subject;
    }
  }
  return out;
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
