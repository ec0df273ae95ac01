// The spool_leases table and its statements. Every change of holder is one conditional UPDATE
// on the epoch the caller saw (compare-and-set), so of two replicas racing for a lease exactly one
// gets a row back. Rows are never deleted: a lease is reclaimed, its mail stays where it is.
import type pg from 'pg';
import { ensureSchema } from './pg.js';
import type { DbView, LeaseRow } from './lease-rules.js';

const DDL = `
CREATE TABLE IF NOT EXISTS spool_leases (
  spool_id text PRIMARY KEY,
  home_node text NOT NULL,
  spool_path text NOT NULL,
  owner_node text NOT NULL,
  owner_instance text NOT NULL,
  epoch bigint NOT NULL,
  state text NOT NULL DEFAULT 'held',
  expires_at timestamptz NOT NULL,
  renewed_at timestamptz NOT NULL,
  changed_at timestamptz NOT NULL
);`;

type Db = pg.Pool | pg.PoolClient | pg.Client;

export const ensureLeaseSchema = (pool: pg.Pool): Promise<void> => ensureSchema(pool, 'spool-leases', DDL);

/** PostgreSQL takes a TTL as an interval from milliseconds. */
const TTL = (param: number) => `make_interval(secs => $${param}::double precision / 1000)`;

interface RawLease {
  spool_id: string;
  home_node: string;
  owner_node: string;
  owner_instance: string;
  epoch: string;
  state: string;
  expires_at: Date;
  owner_alive?: boolean;
}

const toRow = (r: RawLease): LeaseRow => ({
  spoolId: r.spool_id,
  homeNode: r.home_node,
  ownerNode: r.owner_node,
  ownerInstance: r.owner_instance,
  epoch: Number(r.epoch),
  state: r.state === 'released' ? 'released' : 'held',
  expiresAt: r.expires_at.getTime(),
});

/** The database's clock and uptime, read at the start of every lease round. */
export async function dbClock(db: Db): Promise<{ now: number; postmasterStart: number }> {
  const r = await db.query<{ now: Date; pm: Date }>('SELECT now() AS now, pg_postmaster_start_time() AS pm');
  return { now: r.rows[0]!.now.getTime(), postmasterStart: r.rows[0]!.pm.getTime() };
}

/**
 * A spool's lease, and whether its holder's registry row still shows heartbeats (the second
 * witness: a lease past its expiry whose holder still beats is left alone).
 */
export async function readLease(db: Db, spoolId: string, ttlMs: number): Promise<{ row: LeaseRow; ownerAlive: boolean } | null> {
  const r = await db.query<RawLease>(
    `SELECT l.*, EXISTS (SELECT 1 FROM cluster_nodes n WHERE n.node_id = l.owner_node AND n.instance_id = l.owner_instance
        AND n.state = 'running' AND n.last_heartbeat > now() - ${TTL(2)}) AS owner_alive
     FROM spool_leases l WHERE l.spool_id = $1`,
    [spoolId, ttlMs],
  );
  const raw = r.rows[0];
  return raw ? { row: toRow(raw), ownerAlive: raw.owner_alive === true } : null;
}

export interface Holder {
  node: string;
  instance: string;
  ttlMs: number;
}

/** The first lease of a spool; null: someone inserted it first (read it again). */
export async function insertLease(db: Db, spoolId: string, spoolPath: string, h: Holder): Promise<LeaseRow | null> {
  const r = await db.query<RawLease>(
    `INSERT INTO spool_leases (spool_id, home_node, spool_path, owner_node, owner_instance, epoch, state, expires_at, renewed_at, changed_at)
     VALUES ($1, $3, $5, $3, $4, 1, 'held', now() + ${TTL(2)}, now(), now()) ON CONFLICT (spool_id) DO NOTHING RETURNING *`,
    [spoolId, h.ttlMs, h.node, h.instance, spoolPath],
  );
  return r.rows[0] ? toRow(r.rows[0]) : null;
}

