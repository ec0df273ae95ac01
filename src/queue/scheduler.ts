// The queue manager (Postfix qmgr is the model): holds the active records, hands due ones to the
// deliverer under a global in-flight limit, applies per-recipient outcomes to the durable
// record, schedules retries with backoff until delivery, final failure or expiry, and queues the
// DSNs (bounce, delay warning, success) those outcomes call for before persisting them.
import type { Model } from '../domain/model.js';
import type { Logger } from '../observe/log.js';
import type { Deliverer, RcptOutcome } from '../delivery/deliver.js';
import { pendingRcpts, type SpoolRecord } from './record.js';
import type { Spool } from './spool.js';
import { Bouncer } from '../bounce/bouncer.js';
import { dsnRecipient, expiredDiagnostic, formatLastError, wantsNotice } from '../bounce/notice.js';
import type { DsnRecipient } from '../bounce/render-dsn.js';

const MAX_IN_FLIGHT_MESSAGES = 200;

/**
 * Delay before retry number `attempts` (1 = after the first failed attempt): doubles from
 * retry.initial and is capped at retry.max. With the defaults (5m, 60m) that is 5, 10, 20, 40, 60,
 * 60… minutes: EOP's shape, first retries within 15 minutes, then at most hourly.
 */
export function retryDelayMs(attempts: number, retry: Model['delivery']['retry']): number {
  const exp = Math.min(attempts - 1, 20);
  return Math.min(retry.maxMs, retry.initialMs * 2 ** Math.max(0, exp));
}

/** When to try again: the backoff, but never past the expiry moment, so expiry happens on time. */
export function nextAttemptAt(attempts: number, receivedAt: number, now: number, retry: Model['delivery']['retry']): number {
  return Math.min(now + retryDelayMs(attempts, retry), receivedAt + retry.lifetimeMs);
}

export class QueueManager {
  private readonly records = new Map<string, SpoolRecord>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly ready: string[] = [];
  /** Queue id → the delivery run (or admin failure) working on it; at most one per message. */
  private readonly running = new Map<string, Promise<void>>();
  private inFlight = new Set<Promise<void>>();
  private stopped = false;
  /** No delivery before start(): the daemon calls it once everything that can fail has started. */
  private started = false;
  private readonly bouncer: Bouncer;

  constructor(
    private readonly spool: Spool,
    private readonly deliverer: Deliverer,
    private readonly getModel: () => Model,
    private readonly log: Logger,
  ) {
    this.bouncer = new Bouncer(spool, getModel, log);
  }

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
    // A run that finishes during stop() must not leave a timer behind (it would hold the process).
    if (this.stopped) return;
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

  /** Begins dispatching what recover() and enqueue() scheduled. */
  start(): void {
    this.started = true;
    this.pump();
  }

  private pump(): void {
    while (this.started && !this.stopped && this.running.size < MAX_IN_FLIGHT_MESSAGES && this.ready.length) {
      const id = this.ready.shift()!;
      const rec = this.records.get(id);
      if (!rec || this.running.has(id) || rec.status !== 'active') continue;
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
      this.running.set(id, p);
      this.inFlight.add(p);
    }
  }

  private async run(rec: SpoolRecord): Promise<void> {
    const model = this.getModel();
    // A record with nothing pending still runs: it owes a DSN that an earlier run could not queue.
    const outcomes = pendingRcpts(rec).length ? await this.deliverer.deliver(rec, () => this.spool.body(rec)) : [];
    const now = Date.now();
    if (outcomes.length) rec.attempts++;
    const replies = new Map<string, string>();
    for (const o of outcomes) {
      this.apply(rec, o, now);
      if (o.outcome.action === 'delivered') replies.set(o.address, o.outcome.diagnostic);
    }
    if (now - rec.receivedAt >= model.delivery.retry.lifetimeMs) this.expire(rec, now);
    await this.notify(rec, now, replies);
    await this.persist(rec, now);
  }

