// The quarantine's operations on a spool: release (to the queue), delete, and the retention sweep
// that deletes expired messages with a log line. The same code serves the daemon (through the
// control socket, handing released mail to its queue) and the offline tool (spool lock held, the
// daemon picks the released mail up at its next start). Changes of one process are serialised.
// In cluster mode a shared quarantine (PostgreSQL) holds what this spool's quarantine has copied
// up: an id not held here is looked up there, and held mail is copied up as it arrives.
import type { Logger } from '../observe/log.js';
import { addSink, track } from '../observe/events.js';
import { isSharedError, type PgQuarantine } from '../cluster/pg-quarantine.js';
import type { Spool } from './spool.js';
import type { SpoolRecord } from './record.js';
import { isExpired, releaseChange, type RouteOf } from './quarantine-ops.js';

export type QuarantineResult =
  | { ok: true; id: string; released?: string[]; queuedAs?: string; note?: string }
  | { ok: false; code: 'E_NOT_FOUND' | 'E_BAD_REQUEST' | 'E_ALREADY_RELEASED' | 'E_POSTGRES_DOWN'; error: string };

export interface QuarantineDeps {
  spool: Spool;
  log: Logger;
  routeOf: RouteOf;
  /** The daemon's queue (null offline: the daemon recovers released mail at its next start). */
  enqueue: ((record: SpoolRecord) => void) | null;
  now?: () => number;
  /** Cluster mode: the shared quarantine (null on a single node). */
  shared?: PgQuarantine | null;
}

/** How often the daemon looks for expired quarantined mail. */
export const QUARANTINE_SWEEP_MS = 60 * 60 * 1000;
/** Cluster mode: how often held mail still local (the database was down) is copied up again. */
export const QUARANTINE_UPLOAD_RETRY_MS = 2_000;
/** After a QUARANTINE event: the copy-up runs this soon (batched with its neighbours). */
const UPLOAD_NUDGE_MS = 100;

export class Quarantine {
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private uploadTimer: NodeJS.Timeout | null = null;
  private nudgeTimer: NodeJS.Timeout | null = null;
  private removeSink: (() => void) | null = null;

