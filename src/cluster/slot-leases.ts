// Leases in Redis for cluster-wide caps (issue 13), KumoMTA's design: a sorted set per key (an
// outbound destination's connection slots, or an inbound client IP's sessions), one Lua script
// that drops expired leases, counts the rest and adds one if under the cap. Leases are renewed
// every connectionRenew while their socket lives and removed when it closes, so a crashed
// replica's leases come back by themselves after connectionTtl.
// Redis unreachable: the decision is local (slot-caps.ts), never unlimited and never blocking.
// Redis back: the leases held are registered first, then new ones go through Redis again, and a
// replica above its share is told to shed idle connections (onOver).
import client from 'prom-client';
import type { Logger } from '../observe/log.js';
import { metricsRegistry } from '../observe/metrics.js';
import type { ClusterRedis } from './redis.js';
import { withLeaseScripts } from './slot-scripts.js';
import { idleToShed, mayTakeLocally, type FallbackPolicy } from './slot-caps.js';

export interface Lease {
  readonly key: string;
  readonly id: string;
}

/** What a pool or the listener needs of a lease set. */
export interface LeaseGate {
  /** A lease under `max` across the cluster, or null when the cap is reached. */
  acquire(key: string, max: number): Promise<Lease | null>;
  release(lease: Lease): void;
}

export interface LeaseSetOptions {
  redis: ClusterRedis;
  nodeId: string;
  /** Redis key prefix and metric label: 'slot' (outbound connections) or 'inbound' (per client IP). */
  kind: 'slot' | 'inbound';
  ttlMs: number;
  renewMs: number;
  policy: FallbackPolicy;
  /** Live replicas seen last (slot-replicas.ts). */
  live: () => number;
  /**
   * How long a refused replica counts as waiting, so that others at their share leave it the next
   * free lease (slot-caps.ts mayTakeShared). 0: no such rule (inbound sessions do not wait, they get 421).
   */
  fairWaitMs: number;
  log: Logger;
}

interface Held {
  max: number;
  ids: Set<string>;
}

const sets = new Set<LeaseSet>();

new client.Gauge({
  name: 'sluice_cluster_leases_held',
  help: 'Leases this replica holds in the cluster (kind: slot = outbound connections, inbound = sessions per client IP)',
  labelNames: ['kind'],
  registers: [metricsRegistry],
  collect() {
    this.reset();
    for (const s of sets) this.inc({ kind: s.kind }, s.heldCount);
  },
});

new client.Gauge({
  name: 'sluice_cluster_lease_fallback',
  help: '1 while this replica decides its cluster caps locally (Redis unreachable)',
  labelNames: ['kind'],
  registers: [metricsRegistry],
  collect() {
    this.reset();
    for (const s of sets) this.set({ kind: s.kind }, s.fallback ? 1 : 0);
  },
});

export class LeaseSet implements LeaseGate {
  readonly kind: 'slot' | 'inbound';
  private readonly held = new Map<string, Held>();
  private seq = 0;
  /** Between Redis coming back and every held lease being registered again: decide locally. */
  private registering = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly overHandlers: ((key: string, n: number) => void)[] = [];
  private readonly prefix: string;

  constructor(private readonly o: LeaseSetOptions) {
    this.kind = o.kind;
    this.prefix = `sluice:${o.kind}:`;
    sets.add(this);
    o.redis.onReady(() => void this.reregister());
    this.timer = setInterval(() => void this.renewAll(), o.renewMs);
    this.timer.unref();
  }

  get heldCount(): number {
    let n = 0;
    for (const h of this.held.values()) n += h.ids.size;
    return n;
  }

  /** Deciding locally now (Redis unreachable, or its leases not registered again yet). */
  get fallback(): boolean {
    return !this.o.redis.ready || this.registering;
  }

  /** Leases held per key, for `sluice cluster status` and tests. */
  heldByKey(): Record<string, number> {
    return Object.fromEntries([...this.held].map(([k, h]) => [k, h.ids.size]));
  }

  /** Called with (key, idle connections to close) when this replica is above its share. */
  onOver(fn: (key: string, n: number) => void): void {
    this.overHandlers.push(fn);
  }

  async acquire(key: string, max: number): Promise<Lease | null> {
    const id = `${this.o.nodeId}:${(++this.seq).toString(36)}`;
    if (!this.fallback) {
      try {
        const k = this.prefix + key;
        const [taken] = await withLeaseScripts(this.o.redis.client).sluiceLeaseAcquire(k, `${k}:waiting`, this.o.ttlMs, max, id, this.o.nodeId, this.o.fairWaitMs);
        return taken === 1 ? this.keep(key, max, id) : null;
      } catch (err) {
        // Timed out or cut: decide locally; the lease is registered at the next renewal.
        this.o.log.debug({ stage: 'cluster', kind: this.kind, key, err: (err as Error).message }, 'lease script failed; deciding locally');
      }
    }
    const local = mayTakeLocally({ held: this.held.get(key)?.ids.size ?? 0, max, liveReplicas: this.o.live(), policy: this.o.policy });
    return local.ok ? this.keep(key, max, id) : null;
  }

  release(lease: Lease): void {
    const h = this.held.get(lease.key);
    if (!h?.ids.delete(lease.id)) return;
    if (h.ids.size === 0) this.held.delete(lease.key);
    // Best effort: a lease that cannot be removed now expires after its TTL.
    if (this.o.redis.ready) this.o.redis.client.zrem(this.prefix + lease.key, lease.id).catch(() => undefined);
  }

  /** Gives back what is still held (a graceful stop should not keep slots for a TTL), and stops renewing. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    sets.delete(this);
    if (!this.o.redis.ready || this.held.size === 0) return;
    const p = this.o.redis.client.pipeline();
    for (const [key, h] of this.held) p.zrem(this.prefix + key, ...h.ids);
    this.held.clear();
    await p.exec().catch(() => undefined);
  }

  private keep(key: string, max: number, id: string): Lease {
    let h = this.held.get(key);
    if (!h) this.held.set(key, (h = { max, ids: new Set() }));
    h.max = max;
    h.ids.add(id);
    return { key, id };
  }

  /** Renews every held lease; returns the live leases per key, or null when Redis failed. */
  private async renewAll(): Promise<Map<string, number> | null> {
    if (!this.o.redis.ready) return null;
    const r = withLeaseScripts(this.o.redis.client);
    const counts = new Map<string, number>();
    try {
      for (const [key, h] of [...this.held]) {
        if (h.ids.size) counts.set(key, await r.sluiceLeaseRenew(this.prefix + key, this.o.ttlMs, ...h.ids));
      }
      return counts;
    } catch (err) {
      this.o.log.debug({ stage: 'cluster', kind: this.kind, err: (err as Error).message }, 'lease renewal failed');
      return null;
    }
  }

  /** Redis is (back) up: register what is open first, then shed above the share, then lease again. */
  private async reregister(): Promise<void> {
    this.registering = true;
    try {
      const counts = await this.renewAll();
      if (!counts) return;
      for (const [key, clusterHeld] of counts) {
        const h = this.held.get(key);
        if (!h) continue;
        const n = idleToShed({ held: h.ids.size, clusterHeld, max: h.max, liveReplicas: this.o.live() });
        if (n > 0) {
          this.o.log.info({ stage: 'cluster', kind: this.kind, key, held: h.ids.size, clusterHeld, max: h.max, shed: n }, 'above this replica\'s share after Redis returned: closing idle connections');
          for (const fn of this.overHandlers) fn(key, n);
        }
      }
    } finally {
      this.registering = false;
    }
  }
}
