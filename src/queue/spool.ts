// The durable spool: "250 means on disk". A message is <id>.eml (body, immutable) plus <id>.json
// (envelope and per-recipient state) in queue/. Both are written as .tmp, fsynced, renamed, and
// the directory fsynced before the caller may answer 250. The .json is the commit marker.
import { promises as fs, constants as FS } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { parseRecord, type SpoolRecord } from './record.js';
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
export class BodyWriter {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  bytes = 0;
  constructor(
    private readonly fh: fs.FileHandle,
    readonly tmpPath: string,
  ) {}

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
  }
}

export class Spool {
  readonly queueDir: string;
  readonly failedDir: string;
  readonly quarantineDir: string;
  private readonly syncer: DirSyncer;
  private readonly failedSyncer: DirSyncer;

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

  async init(): Promise<void> {
    for (const d of [this.queueDir, this.failedDir, this.quarantineDir]) await fs.mkdir(d, { recursive: true });
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
    const fh = await fs.open(tmp, 'w', 0o640);
    return new BodyWriter(fh, tmp);
  }

  /** Makes the message durable; resolves only when both files and the directory entry are on disk. */
  async commit(record: SpoolRecord, body: BodyWriter): Promise<void> {
    const recTmp = this.recordPath(record.id) + '.tmp';
    try {
      await Promise.all([body.finish(), writeSynced(recTmp, JSON.stringify(record))]);
      await fs.rename(body.tmpPath, this.bodyPath(record.id));
      await fs.rename(recTmp, this.recordPath(record.id));
      await this.syncer.sync();
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
    await writeSynced(tmp, JSON.stringify(record));
    await fs.rename(tmp, this.recordPath(record.id, dir));
    await (dir === this.failedDir ? this.failedSyncer : this.syncer).sync();
  }

  /** Delivery finished for every recipient: the record goes first, so a crash never leaves a record without body. */
  async remove(id: string): Promise<void> {
    await fs.unlink(this.recordPath(id)).catch(ignoreMissing);
    await fs.unlink(this.bodyPath(id)).catch(ignoreMissing);
    await this.syncer.sync();
  }

  /** Final failure: keep the message aside in failed/ for inspection. */
  async moveToFailed(record: SpoolRecord): Promise<void> {
    record.status = 'failed';
    await fs.rename(this.bodyPath(record.id), this.bodyPath(record.id, this.failedDir));
    await writeSynced(this.recordPath(record.id, this.failedDir) + '.tmp', JSON.stringify(record));
    await fs.rename(this.recordPath(record.id, this.failedDir) + '.tmp', this.recordPath(record.id, this.failedDir));
    await this.failedSyncer.sync();
    await fs.unlink(this.recordPath(record.id)).catch(ignoreMissing);
    await this.syncer.sync();
  }

  async readRecord(id: string): Promise<SpoolRecord | null> {
    const text = await fs.readFile(this.recordPath(id), 'utf8').catch(() => null);
    return text === null ? null : parseRecord(text);
  }

  /**
   * Startup recovery: yields every committed record. Leftover .tmp files and bodies without a
   * record were never acknowledged and are removed; a corrupt record, or one whose body is missing
   * or has the wrong size, is moved to quarantine/ with a log line and never delivered.
   */
  async *recover(): AsyncGenerator<SpoolRecord> {
    const dir = await fs.opendir(this.queueDir);
    const bodies = new Set<string>();
    const records: string[] = [];
    for await (const ent of dir) {
      const name = ent.name;
      if (name.endsWith('.tmp')) await fs.unlink(path.join(this.queueDir, name)).catch(ignoreMissing);
      else if (name.endsWith('.eml')) bodies.add(name.slice(0, -4));
      else if (name.endsWith('.json')) records.push(name.slice(0, -5));
    }
    for (const id of records.sort()) {
      const text = await fs.readFile(this.recordPath(id), 'utf8').catch(() => '');
      const rec = parseRecord(text);
      const stat = await fs.stat(this.bodyPath(id)).catch(() => null);
      bodies.delete(id);
      if (!rec || rec.id !== id || !stat || stat.size !== rec.size) {
        await this.quarantine(id, !rec ? 'corrupt record' : !stat ? 'missing body' : 'body size mismatch');
        continue;
      }
      yield rec;
    }
    for (const id of bodies) await fs.unlink(this.bodyPath(id)).catch(ignoreMissing);
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

async function writeSynced(file: string, text: string): Promise<void> {
  const fh = await fs.open(file, 'w', 0o640);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}
