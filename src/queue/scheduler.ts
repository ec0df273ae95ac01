// The queue manager (Postfix qmgr is the model): holds the active records, hands due ones to the
// deliverer under a global in-flight limit, applies per-recipient outcomes to the durable
// record, and schedules retries with backoff until delivery, final failure or expiry.
import type { Model } from '../domain/model.js';
import type { Logger } from '../observe/log.js';
import type { Deliverer, RcptOutcome } from '../delivery/deliver.js';
import { pendingRcpts, type SpoolRecord } from './record.js';
import type { Spool } from './spool.js';

const MAX_IN_FLIGHT_MESSAGES = 200;

/** Exponential backoff from retry.initial, capped at retry.max (EOP's shape with the defaults). */
export function retryDelayMs(attempts: number, retry: Model['delivery']['retry']): number {
  const exp = Math.min(attempts - 1, 20);
  return Math.min(retry.maxMs, retry.initialMs * 2 ** Math.max(0, exp));
}

export class QueueManager {
  private readonly records = new Map<string, SpoolRecord>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly ready: string[] = [];
  private readonly running = new Set<string>();
  private inFlight = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    private readonly spool: Spool,
    private readonly deliverer: Deliverer,
    private readonly getModel: () => Model,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.records.size;
  }

  async recover(): Promise<number> {
    let n = 0;
    for await (const rec of this.spool.recover()) {
      n++;
      this.add(rec, rec.status === 'active' ? rec.nextAttemptAt : null);
    }
    this.log.info({ stage: 'queue', recovered: n }, 'spool recovered');
    return n;
  }

  enqueue(record: SpoolRecord): void {
    this.add(record, Date.now());
  }

  private add(record: SpoolRecord, dueAt: number | null): void {
    this.records.set(record.id, record);
    if (dueAt !== null) this.schedule(record.id, dueAt);
  }

  private schedule(id: string, dueAt: number): void {
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
    const delay = dueAt - Date.now();
    if (delay <= 0) {
      this.ready.push(id);
      this.pump();
      return;
    }
    this.timers.set(
      id,
      setTimeout(() => {
        this.timers.delete(id);
        this.ready.push(id);
        this.pump();
      }, Math.min(delay, 2 ** 31 - 1)),
    );
  }

  private pump(): void {
    while (!this.stopped && this.running.size < MAX_IN_FLIGHT_MESSAGES && this.ready.length) {
      const id = this.ready.shift()!;
      const rec = this.records.get(id);
      if (!rec || this.running.has(id) || rec.status !== 'active') continue;
      this.running.add(id);
      const p = this.run(rec)
        .catch((err: Error) => {
          this.log.error({ stage: 'deliver', queueId: id, err: err.message }, 'delivery run failed');
          if (this.records.has(id)) this.schedule(id, Date.now() + this.getModel().delivery.retry.initialMs);
        })
        .finally(() => {
          this.running.delete(id);
          this.inFlight.delete(p);
          this.pump();
        });
      this.inFlight.add(p);
    }
  }

  private async run(rec: SpoolRecord): Promise<void> {
    const model = this.getModel();
    const outcomes = await this.deliverer.deliver(rec, this.spool.bodyPath(rec.id));
    const now = Date.now();
    rec.attempts++;
    for (const o of outcomes) this.apply(rec, o, now);
    const expired = now - rec.receivedAt >= model.delivery.retry.lifetimeMs;
    if (expired) {
      for (const r of pendingRcpts(rec)) {
        r.status = 'failed';
        r.lastError = `4.4.7 QUEUE.Expired; message expired, last error: ${r.lastError ?? 'none'}`;
      }
    }
    await this.persist(rec, now);
  }

  private apply(rec: SpoolRecord, o: RcptOutcome, now: number): void {
    const r = rec.rcpts.find((x) => x.address === o.address && x.status === 'pending');
    if (!r) return;
    r.attempts++;
    r.updatedAt = now;
    r.lastHost = o.host;
    const entry = { stage: 'deliver', queueId: rec.id, rcpt: r.address, connector: o.connector, host: o.host, rule: o.outcome.rule };
    if (o.outcome.action === 'delivered') {
      r.status = 'delivered';
      r.lastError = null;
      this.log.info({ ...entry, response: o.outcome.diagnostic }, 'delivered');
    } else if (o.outcome.action === 'bounce') {
      r.status = 'failed';
      r.lastError = `${o.outcome.status} ${o.outcome.diagnostic}`;
      this.log.warn({ ...entry, status: o.outcome.status, error: o.outcome.diagnostic }, 'delivery failed permanently');
    } else {
      r.lastError = `${o.outcome.status} ${o.outcome.diagnostic}`;
      this.log.info({ ...entry, status: o.outcome.status, error: o.outcome.diagnostic }, 'delivery deferred');
    }
  }

  private async persist(rec: SpoolRecord, now: number): Promise<void> {
    const pending = pendingRcpts(rec);
    if (pending.length) {
      rec.nextAttemptAt = now + retryDelayMs(rec.attempts, this.getModel().delivery.retry);
      await this.spool.update(rec);
      this.schedule(rec.id, rec.nextAttemptAt);
      return;
    }
    this.records.delete(rec.id);
    if (rec.rcpts.some((r) => r.status === 'failed')) {
      await this.spool.moveToFailed(rec);
      this.log.warn({ stage: 'queue', queueId: rec.id }, 'message kept in failed/ (no bounce sent yet)');
    } else {
      await this.spool.remove(rec.id);
      this.log.info({ stage: 'queue', queueId: rec.id }, 'message done');
    }
  }

  /** Stops scheduling; waits for deliveries in flight so their state is persisted. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.inFlight]);
  }
}
