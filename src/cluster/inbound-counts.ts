// Per-IP inbound session counts across the cluster (issue 13): server.limits.maxConnectionsPerIp
// is cluster-wide, each session a lease in the client IP's set (slot-leases.ts) renewed while it
// lives, so a crashed replica's sessions stop counting after connectionTtl. server.limits.
// maxConnections (the total inbound) stays per replica. Redis unreachable: the local count only,
// against the whole per-IP cap, as on a single node.
import type { Logger } from '../observe/log.js';
import type { ClusterLeases } from '../config/sections/cluster.js';
import type { ClusterRedis } from './redis.js';
import { LeaseSet } from './slot-leases.js';

export function inboundCounts(o: { redis: ClusterRedis; nodeId: string; leases: ClusterLeases; live: () => number; log: Logger }): LeaseSet {
  return new LeaseSet({
    redis: o.redis,
    nodeId: o.nodeId,
    kind: 'inbound',
    ttlMs: o.leases.connectionTtlMs,
    renewMs: o.leases.connectionRenewMs,
    policy: 'local',
    // A client over its limit gets 421 at once; nobody waits, so no replica holds a place back for another.
    fairWaitMs: 0,
    live: o.live,
    log: o.log,
  });
}
