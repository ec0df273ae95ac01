// The file spool, the one implementation of the Spool interface (spool.ts): "250 means on disk".
// A message is one immutable file queue/<id>.msg (received bytes + the record at commit + footer,
// spool-format.ts) written as .tmp, renamed, then fsynced once together with its directory, before
// the caller may answer 250. Later state goes to <id>.state (tmp +
// fsync + rename); a message delivered at its first attempt is just unlinked. The process that
// opens the spool holds its lock (spool-lock.ts) until close(). With spool.journal, a fresh small
// message is an entry in journal/ until its first attempt ends (spool-journal.ts). The writers are
// message-writers.ts.
import { promises as fs, createReadStream, existsSync } from 'node:fs';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { SpoolRecord } from './record.js';
import { areaFolder, isQueueId, readMessageRecord, scanSpool } from './scan.js';
import type { MessageWriter, ScanStats, Spool, SpoolArea } from './spool.js';
import { msgName, recordJson, stateName, TMP_EXT } from './spool-format.js';
import { DirSyncer, ignoreMissing, moveAside, openFd, readingSpool, unlinkFile, writeSynced, type SpoolPaths } from './spool-io.js';
import { journaledRecord, journalSnapshot } from './journal-snapshot.js';
import { JOURNAL_DIR, readSegment, removeSegment, segmentNames, SpoolJournal } from './spool-journal.js';
import { SpoolLock } from './spool-lock.js';
import { migrateQuarantine, migrateV1 } from './spool-migrate.js';
import { recoverQueue } from './spool-recover.js';
import { BodyCache } from './body-cache.js';
import { FileMessageWriter, JournalMessageWriter } from './message-writers.js';
import { WholeBody } from './whole-body.js';
import { keptBytes, keptRanges } from './omit.js';
import type { Logger } from '../observe/log.js';

export class FileSpool implements Spool {
  readonly queueDir: string;
  readonly failedDir: string;
  readonly corruptDir: string;
  /** The quarantine: held/, never quarantine/ (the pre-issue-8 corrupt folder, migrated away at open). */
  readonly heldDir: string;
  private readonly paths: SpoolPaths;
  private readonly syncers: Record<SpoolArea, DirSyncer>;
  private readonly lock: SpoolLock;
  /**
   * Ids with a state file in queue/, known once recover() has listed them and kept up by this
   * process (which holds the lock): remove() then skips the unlink of a state file that was never
   * written, the case of every message delivered at its first attempt. null: unknown, try always.
   */
  private stated: Set<string> | null = null;
  /** Bodies of fresh messages for their first attempt (body-cache.ts); the disk copy is the truth. */
  readonly cache = new BodyCache();
  private readonly journalDir: string;
  /** spool.journal: fresh small messages in journal/ until their first attempt ends (spool-journal.ts). */
  private readonly journal: SpoolJournal | null;
  /** Journaled messages being given a file of their own: a second change waits for the first. */
  private readonly leaving = new Map<string, Promise<void>>();
  /** Opened (lock held): its own journal is the truth. Not opened, a reader also looks in the running daemon's journal/. */
  private opened = false;

  /** `owner` names this process in the lock file ("sluice daemon", "sluice queue hold"). */
  constructor(
    readonly dir: string,
    private readonly log: Logger,
    opts: { owner?: string; journal?: boolean } = {},
  ) {
    this.queueDir = path.join(dir, 'queue');
    this.failedDir = path.join(dir, 'failed');
    this.corruptDir = path.join(dir, 'corrupt');
    this.heldDir = path.join(dir, areaFolder('quarantine'));
    this.paths = { root: dir, queueDir: this.queueDir, failedDir: this.failedDir, corruptDir: this.corruptDir };
    this.syncers = { queue: new DirSyncer(this.queueDir), failed: new DirSyncer(this.failedDir), quarantine: new DirSyncer(this.heldDir) };
    this.lock = new SpoolLock(dir, opts.owner ?? 'sluice daemon');
    this.journalDir = path.join(dir, JOURNAL_DIR);
    this.journal = opts.journal ? new SpoolJournal(this.journalDir) : null;
  }

