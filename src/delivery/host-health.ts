// Dead-host memory (Postfix's "host is down" cache): an address that refused or dropped the
// connection, or answered 4xx/5xx before the transaction, is skipped for HOST_DOWN_MS unless every
// candidate is down. In memory only: a restart gives every host a fresh chance.

/** How long a failing host is skipped. */
export const HOST_DOWN_MS = 60_000;

export class HostHealth {
  private readonly downUntil = new Map<string, { until: number; reason: string }>();

  constructor(readonly downMs = HOST_DOWN_MS) {}

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
    this.downUntil.set(key, { until: now + this.downMs, reason });
    return !was;
  }

  markUp(key: string): void {
    this.downUntil.delete(key);
  }

  /** The hosts that are up, in order; all of them when every one is down. */
  usable<T>(targets: T[], keyOf: (t: T) => string, now = Date.now()): T[] {
    const up = targets.filter((t) => !this.isDown(keyOf(t), now));
    return up.length ? up : targets;
  }
}
