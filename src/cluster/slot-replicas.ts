// Live replicas as Redis last showed them: each replica scores its node id in one sorted set with
// Redis' time every connectionRenew; ids not seen for a connectionTtl drop out. The figure is kept
// while Redis is away, so the fallback caps divide by the replicas seen last. It is also kept in
// a small file in the spool, so a replica (re)started while Redis is down divides by the replicas
// it saw before, instead of taking the whole cap as if it were alone.
import { promises as fs } from 'node:fs';
import type { ClusterRedis } from './redis.js';
import { withLeaseScripts } from './slot-scripts.js';
import { liveReplicasSeen } from './slot-caps.js';

export const REPLICAS_KEY = 'sluice:replicas';
/** In the spool directory, beside spool-id and cluster-lease.json. */
export const REPLICAS_SEEN_FILE = 'cluster-replicas-seen';

/** The figure a file holds, or null (none yet, unreadable, not a count). */
export function parseReplicasSeen(text: string | null): number | null {
  const n = text === null ? NaN : Number(text.trim());
  return Number.isInteger(n) && n >= 1 && n <= 10_000 ? n : null;
}

export class ReplicaHeartbeat {
  private lastSeen: number | null = null;

  constructor(
    private readonly redis: ClusterRedis,
    private readonly nodeId: string,
    private readonly ttlMs: number,
    /** Where the figure is kept across restarts (null: not kept). */
    private readonly memoFile: string | null = null,
  ) {}

  /** Takes the figure the last run saw, until Redis gives a fresh one. */
  async restore(): Promise<void> {
    if (!this.memoFile || this.lastSeen !== null) return;
    this.lastSeen = parseReplicasSeen(await fs.readFile(this.memoFile, 'utf8').catch(() => null));
  }

  /** Live replicas seen last (at least 1: this one). */
  get live(): number {
    return liveReplicasSeen(this.lastSeen);
  }

  /** One heartbeat; a failure keeps the last figure (the fallback divides by it). */
  async beat(): Promise<void> {
    if (!this.redis.ready) return;
    try {
      const seen = await withLeaseScripts(this.redis.client).sluiceHeartbeat(REPLICAS_KEY, this.nodeId, this.ttlMs);
      const changed = seen !== this.lastSeen;
      this.lastSeen = seen;
      if (changed) await this.remember(seen);
    } catch {
      // Counted as an outage by the connection's own events; the last figure stands.
    }
  }

  /** A hint, not a promise: tmp + rename without fsync (a lost write only means the older figure). */
  private async remember(n: number): Promise<void> {
    if (!this.memoFile) return;
    const tmp = `${this.memoFile}.${process.pid}.tmp`;
    await fs.writeFile(tmp, `${n}\n`).then(() => fs.rename(tmp, this.memoFile!)).catch(() => undefined);
  }
}
