// The queue manager (Postfix qmgr is the model): the timer and job shell around the pure
// backoff.ts, record-outcomes.ts and admin-ops.ts. It keeps a small index entry per queued message
// (id, due time, destination keys, status) and one timer heap for the deferred ones; a due message
// becomes one job per destination (destinations.ts), which dispatcher.ts starts when that
// destination has a free slot. Jobs of one message serialize their record updates; the last one of
// a round expires, queues the DSN owed and persists or removes the record.
import type { Readable } from 'node:stream';
import type { Model } from '../domain/model.js';
import type { Logger } from '../observe/log.js';
import type { RcptOutcome } from '../delivery/deliver.js';
import { groupByDestination, type DestinationGroup } from '../delivery/destinations.js';
import { Bouncer } from '../bounce/bouncer.js';
import { expiresAt } from './backoff.js';
import { systemClock, type Clock } from './clock.js';
import { Dispatcher, type JobRunner } from './dispatcher.js';
import { DueTimer } from './due-timer.js';
import { applyOutcomes, expire, nextStep, owedNotices, type QueueEvent } from './record-outcomes.js';
import { ADMIN_BOUNCE_ERROR, ADMIN_BOUNCE_REASON, ADMIN_BOUNCE_STATUS, adminChange, retryChange, type AdminOp } from './admin-ops.js';
import type { SpoolRecord } from './record.js';
import type { Spool } from './spool.js';
import { track } from '../observe/events.js';
import { FINISH_KEY, queueDepth, type DepthRow } from './queue-depth.js';

/** What the queue manager needs from delivery (Deliverer implements it). */
export interface DestinationDeliverer {
  deliverGroup(record: SpoolRecord, body: () => Readable, group: DestinationGroup): Promise<RcptOutcome[]>;
  /** Set when every host of the destination is marked down: until the first mark expires. */
  downUntil(key: string, now: number): { until: number; reason: string } | null;
}

const ADMIN_WAIT_MS = 30_000;
/** Distinct destination sets shared between entries; past this the cache starts again (MX mail to many domains). */
const MAX_INTERNED_KEY_SETS = 10_000;

/** The index entry of one queued message: no body, no timer, the record only until its first attempt. */
interface Entry {
  id: string;
  dueAt: number;
  heapIndex: number;
  receivedAt: number;
  status: 'active' | 'hold';
  /** Destination keys of the pending recipients as last routed (shared, interned arrays). */
  keys: readonly string[];
  /** Keys with a job waiting or running; null when none. */
  jobs: string[] | null;
  running: number;
  /** An admin change is working on it: no job starts. */
  admin: boolean;
  record: SpoolRecord | null;
  idle: (() => void)[] | null;
}

/** A message with jobs in flight: its record in memory, shared by its jobs, and their lock. */
interface ActiveMessage {
  record: SpoolRecord | null;
  jobs: number;
  counted: boolean;
  replies: Map<string, string>;
  tail: Promise<unknown>;
}

export class QueueManager {
  static readonly ADMIN_BOUNCE_STATUS = ADMIN_BOUNCE_STATUS;
  static readonly ADMIN_BOUNCE_REASON = ADMIN_BOUNCE_REASON;
  static readonly ADMIN_BOUNCE_ERROR = ADMIN_BOUNCE_ERROR;

