// One timer for the whole queue: the deferred entries sit in a heap (timer-queue.ts) and a single
// clock timer is armed for the earliest of them, so 100,000 deferred messages cost one timer.
import type { Clock } from './clock.js';
import { TimerQueue, type Timed } from './timer-queue.js';

export class DueTimer<T extends Timed> {
  private readonly heap = new TimerQueue<T>();
  private timer: unknown = null;
  private timerAt = Infinity;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    /** Called for each entry whose time has come, then `afterRelease` once per round. */
    private readonly onDue: (item: T) => void,
    private readonly afterRelease: () => void,
  ) {}

  /** Waits for `item.dueAt` (or moves it there if it was waiting already). */
  set(item: T): void {
    this.heap.set(item);
    this.arm();
  }

  delete(item: T): void {
    this.heap.delete(item);
  }

  /** Hands over every entry that is due now and re-arms for the next one. */
  releaseDue(): void {
    const now = this.clock.now();
    for (let e = this.heap.popDue(now); e; e = this.heap.popDue(now)) this.onDue(e);
    this.arm();
    this.afterRelease();
  }

  stop(): void {
    this.stopped = true;
    this.disarm();
  }

  private arm(): void {
    const top = this.heap.peek();
    if (this.stopped || !top) return this.disarm();
    // Armed for an earlier moment already: that wake-up re-arms for this one.
    if (this.timer !== null && top.dueAt >= this.timerAt) return;
    this.disarm();
    this.timerAt = top.dueAt;
    this.timer = this.clock.setTimer(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.releaseDue();
    }, top.dueAt - this.clock.now());
  }

  private disarm(): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }
}