  async open(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    await this.lock.acquire(({ previous, reason }) =>
      this.log.warn({ stage: 'spool', lock: this.lock.path, previousPid: previous?.pid ?? null, previousOwner: previous?.owner ?? null, reason }, 'took over a stale spool lock'),
    );
    try {
      for (const d of [this.queueDir, this.failedDir, this.corruptDir, this.heldDir]) await fs.mkdir(d, { recursive: true });
      await this.replayJournal();
      if (this.journal) await fs.mkdir(this.journalDir, { recursive: true });
      await migrateQuarantine(this.paths, this.log);
      for (const area of ['queue', 'failed'] as const) await migrateV1(this.paths, area, () => this.syncArea(area), this.log);
      this.opened = true;
    } catch (err) {
      await this.lock.release();
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.journal) {
      // A clean stop leaves a plain spool: what is still in its first attempt gets its file, so the
      // queue tools see it without a daemon (a crash leaves it to the replay at the next open).
      for (const id of this.journal.ids()) await this.leaveJournal(id).catch(() => undefined);
      await this.journal.close();
    }
    for (const d of Object.values(this.syncers)) await d.close();
    this.opened = false;
    await this.lock.release();
  }

  /**
   * Time-ordered, unique, filename-safe queue id (Postfix-style upper-case hex): the time, a
   * random prefix drawn once per process, and a counter — no random draw per message (it showed
   * in the profile), and only the lock holder ever creates ids in this spool.
   */
  newId(): string {
    const t = Date.now().toString(16).toUpperCase().padStart(12, '0');
    this.idCounter = (this.idCounter + 1) & 0xffff;
    return t + this.idPrefix + this.idCounter.toString(16).toUpperCase().padStart(4, '0');
  }

  private readonly idPrefix = randomBytes(3).toString('hex').toUpperCase();
  private idCounter = 0;

  async create(id: string): Promise<MessageWriter> {
    return this.journal ? new JournalMessageWriter(this, this.journal, id) : this.createFile(id);
  }

  /** A writer to a message file of its own (queue/<id>.msg.tmp until commit). */
  async createFile(id: string): Promise<FileMessageWriter> {
    const tmp = this.msgPath(id) + TMP_EXT;
    const fd = await openFd(tmp, 'w', 0o640);
    return new FileMessageWriter(this, id, fd, tmp);
  }

  body(record: SpoolRecord, area?: SpoolArea): Readable {
    const cached = area === undefined || area === 'queue' ? this.cache.get(record.id) : undefined;
    if (cached) {
      const kept = keptBytes(cached, record.omit);
      // One chunk, headers included: one socket write at the smart host instead of two.
      return new WholeBody(record.headers ? Buffer.concat([Buffer.from(record.headers, 'latin1'), kept]) : kept);
    }
    if (this.journaled(record.id, area)) return this.fromJournal(record, true);
    const logged = this.inDaemonJournal(record.id, area);
    if (logged) return this.fromJournal(record, true, logged);
    const file = this.msgPath(record.id, area);
    // Only the body range: the trailer (record and footer) after it is never part of the message.
    const ranges = keptRanges(record.size, record.omit);
    const headers = record.headers ?? '';
    const only = ranges.length === 1 ? ranges[0]! : null;
    if (!headers && only) return createReadStream(file, { start: only[0], end: only[1] - 1 });
    if (!headers && !ranges.length) return Readable.from([]);
    return Readable.from(
      (async function* () {
        if (headers) yield Buffer.from(headers, 'latin1');
        for (const [s, e] of ranges) yield* createReadStream(file, { start: s, end: e - 1 });
      })(),
    );
  }

  received(record: SpoolRecord, area?: SpoolArea): Readable {
    if (this.journaled(record.id, area)) return this.fromJournal(record, false);
    const logged = this.inDaemonJournal(record.id, area);
    if (logged) return this.fromJournal(record, false, logged);
    return record.size > 0 ? createReadStream(this.msgPath(record.id, area), { start: 0, end: record.size - 1 }) : Readable.from([]);
  }

  async readHead(record: SpoolRecord, maxBytes: number, area?: SpoolArea): Promise<Buffer> {
    const head = Buffer.from(record.headers ?? '', 'latin1');
    if (head.length >= maxBytes) return head.subarray(0, maxBytes);
    const logged = await this.journalBytes(record.id, area);
    if (logged) return Buffer.concat([head, keptBytes(logged.subarray(0, record.size), record.omit)]).subarray(0, maxBytes);
    const fh = await fs.open(this.msgPath(record.id, area), 'r');
    try {
      // Omitted ranges are in the header block: read that much more, then leave them out.
      const omitted = (record.omit ?? []).reduce((n, [s, e]) => n + (e - s), 0);
      const buf = Buffer.alloc(Math.min(maxBytes - head.length + omitted, record.size));
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      const kept = keptBytes(buf.subarray(0, bytesRead), record.omit);
      return Buffer.concat([head, kept]).subarray(0, maxBytes);
    } finally {
      await fh.close();
    }
  }

