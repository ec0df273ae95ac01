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

const EMPTY = Buffer.alloc(0);
const CRLF_CRLF = Buffer.from('\r\n\r\n');

/**
 * Collects the first bytes of a message as they arrive, until the empty line that ends the header
 * block (or `maxBytes`) is in, and parses the block from them. The listener feeds it the DATA
 * chunks, so the content stage does not read the header block back from disk.
 */
export class HeaderBlockCollector {
  private readonly chunks: Buffer[] = [];
  private n = 0;
  /** The last 3 bytes seen: an empty line cut between two chunks is found across them. */
  private tail: Buffer = EMPTY;
  private done = false;

  constructor(private readonly maxBytes: number) {}

  /** True once later chunks cannot change the block. */
  get full(): boolean {
    return this.done;
  }

  push(chunk: Buffer): void {
    if (this.done || chunk.length === 0) return;
    const before = this.n;
    this.chunks.push(chunk);
    this.n += chunk.length;
    if (this.n >= this.maxBytes || chunk.includes(CRLF_CRLF) || this.endsAcross(chunk) || (before < 2 && this.n >= 2 && this.startsEmpty())) {
      this.done = true;
      return;
    }
    this.tail = chunk.length >= 3 ? chunk.subarray(chunk.length - 3) : Buffer.concat([this.tail, chunk]).subarray(-3);
  }

  block(): HeaderBlock {
    const buf = (this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks)).subarray(0, this.maxBytes);
    const block = parseHeaderBlock(buf);
    // A block cut by the bound: its last field may be cut too, so it is not reported as a field.
    if (!block.complete && this.n >= this.maxBytes) return { fields: block.fields.slice(0, -1), length: block.fields.at(-2)?.end ?? 0, complete: false };
    return block;
  }

  private endsAcross(chunk: Buffer): boolean {
    return this.tail.length > 0 && Buffer.concat([this.tail, chunk.subarray(0, 3)]).includes(CRLF_CRLF);
  }

  /** The message starts with the empty line: no header fields at all. */
  private startsEmpty(): boolean {
    const first = this.chunks[0]!.length >= 2 ? this.chunks[0]! : Buffer.concat(this.chunks);
    return first[0] === CR && first[1] === LF;
  }
}

/** Reads at most `maxBytes` from the stream (then destroys it) and parses the header block there. */
export async function readHeaderBlock(stream: Readable, maxBytes: number): Promise<HeaderBlock> {
  const collector = new HeaderBlockCollector(maxBytes);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      collector.push(chunk);
      if (collector.full) break;
    }
  } finally {
    stream.destroy();
  }
  return collector.block();
}

/** Case-insensitive lookup helpers filters use on the view's headers. */
export const headerValues = (fields: readonly HeaderField[], name: string): string[] =>
  fields.filter((f) => f.name.toLowerCase() === name.toLowerCase()).map((f) => f.value);
