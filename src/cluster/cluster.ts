// Cluster mode's services for one replica (issue 13). With `cluster.enabled: false` (the default)
// startCluster returns null and nothing here runs: a single node needs no engine.
// Replicas share nothing on the SMTP path (each has its own fsynced spool and lock); what they
// share lives in engines built for it:
// - Redis (may be forgotten): connection slots, host-down marks, per-IP inbound counts.
// - PostgreSQL (must be kept and queryable): message trace, quarantine, config versions, the
//   spool ownership leases and the replica registry.
// Each service degrades on its own when its engine is unreachable, and says so in `degraded()`.
import path from 'node:path';
import type { Model } from '../domain/model.js';
import type { Logger } from '../observe/log.js';
import type pg from 'pg';
import { openPg } from './pg.js';
import { openRedis, type ClusterRedis } from './redis.js';
import { LeaseSet } from './slot-leases.js';
import { REPLICAS_SEEN_FILE, ReplicaHeartbeat } from './slot-replicas.js';
import { inboundCounts } from './inbound-counts.js';
import { SharedHostMarks } from './host-marks.js';

/** A replica refused a slot counts as waiting this long: a few of the pools' 100 ms polls, so it lapses soon after it stops asking. */
const SLOT_FAIR_WAIT_MS = 500;
import { EngineState } from './engine-state.js';

export interface Cluster {
  readonly nodeId: string;
  /** The shared database, when cluster.postgres.url is set. */
  readonly pg: pg.Pool | null;
  /** The shared Redis, when cluster.redis.url is set; null: every cap is this replica's own. */
  readonly redis: ClusterRedis | null;
  /** Outbound connection slots, cluster-wide per destination (with Redis). */
  readonly slots: LeaseSet | null;
  /** Inbound sessions per client IP, cluster-wide (with Redis). */
  readonly inboundCounts: LeaseSet | null;
  /** Host-down marks shared between replicas (with Redis). */
  readonly hostMarks: SharedHostMarks | null;
  /** Live replicas seen last in Redis (1 without Redis). */
  liveReplicas(): number;
  /** PostgreSQL as this replica sees it (null without cluster.postgres.url): the trace outbox and the quarantine report to it. */
  readonly pgState: EngineState | null;
  /** Engine states that make this replica degraded (still serving): named in /readyz detail. */
  degraded(): string[];
  stop(): Promise<void>;
}

export async function startCluster(model: Model, log: Logger): Promise<Cluster | null> {
  const c = model.cluster;
  if (!c.enabled) return null;
  const pool = c.postgresUrl ? openPg({ url: c.postgresUrl, nodeId: c.nodeId, log }) : null;
  const redis = c.redisUrl ? openRedis({ url: c.redisUrl, nodeId: c.nodeId, log }) : null;
  const heartbeat = redis ? new ReplicaHeartbeat(redis, c.nodeId, c.leases.connectionTtlMs, path.join(model.spool.dir, REPLICAS_SEEN_FILE)) : null;
  await heartbeat?.restore();
  const live = () => heartbeat?.live ?? 1;
  const slots = redis
    ? new LeaseSet({ redis, nodeId: c.nodeId, kind: 'slot', ttlMs: c.leases.connectionTtlMs, renewMs: c.leases.connectionRenewMs, policy: 'share', live, fairWaitMs: SLOT_FAIR_WAIT_MS, log })
    : null;
  const inbound = redis ? inboundCounts({ redis, nodeId: c.nodeId, leases: c.leases, live, log }) : null;
  const hostMarks = redis ? new SharedHostMarks(redis, log) : null;
  let beat: NodeJS.Timeout | undefined;
  if (redis && heartbeat) {
    redis.onReady(() => void heartbeat.beat());
    beat = setInterval(() => void heartbeat.beat(), c.leases.connectionRenewMs);
    beat.unref();
  }
  log.info({ stage: 'cluster', nodeId: c.nodeId, redis: Boolean(c.redisUrl), postgres: Boolean(c.postgresUrl) }, 'cluster mode');
  return {
    nodeId: c.nodeId,
    pg: pool,
    redis,
    slots,
    inboundCounts: inbound,
    hostMarks,
    liveReplicas: live,
    pgState: pool ? new EngineState('postgres', log, 'trace events wait in the local outbox, quarantined mail stays in the local spool') : null,
    degraded: () => (redis && !redis.state.up ? ['redis'] : []),
    async stop() {
      clearInterval(beat);
      await Promise.all([slots?.stop(), inbound?.stop()]);
      hostMarks?.stop();
      await redis?.stop();
      await pool?.end().catch(() => undefined);
    },
  };
}