  /** Queue lifetime reached: every pending recipient fails with EOP's expiry status and its last error. */
  private expire(rec: SpoolRecord, now: number): void {
    for (const r of pendingRcpts(rec)) {
      const { status, diagnostic } = expiredDiagnostic(r.lastError, r.lastHost, r.lastHostName ?? null);
      r.status = 'failed';
      r.updatedAt = now;
      r.lastError = formatLastError(status, diagnostic);
      this.log.warn({ stage: 'queue', queueId: rec.id, rcpt: r.address, status, error: diagnostic }, 'message expired');
    }
  }

  /**
   * Queues the one DSN this run calls for (failures, success for NOTIFY=SUCCESS, the delay
   * warning), before the record is persisted: a crash in between repeats a DSN, never loses one.
   * Never for a null sender. Throws when the spool cannot take the DSN; the run is retried.
   */
  private async notify(rec: SpoolRecord, now: number, replies: Map<string, string>): Promise<void> {
    const owed = rec.rcpts.filter((r) => r.status !== 'pending' && !r.notified);
    const entries: DsnRecipient[] = [];
    for (const r of owed) {
      if (r.status === 'failed' && wantsNotice(r.notify, 'failure')) entries.push(dsnRecipient(r, 'failed', { now }));
      // The next hop is not asked to report (the deliverer does not pass NOTIFY on): "relayed".
      if (r.status === 'delivered' && wantsNotice(r.notify, 'success')) {
        entries.push(dsnRecipient(r, 'relayed', { now, reply: replies.get(r.address) ?? null }));
      }
    }
    const warnAfter = this.getModel().delivery.delayWarningMs;
    const pending = pendingRcpts(rec);
    const warnDue = warnAfter !== null && rec.delayWarnedAt === undefined && pending.length > 0 && now - rec.receivedAt >= warnAfter;
    if (warnDue) {
      const until = rec.receivedAt + this.getModel().delivery.retry.lifetimeMs;
      for (const r of pending) if (wantsNotice(r.notify, 'delay')) entries.push(dsnRecipient(r, 'delayed', { now, willRetryUntil: until }));
    }
    if (entries.length && !rec.mailFrom) {
      this.log.warn(
        { stage: 'bounce', queueId: rec.id, rcpts: entries.map((e) => e.address) },
        'no DSN for a null-sender message (never bounce a bounce)',
      );
    } else if (entries.length) {
      this.enqueue(await this.bouncer.queue(rec, entries, now));
    }
    for (const r of owed) r.notified = true;
    if (warnDue) rec.delayWarnedAt = now;
  }

  private apply(rec: SpoolRecord, o: RcptOutcome, now: number): void {
    const r = rec.rcpts.find((x) => x.address === o.address && x.status === 'pending');
    if (!r) return;
    r.attempts++;
    r.updatedAt = now;
    r.lastHost = o.host;
    r.lastHostName = o.hostName ?? null;
    const entry = { stage: 'deliver', queueId: rec.id, rcpt: r.address, connector: o.connector, host: o.host, rule: o.outcome.rule };
    if (o.outcome.action === 'delivered') {
      r.status = 'delivered';
      r.lastError = null;
      this.log.info({ ...entry, response: o.outcome.diagnostic }, 'delivered');
    } else if (o.outcome.action === 'bounce') {
      r.status = 'failed';
      r.lastError = formatLastError(o.outcome.status, o.outcome.diagnostic);
      this.log.warn({ ...entry, status: o.outcome.status, error: o.outcome.diagnostic }, 'delivery failed permanently');
    } else {
      r.lastError = formatLastError(o.outcome.status, o.outcome.diagnostic);
      this.log.info({ ...entry, status: o.outcome.status, error: o.outcome.diagnostic }, 'delivery deferred');
    }
  }

