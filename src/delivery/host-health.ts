// Dead-host memory (Postfix's "host is down" cache): an address that refused or dropped the
// connection, timed out, or answered 4xx/5xx before the transaction, is skipped for
// delivery.hostDownTime. When every host of a destination is down, the queue manager defers the
// destination's mail without connecting until the first mark expires (downUntil). In memory only.

/** How long a failing host is skipped unless the config says otherwise. */
export const HOST_DOWN_MS = 60_000;

export class HostHealth {
  private readonly downUntil = new Map<string, { until: number; reason: string }>();

  constructor(private readonly downFor: () => number = () => HOST_DOWN_MS) {}

  get downMs(): number {
    return this.downFor();
  }

  isDown(key: string, now = Date.now()): boolean {
    const d = this.downUntil.get(key);
    if (!d) return false;
    if (d.until > now) return true;
    this.downUntil.delete(key);
    return false;
  }

  /** Marks `key` down; returns false if it already was (so callers log only the first time). */
  markDown(key: string, reason: string, now = Date.now()): boolean {
    const was = this.isDown(key, now);
    this.downUntil.set(key, { until: now + this.downFor(), reason });
    return !was;
  }

  /** The hosts marked down now, with until when and why. */
  marks(now = Date.now()): { host: string; until: number; reason: string }[] {
    return [...this.downUntil].filter(([, d]) => d.until > now).map(([host, d]) => ({ host, ...d }));
  }

  markUp(key: string): void {
    this.downUntil.delete(key);
  }

  /** The hosts that are up, in order; all of them when every one is down. */
  usable<T>(targets: T[], keyOf: (t: T) => string, now = Date.now()): T[] {
    const up = targets.filter((t) => !this.isDown(keyOf(t), now));
    return up.length ? up : targets;
  }

  /**
   * When every one of `keys` is down: the moment the first mark expires (and its reason); null
   * when any is up or the list is empty.
   */
  allDownUntil(keys: readonly string[], now = Date.now()): { until: number; reason: string } | null {
    let first: { until: number; reason: string } | null = null;
    for (const k of keys) {
      if (!this.isDown(k, now)) return null;
      const d = this.downUntil.get(k)!;
      if (!first || d.until < first.until) first = d;
    }
    return first;
  }
}
