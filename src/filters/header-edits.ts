// Applies filters' header edits without touching the received bytes: added fields go into the
// record's stored header block (put in front at every read), and a removed received field becomes
// a byte range the spool leaves out when it reads the message. Pure.
import type { HeaderEdit } from './contract.js';
import type { LocatedField } from './header-block.js';

export interface EditedHeaders {
  /** The record's `headers`: fields the filters added (in order), then our Received: stamp. */
  readonly headers: string;
  /** Sorted [start, end) byte ranges of received fields to leave out at read. */
  readonly omit: readonly (readonly [number, number])[];
}

/**
 * One header line as the spool stores it (latin1 string of UTF-8 bytes). CR and LF in a value
 * survive only as folding (followed by a space or tab); any other line break is dropped, so a
 * filter's value can never start a header of its own.
 */
export function headerLine(name: string, value: string): string {
  const safe = value
    .replace(/\r(?!\n)/g, ' ')
    .replace(/\r?\n(?![ \t])/g, ' ')
    .replace(/\r?\n/g, '\r\n');
  return Buffer.from(`${name}: ${safe}\r\n`, 'utf8').toString('latin1');
}

export function applyHeaderEdits(stamp: string, received: readonly LocatedField[], edits: readonly HeaderEdit[]): EditedHeaders {
  let added: { name: string; line: string }[] = [];
  const removed = new Set<string>();
  for (const e of edits) {
    const key = e.name.toLowerCase();
    if (e.op === 'remove' || e.op === 'set') {
      // Removes what arrived and what an earlier filter added; never our own Received: stamp.
      removed.add(key);
      added = added.filter((h) => h.name.toLowerCase() !== key);
    }
    if (e.op === 'add' || e.op === 'set') added.push({ name: e.name, line: headerLine(e.name, e.value) });
  }
  const omit = received.filter((f) => removed.has(f.name.toLowerCase())).map((f) => [f.start, f.end] as const);
  return { headers: added.map((h) => h.line).join('') + stamp, omit };
}