  async readRecord(id: string, area: SpoolArea = 'queue'): Promise<SpoolRecord | null> {
    if (!isQueueId(id)) return null;
    // The lock holder's own journal needs no look at queue/: a journaled message has no state yet.
    const logged = await this.journalBytes(id, area);
    if (logged && this.journaled(id, area)) return journaledRecord(id, logged);
    const found = readMessageRecord(this.areaDir(area), id);
    // A state file whose message is gone (a removal cut short) is not a message.
    if (found?.record && existsSync(this.msgPath(id, area))) return found.record;
    return logged ? journaledRecord(id, logged) : null;
  }

  list(area: SpoolArea, stats?: ScanStats): AsyncIterable<SpoolRecord> {
    return scanSpool(this.dir, area, stats);
  }

  /** Durably replaces the record's state: <id>.state, written as .tmp, fsynced and renamed. */
  async update(record: SpoolRecord): Promise<void> {
    // After an attempt the message waits: it keeps its index entry, not its body.
    await this.leaveJournal(record.id);
    this.cache.drop(record.id);
    const area: SpoolArea = record.quarantine ? 'quarantine' : record.status === 'failed' ? 'failed' : 'queue';
    await this.writeState(record, area);
    await this.syncArea(area);
  }

  /** Delivered or deleted. The message file goes first: a crash in between leaves only a state file, which recovery clears. */
  async remove(id: string): Promise<void> {
    this.cache.drop(id);
    await this.leaving.get(id)?.catch(() => undefined);
    if (this.journal?.has(id)) return this.journal.forget(id);
    await unlinkFile(this.msgPath(id)).catch(ignoreMissing);
    if (this.stated?.has(id) !== false) await unlinkFile(this.statePath(id)).catch(ignoreMissing);
    this.stated?.delete(id);
    // No directory fsync here (Postfix does none either): if a crash forgets the unlink, the
    // message is delivered again — a duplicate, never a loss — and every delivered message saves
    // a journal commit on the hot path.
  }

  async removeFailed(id: string): Promise<boolean> {
    return this.removeFrom(id, 'failed');
  }

  async removeQuarantined(id: string): Promise<boolean> {
    return this.removeFrom(id, 'quarantine');
  }

