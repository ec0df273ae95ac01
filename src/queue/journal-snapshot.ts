// What a running daemon's journal holds, read without its lock, for the tools that read the spool
// lock-free (queue list/show, connectors, the tests' spool readers). A journaled message has no
// file of its own until its first attempt ends (spool-journal.ts), so a reader that looked only at
// queue/ would not see mail the daemon has acknowledged.
// Read the snapshot before queue/: a message leaving the journal gets its file first and its
// tombstone after, so whatever moves in between is seen in one place or the other, never in
// neither. Seen in both, the file is the newer. A segment the daemon is appending to may end in a
// torn entry; what comes before it is whole, and what is torn was never acknowledged.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { SpoolRecord } from './record.js';
import { decodeTrailer } from './spool-format.js';
import { JOURNAL_DIR, parseSegment, segmentNames } from './spool-journal.js';

export type JournalSnapshot = Map<string, Buffer>;

/** The journaled messages not yet forgotten: id → the bytes of their message file (body, record, footer). */
export function journalSnapshot(spoolDir: string): JournalSnapshot {
  const dir = path.join(spoolDir, JOURNAL_DIR);
  const live: JournalSnapshot = new Map();
  if (!existsSync(dir)) return live;
  let names: string[];
  try {
    names = segmentNames(dir);
  } catch {
    return live;
  }
  for (const name of names) {
    let buf: Buffer;
    try {
      buf = readFileSync(path.join(dir, name));
    } catch (err) {
      // Unlinked since the listing: every message in it was forgotten.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    for (const [id, bytes] of parseSegment(buf).live) live.set(id, bytes);
  }
  return live;
}

/** The record committed with a journaled message. */
export function journaledRecord(id: string, bytes: Buffer): SpoolRecord | null {
  const read = decodeTrailer(id, bytes, bytes.length, (pos, len) => bytes.subarray(pos, pos + len));
  return read.ok ? read.record : null;
}
