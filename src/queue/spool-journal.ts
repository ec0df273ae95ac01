// The spool's journal (spool.journal: true): a fresh small message is appended to a segment file
// in journal/ instead of getting a file of its own, and one fsync makes every append written before
// it durable (group commit). A message file costs an open, a rename, two fsyncs, a close and an
// unlink, each a round on libuv's thread pool and a metadata change on disk; on the bench machine
// that was about a third of Sluice's CPU per message (bench/RESULTS.md, session 7).
// A journaled message is forgotten by a tombstone appended without an fsync when its first attempt
// ends: delivered, or turned into a message file of its own (deferred, failed, updated), so the
// journal only ever holds mail in its first seconds. Opening the spool replays what a crash left:
// every entry without a tombstone becomes a message file (tmp, fsync, rename, directory fsync), and
// the segments go. A lost tombstone means a message delivered twice, never one lost, as a lost unlink
// does in the file spool.
//
//   entry:     "SJE1" | u32 n | u8 id length | id | n bytes of a message file (spool-format.ts: body, record, footer)
//   tombstone: "SJT1" | u8 id length | id
//
// Batches are written one at a time, each followed by its fsync before the next is written, so
// everything after the first damaged entry of a segment was never acknowledged.
import { closeSync, constants as FS, promises as fs, readFileSync, read as readCb } from 'node:fs';
import path from 'node:path';
import { decodeTrailer, isQueueId } from './spool-format.js';
import { closeFd, DirSyncer, fsyncFd, ignoreMissing, listNames, openFd, unlinkFile, writeAll } from './spool-io.js';

export const JOURNAL_DIR = 'journal';
const SEGMENT_EXT = '.log';
/** A segment takes no appends past this; it is unlinked once each of its messages is forgotten. */
export const SEGMENT_MAX_BYTES = 16 * 1024 * 1024;
/**
 * The segment being appended to is closed and unlinked once it has held nothing for this long:
 * an idle daemon keeps no file open for writing in the spool (a remount read-only would be
 * refused), and a busy one opens at most one segment a second for it.
 */
export const SEGMENT_IDLE_MS = 1000;
const ENTRY_MAGIC = Buffer.from('SJE1', 'latin1');
const TOMB_MAGIC = Buffer.from('SJT1', 'latin1');

export function encodeEntryHead(id: string, messageBytes: number): Buffer {
  const head = Buffer.allocUnsafe(9 + id.length);
  ENTRY_MAGIC.copy(head, 0);
  head.writeUInt32BE(messageBytes, 4);
  head.writeUInt8(id.length, 8);
  head.write(id, 9, 'latin1');
  return head;
}

export function encodeTombstone(id: string): Buffer {
  const t = Buffer.allocUnsafe(5 + id.length);
  TOMB_MAGIC.copy(t, 0);
  t.writeUInt8(id.length, 4);
  t.write(id, 5, 'latin1');
  return t;
}

export interface ParsedSegment {
  /** Entries without a tombstone in this segment (a segment holds its entries' tombstones): id → the message file's bytes. */
  live: Map<string, Buffer>;
  /** Where parsing stopped; less than the segment's length when its tail is damaged or torn. */
  end: number;
  /** Why parsing stopped before the end, if it did. */
  damage: string | null;
}

/** Reads a segment: its entries, less those a later tombstone forgets, up to the first damage. */
export function parseSegment(buf: Buffer): ParsedSegment {
  const live = new Map<string, Buffer>();
  let at = 0;
  const stop = (damage: string): ParsedSegment => ({ live, end: at, damage });
  while (at < buf.length) {
    if (buf.length - at < 5) return stop('torn record at the end');
    const magic = buf.subarray(at, at + 4);
    if (magic.equals(TOMB_MAGIC)) {
      const idLen = buf.readUInt8(at + 4);
      if (at + 5 + idLen > buf.length) return stop('torn tombstone at the end');
      live.delete(buf.toString('latin1', at + 5, at + 5 + idLen));
      at += 5 + idLen;
      continue;
    }
    if (!magic.equals(ENTRY_MAGIC)) return stop('not a journal record');
    if (buf.length - at < 9) return stop('torn entry at the end');
    const n = buf.readUInt32BE(at + 4);
    const idLen = buf.readUInt8(at + 8);
    const start = at + 9 + idLen;
    if (start + n > buf.length) return stop('torn entry at the end');
    const id = buf.toString('latin1', at + 9, start);
    const message = buf.subarray(start, start + n);
    if (!isQueueId(id)) return stop(`entry with a bad queue id`);
    const checked = decodeTrailer(id, message, n, (pos, len) => message.subarray(pos, pos + len));
    if (!checked.ok) return stop(`entry ${id}: ${checked.reason}`);
    live.set(id, message);
    at = start + n;
  }
  return { live, end: at, damage: null };
}

