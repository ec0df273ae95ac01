// The trace's local durable outbox for cluster mode: tracking events go first into a small
// SQLite file beside the spool (one transaction per batch, on this replica's disk, never waiting
// on the network), and a drainer moves them to PostgreSQL in batches (pg-trace-store.ts). A
// database outage only makes the outbox grow: SMTP is never blocked or slowed, one log line per
// outage, "outbox: N events pending" in /readyz detail; when the database returns the outbox
// drains. Each batch gets an id when it enters the outbox (an event's id is the batch id and its
// place in it), and the shared table ignores an id it has, so a batch resent after a failure (or a
// crash between the insert and the delete) is written once.
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import type { Logger } from '../observe/log.js';
import type { Sink } from '../observe/events.js';
import { status } from '../observe/status.js';
import type { TimedEvent } from '../observe/trace-store.js';
import type { EngineState } from './engine-state.js';
import type { OutboxEntry, PgTraceStore } from './pg-trace-store.js';

export const OUTBOX_FILE = 'trace-outbox.sqlite';
/** Events are written to the outbox when this many are buffered, or FLUSH_MS after the first. */
const FLUSH_EVENTS = 1_000;
const FLUSH_MS = 50;
/** Events per INSERT into PostgreSQL (at least one outbox batch, whatever its size). */
export const DRAIN_BATCH = 500;
/** Outbox batches read per drain, before cutting at DRAIN_BATCH events. */
const DRAIN_ROWS = 64;
/** An event's order key: its batch's row id times this, plus its place (FLUSH_EVENTS is far below). */
const ORD_PER_BATCH = 65_536;
const DRAIN_IDLE_MS = 200;
/** After a failed drain: wait this long, doubling up to the max. */
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 5_000;
const PRUNE_MAX_INTERVAL_MS = 3_600_000;
const PRUNE_MIN_INTERVAL_MS = 1_000;

/** One flush of the sink: a JSON array of events under one id. */
export interface OutboxRow {
  id: number;
  batch_id: string;
  n: number;
  body: string;
}

/**
 * The entries of one drain: whole outbox batches, oldest first, up to `maxEvents` events (the
 * first batch always, however large), each event with its id and order key; `lastId` is the last
 * row taken (the drain deletes up to it after the insert).
 */
export function batchOf(rows: readonly OutboxRow[], maxEvents = DRAIN_BATCH): { entries: OutboxEntry[]; lastId: number; rows: number } {
  const entries: OutboxEntry[] = [];
  let lastId = 0;
  let taken = 0;
  for (const r of rows) {
    if (taken && entries.length + r.n > maxEvents) break;
    (JSON.parse(r.body) as TimedEvent[]).forEach((event, i) => entries.push({ ord: r.id * ORD_PER_BATCH + i, eventId: `${r.batch_id}:${i}`, event }));
    lastId = r.id;
    taken++;
  }
  return { entries, lastId, rows: taken };
}

/** The next wait after a drain: at once while there is more, backed off after a failure. */
export function nextDrainDelay(o: { failed: boolean; full: boolean; lastDelayMs: number }): number {
  if (o.failed) return Math.min(RETRY_MAX_MS, Math.max(RETRY_MIN_MS, o.lastDelayMs * 2));
  return o.full ? 0 : DRAIN_IDLE_MS;
}

export interface TraceOutboxOptions {
  file: string;
  store: PgTraceStore;
  state: EngineState;
  log: Logger;
  retentionMs: number;
  now?: () => number;
}

