// The spool interface: the only way the rest of Sluice touches stored mail. Only queue/ knows
// file names and layout (file-spool.ts); the listener, delivery, bounces and the queue tools use
// this interface, so a second backend (a shared database, for cluster mode) can be added without
// touching them.
import type { Readable } from 'node:stream';
import type { SpoolRecord } from './record.js';

/**
 * Where a message lives: the queue (active, deferred, held), failed/ (kept for inspection) or
 * the quarantine (held by a filter until released, deleted or expired).
 */
export type SpoolArea = 'queue' | 'failed' | 'quarantine';

/** Counts what a listing skipped, for the queue tools' warning line. */
export interface ScanStats {
  /** Records that failed to parse (the daemon moves these to corrupt/ at its next start). */
  unreadable: number;
}

/** A message being received: the body streams in, filters may read it back, commit makes it durable. */
export interface MessageWriter {
  readonly id: string;
  /** Bytes of the received message written so far (exactly as received, no headers of ours). */
  readonly bytes: number;
  write(chunk: Buffer): Promise<void>;
  /**
   * A stream of the uncommitted copy as it will be delivered (`headers` in front of what was
   * written). Call after the last write; for content filters that run before the 250.
   */
  reader(headers?: string): Readable;
  /**
   * Makes body and record durable (fsync, rename, directory fsync) and resolves only then: the
   * caller may answer 250 after this. `record.id` and `record.size` must describe what was written.
   * On failure everything written is removed and it throws SluiceError E_SPOOL_WRITE (with the
   * errno as cause).
   */
  commit(record: SpoolRecord, area?: 'queue' | 'quarantine'): Promise<void>;
  /** Discards the message (refused, or the client went away). Never throws. */
  abort(): Promise<void>;
}

export interface Spool {
  /** The spool directory (the control socket lives here). */
  readonly dir: string;
  /**
   * Takes this spool for the calling process: holds an exclusive lock until close(), creates the
   * layout and migrates an older one. Throws SluiceError E_SPOOL_LOCKED naming the pid that holds
   * it (details.lockPid); a lock left by a dead process is taken over (with a log line). Reading
   * (body, readHead, readRecord, list) needs no open(); every change does.
   */
  open(): Promise<void>;
  /** Releases the lock. */
  close(): Promise<void>;
  /** Time-ordered, unique, filename-safe queue id. */
  newId(): string;
  create(id: string): Promise<MessageWriter>;
  /** The message as delivered or bounced: `record.headers` in front of the received bytes. */
  body(record: SpoolRecord, area?: SpoolArea): Readable;
  /** The message exactly as received: no headers of ours, nothing left out (quarantine export, copies). */
  received(record: SpoolRecord, area?: SpoolArea): Readable;
  /** At most `maxBytes` of body(record): the header block for DSNs and `queue show`. */
  readHead(record: SpoolRecord, maxBytes: number, area?: SpoolArea): Promise<Buffer>;
  readRecord(id: string, area?: SpoolArea): Promise<SpoolRecord | null>;
  /** Durably replaces a record's state (per-recipient progress, next attempt, hold). */
  update(record: SpoolRecord): Promise<void>;
  /** Delivered or deleted: gone from the queue. A crash may forget it (a duplicate, never a loss). */
  remove(id: string): Promise<void>;
  /** Removes a message kept in failed/; false if there is none. */
  removeFailed(id: string): Promise<boolean>;
  /** Final failure: the message moves to failed/ with `record` as its state (status 'failed'). */
  moveToFailed(record: SpoolRecord): Promise<void>;
  /** Quarantine release: the message moves to the queue with `record` (no `quarantine`) as its state. */
  release(record: SpoolRecord): Promise<void>;
  /** Removes a message from the quarantine (deleted or expired); false if there is none. */
  removeQuarantined(id: string): Promise<boolean>;
  /** Every committed record of one area, one at a time (directory order, as mailq). */
  list(area: SpoolArea, stats?: ScanStats): AsyncIterable<SpoolRecord>;
  /**
   * Start-up recovery (after open()): yields every committed queue record; damaged files are
   * moved to corrupt/ with an E_SPOOL_CORRUPT log line and never delivered. An I/O error while
   * reading throws (SluiceError E_SPOOL_IO) instead of moving good mail aside.
   */
  recover(): AsyncGenerator<SpoolRecord>;
}