  private async persist(rec: SpoolRecord, now: number): Promise<void> {
    const pending = pendingRcpts(rec);
    if (pending.length) {
      rec.nextAttemptAt = nextAttemptAt(rec.attempts, rec.receivedAt, now, this.getModel().delivery.retry);
      await this.spool.update(rec);
      this.schedule(rec.id, rec.nextAttemptAt);
      return;
    }
    // Forget the record only once the spool agrees: if the disk refuses (full, read-only), the
    // run fails, the record stays in memory and the same step is tried again later.
    if (rec.rcpts.some((r) => r.status === 'failed')) {
      await this.spool.moveToFailed(rec);
      this.records.delete(rec.id);
      this.log.warn({ stage: 'queue', queueId: rec.id, nullSender: !rec.mailFrom }, 'message failed; kept in failed/');
    } else {
      await this.spool.remove(rec.id);
      this.records.delete(rec.id);
      this.log.info({ stage: 'queue', queueId: rec.id }, 'message done');
    }
  }

  /**
   * Fails every pending recipient of a queued (active or held) message with `status` and `reason`,
   * queues the bounce their NOTIFY asks for (none for a null sender) and moves the message to
   * failed/. Waits for a delivery attempt in flight first, so recipients it delivered stay delivered.
   * Resolves false when the id is not in the queue. For admin tools (`queue bounce`, `queue delete`).
   */
  async failAndBounce(id: string, reason: string, status = '5.0.0'): Promise<boolean> {
    for (let i = 0; i < 3 && this.running.has(id); i++) await this.running.get(id)?.catch(() => undefined);
    const rec = this.records.get(id);
    if (!rec || this.running.has(id)) return false;
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
    const p = (async () => {
      const now = Date.now();
      for (const r of pendingRcpts(rec)) {
        r.status = 'failed';
        r.updatedAt = now;
        r.lastError = formatLastError(status, reason);
      }
      this.log.warn({ stage: 'queue', queueId: id, status, reason }, 'recipients failed by admin');
      await this.notify(rec, now, new Map());
      await this.persist(rec, now);
    })();
    this.running.set(id, p);
    try {
      await p;
    } catch (err) {
      // The DSN could not be queued (spool trouble): the failed state stays in memory and a later
      // run, which has nothing left to deliver, queues the DSN and persists.
      if (this.records.has(id)) this.schedule(id, Date.now() + this.getModel().delivery.retry.initialMs);
      throw err;
    } finally {
      this.running.delete(id);
    }
    return true;
  }

  /** Stops scheduling; waits for deliveries in flight so their state is persisted. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.inFlight]);
  }

  // --- admin operations (queue tools) ---
  // Called through the control socket (src/queue/control.ts). Changes run one at a time, each
  // after any delivery of that message in flight has finished, and each registers in `running`
  // like a delivery: pump() never starts a message an admin is changing, and the record file is
  // never written by two paths at once (Spool.update uses one .tmp name per id).

  static readonly ADMIN_BOUNCE_STATUS = '5.0.0';
  static readonly ADMIN_BOUNCE_REASON = 'Bounced by administrator (queue bounce)';
  /** The lastError a `queue bounce` leaves on each recipient it fails. */
  static readonly ADMIN_BOUNCE_ERROR = `${QueueManager.ADMIN_BOUNCE_STATUS} ${QueueManager.ADMIN_BOUNCE_REASON}`;
  private static readonly ADMIN_WAIT_MS = 30_000;
  private adminTail: Promise<unknown> = Promise.resolve();

  /** Deliver now (postqueue -i). A held message stays held; null: not in the queue. */
  retryNow(id: string): 'scheduled' | 'in flight' | 'on hold' | null {
    const rec = this.records.get(id);
    if (!rec) return null;
    if (rec.status === 'hold') return 'on hold';
    if (this.running.has(id)) return 'in flight';
    this.schedule(id, Date.now());
    return 'scheduled';
  }