  private readonly entries = new Map<string, Entry>();
  private readonly timers: DueTimer<Entry>;
  private readonly active = new Map<string, ActiveMessage>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly keySets = new Map<string, readonly string[]>();
  private readonly dispatcher: Dispatcher;
  private stopped = false;
  private readonly bouncer: Bouncer;
  private adminTail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly spool: Spool,
    private readonly deliverer: DestinationDeliverer,
    private readonly getModel: () => Model,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
  ) {
    this.bouncer = new Bouncer(spool, getModel, log);
    this.dispatcher = new Dispatcher(this.runner(), (key, now) => deliverer.downUntil(key, now), getModel, clock, log);
    this.timers = new DueTimer<Entry>(clock, (e) => this.makeJobs(e), () => this.dispatcher.pump());
  }

  get size(): number {
    return this.entries.size;
  }

  /** Queued messages by state and outbound connector, for the metrics (queue-depth.ts). */
  depth(): DepthRow[] {
    return queueDepth(this.entries.values(), this.clock.now());
  }

  async recover(): Promise<number> {
    let n = 0;
    for await (const rec of this.spool.recover()) {
      n++;
      this.add(rec, false);
    }
    this.log.info({ stage: 'queue', recovered: n }, 'spool recovered');
    return n;
  }

  /** Begins dispatching what recover() and enqueue() made due: the daemon calls it once everything that can fail has started. */
  start(): void {
    this.dispatcher.open();
  }

  /** A freshly received message: due now, its record kept until the first attempt (no re-read). */
  enqueue(record: SpoolRecord): void {
    this.add({ ...record, nextAttemptAt: Math.min(record.nextAttemptAt, this.clock.now()) }, true);
  }

  private add(rec: SpoolRecord, keepRecord: boolean): void {
    const model = this.getModel();
    const groups = groupByDestination(model, rec.rcpts);
    const entry: Entry = {
      id: rec.id,
      dueAt: rec.nextAttemptAt,
      heapIndex: -1,
      receivedAt: rec.receivedAt,
      status: rec.status === 'hold' ? 'hold' : 'active',
      keys: this.internKeys([...groups.keys()]),
      jobs: null,
      running: 0,
      admin: false,
      record: keepRecord ? rec : null,
      idle: null,
    };
    this.entries.set(rec.id, entry);
    this.schedule(entry);
  }

  /** Most messages share their destination set: one array per distinct set (a bounded cache). */
  private internKeys(keys: string[]): readonly string[] {
    const id = keys.join('\u0000');
    let got = this.keySets.get(id);
    if (!got) {
      if (this.keySets.size >= MAX_INTERNED_KEY_SETS) this.keySets.clear();
      got = Object.freeze(keys);
      this.keySets.set(id, got);
    }
    return got;
  }

  // --- timers: one heap, one timer ---

  private schedule(entry: Entry): void {
    if (this.stopped || entry.status !== 'active' || !this.entries.has(entry.id)) {
      this.timers.delete(entry);
      return;
    }
    if (entry.dueAt <= this.clock.now()) {
      this.timers.delete(entry);
      this.makeJobs(entry);
      this.dispatcher.pump();
      return;
    }
    this.timers.set(entry);
  }

  /** Moves every due entry to its destinations' ready queues. Exposed for tests with a manual clock. */
  releaseDue(): void {
    this.timers.releaseDue();
  }

  private makeJobs(entry: Entry, keys: readonly string[] = entry.keys.length ? entry.keys : [FINISH_KEY]): void {
    for (const key of keys) {
      if (entry.jobs?.includes(key)) continue;
      (entry.jobs ??= []).push(key);
      this.dispatcher.push(key, entry.id);
    }
  }

  // --- jobs (dispatcher.ts decides when each starts) ---

  /** The dispatcher's view of the index. */
  private runner(): JobRunner {
    return {
      startable: (id) => {
        const e = this.entries.get(id);
        return e !== undefined && e.status === 'active' && !e.admin;
      },
      expired: (id, now) => {
        const e = this.entries.get(id);
        return e !== undefined && now >= expiresAt(e.receivedAt, this.getModel().delivery.retry);
      },
      run: (id, key) => this.run(this.entries.get(id)!, key),
      dropped: (id, key) => {
        const e = this.entries.get(id);
        if (e) this.dropJob(e, key);
      },
    };
  }

  private dropJob(entry: Entry, key: string): void {
    if (!entry.jobs) return;
    const i = entry.jobs.indexOf(key);
    if (i >= 0) entry.jobs.splice(i, 1);
    if (!entry.jobs.length) entry.jobs = null;
  }

  private run(entry: Entry, key: string): Promise<void> {
    entry.running++;
    const p = this.job(entry, key)
      .catch((err: Error) => {
        this.log.error({ stage: 'deliver', queueId: entry.id, destination: key, err: err.message }, 'delivery run failed');
        if (this.entries.has(entry.id)) {
          entry.dueAt = this.clock.now() + this.getModel().delivery.retry.initialMs;
          this.schedule(entry);
        }
      })
      .finally(() => {
        entry.running--;
        this.dropJob(entry, key);
        if (entry.running === 0) for (const wake of entry.idle?.splice(0) ?? []) wake();
        this.inFlight.delete(p);
      });
    this.inFlight.add(p);
    return p;
  }

  private activeMessage(entry: Entry): ActiveMessage {
    let msg = this.active.get(entry.id);
    if (!msg) {
      msg = { record: null, jobs: 0, counted: false, replies: new Map(), tail: Promise.resolve() };
      this.active.set(entry.id, msg);
    }
    return msg;
  }

  /** Runs `task` when no other job of the same message is changing its record. */
  private exclusive<T>(msg: ActiveMessage, task: () => Promise<T>): Promise<T> {
    const p = msg.tail.then(task, task);
    msg.tail = p.catch(() => undefined);
    return p;
  }

  private async job(entry: Entry, key: string): Promise<void> {
    const msg = this.activeMessage(entry);
    msg.jobs++;
    try {
      const rec = await this.exclusive(msg, async () => (msg.record ??= entry.record ?? (await this.spool.readRecord(entry.id))));
      entry.record = null;
      if (!rec) {
        // Gone from the spool behind our back (removed by hand): nothing left to do.
        this.forget(entry);
        return;
      }
      const groups = groupByDestination(this.getModel(), rec.rcpts);
      this.reroute(entry, groups);
      const group = groups.get(key);
      const outcomes = group ? await this.deliverer.deliverGroup(rec, () => this.spool.body(rec), group) : [];
      await this.exclusive(msg, async () => {
        const now = this.clock.now();
        const applied = applyOutcomes(msg.record!, outcomes, now, !msg.counted);
        if (outcomes.length) msg.counted = true;
        this.emit(applied.events);
        for (const [a, reply] of applied.replies) msg.replies.set(a, reply);
        msg.record = applied.record;
        if (msg.jobs > 1) {
          // Other destinations of this message are still in flight: keep the progress durable.
          if (outcomes.length) await this.spool.update(msg.record);
          return;
        }
        await this.finish(entry, msg, now);
      });
    } catch (err) {
      // Keep what this round learnt (delivered recipients stay delivered) for the retry.
      if (msg.record && this.entries.has(entry.id)) entry.record = msg.record;
      throw err;
    } finally {
      if (--msg.jobs === 0) this.active.delete(entry.id);
    }
  }

  /** Recipients the live config now sends elsewhere (a reload) get a job there in this round. */
  private reroute(entry: Entry, groups: Map<string, DestinationGroup>): void {
    const keys = [...groups.keys()];
    const fresh = keys.filter((k) => !entry.keys.includes(k));
    entry.keys = this.internKeys(keys);
    if (fresh.length) this.makeJobs(entry, fresh);
  }

  /**
   * The end of a round: expiry, the DSN owed (queued before the record is persisted, so a crash
   * repeats a DSN but never loses one), then retry later, failed/, or gone.
   */
  private async finish(entry: Entry, msg: ActiveMessage, now: number): Promise<void> {
    const delivery = this.getModel().delivery;
    const expired = expire(msg.record!, now, delivery);
    this.emit(expired.events);
    const notices = owedNotices(expired.record, now, delivery, msg.replies);
    if (notices.suppressed.length) {
      this.log.warn({ stage: 'bounce', queueId: entry.id, rcpts: notices.suppressed }, 'no DSN for a null-sender message (never bounce a bounce)');
    }
    if (notices.entries.length) this.enqueue(await this.bouncer.queue(expired.record, notices.entries, now));
    const rec = (msg.record = notices.record);
    const step = nextStep(rec, now, delivery);
    if (step.kind === 'retry') {
      rec.nextAttemptAt = step.at;
      await this.spool.update(rec);
      entry.dueAt = step.at;
      this.schedule(entry);
      return;
    }
    // Forget the record only once the spool agrees: if the disk refuses (full, read-only), the
    // round fails, the state stays in memory and the same step is tried again later.
    if (step.kind === 'failed') {
      await this.spool.moveToFailed(rec);
      this.forget(entry);
      this.log.warn({ stage: 'queue', queueId: rec.id, nullSender: !rec.mailFrom }, 'message failed; kept in failed/');
    } else {
      await this.spool.remove(rec.id);
      this.forget(entry);
      this.log.info({ stage: 'queue', queueId: rec.id }, 'message done');
    }
  }

  private forget(entry: Entry): void {
    this.timers.delete(entry);
    this.entries.delete(entry.id);
    entry.record = null;
  }

  private emit(events: QueueEvent[]): void {
    for (const e of events) track(e);
  }

  /** Resolves once no delivery is in flight (tests with a manual clock step through rounds with it). */
  async settled(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  /** Stops scheduling; waits for deliveries in flight so their state is persisted. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timers.stop();
    this.dispatcher.stop();
    await Promise.allSettled([...this.inFlight]);
  }

  // --- admin operations (queue tools, through control.ts) ---
  // The changes are the pure ones of admin-ops.ts, shared with the offline tool. Each runs after
  // any delivery of that message in flight has finished, and while it runs no job of the message
  // starts, so the record file is never written by two paths at once.

  /** Deliver now (postqueue -i). A held message stays held; null: not in the queue. */
  retryNow(id: string): 'scheduled' | 'in flight' | 'on hold' | 'busy' | null {
    const entry = this.entries.get(id);
    if (!entry) return null;
    const change = retryChange({ id, status: entry.status }, this.clock.now());
    if (change.kind === 'refuse') return 'on hold';
    if (entry.running > 0) return 'in flight';
    if (entry.admin) return 'busy';
    if (change.kind === 'reschedule') this.reschedule(entry, change.at);
    return 'scheduled';
  }

  /** Deliver every queued message now (postqueue -f); held ones stay held. Returns how many. */
  retryAll(): number {
    const now = this.clock.now();
    let n = 0;
    for (const entry of this.entries.values()) {
      const change = retryChange({ id: entry.id, status: entry.status }, now);
      if (change.kind !== 'reschedule' || entry.running > 0 || entry.admin) continue;
      this.reschedule(entry, change.at);
      n++;
    }
    return n;
  }

  private reschedule(entry: Entry, at: number): void {
    entry.dueAt = at;
    this.schedule(entry);
  }

  hold(id: string): Promise<boolean> {
    return this.admin(id, 'hold');
  }

  release(id: string): Promise<boolean> {
    return this.admin(id, 'release');
  }

  delete(id: string): Promise<boolean> {
    return this.admin(id, 'delete');
  }

  /** Fails the pending recipients and sends the sender a DSN (Exchange: remove with NDR). */
  bounce(id: string): Promise<boolean> {
    return this.admin(id, 'bounce');
  }

  /**
   * Fails every pending recipient of a queued (active or held) message with `status` and `reason`,
   * queues the bounce their NOTIFY asks for (none for a null sender) and moves the message to
   * failed/. Waits for a delivery in flight first, so recipients it delivered stay delivered.
   * Resolves false when the id is not in the queue.
   */
  failAndBounce(id: string, reason: string, status = ADMIN_BOUNCE_STATUS): Promise<boolean> {
    return this.admin(id, 'bounce', { status, reason });
  }

  private admin(id: string, op: AdminOp, bounce?: { status: string; reason: string }): Promise<boolean> {
    return this.serialize(async () => {
      const entry = this.entries.get(id);
      if (!entry) return false;
      entry.admin = true;
      try {
        await this.waitIdle(entry, this.clock.now() + ADMIN_WAIT_MS);
        if (!this.entries.has(id)) return false;
        const rec = entry.record ?? (await this.spool.readRecord(id));
        if (!rec) {
          this.forget(entry);
          return false;
        }
        await this.applyAdmin(entry, rec, op, bounce);
        return true;
      } finally {
        entry.admin = false;
        if (this.entries.has(id)) this.schedule(entry);
      }
    });
  }

  private async applyAdmin(entry: Entry, rec: SpoolRecord, op: AdminOp, bounce?: { status: string; reason: string }): Promise<void> {
    const now = this.clock.now();
    const change = adminChange(op, rec, now, bounce);
    if (change.kind === 'remove') {
      await this.spool.remove(entry.id);
      this.forget(entry);
      this.log.warn({ stage: 'queue', queueId: entry.id, rcpts: rec.rcpts.filter((r) => r.status === 'pending').map((r) => r.address) }, 'message deleted by admin');
      return;
    }
    if (change.kind !== 'update') return;
    if (change.finish) {
      this.log.warn({ stage: 'queue', queueId: entry.id, status: bounce?.status ?? ADMIN_BOUNCE_STATUS, reason: bounce?.reason ?? ADMIN_BOUNCE_REASON }, 'recipients failed by admin');
      entry.status = 'active';
      const msg: ActiveMessage = { record: change.record, jobs: 0, counted: true, replies: new Map(), tail: Promise.resolve() };
      try {
        await this.finish(entry, msg, now);
      } catch (err) {
        // The DSN could not be queued (spool trouble): the failed state stays in memory and a later
        // round, which has nothing left to deliver, queues the DSN and persists.
        if (this.entries.has(entry.id)) {
          entry.record = msg.record;
          entry.keys = this.internKeys([]);
          entry.dueAt = now + this.getModel().delivery.retry.initialMs;
        }
        throw err;
      }
      return;
    }
    await this.spool.update(change.record);
    if (entry.record) entry.record = change.record;
    entry.status = change.record.status === 'hold' ? 'hold' : 'active';
    entry.dueAt = change.record.nextAttemptAt;
    this.log.info({ stage: 'queue', queueId: entry.id }, op === 'hold' ? 'message held by admin' : 'message released by admin');
  }

  private serialize<T>(task: () => Promise<T>): Promise<T> {
    const p = this.adminTail.then(task, task);
    this.adminTail = p.catch(() => undefined);
    return p;
  }

  /** Waits until no job of `entry` runs, or throws at the deadline. */
  private async waitIdle(entry: Entry, deadline: number): Promise<void> {
    if (entry.running === 0) return;
    let timer: unknown = null;
    const idle = new Promise<void>((resolve) => (entry.idle ??= []).push(resolve));
    const late = new Promise<'late'>((resolve) => (timer = this.clock.setTimer(() => resolve('late'), deadline - this.clock.now())));
    const won = await Promise.race([idle, late]);
    this.clock.clearTimer(timer);
    if (won === 'late') throw new Error(`a delivery of ${entry.id} is still in progress after ${ADMIN_WAIT_MS / 1000} s; try again`);
  }
}
