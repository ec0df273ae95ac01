// The replica registry's decisions, pure (the shell is registry.ts): whether a node id is taken
// by a live replica, and how `sluice cluster status` shows a registry row.

/** A cluster_nodes row, times in ms since the epoch. */
export interface NodeRow {
  nodeId: string;
  instanceId: string;
  host: string;
  pid: number;
  startTicks: number | null;
  bootId: string | null;
  startedAt: number;
  lastHeartbeat: number;
  state: string;
  ttlMs: number;
  spoolId: string | null;
  queueDepth: number;
  connections: Record<string, { open: number; busy: number }>;
}

export interface Me {
  nodeId: string;
  instanceId: string;
  host: string;
  bootId: string | null;
}

/** Live: still running and a heartbeat within its TTL, by the database's clock. */
export const nodeAlive = (row: Pick<NodeRow, 'state' | 'lastHeartbeat' | 'ttlMs'>, dbNow: number): boolean =>
  row.state === 'running' && dbNow - row.lastHeartbeat < row.ttlMs;

/**
 * Whether `me` may take the registry row of its node id. A fresh heartbeat from another instance
 * means a live twin (E_NODE_ID_IN_USE) — unless that instance ran on this very host and boot and
 * its process is gone: a crash followed by a restart must not wait out the heartbeat TTL.
 */
export function mayRegister(row: NodeRow, me: Me, dbNow: number, processAlive: (row: NodeRow) => boolean): { take: true } | { take: false; reason: string } {
  if (row.instanceId === me.instanceId || !nodeAlive(row, dbNow)) return { take: true };
  const sameMachine = row.host === me.host && row.bootId !== null && row.bootId === me.bootId;
  if (sameMachine && !processAlive(row)) return { take: true };
  const ago = Math.max(0, Math.round((dbNow - row.lastHeartbeat) / 1000));
  return { take: false, reason: `node id "${row.nodeId}" is in use by a live replica (pid ${row.pid} on ${row.host}, last heartbeat ${ago} s ago); give each replica its own cluster.nodeId` };
}

export interface LeaseSummary {
  spoolId: string;
  owner: string;
  epoch: number;
  expiresAt: string;
  state: string;
}

export interface NodeStatus {
  nodeId: string;
  state: 'alive' | 'dead';
  lastHeartbeat: string;
  host: string;
  pid: number;
  startedAt: string;
  queueDepth: number;
  connections: Record<string, { open: number; busy: number }>;
  /** The lease of this replica's own spool. */
  spoolLease: LeaseSummary | null;
  /** Other replicas' spools this one holds. */
  adopted: LeaseSummary[];
}

export interface LeaseForStatus {
  spoolId: string;
  homeNode: string;
  ownerNode: string;
  epoch: number;
  expiresAt: number;
  state: string;
}

const summary = (l: LeaseForStatus): LeaseSummary => ({ spoolId: l.spoolId, owner: l.ownerNode, epoch: l.epoch, expiresAt: new Date(l.expiresAt).toISOString(), state: l.state });

/** One object per replica for `sluice cluster status`, by node id. */
export function clusterStatus(nodes: readonly NodeRow[], leases: readonly LeaseForStatus[], dbNow: number): NodeStatus[] {
  return [...nodes]
    .sort((a, b) => a.nodeId.localeCompare(b.nodeId))
    .map((n) => {
      const own = leases.find((l) => l.spoolId === n.spoolId) ?? null;
      return {
        nodeId: n.nodeId,
        state: nodeAlive(n, dbNow) ? 'alive' : 'dead',
        lastHeartbeat: new Date(n.lastHeartbeat).toISOString(),
        host: n.host,
        pid: n.pid,
        startedAt: new Date(n.startedAt).toISOString(),
        queueDepth: n.queueDepth,
        connections: n.connections,
        spoolLease: own ? summary(own) : null,
        adopted: leases.filter((l) => l.ownerNode === n.nodeId && l.spoolId !== n.spoolId && l.state === 'held').map(summary),
      };
    });
}

/** Connections held per outbound connector, from Pools.stats() rows. */
export function connectionsByConnector(stats: readonly { connector: string; open: number; busy: number }[]): Record<string, { open: number; busy: number }> {
  const out: Record<string, { open: number; busy: number }> = {};
  for (const s of stats) {
    const c = (out[s.connector] ??= { open: 0, busy: 0 });
    c.open += s.open;
    c.busy += s.busy;
  }
  return out;
}
