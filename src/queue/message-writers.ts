// The file spool's message writers: one streams a message to a file of its own (queue/<id>.msg.tmp,
// then commit: footer, rename, fsyncs); the other (spool.journal) keeps a small body in memory and
// commits it to the journal, going on as a file once the body outgrows it.
import { promises as fs, createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { SpoolRecord } from './record.js';
import type { MessageWriter, SpoolArea } from './spool.js';
import { encodeTrailer } from './spool-format.js';
import { closeFd, fsyncFd, rename, settledAll, writeAll } from './spool-io.js';
import type { SpoolJournal } from './spool-journal.js';
import type { BodyCache } from './body-cache.js';
import { SluiceError } from '../domain/errors.js';

/** What the writers use of the spool that made them. */
export interface WriterSpool {
  readonly cache: BodyCache;
  msgPath(id: string, area?: SpoolArea): string;
  syncArea(area: SpoolArea): Promise<void>;
  createFile(id: string): Promise<FileMessageWriter>;
}

function assertDescribes(record: SpoolRecord, id: string, bytes: number): void {
  if (record.id !== id || record.size !== bytes) throw new Error(`record ${record.id} (size ${record.size}) does not describe message ${id} (${bytes} bytes written)`);
}

const BODY_WRITE_CHUNK_BYTES = 64 * 1024;

/** Streams one message to disk in bounded chunks, so a 100 MB message is never held whole. */
export class FileMessageWriter implements MessageWriter {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private closed = false;
  /** The body's chunks while it is small enough for the first-delivery cache; null past that. */
  private kept: Buffer[] | null = [];
  bytes = 0;
  constructor(
    private readonly spool: WriterSpool,
    readonly id: string,
    /** A plain descriptor (the callback API): a FileHandle's bookkeeping showed in the profile. */
    private readonly fd: number,
    private readonly tmpPath: string,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    this.bytes += chunk.length;
    if (this.kept && this.spool.cache.accepts(this.bytes)) this.kept.push(chunk);
    else this.kept = null;
    if (this.bufferedBytes >= BODY_WRITE_CHUNK_BYTES) await this.flush();
  }

  reader(headers = ''): Readable {
    const self = this;
    return Readable.from(
      (async function* () {
        if (headers) yield Buffer.from(headers, 'latin1');
        await self.flush(); // the tail of the body may still be in memory
        if (self.bytes > 0) yield* createReadStream(self.tmpPath, { start: 0, end: self.bytes - 1 });
      })(),
    );
  }

  async commit(record: SpoolRecord, area: 'queue' | 'quarantine' = 'queue'): Promise<void> {
    const final = this.spool.msgPath(this.id, area);
    try {
      assertDescribes(record, this.id, this.bytes);
      // Two rounds on the thread pool, each waiting for the event loop once: the record and footer
      // go out with the last body bytes while the file is renamed, then the file's fsync and the
      // directory's run together. Renaming before the fsync lets one journal commit carry data and
      // name (ext4); every step in its own round made each message wait for about seven turns of a
      // busy loop. Nothing is answered before both fsyncs, so 250 still means data and name on
      // disk; a crash before them can leave a named file without its footer, never acknowledged,
      // which recovery moves to corrupt/ as it does a .tmp.
      await settledAll([this.flush(encodeTrailer(record, this.bytes)), rename(this.tmpPath, final)]);
      await settledAll([fsyncFd(this.fd), this.spool.syncArea(area)]);
      // The data is durable: closing can fail only in ways that no longer matter, so nobody waits.
      this.closeQuietly();
      if (this.kept && area === 'queue') this.spool.cache.put(this.id, this.kept, this.bytes);
      this.kept = null;
    } catch (err) {
      await this.abort();
      // Renamed but a write or an fsync failed: the client hears 4xx, so the file must go too.
      await fs.unlink(final).catch(() => undefined);
      throw new SluiceError('E_SPOOL_WRITE', `spool write failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async abort(): Promise<void> {
    this.kept = null;
    this.closeQuietly();
    await fs.unlink(this.tmpPath).catch(() => undefined);
  }

  private async flush(extra?: Buffer): Promise<void> {
    if (extra) this.buffered.push(extra);
    if (!this.buffered.length) return;
    const data = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered);
    this.buffered = [];
    this.bufferedBytes = 0;
    await writeAll(this.fd, data);
  }

  private closeQuietly(): void {
    if (this.closed) return;
    this.closed = true;
    closeFd(this.fd, () => undefined);
  }
}

/**
 * spool.journal: the body is kept in memory while it is small enough for the journal, and a
 * commit to the queue appends it there (spool-journal.ts). A body that grows past that, or a commit
 * to another area (the quarantine), goes on as a message file of its own.
 */
export class JournalMessageWriter implements MessageWriter {
  private chunks: Buffer[] = [];
  private file: FileMessageWriter | null = null;
  bytes = 0;
  constructor(
    private readonly spool: WriterSpool,
    private readonly journal: SpoolJournal,
    readonly id: string,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    this.bytes += chunk.length;
    if (this.file) return this.file.write(chunk);
    this.chunks.push(chunk);
    if (!this.spool.cache.accepts(this.bytes)) await this.toFile();
  }

  reader(headers = ''): Readable {
    if (this.file) return this.file.reader(headers);
    return Readable.from(headers ? [Buffer.from(headers, 'latin1'), ...this.chunks] : [...this.chunks]);
  }

  async commit(record: SpoolRecord, area: 'queue' | 'quarantine' = 'queue'): Promise<void> {
    if (!this.file && area === 'queue') {
      try {
        assertDescribes(record, this.id, this.bytes);
        const trailer = encodeTrailer(record, this.bytes);
        await this.journal.append(this.id, [...this.chunks, trailer], this.bytes + trailer.length);
      } catch (err) {
        throw new SluiceError('E_SPOOL_WRITE', `spool write failed: ${(err as Error).message}`, { cause: err });
      }
      this.spool.cache.put(this.id, this.chunks, this.bytes);
      this.chunks = [];
      return;
    }
    if (!this.file) await this.toFile();
    return this.file!.commit(record, area);
  }

  async abort(): Promise<void> {
    this.chunks = [];
    await this.file?.abort();
  }

  private async toFile(): Promise<void> {
    const file = await this.spool.createFile(this.id);
    const written = this.chunks;
    this.chunks = [];
    this.file = file;
    for (const c of written) await file.write(c);
  }
}
