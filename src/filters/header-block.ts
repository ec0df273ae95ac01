// The received header block, parsed exactly: each field keeps its bytes (folded lines and CRLF
// included) and its byte range in the stored message, so a filter's `remove` can be applied at
// read time without touching the received bytes on disk. Pure; the reader below is the one I/O.
import type { Readable } from 'node:stream';
import type { HeaderField } from './contract.js';

/** A header field with where it sits in the received bytes: [start, end) byte offsets. */
export interface LocatedField extends HeaderField {
  readonly start: number;
  readonly end: number;
}

export interface HeaderBlock {
  readonly fields: readonly LocatedField[];
  /** Bytes up to and including the empty line that ends the block (or all bytes read, if none). */
  readonly length: number;
  /** false when the block did not end within the bytes read (header larger than the bound, or no body). */
  readonly complete: boolean;
}

const CR = 0x0d;
const LF = 0x0a;
const isWsp = (b: number | undefined) => b === 0x20 || b === 0x09;

/** End (exclusive) of the line starting at `at`: after its LF, or the buffer's end. */
function lineEnd(buf: Buffer, at: number): number {
  const lf = buf.indexOf(LF, at);
  return lf === -1 ? buf.length : lf + 1;
}

/**
 * Parses the header block at the start of `buf`. A line that is not a field (no colon, or a
 * continuation before any field) ends nothing and is kept inside the previous field's bytes or,
 * first of all, skipped: the parse never loses or invents bytes between `start` and `length`.
 */
export function parseHeaderBlock(buf: Buffer): HeaderBlock {
  const fields: LocatedField[] = [];
  let at = 0;
  let complete = false;
  while (at < buf.length) {
    // The empty line: CRLF (or a bare LF, which the listener refuses anyway) ends the block.
    if (buf[at] === LF || (buf[at] === CR && buf[at + 1] === LF)) {
      at += buf[at] === LF ? 1 : 2;
      complete = true;
      break;
    }
    const start = at;
    let end = lineEnd(buf, at);
    while (end < buf.length && isWsp(buf[end])) end = lineEnd(buf, end);
    at = end;
    const raw = buf.subarray(start, end);
    const colon = raw.indexOf(0x3a);
    if (colon <= 0 || isWsp(raw[0])) continue; // not a field: no name to match, left as received
    const name = raw.subarray(0, colon).toString('latin1').trim();
    const value = raw
      .subarray(colon + 1)
      .toString('utf8')
      .replace(/\r?\n(?=[ \t])/g, '')
      .replace(/\r?\n$/, '')
      .replace(/^[ \t]+/, '');
    fields.push({ name, value, line: raw.toString('latin1'), start, end });
  }
  return { fields, length: at, complete };
}

/** Reads at most `maxBytes` from the stream (then destroys it) and parses the header block there. */
export async function readHeaderBlock(stream: Readable, maxBytes: number): Promise<HeaderBlock> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    let tail = Buffer.alloc(0);
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      n += chunk.length;
      // Stop once the empty line is in: the body is never read for the header view. The last 3
      // bytes of the previous chunk go with this one, for an empty line cut between two chunks.
      const probe = Buffer.concat([tail, chunk]);
      if (n >= maxBytes || probe.includes('\r\n\r\n') || (n === probe.length && probe.subarray(0, 2).equals(Buffer.from('\r\n')))) break;
      tail = probe.subarray(Math.max(0, probe.length - 3));
    }
  } finally {
    stream.destroy();
  }
  const buf = Buffer.concat(chunks).subarray(0, maxBytes);
  const block = parseHeaderBlock(buf);
  // A block cut by the bound: its last field may be cut too, so it is not reported as a field.
  if (!block.complete && n >= maxBytes) return { fields: block.fields.slice(0, -1), length: block.fields.at(-2)?.end ?? 0, complete: false };
  return block;
}

/** Case-insensitive lookup helpers filters use on the view's headers. */
export const headerValues = (fields: readonly HeaderField[], name: string): string[] =>
  fields.filter((f) => f.name.toLowerCase() === name.toLowerCase()).map((f) => f.value);
