// The file spool, the one implementation of the Spool interface (spool.ts): "250 means on disk". A message is <id>.eml (body, immutable) plus <id>.json
// (envelope and per-recipient state) in queue/. Both are written as .tmp, fsynced, renamed, and
// the directory fsynced before the caller may answer 250. The .json is the commit marker.
import { promises as fs, constants as FS, createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { parseRecord, type SpoolRecord } from './record.js';
import { scanSpool } from './scan.js';
import type { MessageWriter, ScanStats, Spool, SpoolArea } from './spool.js';
import { SluiceError } from '../domain/errors.js';
import type { Logger } from '../observe/log.js';

const BODY_WRITE_CHUNK_BYTES = 64 * 1024;

/** Coalesces directory fsyncs: every caller waits for one fsync that started after its rename. */
class DirSyncer {
  private inflight: Promise<void> | null = null;
  private next: Promise<void> | null = null;
  constructor(private readonly dir: string) {}

  sync(): Promise<void> {
    if (!this.inflight) return this.start();
    if (!this.next) {
      this.next = this.inflight.then(
        () => this.start(),
        () => this.start(),
      );
    }
    return this.next;
  }

  private start(): Promise<void> {
    this.next = null;
    const p = (async () => {
      const fh = await fs.open(this.dir, FS.O_RDONLY);
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    })();
    this.inflight = p;
    const clear = () => {
      if (this.inflight === p) this.inflight = null;
    };
    p.then(clear, clear);
    return p;
  }
}

/** Streams one message body to disk in bounded chunks, so a 100 MB message is never held whole. */
export class BodyWriter implements MessageWriter {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  bytes = 0;
  constructor(
    private readonly spool: FileSpool,
    readonly id: string,
    private readonly fh: fs.FileHandle,
    readonly tmpPath: string,
    /** Called once the write is committed or aborted. */
    readonly settled: () => void = () => undefined,
  ) {}

  reader(headers = ''): Readable {
    return withHeaders(headers, () => createReadStream(this.tmpPath));
  }

  commit(record: SpoolRecord): Promise<void> {
    return this.spool.commit(record, this);
  }

  async write(chunk: Buffer): Promise<void> {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    this.bytes += chunk.length;
    if (this.bufferedBytes >= BODY_WRITE_CHUNK_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.bufferedBytes === 0) return;
    const data = Buffer.concat(this.buffered, this.bufferedBytes);
    this.buffered = [];
    this.bufferedBytes = 0;
    await this.fh.write(data);
  }

  async finish(): Promise<void> {
    await this.flush();
    await this.fh.sync();
    await this.fh.close();
  }

  async abort(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await fs.unlink(this.tmpPath).catch(() => undefined);
    this.settled();
  }
}

export class FileSpool implements Spool {
  readonly queueDir: string;
  readonly failedDir: string;
  readonly quarantineDir: string;
  private readonly syncer: DirSyncer;
  private readonly failedSyncer: DirSyncer;
  /** Ids this process is writing right now: recover() runs while the listener already accepts. */
  private readonly writing = new Set<string>();

  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {
    this.queueDir = path.join(dir, 'queue');
    this.failedDir = path.join(dir, 'failed');
    this.quarantineDir = path.join(dir, 'quarantine');
    this.syncer = new DirSyncer(this.queueDir);
    this.failedSyncer = new DirSyncer(this.failedDir);
  }

  async open(): Promise<void> {
    for (const d of [this.queueDir, this.failedDir, this.quarantineDir]) await fs.mkdir(d, { recursive: true });
  }

  async close(): Promise<void> {}

  private areaDir(area: SpoolArea = 'queue'): string {
    return area === 'failed' ? this.failedDir : this.queueDir;
  }

  create(id: string): Promise<MessageWriter> {
    return this.openBody(id);
  }

  body(record: SpoolRecord, area?: SpoolArea): Readable {
    return withHeaders(record.headers ?? '', () => createReadStream(this.bodyPath(record.id, this.areaDir(area))));
  }

  async readHead(record: SpoolRecord, maxBytes: number, area?: SpoolArea): Promise<Buffer> {
    const head = Buffer.from(record.headers ?? '', 'latin1');
    if (head.length >= maxBytes) return head.subarray(0, maxBytes);
    const fh = await fs.open(this.bodyPath(record.id, this.areaDir(area)), 'r');
    try {
      const buf = Buffer.alloc(maxBytes - head.length);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      return Buffer.concat([head, buf.subarray(0, bytesRead)]);
    } finally {
      await fh.close();
    }
  }

  list(area: SpoolArea, stats?: ScanStats): AsyncIterable<SpoolRecord> {
    return scanSpool(this.dir, area, stats);
  }

  async removeFailed(id: string): Promise<boolean> {
    try {
      await fs.unlink(this.recordPath(id, this.failedDir));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    await fs.unlink(this.bodyPath(id, this.failedDir)).catch(() => undefined);
    return true;
  }

  /** Time-ordered, unique, filename-safe queue id (Postfix-style upper-case hex). */
  newId(): string {
    const t = Date.now().toString(16).toUpperCase().padStart(12, '0');
    return t + randomBytes(5).toString('hex').toUpperCase();
  }

  bodyPath(id: string, dir = this.queueDir): string {
    return path.join(dir, `${id}.eml`);
  }

  recordPath(id: string, dir = this.queueDir): string {
    return path.join(dir, `${id}.json`);
  }

  async openBody(id: string): Promise<BodyWriter> {
    const tmp = this.bodyPath(id) + '.tmp';
    this.writing.add(id);
    try {
      const fh = await fs.open(tmp, 'w', 0o640);
      return new BodyWriter(this, id, fh, tmp, () => this.writing.delete(id));
    } catch (err) {
      this.writing.delete(id);
      throw err;
    }
  }

  /** Makes the message durable; resolves only when both files and the directory entry are on disk. */
  async commit(record: SpoolRecord, body: BodyWriter): Promise<void> {
    const recTmp = this.recordPath(record.id) + '.tmp';
    try {
      await Promise.all([body.finish(), writeSynced(recTmp, JSON.stringify(record))]);
      await fs.rename(body.tmpPath, this.bodyPath(record.id));
      await fs.rename(recTmp, this.recordPath(record.id));
      await this.syncer.sync();
      body.settled();
    } catch (err) {
      await body.abort();
      await fs.unlink(recTmp).catch(() => undefined);
      await fs.unlink(this.recordPath(record.id)).catch(() => undefined);
      await fs.unlink(this.bodyPath(record.id)).catch(() => undefined);
      throw new SluiceError('E_SPOOL_WRITE', `spool write failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Atomically replaces a record's state (per-recipient progress, next attempt). */
  async update(record: SpoolRecord): Promise<void> {
    const dir = record.status === 'failed' ? this.failedDir : this.queueDir;
    const tmp = this.recordPath(record.id, dir) + '.tmp';
    this.writing.add(record.id);
    try {
      await writeSynced(tmp, JSON.stringify(record));
      await fs.rename(tmp, this.recordPath(record.id, dir));
    } catch (err) {
      await fs.unlink(tmp).catch(() => undefined);
      throw err;
    } finally {
      this.writing.delete(record.id);
    }
    await (dir === this.failedDir ? this.failedSyncer : this.syncer).sync();
  }

  /** Delivery finished for every recipient: the record goes first, so a crash never leaves a record without body. */
  async remove(id: string): Promise<void> {
    await fs.unlink(this.recordPath(id)).catch(ignoreMissing);
    await fs.unlink(this.bodyPath(id)).catch(ignoreMissing);
    // No directory fsync here (Postfix does none either): if a crash forgets the unlink, the
    // message is delivered again — a duplicate, never a loss — and every delivered message saves
    // a journal commit on the hot path.
  }

  /** Final failure: keep the message aside in failed/ for inspection. */
  async moveToFailed(record: SpoolRecord): Promise<void> {
    // The failed record is written first: on a full disk this throws before anything moved, so
    // the message stays intact in queue/ and the caller can try again.
    const failedJson = this.recordPath(record.id, this.failedDir);
    const previous = record.status;
    record.status = 'failed';
    try {
      await writeSynced(failedJson + '.tmp', JSON.stringify(record));
    } catch (err) {
      record.status = previous;
      await fs.unlink(failedJson + '.tmp').catch(() => undefined);
      throw err;
    }
    await fs.rename(failedJson + '.tmp', failedJson);
    await fs.rename(this.bodyPath(record.id), this.bodyPath(record.id, this.failedDir));
    await this.failedSyncer.sync();
    await fs.unlink(this.recordPath(record.id)).catch(ignoreMissing);
    await this.syncer.sync();
  }

  async readRecord(id: string, area?: SpoolArea): Promise<SpoolRecord | null> {
    const text = await fs.readFile(this.recordPath(id, this.areaDir(area)), 'utf8').catch(() => null);
    return text === null ? null : parseRecord(text);
  }

  /**
   * Startup recovery: yields every committed record. A corrupt record, one whose body is missing
   * or has the wrong size, a leftover .tmp and a body without a record (never acknowledged) are
   * moved to quarantine/ with an E_SPOOL_CORRUPT log line and never delivered. Files this process
   * is writing meanwhile (the listener is already up) are left alone.
   */
  async *recover(): AsyncGenerator<SpoolRecord> {
    const dir = await fs.opendir(this.queueDir);
    const bodies = new Set<string>();
    const records: string[] = [];
    const leftovers: string[] = [];
    for await (const ent of dir) {
      const name = ent.name;
      if (name.endsWith('.tmp')) leftovers.push(name);
      else if (name.endsWith('.eml')) bodies.add(name.slice(0, -4));
      else if (name.endsWith('.json')) records.push(name.slice(0, -5));
    }
    for (const name of leftovers) {
      if (!this.writing.has(name.replace(/\.(eml|json)\.tmp$/, ''))) await this.quarantineFile(name, 'leftover partial write');
    }
    for (const id of records.sort()) {
      bodies.delete(id);
      const text = await fs.readFile(this.recordPath(id), 'utf8').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? null : ''));
      if (text === null) continue; // delivered and removed by this process since the listing
      const rec = parseRecord(text);
      const stat = await fs.stat(this.bodyPath(id)).catch(() => null);
      if (!rec || rec.id !== id || !stat || stat.size !== rec.size) {
        await this.quarantine(id, !rec ? 'corrupt record' : rec.id !== id ? 'record id mismatch' : !stat ? 'missing body' : 'body size mismatch');
        continue;
      }
      yield rec;
    }
    for (const id of bodies) {
      // The listing may have caught a fresh commit between its two renames: its record exists now.
      if (this.writing.has(id) || (await exists(this.recordPath(id)))) continue;
      await this.quarantineFile(`${id}.eml`, 'body without record');
    }
  }

  private async quarantineFile(name: string, why: string): Promise<void> {
    this.log.warn({ stage: 'spool', file: name, code: 'E_SPOOL_CORRUPT', reason: why }, 'spool file quarantined');
    await fs.rename(path.join(this.queueDir, name), path.join(this.quarantineDir, name)).catch(ignoreMissing);
  }

  async quarantine(id: string, why: string): Promise<void> {
    this.log.error({ stage: 'spool', queueId: id, code: 'E_SPOOL_CORRUPT', reason: why }, 'spool file quarantined');
    for (const ext of ['.json', '.eml']) {
      await fs
        .rename(path.join(this.queueDir, id + ext), path.join(this.quarantineDir, id + ext))
        .catch(ignoreMissing);
    }
  }
}

/** `headers` (our own header lines) in front of the stored bytes, as one stream. */
function withHeaders(headers: string, open: () => Readable): Readable {
  if (!headers) return open();
  return Readable.from(
    (async function* () {
      yield Buffer.from(headers, 'latin1');
      yield* open();
    })(),
  );
}

async function writeSynced(file: string, text: string): Promise<void> {
  const fh = await fs.open(file, 'w', 0o640);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}