export class TraceOutbox {
  private readonly db: Database.Database;
  private readonly put: (events: readonly TimedEvent[]) => void;
  private readonly take: Database.Statement<[number], OutboxRow>;
  private readonly done: Database.Statement<[number]>;
  private buffer: TimedEvent[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  private drainTimer: NodeJS.Timeout | null = null;
  private pruneTimer: NodeJS.Timeout | null = null;
  private draining: Promise<void> | null = null;
  private delayMs = 0;
  private closed = false;
  /** Events in the outbox not yet in PostgreSQL. */
  pending: number;
  readonly sink: Sink = (e) => this.add(e);

  constructor(private readonly o: TraceOutboxOptions) {
    this.db = new Database(o.file);
    this.db.pragma('journal_mode = WAL');
    // As the embedded trace: consistent after a crash; the last batch may be lost, never a message.
    this.db.pragma('synchronous = NORMAL');
    // One row per flush (not per event): one insert and one JSON string per batch on this thread.
    this.db.exec('CREATE TABLE IF NOT EXISTS outbox_batches (id INTEGER PRIMARY KEY AUTOINCREMENT, batch_id TEXT NOT NULL, n INTEGER NOT NULL, body TEXT NOT NULL)');
    const insert = this.db.prepare<[string, number, string]>('INSERT INTO outbox_batches (batch_id, n, body) VALUES (?, ?, ?)');
    this.put = (events) => void insert.run(randomUUID(), events.length, JSON.stringify(events));
    this.take = this.db.prepare('SELECT id, batch_id, n, body FROM outbox_batches ORDER BY id LIMIT ?');
    this.done = this.db.prepare('DELETE FROM outbox_batches WHERE id <= ?');
    this.pending = (this.db.prepare('SELECT coalesce(sum(n), 0) AS n FROM outbox_batches').get() as { n: number }).n;
  }

  start(): void {
    this.schedule(0);
    this.schedulePrune(0);
  }

  private add(e: TimedEvent): void {
    if (this.closed) return;
    this.buffer.push(e);
    if (this.buffer.length >= FLUSH_EVENTS) this.flush();
    else this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** Writes the buffered events to the outbox file. */
  flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (!this.buffer.length) return;
    const batch = this.buffer;
    this.buffer = [];
    try {
      this.put(batch);
      this.pending += batch.length;
      status.traceWritable = true;
    } catch (err) {
      status.traceWritable = false;
      this.o.log.error({ stage: 'trace', code: 'E_TRACE_WRITE', events: batch.length, err: (err as Error).message }, 'trace outbox write failed; mail flow continues');
    }
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = setTimeout(() => void this.drainOnce(), ms);
    this.drainTimer.unref();
  }

  /** One batch to PostgreSQL; reschedules itself. */
  private drainOnce(): Promise<void> {
    if (this.draining) return this.draining;
    const run = (async () => {
      let failed = false;
      let full = false;
      try {
        this.flush();
        const rows = this.take.all(DRAIN_ROWS);
        if (rows.length) {
          const { entries, lastId, rows: taken } = batchOf(rows);
          await this.o.store.insert(entries);
          this.done.run(lastId);
          this.pending = Math.max(0, this.pending - entries.length);
          full = taken < rows.length || rows.length === DRAIN_ROWS;
        } else if (!this.o.state.up) {
          // Nothing to send: only a round trip may say the database is back (or there at start).
          await this.o.store.ping();
        }
        this.o.state.markUp();
      } catch (err) {
        failed = true;
        this.o.state.markDown(err, this.detail());
        this.o.state.setDetail(this.detail());
      }
      this.delayMs = nextDrainDelay({ failed, full, lastDelayMs: this.delayMs });
      this.schedule(this.delayMs);
    })().finally(() => {
      if (this.draining === run) this.draining = null;
    });
    this.draining = run;
    return run;
  }

  detail(): string {
    return `outbox: ${this.pending + this.buffer.length} events pending`;
  }

  private schedulePrune(delayMs: number): void {
    if (this.closed) return;
    this.pruneTimer = setTimeout(() => {
      const now = (this.o.now ?? Date.now)();
      void this.o.store
        .prune(now - this.o.retentionMs)
        .then((rows) => rows && this.o.log.info({ stage: 'trace', rows }, 'trace retention: old day partitions dropped'))
        .catch(() => undefined); // an outage: the drainer reports it; retention runs next time
      this.schedulePrune(Math.min(PRUNE_MAX_INTERVAL_MS, Math.max(PRUNE_MIN_INTERVAL_MS, this.o.retentionMs / 4)));
    }, delayMs);
    this.pruneTimer.unref();
  }

  /** Writes what is buffered, tries one last drain (bounded), and closes the file; the rest waits for the next start. */
  async close(timeoutMs = 3_000): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    for (const t of [this.drainTimer, this.pruneTimer]) if (t) clearTimeout(t);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)));
    await Promise.race([this.drainAll(), deadline]);
    clearTimeout(timer);
    await this.draining?.catch(() => undefined);
    this.db.close();
  }

  private async drainAll(): Promise<void> {
    while (this.pending > 0) {
      const before = this.pending;
      await (this.draining ?? this.drainOnce());
      if (this.pending >= before) return;
    }
  }
}
