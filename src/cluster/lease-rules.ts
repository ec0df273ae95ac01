// Spool ownership decisions, pure (the shell is spool-lease.ts): who may start on a spool, who
// may adopt one, and when a lease counts as expired. Every time here is the database's clock
// (`now()`), never a replica's, so replicas with skewed clocks agree.
// The outage rule (issue 13): a lease is expired only after a full TTL without renewal *while the
// database was reachable*. Two views of "reachable" are required, because either side may have
// been cut off: the database's own uptime (pg_postmaster_start_time: after a restart every owner
// gets a full TTL to renew first) and the adopter's own unbroken reach (after a network outage
// the adopter waits a full TTL, so the owners cut off with it have renewed by then).

/** A spool's lease row (spool_leases), times in ms since the epoch. */
export interface LeaseRow {
  spoolId: string;
  /** The replica whose spool it is (the last one that started on it as its spool.dir). */
  homeNode: string;
  ownerNode: string;
  ownerInstance: string;
  /** Bumped at every change of holder: a holder whose epoch is not the row's has lost it. */
  epoch: number;
  /** released: handed back by `sluice cluster release-spool`, waiting for its home node. */
  state: 'held' | 'released';
  expiresAt: number;
}

/** What the database said alongside the row. */
export interface DbView {
  now: number;
  postmasterStart: number;
  /** Since when this replica has reached the database without a failed call. */
  reachableSince: number;
  ttlMs: number;
}

/** The last lease this replica held on a spool, kept in the spool itself (lease-files.ts). */
export interface LocalLease {
  spoolId: string;
  owner: string;
  epoch: number;
  state: 'held' | 'released';
}

export type Refusal = { refuse: true; holder: string; reason: string };

/** Expired by the database alone: past its expiry and the server up for a full TTL. */
export function leaseLapsed(row: LeaseRow, db: Pick<DbView, 'now' | 'postmasterStart' | 'ttlMs'>): boolean {
  return row.state === 'held' && row.expiresAt < db.now && db.now - db.postmasterStart >= db.ttlMs;
}

/** Whether `me` may adopt another replica's spool (cluster.adoptSpools) now. */
export function mayAdopt(row: LeaseRow | null, me: string, db: DbView, ownerAlive: boolean): { adopt: true } | { adopt: false; reason: string } {
  if (!row) return { adopt: false, reason: 'no lease row yet (its replica never started in cluster mode)' };
  if (row.ownerNode === me) return { adopt: false, reason: 'already ours' };
  if (row.state === 'released') return { adopt: false, reason: `handed back to ${row.homeNode}` };
  if (row.expiresAt >= db.now) return { adopt: false, reason: `lease held by ${row.ownerNode} until ${new Date(row.expiresAt).toISOString()}` };
  if (db.now - db.postmasterStart < db.ttlMs) return { adopt: false, reason: 'the database restarted less than a lease TTL ago: owners renew first' };
  if (db.now - db.reachableSince < db.ttlMs) return { adopt: false, reason: 'this replica reached the database again less than a lease TTL ago: owners renew first' };
  if (ownerAlive) return { adopt: false, reason: `${row.ownerNode} still sends heartbeats` };
  return { adopt: true };
}

/** A replica starting on its own spool.dir, the database reachable. */
export function homeStart(row: LeaseRow | null, me: string, db: Pick<DbView, 'now' | 'postmasterStart' | 'ttlMs'>, ownerAlive: boolean): 'insert' | 'claim' | Refusal {
  if (!row) return 'insert';
  if (row.ownerNode === me) return 'claim'; // our own lease, from a previous run (the registry keeps out a live twin)
  if (row.state === 'released') {
    return row.homeNode === me ? 'claim' : { refuse: true, holder: row.homeNode, reason: `handed back to ${row.homeNode}` };
  }
  if (leaseLapsed(row, db) && !ownerAlive) return 'claim'; // its adopter died too
  return { refuse: true, holder: row.ownerNode, reason: `adopted by ${row.ownerNode} (epoch ${row.epoch})` };
}

/** A replica starting on its own spool.dir while the database is unreachable: the last lease it knows of. */
export function offlineStart(local: LocalLease | null, me: string): 'use' | Refusal {
  if (!local || local.owner === me) return 'use';
  return { refuse: true, holder: local.owner, reason: `adopted by ${local.owner} (epoch ${local.epoch}) as last recorded in the spool` };
}

/** After a renewal matched no row: lost to whoever holds it now (or nobody: a deleted row). */
export function lostTo(row: LeaseRow | null): string {
  if (!row) return 'nobody (the lease row is gone)';
  return row.state === 'released' ? `${row.homeNode} (handed back)` : row.ownerNode;
}
