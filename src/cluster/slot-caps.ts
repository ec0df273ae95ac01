// Pure decisions for cluster-wide connection caps (issue 13): how many connections one replica may
// hold on its own while Redis is away, whether a new lease may be taken without Redis, and how
// many idle connections a replica above its share closes once Redis is back. No I/O, no clock.

/** How a cap is applied while Redis is unreachable. */
export type FallbackPolicy =
  /** Outbound slots: each replica takes its share, so the sum never exceeds the cluster cap. */
  | 'share'
  /** Inbound per-IP counts: the local count against the whole cap (a replica alone is a single node). */
  | 'local';

/**
 * The local cap while Redis is unreachable: max(1, floor(max / live replicas seen last)). Floor,
 * so the replicas' caps never add up to more than `max`; at least 1, so mail keeps moving.
 */
export function fallbackCap(max: number, liveReplicas: number, policy: FallbackPolicy = 'share'): number {
  if (policy === 'local') return Math.max(1, max);
  return Math.max(1, Math.floor(max / Math.max(1, liveReplicas)));
}

export interface LocalSlotFacts {
  /** Leases this replica holds for the key now. */
  held: number;
  max: number;
  liveReplicas: number;
  policy: FallbackPolicy;
}

/** Without Redis: a new lease only while this replica is under its local cap (never unlimited, never blocking). */
export function mayTakeLocally(f: LocalSlotFacts): { ok: boolean; cap: number } {
  const cap = fallbackCap(f.max, f.liveReplicas, f.policy);
  return { ok: f.held < cap, cap };
}

export interface SharedSlotFacts {
  /** Live leases for the key across the cluster. */
  clusterHeld: number;
  /** This replica's share of them. */
  mine: number;
  max: number;
  /** Other replicas refused a lease for the key a moment ago (still waiting). */
  othersWaiting: number;
}

/**
 * With Redis (the lease script in slot-scripts.ts does the same, atomically): under the cap a
 * lease is taken, except that while other replicas wait a replica at its share among the waiting
 * ones leaves the slot to them. A replica wakes its own waiters the moment it frees a slot, so
 * without this rule the replica that holds slots would keep them and the others wait till they defer.
 */
export function mayTakeShared(f: SharedSlotFacts): boolean {
  if (f.clusterHeld >= f.max) return false;
  if (f.othersWaiting === 0) return true;
  return f.mine < Math.max(1, Math.floor(f.max / (f.othersWaiting + 1)));
}

export interface ShedFacts {
  /** Leases this replica holds for the key. */
  held: number;
  /** Live leases for the key across the cluster, after every replica re-registered. */
  clusterHeld: number;
  max: number;
  liveReplicas: number;
}

/**
 * After Redis returns and the open connections were registered, the cluster may hold more than
 * its cap (the fallback shares were computed from a stale replica count). A replica above its
 * share closes idle connections, at most down to its share and no more than the excess.
 */
export function idleToShed(f: ShedFacts): number {
  const excess = f.clusterHeld - f.max;
  if (excess <= 0) return 0;
  const share = fallbackCap(f.max, f.liveReplicas);
  const above = f.held - share;
  return above > 0 ? Math.min(above, excess) : 0;
}

/**
 * Live replicas as the heartbeat set shows them: never fewer than 1 (this one), and the last
 * figure kept while Redis is away (null: never seen, so this replica assumes it is alone).
 */
export function liveReplicasSeen(lastSeen: number | null): number {
  return Math.max(1, lastSeen ?? 1);
}
