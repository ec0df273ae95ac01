// Dead-host memory (Postfix's "host is down" cache): an address that refused or dropped the
// connection, timed out, or answered 4xx/5xx before the transaction, is skipped for
// delivery.hostDownTime. When every host of a destination is down, the queue manager defers the
// destination's mail without connecting until the first mark expires (downUntil). In memory; in
// cluster mode with Redis the marks are also shared with the other replicas (cluster/host-marks.ts),
// read from their last copy here, so a lookup never waits for Redis.

/** How long a failing host is skipped unless the config says otherwise. */
export const HOST_DOWN_MS = 60_000;

export interface SharedMark {
  /** Expiry on this replica's clock. */
  until: number;
  reason: string;
}

/** Marks shared across replicas: published on change, read from the last copy seen. */
export interface HostMarksShare {
  get(host: string): SharedMark | undefined;
  all(): ReadonlyMap<string, SharedMark>;
  down(host: string, downMs: number, reason: string): void;
  up(host: string): void;
}

export class HostHealth {
  private readonly downUntil = new Map<string, { until: number; reason: string }>();

  constructor(
    private readonly downFor: () => number = () => HOST_DOWN_MS,
    private readonly shared: HostMarksShare | null = null,
  ) {}

  get downMs(): number {
    return this.downFor();
  }

  /** This replica's mark or another replica's, whichever ends later; undefined when up. */
  private mark(key: string, now: number): { until: number; reason: string } | undefined {
    let d = this.downUntil.get(key);
    if (d && d.until <= now) {
      this.downUntil.delete(key);
      d = undefined;
    }
    const s = this.shared?.get(key);
    if (s && s.until > now && (!d || s.until > d.until)) return s;
    return d;
  }

  isDown(key: string, now = Date.now()): boolean {
    return this.mark(key, now) !== undefined;
  }

  /** Marks `key` down; returns false if it already was (so callers log only the first time). */
  markDown(key: string, reason: string, now = Date.now()): boolean {
    const was = this.isDown(key, now);
    this.downUntil.set(key, { until: now + this.downFor(), reason });
    this.shared?.down(key, this.downFor(), reason);
    return !was;
  }

  /** The hosts marked down now, with until when and why. */
  marks(now = Date.now()): { host: string; until: number; reason: string }[] {
    const hosts = new Set([...this.downUntil.keys(), ...(this.shared?.all().keys() ?? [])]);
    return [...hosts].flatMap((host) => {
      const d = this.mark(host, now);
      return d ? [{ host, until: d.until, reason: d.reason }] : [];
    });
  }

  markUp(key: string): void {
    // Called after every reply from a host: only a host that was marked costs a word to Redis.
    const marked = this.downUntil.delete(key);
    if (this.shared && (marked || this.shared.get(key))) this.shared.up(key);
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
      const d = this.mark(k, now);
      if (!d) return null;
      if (!first || d.until < first.until) first = d;
    }
    return first;
  }
}