  /** Deliver every queued message now (postqueue -f); held ones stay held. Returns how many. */
  retryAll(): number {
    const now = Date.now();
    let n = 0;
    for (const [id, rec] of this.records) {
      if (rec.status !== 'active' || this.running.has(id)) continue;
      this.schedule(id, now);
      n++;
    }
    return n;
  }

  /** Suspends delivery (postsuper -h), persisted so a restart keeps it held. */
  hold(id: string): Promise<boolean> {
    return this.adminOp(id, async (rec) => {
      if (rec.status === 'hold') return;
      clearTimeout(this.timers.get(id));
      this.timers.delete(id);
      rec.status = 'hold';
      try {
        await this.spool.update(rec);
      } catch (err) {
        rec.status = 'active';
        throw err;
      }
      this.log.info({ stage: 'queue', queueId: id }, 'message held by admin');
    });
  }

  /** Back to the active queue, due now (postsuper -H). Disk first, then memory. */
  release(id: string): Promise<boolean> {
    return this.adminOp(id, async (rec) => {
      if (rec.status !== 'hold') return;
      const now = Date.now();
      await this.spool.update({ ...rec, status: 'active', nextAttemptAt: now });
      rec.status = 'active';
      rec.nextAttemptAt = now;
      this.log.info({ stage: 'queue', queueId: id }, 'message released by admin');
    });
  }

  /** Removes the message without any notice (postsuper -d). */
  delete(id: string): Promise<boolean> {
    return this.adminOp(id, async (rec) => {
      clearTimeout(this.timers.get(id));
      this.timers.delete(id);
      this.records.delete(id);
      try {
        await this.spool.remove(id);
      } catch (err) {
        this.records.set(id, rec);
        throw err;
      }
      this.log.warn({ stage: 'queue', queueId: id, rcpts: pendingRcpts(rec).map((r) => r.address) }, 'message deleted by admin');
    });
  }

  /** Fails the pending recipients and sends the sender a DSN (Exchange: remove with NDR). */
  bounce(id: string): Promise<boolean> {
    return this.serialize(async () => {
      const deadline = Date.now() + QueueManager.ADMIN_WAIT_MS;
      while (this.running.has(id)) await this.waitIdle(id, deadline);
      return this.failAndBounce(id, QueueManager.ADMIN_BOUNCE_REASON, QueueManager.ADMIN_BOUNCE_STATUS);
    });
  }

  private adminOp(id: string, change: (rec: SpoolRecord) => Promise<void>): Promise<boolean> {
    return this.serialize(async () => {
      const deadline = Date.now() + QueueManager.ADMIN_WAIT_MS;
      while (this.running.has(id)) await this.waitIdle(id, deadline);
      // No await between the check above and running.set below: no delivery can start in between.
      const rec = this.records.get(id);
      if (!rec) return false;
      const p = change(rec);
      this.running.set(id, p);
      try {
        await p;
      } finally {
        if (this.running.get(id) === p) this.running.delete(id);
        // pump() drops ids it finds running; an active message left without a timer is put back.
        const left = this.records.get(id);
        if (left?.status === 'active' && !this.timers.has(id)) this.schedule(id, left.nextAttemptAt);
      }
      return true;
    });
  }

  private serialize<T>(task: () => Promise<T>): Promise<T> {
    const p = this.adminTail.then(task, task);
    this.adminTail = p.catch(() => undefined);
    return p;
  }

  /** Waits for the run working on `id` to settle, or throws at the deadline. */
  private async waitIdle(id: string, deadline: number): Promise<void> {
    const cur = this.running.get(id);
    const left = deadline - Date.now();
    if (!cur) return;
    if (left <= 0) throw new Error(`a delivery of ${id} is still in progress after ${QueueManager.ADMIN_WAIT_MS / 1000} s; try again`);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([cur.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, left)))]);
    clearTimeout(timer);
  }
}
