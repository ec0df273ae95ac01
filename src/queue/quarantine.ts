// The quarantine's operations on a spool: release (to the queue), delete, and the retention sweep
// that deletes expired messages with a log line. The same code serves the daemon (through the
// control socket, handing released mail to its queue) and the offline tool (spool lock held, the
// daemon picks the released mail up at its next start). Changes of one process are serialised.
import type { Logger } from '../observe/log.js';
import { track } from '../observe/events.js';
import type { Spool } from './spool.js';
import type { SpoolRecord } from './record.js';
import { isExpired, releaseChange, type RouteOf } from './quarantine-ops.js';

export type QuarantineResult = { ok: true; id: string; released?: string[]; queuedAs?: string; note?: string } | { ok: false; code: 'E_NOT_FOUND' | 'E_BAD_REQUEST'; error: string };

export interface QuarantineDeps {
  spool: Spool;
  log: Logger;
  routeOf: RouteOf;
  /** The daemon's queue (null offline: the daemon recovers released mail at its next start). */
  enqueue: ((record: SpoolRecord) => void) | null;
  now?: () => number;
}

/** How often the daemon looks for expired quarantined mail. */
export const QUARANTINE_SWEEP_MS = 60 * 60 * 1000;

export class Quarantine {
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;

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
      if (!held) return { ok: false, code: 'E_NOT_FOUND', error: `quarantine: no message ${id}` };
      const now = this.now();
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
      this.deps.enqueue?.(queued);
      const released = queued.rcpts.map((r) => r.address);
      const q = held.quarantine;
      log.info({ stage: 'quarantine', queueId: id, queuedAs: queued.id, rcpts: released, by, type: q?.type, filter: q?.filter }, 'quarantined message released');
      track({ kind: 'RELEASE', queueId: queued.id, sender: held.mailFrom, recipients: released, size: held.size, reason: `released by ${by}`, ...(q ? { quarantineType: q.type } : {}), detail: { heldAs: id } });
      return { ok: true, id, released, queuedAs: queued.id, ...(remaining ? { note: `${remaining.rcpts.length} recipient(s) still held` } : {}) };
    });
  }

  delete(id: string, why = 'deleted by admin'): Promise<QuarantineResult> {
    return this.serial(async () => {
      const held = await this.deps.spool.readRecord(id, 'quarantine');
      if (!held || !(await this.deps.spool.removeQuarantined(id))) return { ok: false, code: 'E_NOT_FOUND', error: `quarantine: no message ${id}` };
      this.deps.log.info({ stage: 'quarantine', queueId: id, mailFrom: held.mailFrom, rcpts: held.rcpts.map((r) => r.address), type: held.quarantine?.type, reason: why }, 'quarantined message deleted');
      return { ok: true, id };
    });
  }

  /** Deletes every held message past its retention; resolves with how many went. */
  sweep(): Promise<number> {
    return this.serial(async () => {
      const now = this.now();
      let n = 0;
      for await (const rec of this.deps.spool.list('quarantine')) {
        if (!isExpired(rec, now)) continue;
        if (!(await this.deps.spool.removeQuarantined(rec.id))) continue;
        n++;
        const q = rec.quarantine!;
        const rcpts = rec.rcpts.map((r) => r.address);
        this.deps.log.info({ stage: 'quarantine', queueId: rec.id, mailFrom: rec.mailFrom, rcpts, type: q.type, quarantinedAt: new Date(q.quarantinedAt).toISOString(), expiresAt: new Date(q.expiresAt).toISOString() }, 'quarantined message expired and deleted');
        track({ kind: 'EXPIRE', queueId: rec.id, sender: rec.mailFrom, recipients: rcpts, reason: 'quarantine retention ended', quarantineType: q.type });
      }
      return n;
    });
  }

  /** The daemon's periodic sweep (one timer, unref'd; the first run at start). */
  start(everyMs = QUARANTINE_SWEEP_MS): void {
    const tick = () =>
      void this.sweep().catch((err: Error) => this.deps.log.error({ stage: 'quarantine', err: err.message }, 'quarantine sweep failed'));
    tick();
    this.timer = setInterval(tick, everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.chain;
  }
}
