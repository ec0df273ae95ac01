// The queue manager's one timer wheel: a binary min-heap of deferred entries by due time, so a
// deferred message costs one slot here and no timer of its own. Entries carry their heap position
// (heapIndex, -1 when not queued) so a reschedule or a hold is O(log n).

export interface Timed {
  dueAt: number;
  heapIndex: number;
}

export class TimerQueue<T extends Timed> {
  private readonly heap: T[] = [];

  get size(): number {
    return this.heap.length;
  }

  peek(): T | undefined {
    return this.heap[0];
  }

  /** Adds `item`, or moves it to its new dueAt if it is queued already. */
  set(item: T): void {
    if (item.heapIndex < 0) {
      item.heapIndex = this.heap.length;
      this.heap.push(item);
    }
    this.siftUp(item.heapIndex);
    this.siftDown(item.heapIndex);
  }

  delete(item: T): void {
    const i = item.heapIndex;
    if (i < 0) return;
    const last = this.heap.pop()!;
    item.heapIndex = -1;
    if (last === item) return;
    this.heap[i] = last;
    last.heapIndex = i;
    this.siftUp(i);
    this.siftDown(last.heapIndex);
  }

  /** Removes and returns the earliest item if it is due at `now`. */
  popDue(now: number): T | undefined {
    const top = this.heap[0];
    if (!top || top.dueAt > now) return undefined;
    this.delete(top);
    return top;
  }

  private siftUp(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.dueAt <= h[i]!.dueAt) break;
      this.swap(i, p);
      i = p;
    }
  }

  private siftDown(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l]!.dueAt < h[m]!.dueAt) m = l;
      if (r < h.length && h[r]!.dueAt < h[m]!.dueAt) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private swap(a: number, b: number): void {
    const h = this.heap;
    const x = h[a]!;
    const y = h[b]!;
    h[a] = y;
    h[b] = x;
    x.heapIndex = b;
    y.heapIndex = a;
  }
}
