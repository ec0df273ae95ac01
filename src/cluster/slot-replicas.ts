// Live replicas as Redis last showed them: each replica scores its node id in one sorted set with
// Redis' time every connectionRenew; ids not seen for a connectionTtl drop out. The figure is kept
// while Redis is away, so the fallback caps divide by the replicas seen last.
import type { ClusterRedis } from './redis.js';
import { withLeaseScripts } from './slot-scripts.js';
import { liveReplicasSeen } from './slot-caps.js';

export const REPLICAS_KEY = 'sluice:replicas';

export class ReplicaHeartbeat {
  private lastSeen: number | null = null;

  constructor(
    private readonly redis: ClusterRedis,
    private readonly nodeId: string,
    private readonly ttlMs: number,
  ) {}

  /** Live replicas seen last (at least 1: this one). */
  get live(): number {
    return liveReplicasSeen(this.lastSeen);
  }

  /** One heartbeat; a failure keeps the last figure (the fallback divides by it). */
  async beat(): Promise<void> {
    if (!this.redis.ready) return;
    try {
      this.lastSeen = await withLeaseScripts(this.redis.client).sluiceHeartbeat(REPLICAS_KEY, this.nodeId, this.ttlMs);
    } catch {
      // Counted as an outage by the connection's own events; the last figure stands.
    }
  }
}
