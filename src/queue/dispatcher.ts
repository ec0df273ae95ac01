// Dispatch for the queue manager: one ready queue per destination (destination-queue.ts), a job
// starts only when its destination has a free slot (its window: windowForKey on the live config)
// and the process is below delivery.concurrency.total, one job per destination per pass so none
// starves the rest. A destination whose hosts are all down is suspended, without connecting, until
// the first down-mark expires; then one job probes it before the full window opens again.
import type { Model } from '../domain/model.js';
import type { Logger } from '../observe/log.js';
import { connects, windowForKey } from '../delivery/destinations.js';
import type { Clock } from './clock.js';
import { DestinationQueue } from './destination-queue.js';

/** What the dispatcher needs from the queue manager, by message id. */
export interface JobRunner {
  /** May a job of this message start now (still queued, active, no admin change)? */
  startable(id: string): boolean;
  /** Past its lifetime: started even while its destination is suspended (it fails without connecting). */
  expired(id: string, now: number): boolean;
  /** Runs one job; never rejects. */
  run(id: string, key: string): Promise<void>;
  /** The job will not run (the message went away, is held, or an admin change works on it). */
  dropped(id: string, key: string): void;
}

export class Dispatcher {
  private readonly destinations = new Map<string, DestinationQueue>();
  private readonly ready = new Set<DestinationQueue>();
  private running = 0;
  private stopped = false;
  private started = false;

  constructor(
    private readonly jobs: JobRunner,
    private readonly downUntil: (key: string, now: number) => { until: number; reason: string } | null,
    private readonly getModel: () => Model,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** Queues a job of message `id` for destination `key` (the caller keeps one per pair). */
  push(key: string, id: string): void {
    let d = this.destinations.get(key);
    if (!d) {
      d = new DestinationQueue(key);
      this.destinations.set(key, d);
    }
    d.push(id);
    this.ready.add(d);
  }

  /** No delivery before open() (the daemon's safe start order). */
  open(): void {
    this.started = true;
    this.pump();
  }

  pump(): void {
    if (this.stopped || !this.started) return;
    const model = this.getModel();
    const total = model.delivery.concurrency.total;
    let progress = true;
    while (progress && this.running < total) {
      progress = false;
      for (const d of this.ready) {
        if (this.running >= total) break;
        if (this.dispatchOne(d, model)) progress = true;
      }
    }
  }

  stop(): void {
    this.stopped = true;
    for (const d of this.destinations.values()) {
      if (d.wakeTimer !== null) this.clock.clearTimer(d.wakeTimer);
      d.wakeTimer = null;
    }
  }

  /** Starts d's next job if its window allows; false when d has nothing it may start now. */
  private dispatchOne(d: DestinationQueue, model: Model): boolean {
    const now = this.clock.now();
    if (d.suspendedUntil > now) return false;
    if (d.length === 0) {
      this.idle(d);
      return false;
    }
    if (d.active >= (d.probing ? 1 : windowForKey(model, d.key))) return false;
    if (connects(d.key)) {
      const down = this.downUntil(d.key, now);
      if (down) {
        this.suspend(d, down.until, down.reason, now);
        return false;
      }
    }
    for (let id = d.shift(); id !== undefined; id = d.shift()) {
      if (!this.jobs.startable(id)) {
        this.jobs.dropped(id, d.key);
        continue;
      }
      this.start(d, id);
      return true;
    }
    this.idle(d);
    return false;
  }

  private idle(d: DestinationQueue): void {
    this.ready.delete(d);
    if (d.unused) this.destinations.delete(d.key);
  }

  /** Every host is down: nothing goes out until the first mark expires; expired mail fails meanwhile. */
  private suspend(d: DestinationQueue, until: number, reason: string, now: number): void {
    d.suspendedUntil = until;
    d.probing = true;
    this.log.info({ stage: 'queue', destination: d.key, queued: d.length, until: new Date(until).toISOString(), reason }, 'all hosts down; destination deferred without connecting');
    for (const id of d.extract((x) => this.jobs.expired(x, now))) {
      if (this.jobs.startable(id)) this.start(d, id);
      else this.jobs.dropped(id, d.key);
    }
    if (d.wakeTimer !== null) this.clock.clearTimer(d.wakeTimer);
    d.wakeTimer = this.clock.setTimer(() => {
      d.wakeTimer = null;
      d.suspendedUntil = 0;
      if (d.length) this.ready.add(d);
      else d.probing = false;
      this.pump();
    }, until - now);
  }

  private start(d: DestinationQueue, id: string): void {
    d.active++;
    this.running++;
    void this.jobs.run(id, d.key).finally(() => {
      d.active--;
      this.running--;
      // A probe that found a host up reopens the full window.
      if (d.probing && !this.downUntil(d.key, this.clock.now())) d.probing = false;
      if (d.length) this.ready.add(d);
      else if (d.unused) this.destinations.delete(d.key);
      this.pump();
    });
  }
}