  private async removeFrom(id: string, area: 'failed' | 'quarantine'): Promise<boolean> {
    try {
      await fs.unlink(this.msgPath(id, area));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    await fs.unlink(this.statePath(id, area)).catch(ignoreMissing);
    return true;
  }

  /**
   * Quarantine → queue. The queue state is written first, then the message file moves: a crash in
   * between leaves a queue state without its message (ignored, cleared by recovery) and the
   * message still held, so a release is redone, never lost and never doubled.
   */
  async release(record: SpoolRecord): Promise<void> {
    delete record.quarantine;
    await this.writeState(record, 'queue');
    await fs.rename(this.msgPath(record.id, 'quarantine'), this.msgPath(record.id));
    await this.syncArea('queue');
    await fs.unlink(this.statePath(record.id, 'quarantine')).catch(ignoreMissing);
    await this.syncArea('quarantine');
  }

  /**
   * Final failure. The failed state is written first (on a full disk this throws before anything
   * moved, and the message stays intact in queue/); then the message file moves. Recovery
   * finishes a move a crash cut short (spool-recover.ts).
   */
  async moveToFailed(record: SpoolRecord): Promise<void> {
    await this.leaveJournal(record.id);
    this.cache.drop(record.id);
    const previous = record.status;
    record.status = 'failed';
    try {
      await this.writeState(record, 'failed');
    } catch (err) {
      record.status = previous;
      throw err;
    }
    await fs.rename(this.msgPath(record.id), this.msgPath(record.id, 'failed'));
    await this.syncArea('failed');
    await fs.unlink(this.statePath(record.id)).catch(ignoreMissing);
    this.stated?.delete(record.id);
    await this.syncArea('queue');
  }

  recover(): AsyncGenerator<SpoolRecord> {
    const sync = { queue: () => this.syncArea('queue'), failed: () => this.syncArea('failed'), quarantine: () => this.syncArea('quarantine') };
    return recoverQueue(this.paths, sync, this.log, (states) => (this.stated = states));
  }

  private journaled(id: string, area?: SpoolArea): boolean {
    return (area === undefined || area === 'queue') && this.journal !== null && this.journal.has(id);
  }

  /** A reader without the lock, for a message without a file: its bytes in the running daemon's journal, if there. */
  private inDaemonJournal(id: string, area?: SpoolArea): Buffer | null {
    if (this.opened || (area !== undefined && area !== 'queue') || existsSync(this.msgPath(id))) return null;
    return journalSnapshot(this.dir).get(id) ?? null;
  }

  /** The message file's bytes of a journaled message: from our own journal, or lock-free from the daemon's (read before queue/). */
  private async journalBytes(id: string, area?: SpoolArea): Promise<Buffer | null> {
    if (this.journaled(id, area)) return this.journal!.read(id);
    if (this.opened || (area !== undefined && area !== 'queue')) return null;
    return journalSnapshot(this.dir).get(id) ?? null;
  }

  /** body() (`asDelivered`: our headers in front, omitted ranges left out) or received() of a journaled message; `snapshot`: read lock-free from the daemon's. */
  private fromJournal(record: SpoolRecord, asDelivered: boolean, snapshot?: Buffer): Readable {
    const journal = this.journal!;
    const self = this;
    return Readable.from(
      (async function* (): AsyncGenerator<Buffer> {
        const bytes = snapshot ?? (await journal.read(record.id));
        if (!bytes) {
          // Forgotten meanwhile: it has a file of its own now (or is gone, and reading says so).
          yield* (asDelivered ? self.body(record) : self.received(record)) as AsyncIterable<Buffer>;
          return;
        }
        const body = bytes.subarray(0, record.size);
        if (asDelivered && record.headers) yield Buffer.from(record.headers, 'latin1');
        yield asDelivered ? keptBytes(body, record.omit) : body;
      })(),
    );
  }

  /**
   * A journaled message whose record changes gets a message file of its own first, written as
   * commit writes one (tmp, fsync, rename, directory fsync); then its entry is forgotten.
   */
  private leaveJournal(id: string): Promise<void> {
    const busy = this.leaving.get(id);
    if (busy) return busy;
    if (!this.journal?.has(id)) return Promise.resolve();
    const journal = this.journal;
    const done = (async () => {
      const bytes = await journal.read(id);
      if (!bytes) return;
      await this.writeMessageFile(id, bytes);
      journal.forget(id);
    })().finally(() => this.leaving.delete(id));
    this.leaving.set(id, done);
    return done;
  }

  private async writeMessageFile(id: string, bytes: Buffer): Promise<void> {
    const final = this.msgPath(id);
    await writeSynced(final + TMP_EXT, bytes);
    await fs.rename(final + TMP_EXT, final);
    await this.syncArea('queue');
  }

  /**
   * What a crash left in journal/: every entry without a tombstone becomes a message file in
   * queue/ (unless it has one already), then the segments go. A segment damaged before its end is
   * kept in corrupt/ (what follows the damage was never acknowledged; the copy is for the admin).
   */
  private async replayJournal(): Promise<void> {
    if (!existsSync(this.journalDir)) return;
    for (const name of segmentNames(this.journalDir)) {
      const file = path.join(this.journalDir, name);
      const seg = readingSpool(file, () => readSegment(this.journalDir, name));
      let restored = 0;
      for (const [id, bytes] of seg.live) {
        if (existsSync(this.msgPath(id)) || existsSync(this.msgPath(id, 'failed'))) continue;
        await this.writeMessageFile(id, bytes);
        restored++;
      }
      if (seg.damage) await moveAside(this.paths, this.journalDir, name, `journal segment damaged at byte ${seg.end}: ${seg.damage}`, this.log);
      else await removeSegment(this.journalDir, name);
      this.log.info({ stage: 'spool', segment: name, restored }, 'replayed a journal segment');
    }
  }

  /** Path of a message file; for queue/ internals and tests, never for other modules. */
  msgPath(id: string, area: SpoolArea = 'queue'): string {
    return path.join(this.areaDir(area), msgName(id));
  }

  statePath(id: string, area: SpoolArea = 'queue'): string {
    return path.join(this.areaDir(area), stateName(id));
  }

  syncArea(area: SpoolArea): Promise<void> {
    return this.syncers[area].sync();
  }

  private areaDir(area: SpoolArea = 'queue'): string {
    return area === 'failed' ? this.failedDir : area === 'quarantine' ? this.heldDir : this.queueDir;
  }

  private async writeState(record: SpoolRecord, area: SpoolArea): Promise<void> {
    const file = this.statePath(record.id, area);
    try {
      await writeSynced(file + TMP_EXT, recordJson(record));
      await fs.rename(file + TMP_EXT, file);
      if (area === 'queue') this.stated?.add(record.id);
    } catch (err) {
      await fs.unlink(file + TMP_EXT).catch(() => undefined);
      throw err;
    }
  }
}