interface Segment {
  name: string;
  fd: number;
  size: number;
  live: number;
  /** Reads in flight: the descriptor must not be closed (and its number reused) under them. */
  readers: number;
}

interface Pending {
  parts: Buffer[];
  bytes: number;
  /** Appends that wait for this batch's fsync. */
  waiters: { resolve: () => void; reject: (e: unknown) => void }[];
  /** Entries of this batch, placed once the batch has a segment and an offset. */
  entries: { id: string; offset: number; bytes: number }[];
  /**
   * Tombstones, each for the segment that holds its entry: a segment is whole on its own, so
   * unlinking one never takes another's tombstones with it.
   */
  tombs: Map<Segment, Buffer[]>;
}

const newPending = (): Pending => ({ parts: [], bytes: 0, waiters: [], entries: [], tombs: new Map() });

export class SpoolJournal {
  private segment: Segment | null = null;
  private readonly segments = new Map<string, Segment>();
  /** Journaled messages not yet forgotten: id → where their message file's bytes are. */
  private readonly where = new Map<string, { seg: Segment; offset: number; bytes: number }>();
  private pending = newPending();
  private writing: Promise<void> | null = null;
  private seq = 0;
  private closed = false;
  private lastWriteAt = 0;
  private idleTimer: NodeJS.Timeout | null = null;

  private readonly dirSync: DirSyncer;

  constructor(readonly dir: string) {
    this.dirSync = new DirSyncer(dir);
  }

  has(id: string): boolean {
    return this.where.has(id);
  }

  /** The journaled messages not yet forgotten. */
  ids(): string[] {
    return [...this.where.keys()];
  }

