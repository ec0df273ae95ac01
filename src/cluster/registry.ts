// The replica registry: one cluster_nodes row per node id, written by the replica's heartbeat
// (queue depth, connections per connector, the leases it holds) and read by `sluice cluster
// status` on any replica. Registering refuses a node id a live replica already uses.
import os from 'node:os';
import type pg from 'pg';
import { SluiceError } from '../domain/errors.js';
import { bootId, holderAlive, processStartTicks } from '../queue/spool-lock.js';
import { ensureSchema } from './pg.js';
import { mayRegister, type Me, type NodeRow } from './registry-rules.js';

const DDL = `
CREATE TABLE IF NOT EXISTS cluster_nodes (
  node_id text PRIMARY KEY,
  instance_id text NOT NULL,
  host text NOT NULL,
  pid integer NOT NULL,
  start_ticks bigint,
  boot_id text,
  started_at timestamptz NOT NULL,
  last_heartbeat timestamptz NOT NULL,
  state text NOT NULL,
  ttl_ms integer NOT NULL,
  spool_id text,
  queue_depth integer NOT NULL DEFAULT 0,
  connections jsonb NOT NULL DEFAULT '{}'::jsonb,
  leases jsonb NOT NULL DEFAULT '[]'::jsonb
);`;

type Db = pg.Pool | pg.PoolClient | pg.Client;

export const ensureRegistrySchema = (pool: pg.Pool): Promise<void> => ensureSchema(pool, 'cluster-nodes', DDL);

interface RawNode {
  node_id: string;
  instance_id: string;
  host: string;
  pid: number;
  start_ticks: string | null;
  boot_id: string | null;
  started_at: Date;
  last_heartbeat: Date;
  state: string;
  ttl_ms: number;
  spool_id: string | null;
  queue_depth: number;
  connections: Record<string, { open: number; busy: number }>;
}

const toNode = (r: RawNode): NodeRow => ({
  nodeId: r.node_id,
  instanceId: r.instance_id,
  host: r.host,
  pid: r.pid,
  startTicks: r.start_ticks === null ? null : Number(r.start_ticks),
  bootId: r.boot_id,
  startedAt: r.started_at.getTime(),
  lastHeartbeat: r.last_heartbeat.getTime(),
  state: r.state,
  ttlMs: r.ttl_ms,
  spoolId: r.spool_id,
  queueDepth: r.queue_depth,
  connections: r.connections ?? {},
});

export async function listNodes(db: Db): Promise<{ nodes: NodeRow[]; dbNow: number }> {
  const now = await db.query<{ now: Date }>('SELECT now() AS now');
  const r = await db.query<RawNode>('SELECT * FROM cluster_nodes ORDER BY node_id');
  return { nodes: r.rows.map(toNode), dbNow: now.rows[0]!.now.getTime() };
}

/** What a heartbeat reports. */
export interface Beat {
  queueDepth: number;
  connections: Record<string, { open: number; busy: number }>;
  leases: { spoolId: string; epoch: number; role: 'home' | 'adopted' }[];
}

export class Registry {
  readonly me: Me;
  private readonly startTicks = processStartTicks(process.pid);

  constructor(
    private readonly db: pg.Pool,
    nodeId: string,
    instanceId: string,
    private readonly ttlMs: number,
  ) {
    this.me = { nodeId, instanceId, host: os.hostname(), bootId: bootId() };
  }

  /** Takes this node id's row, or throws E_NODE_ID_IN_USE naming the live replica that has it. */
  async register(spoolId: string): Promise<void> {
    const m = this.me;
    const values = [m.nodeId, m.instanceId, m.host, process.pid, this.startTicks, m.bootId, this.ttlMs, spoolId];
    for (let attempt = 0; attempt < 3; attempt++) {
      const inserted = await this.db.query(
        `INSERT INTO cluster_nodes (node_id, instance_id, host, pid, start_ticks, boot_id, started_at, last_heartbeat, state, ttl_ms, spool_id)
         VALUES ($1, $2, $3, $4, $5, $6, now(), now(), 'running', $7, $8) ON CONFLICT (node_id) DO NOTHING RETURNING node_id`,
        values,
      );
      if (inserted.rowCount) return;
      const r = await this.db.query<RawNode & { db_now: Date }>('SELECT *, now() AS db_now FROM cluster_nodes WHERE node_id = $1', [m.nodeId]);
      const raw = r.rows[0];
      if (!raw) continue; // removed meanwhile: insert again
      const row = toNode(raw);
      const verdict = mayRegister(row, m, raw.db_now.getTime(), (n) => holderAlive({ pid: n.pid, startTicks: n.startTicks, bootId: n.bootId, host: n.host, owner: '', since: '' }));
      if (!verdict.take) throw new SluiceError('E_NODE_ID_IN_USE', verdict.reason, { details: { nodeId: m.nodeId, otherHost: row.host, otherPid: row.pid } });
      const taken = await this.db.query(
        `UPDATE cluster_nodes SET instance_id = $2, host = $3, pid = $4, start_ticks = $5, boot_id = $6, started_at = now(), last_heartbeat = now(),
           state = 'running', ttl_ms = $7, spool_id = $8, queue_depth = 0, connections = '{}'::jsonb, leases = '[]'::jsonb
         WHERE node_id = $1 AND instance_id = $9 RETURNING node_id`,
        [...values, row.instanceId],
      );
      if (taken.rowCount) return;
    }
    throw new SluiceError('E_NODE_ID_IN_USE', `node id "${m.nodeId}": another replica is registering it at the same time`, { details: { nodeId: m.nodeId } });
  }

  /** false: our row was taken over (we were taken for dead); the caller says so. */
  async heartbeat(b: Beat): Promise<boolean> {
    const r = await this.db.query(
      `UPDATE cluster_nodes SET last_heartbeat = now(), state = 'running', queue_depth = $3, connections = $4::jsonb, leases = $5::jsonb
       WHERE node_id = $1 AND instance_id = $2`,
      [this.me.nodeId, this.me.instanceId, b.queueDepth, JSON.stringify(b.connections), JSON.stringify(b.leases)],
    );
    return (r.rowCount ?? 0) > 0;
  }

  /** A clean stop: the row stays (status shows it dead at once), its spool lease is left to expire. */
  async markStopped(): Promise<void> {
    await this.db.query(`UPDATE cluster_nodes SET state = 'stopped', last_heartbeat = now() WHERE node_id = $1 AND instance_id = $2`, [this.me.nodeId, this.me.instanceId]);
  }
}
