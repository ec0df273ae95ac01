// The cluster's PostgreSQL connection: one pg Pool per daemon, shared by the trace store, the
// quarantine and the spool lease. Short timeouts, because a database outage must never hold up
// SMTP: every caller has a local fallback (the outbox, the last good copy, the lease's last
// renewal) and would rather fail fast into it than wait.
import pg from 'pg';
import type { Logger } from '../observe/log.js';

export interface PgOptions {
  url: string;
  /** For pg_stat_activity: which replica holds the connection. */
  nodeId: string;
  log: Logger;
  max?: number;
}

export function openPg(o: PgOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: o.url,
    application_name: `sluice:${o.nodeId}`,
    max: o.max ?? 6,
    connectionTimeoutMillis: 2_000,
    idleTimeoutMillis: 30_000,
    // A statement that takes longer than this is treated as an outage by its caller.
    statement_timeout: 10_000,
    query_timeout: 12_000,
  });
  // An idle client losing its server emits here; unhandled, it would crash the daemon.
  pool.on('error', (err) => o.log.debug({ stage: 'cluster', engine: 'postgres', err: err.message }, 'idle PostgreSQL connection lost'));
  return pool;
}

/**
 * Creates a module's tables once per database: each module names its schema part and gives
 * idempotent DDL (CREATE … IF NOT EXISTS). An advisory lock keeps two replicas that start
 * together from racing on the same DDL.
 */
export async function ensureSchema(pool: pg.Pool, part: string, ddl: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`sluice-schema:${part}`]);
    try {
      await client.query(ddl);
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`sluice-schema:${part}`]);
    }
  } finally {
    client.release();
  }
}