/**
 * Takes the lease from the epoch the caller saw. `adopt`: only while it is still expired and the
 * database has been up a full TTL (checked again here, on the database's clock, not just by the
 * caller's earlier read); home: also makes the caller the spool's home.
 */
export async function takeLease(db: Db, spoolId: string, seenEpoch: number, h: Holder, how: { adopt: true } | { adopt: false; spoolPath: string }): Promise<LeaseRow | null> {
  const r = how.adopt
    ? await db.query<RawLease>(
        `UPDATE spool_leases SET owner_node = $3, owner_instance = $4, epoch = epoch + 1, expires_at = now() + ${TTL(5)}, renewed_at = now(), changed_at = now()
         WHERE spool_id = $1 AND epoch = $2 AND state = 'held' AND expires_at < now() AND pg_postmaster_start_time() < now() - ${TTL(5)}
         RETURNING *`,
        [spoolId, seenEpoch, h.node, h.instance, h.ttlMs],
      )
    : await db.query<RawLease>(
        `UPDATE spool_leases SET home_node = $3, spool_path = $6, owner_node = $3, owner_instance = $4, epoch = epoch + 1, state = 'held',
           expires_at = now() + ${TTL(5)}, renewed_at = now(), changed_at = now()
         WHERE spool_id = $1 AND epoch = $2 RETURNING *`,
        [spoolId, seenEpoch, h.node, h.instance, h.ttlMs, how.spoolPath],
      );
  return r.rows[0] ? toRow(r.rows[0]) : null;
}

/** Extends a lease we hold; null: it is no longer ours (a newer epoch, or handed back). */
export async function renewLease(db: Db, spoolId: string, epoch: number, h: Holder): Promise<number | null> {
  const r = await db.query<{ expires_at: Date }>(
    `UPDATE spool_leases SET expires_at = now() + ${TTL(4)}, renewed_at = now()
     WHERE spool_id = $1 AND epoch = $2 AND owner_instance = $3 AND state = 'held' RETURNING expires_at`,
    [spoolId, epoch, h.instance, h.ttlMs],
  );
  return r.rows[0] ? r.rows[0].expires_at.getTime() : null;
}

/** Ends a lease we hold now (an adopter's clean stop), so it need not be waited out. */
export async function expireLease(db: Db, spoolId: string, epoch: number, h: Holder): Promise<void> {
  await db.query(`UPDATE spool_leases SET expires_at = now() WHERE spool_id = $1 AND epoch = $2 AND owner_instance = $3 AND state = 'held'`, [spoolId, epoch, h.instance]);
}

/**
 * Hands an adopted spool back to its home node (`sluice cluster release-spool`): a new epoch, so
 * the adopter's next renewal fails and it lets go; state released, so no other adopter takes it
 * while its home node is on its way back. null: no such lease, or it is already home.
 */
export async function releaseLease(db: Db, spoolId: string): Promise<LeaseRow | null> {
  const r = await db.query<RawLease>(
    `UPDATE spool_leases SET owner_node = home_node, owner_instance = '', epoch = epoch + 1, state = 'released', expires_at = now(), changed_at = now()
     WHERE spool_id = $1 AND (owner_node <> home_node OR state = 'released') RETURNING *`,
    [spoolId],
  );
  return r.rows[0] ? toRow(r.rows[0]) : null;
}

export interface LeaseListing extends LeaseRow {
  spoolPath: string;
}

export async function listLeases(db: Db): Promise<LeaseListing[]> {
  const r = await db.query<RawLease & { spool_path: string }>('SELECT * FROM spool_leases ORDER BY spool_id');
  return r.rows.map((raw) => ({ ...toRow(raw), spoolPath: raw.spool_path }));
}

/** For a DbView: the clock read plus this replica's reach. */
export const dbView = (clock: { now: number; postmasterStart: number }, reachableSince: number, ttlMs: number): DbView => ({ ...clock, reachableSince, ttlMs });
