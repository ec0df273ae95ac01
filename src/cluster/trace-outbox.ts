// The trace's local durable outbox for cluster mode: tracking events go first into a small
// SQLite file beside the spool (one transaction per batch, on this replica's disk, never waiting
// on the network), and a drainer moves them to PostgreSQL in batches (pg-trace-store.ts). A
// database outage only makes the outbox grow: SMTP is never blocked or slowed, one log line per
// outage, "outbox: N events pending" in /readyz detail; when the database returns the outbox
// drains. Each event gets an id when it enters the outbox, and the shared table ignores an id
// it has, so a batch resent after a failure (or a crash between insert and delete) is written once.
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
/** Events per INSERT into PostgreSQL. */
export const DRAIN_BATCH = 500;
const DRAIN_IDLE_MS = 200;
/** After a failed drain: wait this long, doubling up to the max. */
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 5_000;
const PRUNE_MAX_INTERVAL_MS = 3_600_000;
const PRUNE_MIN_INTERVAL_MS = 1_000;

export interface OutboxRow {
  id: number;
  event_id: string;
  body: string;
}

/** The entries of one drain: the outbox rows, oldest first, as the store takes them. */
export function batchOf(rows: readonly OutboxRow[]): { entries: OutboxEntry[]; lastId: number } {
  const entries = rows.map((r) => ({ ord: r.id, eventId: r.event_id, event: JSON.parse(r.body) as TimedEvent }));
  return { entries, lastId: rows.length ? rows[rows.length - 1]!.id : 0 };
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
    this.db.exec('CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, body TEXT NOT NULL)');
    const insert = this.db.prepare<[string, string]>('INSERT INTO outbox (event_id, body) VALUES (?, ?)');
    this.put = this.db.transaction((events: readonly TimedEvent[]) => {
      for (const e of events) insert.run(randomUUID(), JSON.stringify(e));
    });
    this.take = this.db.prepare('SELECT id, event_id, body FROM outbox ORDER BY id LIMIT ?');
    this.done = this.db.prepare('DELETE FROM outbox WHERE id <= ?');
    this.pending = (this.db.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n;
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
        const rows = this.take.all(DRAIN_BATCH);
        if (rows.length) {
          const { entries, lastId } = batchOf(rows);
          await this.o.store.insert(entries);
          this.done.run(lastId);
          this.pending = Math.max(0, this.pending - rows.length);
          full = rows.length === DRAIN_BATCH;
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
