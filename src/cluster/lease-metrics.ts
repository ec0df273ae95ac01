// /metrics series of spool ownership and the registry: this replica's leases (per spool, with
// their epoch) and the cluster as the registry shows it (replicas by state, queue depth per
// replica), refreshed at every lease round. Labels name node ids and spool ids: bounded by the
// number of replicas, never by mail.
import client from 'prom-client';
import { metricsRegistry } from '../observe/metrics.js';
import { nodeAlive, type NodeRow } from './registry-rules.js';

const replicas = new client.Gauge({
  name: 'sluice_cluster_replicas',
  help: 'Replicas in the cluster registry by state (alive: a heartbeat within the lease TTL)',
  labelNames: ['state'],
  registers: [metricsRegistry],
});
const replicaQueue = new client.Gauge({
  name: 'sluice_cluster_replica_queue_depth',
  help: 'Messages queued on each replica, as its last heartbeat reported',
  labelNames: ['node'],
  registers: [metricsRegistry],
});
const spoolEpoch = new client.Gauge({
  name: 'sluice_cluster_spool_epoch',
  help: 'Epoch of each spool lease this replica holds (role home: its own spool.dir; adopted: another replica spool)',
  labelNames: ['spool', 'role'],
  registers: [metricsRegistry],
});
const adoptions = new client.Counter({
  name: 'sluice_cluster_spool_adoptions_total',
  help: 'Spools of other replicas this replica adopted after their lease expired',
  registers: [metricsRegistry],
});

export function noteRegistry(nodes: readonly NodeRow[], dbNow: number): void {
  let alive = 0;
  replicaQueue.reset();
  for (const n of nodes) {
    const up = nodeAlive(n, dbNow);
    if (up) alive++;
    replicaQueue.set({ node: n.nodeId }, up ? n.queueDepth : 0);
  }
  replicas.set({ state: 'alive' }, alive);
  replicas.set({ state: 'dead' }, nodes.length - alive);
}

export function noteLeases(held: readonly { spoolId: string; epoch: number; role: 'home' | 'adopted' }[]): void {
  spoolEpoch.reset();
  for (const l of held) spoolEpoch.set({ spool: l.spoolId, role: l.role }, l.epoch);
}

export const noteAdoption = (): void => adoptions.inc();
