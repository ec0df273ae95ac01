// One destination's ready queue (Postfix qmgr's per-destination queue, KumoMTA's ready queue):
// the ids of messages due for it, in order, how many of its deliveries run, and whether it is
// suspended because every host is down. The queue manager owns these; no I/O here.
/** Compact the FIFO once this many slots at its head are spent. */
const COMPACT_AFTER = 1024;

export class DestinationQueue {
  private ids: string[] = [];
  private head = 0;
  /** Deliveries of this destination in flight. */
  active = 0;
  /** Every host is down: nothing is dispatched before this time (ms). 0 = not suspended. */
  suspendedUntil = 0;
  /** After a suspension, one delivery probes the destination before the full window opens. */
  probing = false;
  wakeTimer: unknown = null;

  constructor(readonly key: string) {}

  /** Nothing queued, running or pending on a timer: the manager may drop it. */
  get unused(): boolean {
    return this.length === 0 && this.active === 0 && this.wakeTimer === null && !this.probing;
  }

  get length(): number {
    return this.ids.length - this.head;
  }

  push(id: string): void {
    this.ids.push(id);
  }

  shift(): string | undefined {
    if (this.head >= this.ids.length) return undefined;
    const id = this.ids[this.head++];
    if (this.head >= COMPACT_AFTER && this.head * 2 >= this.ids.length) {
      this.ids = this.ids.slice(this.head);
      this.head = 0;
    }
    return id;
  }

  /** Takes out the ids `pick` selects (expired messages of a suspended destination). */
  extract(pick: (id: string) => boolean): string[] {
    const keep: string[] = [];
    const out: string[] = [];
    for (let i = this.head; i < this.ids.length; i++) (pick(this.ids[i]!) ? out : keep).push(this.ids[i]!);
    this.ids = keep;
    this.head = 0;
    return out;
  }
}