  /** Resolves once the entry is on disk: the caller may answer 250 after this. */
  append(id: string, parts: Buffer[], messageBytes: number): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the spool journal is closed'));
    return new Promise<void>((resolve, reject) => {
      const head = encodeEntryHead(id, messageBytes);
      const p = this.pending;
      p.entries.push({ id, offset: p.bytes + head.length, bytes: messageBytes });
      p.parts.push(head, ...parts);
      p.bytes += head.length + messageBytes;
      p.waiters.push({ resolve, reject });
      this.kick();
    });
  }

  /** The message is delivered or has a file of its own now: its entry is no longer needed. */
  forget(id: string): void {
    const w = this.where.get(id);
    if (!w) return;
    this.where.delete(id);
    const tombs = this.pending.tombs.get(w.seg);
    if (tombs) tombs.push(encodeTombstone(id));
    else this.pending.tombs.set(w.seg, [encodeTombstone(id)]);
    this.kick();
  }

  /** The message file's bytes (body, record, footer) of a journaled message; null if forgotten. */
  async read(id: string): Promise<Buffer | null> {
    const w = this.where.get(id);
    if (!w) return null;
    const buf = Buffer.allocUnsafe(w.bytes);
    w.seg.readers++;
    try {
      let done = 0;
      while (done < w.bytes) {
        const n = await new Promise<number>((res, rej) => readCb(w.seg.fd, buf, done, w.bytes - done, w.offset + done, (e, k) => (e ? rej(e) : res(k))));
        if (n === 0) throw Object.assign(new Error(`short read in journal segment ${w.seg.name}`), { code: 'EIO' });
        done += n;
      }
      return buf;
    } finally {
      w.seg.readers--;
      this.collect();
    }
  }

  /** Waits for what is being written, then closes every segment (their files stay for the next open). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    while (this.writing) await this.writing.catch(() => undefined);
    for (const s of this.segments.values()) closeSync(s.fd);
    this.segments.clear();
    this.segment = null;
    await this.dirSync.close();
  }

  private kick(): void {
    if (this.writing || (!this.pending.bytes && !this.pending.tombs.size)) return;
    this.writing = this.writeBatch().finally(() => {
      this.writing = null;
      this.kick();
    });
  }

  private async writeBatch(): Promise<void> {
    const batch = this.pending;
    this.pending = newPending();
    // Tombstones go out without an fsync: one lost in a crash means a message delivered twice.
    for (const [seg, tombs] of batch.tombs) {
      const data = Buffer.concat(tombs);
      const at = seg.size;
      seg.size += data.length;
      await writeAll(seg.fd, data, at).catch(() => undefined);
      seg.live -= tombs.length;
    }
    if (!batch.waiters.length) return this.collect();
    try {
      const seg = await this.segmentFor();
      this.lastWriteAt = Date.now();
      const at = seg.size;
      seg.size += batch.bytes;
      await writeAll(seg.fd, batch.parts.length === 1 ? batch.parts[0]! : Buffer.concat(batch.parts, batch.bytes), at);
      await fsyncFd(seg.fd);
      for (const e of batch.entries) {
        this.where.set(e.id, { seg, offset: at + e.offset, bytes: e.bytes });
        seg.live++;
      }
      for (const w of batch.waiters) w.resolve();
    } catch (err) {
      // Nothing of this batch is acknowledged; a later batch goes to a fresh segment, since this
      // one may now hold a damaged stretch that replay would stop at.
      this.segment = null;
      for (const w of batch.waiters) w.reject(err);
    }
    this.collect();
  }

  /** The segment to append to: a new one when there is none or the current one is full. */
  private async segmentFor(): Promise<Segment> {
    if (this.segment && this.segment.size < SEGMENT_MAX_BYTES) return this.segment;
    this.segment = null;
    const name = `${Date.now().toString(16).padStart(12, '0')}-${(this.seq++).toString(16).padStart(4, '0')}${SEGMENT_EXT}`;
    const fd = await openFd(path.join(this.dir, name), FS.O_RDWR | FS.O_CREAT | FS.O_EXCL, 0o640);
    try {
      // The new name must be durable before the first entry in it is acknowledged.
      await this.dirSync.sync();
    } catch (err) {
      closeFd(fd, () => undefined);
      throw err;
    }
    const seg: Segment = { name, fd, size: 0, live: 0, readers: 0 };
    this.segments.set(name, seg);
    this.segment = seg;
    return seg;
  }

  /** Unlinks the segments that take no more appends and whose every message was forgotten. */
  private collect(): void {
    for (const s of this.segments.values()) {
      if (s === this.segment || s.live > 0 || s.readers > 0 || this.closed) continue;
      this.drop(s);
    }
    if (this.segment?.live === 0 && !this.idleTimer && !this.closed) {
      this.idleTimer = setTimeout(() => this.retireIdle(), SEGMENT_IDLE_MS);
      this.idleTimer.unref();
    }
  }

  /** The current segment, empty and unwritten for SEGMENT_IDLE_MS, goes; the next append starts a new one. */
  private retireIdle(): void {
    this.idleTimer = null;
    const seg = this.segment;
    if (!seg || seg.live > 0 || this.closed) return;
    const quiet = Date.now() - this.lastWriteAt;
    if (this.writing || seg.readers > 0 || quiet < SEGMENT_IDLE_MS) {
      this.idleTimer = setTimeout(() => this.retireIdle(), Math.max(SEGMENT_IDLE_MS - quiet, 10));
      this.idleTimer.unref();
      return;
    }
    this.segment = null;
    this.drop(seg);
  }

  private drop(s: Segment): void {
    this.segments.delete(s.name);
    closeFd(s.fd, () => undefined);
    // No directory fsync: a segment that comes back after a crash holds only tombstoned entries.
    void unlinkFile(path.join(this.dir, s.name)).catch(() => undefined);
  }
}

/** The segment files a crash (or a clean stop) left, oldest first. */
export function segmentNames(dir: string): string[] {
  return listNames(dir)
    .filter((n) => n.endsWith(SEGMENT_EXT))
    .sort();
}

/** Reads one segment whole (at most SEGMENT_MAX_BYTES and one batch). */
export function readSegment(dir: string, name: string): ParsedSegment {
  return parseSegment(readFileSync(path.join(dir, name)));
}

export async function removeSegment(dir: string, name: string): Promise<void> {
  await fs.unlink(path.join(dir, name)).catch(ignoreMissing);
}