  constructor(private readonly deps: QuarantineDeps) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.chain.then(task, task);
    this.chain = run.catch(() => undefined);
    return run;
  }

  release(id: string, recipients: readonly string[] | null, by = 'admin'): Promise<QuarantineResult> {
    return this.serial(async () => {
      const { spool, log } = this.deps;
      const held = await spool.readRecord(id, 'quarantine');
      const now = this.now();
      if (!held) {
        if (!this.deps.shared) return { ok: false, code: 'E_NOT_FOUND', error: `quarantine: no message ${id}` };
        const r = await this.deps.shared.release(id, recipients, { spool, routeOf: this.deps.routeOf, now });
        return r.ok ? this.released(id, r.held, r.queued, r.remaining, by) : r;
      }
      const change = releaseChange(held, recipients, this.deps.routeOf, now, () => spool.newId());
      if (change.kind === 'refuse') return { ok: false, code: change.code, error: change.error };
      const { queued, remaining } = change;
      if (remaining) {
        // A partial release: the named recipients get a copy in the queue, the rest stay held.
        const w = await spool.create(queued.id);
        try {
          for await (const chunk of spool.received(held, 'quarantine') as AsyncIterable<Buffer>) await w.write(chunk);
        } catch (err) {
          await w.abort();
          throw err;
        }
        await w.commit(queued, 'queue');
        await spool.update(remaining);
      } else {
        await spool.release(queued);
      }
      return this.released(id, held, queued, remaining, by);
    });
  }

  /** After a release (local or shared): the queue gets it, the log and the trace say so. */
  private released(id: string, held: SpoolRecord, queued: SpoolRecord, remaining: SpoolRecord | null, by: string): QuarantineResult {
    this.deps.enqueue?.(queued);
    const released = queued.rcpts.map((r) => r.address);
    const q = held.quarantine;
    this.deps.log.info({ stage: 'quarantine', queueId: id, queuedAs: queued.id, rcpts: released, by, type: q?.type, filter: q?.filter }, 'quarantined message released');
    track({ kind: 'RELEASE', queueId: queued.id, sender: held.mailFrom, recipients: released, size: held.size, reason: `released by ${by}`, ...(q ? { quarantineType: q.type } : {}), detail: { heldAs: id } });
    return { ok: true, id, released, queuedAs: queued.id, ...(remaining ? { note: `${remaining.rcpts.length} recipient(s) still held` } : {}) };
  }

  delete(id: string, why = 'deleted by admin'): Promise<QuarantineResult> {
    return this.serial(async () => {
      let held = await this.deps.spool.readRecord(id, 'quarantine');
      if (!held && this.deps.shared) {
        const r = await this.deps.shared.delete(id);
        if (!r.ok) return r;
        held = r.held;
      } else if (!held || !(await this.deps.spool.removeQuarantined(id))) return { ok: false, code: 'E_NOT_FOUND', error: `quarantine: no message ${id}` };
      this.deps.log.info({ stage: 'quarantine', queueId: id, mailFrom: held.mailFrom, rcpts: held.rcpts.map((r) => r.address), type: held.quarantine?.type, reason: why }, 'quarantined message deleted');
      return { ok: true, id };
    });
  }

  /** Deletes every held message past its retention; resolves with how many went. */
  sweep(): Promise<number> {
    return this.serial(async () => {
      const now = this.now();
      const expired: SpoolRecord[] = [];
      for await (const rec of this.deps.spool.list('quarantine')) {
        if (isExpired(rec, now) && (await this.deps.spool.removeQuarantined(rec.id))) expired.push(rec);
      }
      const shared = await this.deps.shared?.sweep(now);
      if (shared && !isSharedError(shared)) expired.push(...shared);
      for (const rec of expired) {
        const q = rec.quarantine!;
        const rcpts = rec.rcpts.map((r) => r.address);
        this.deps.log.info({ stage: 'quarantine', queueId: rec.id, mailFrom: rec.mailFrom, rcpts, type: q.type, quarantinedAt: new Date(q.quarantinedAt).toISOString(), expiresAt: new Date(q.expiresAt).toISOString() }, 'quarantined message expired and deleted');
        track({ kind: 'EXPIRE', queueId: rec.id, sender: rec.mailFrom, recipients: rcpts, reason: 'quarantine retention ended', quarantineType: q.type });
      }
      return expired.length;
    });
  }

  /** The daemon's periodic sweep (one timer, unref'd; the first run at start). */
  start(everyMs = QUARANTINE_SWEEP_MS): void {
    const tick = () =>
      void this.sweep().catch((err: Error) => this.deps.log.error({ stage: 'quarantine', err: err.message }, 'quarantine sweep failed'));
    tick();
    this.timer = setInterval(tick, everyMs);
    this.timer.unref();
    if (!this.deps.shared) return;
    // Held mail goes up to the shared quarantine soon after it is held, and again while the database was away.
    this.removeSink = addSink((e) => {
      if (e.kind === 'QUARANTINE') this.nudgeTimer ??= setTimeout(() => ((this.nudgeTimer = null), void this.copyUp()), UPLOAD_NUDGE_MS);
    });
    void this.copyUp();
    this.uploadTimer = setInterval(() => void this.copyUp(), QUARANTINE_UPLOAD_RETRY_MS);
    this.uploadTimer.unref();
  }

  /** Cluster mode: moves held mail of this spool to the shared quarantine (serialised with releases). */
  copyUp(): Promise<number> {
    const shared = this.deps.shared;
    if (!shared) return Promise.resolve(0);
    return this.serial(async () => {
      const n = await shared.upload(this.deps.spool);
      if (isSharedError(n)) return 0;
      if (n) this.deps.log.info({ stage: 'quarantine', messages: n }, 'held mail copied to the shared quarantine');
      return n;
    }).catch((err: Error) => {
      this.deps.log.error({ stage: 'quarantine', err: err.message }, 'copy to the shared quarantine failed; the mail stays in the local quarantine');
      return 0;
    });
  }

  async stop(): Promise<void> {
    for (const t of [this.timer, this.uploadTimer]) if (t) clearInterval(t);
    if (this.nudgeTimer) clearTimeout(this.nudgeTimer);
    this.timer = this.uploadTimer = this.nudgeTimer = null;
    this.removeSink?.();
    this.removeSink = null;
    await this.chain;
  }
}
