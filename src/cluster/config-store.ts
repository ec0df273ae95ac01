// The config_versions table: one row per pushed configuration, never updated. A push inserts and
// notifies in one transaction (PostgreSQL delivers NOTIFY at commit), so a replica that hears
// the notification always finds the row.
import type pg from 'pg';
import { ensureSchema } from './pg.js';
import type { ConfigVersion } from './config-merge.js';

export const CONFIG_CHANNEL = 'sluice_config';

const DDL = `
CREATE TABLE IF NOT EXISTS config_versions (
  id         bigserial PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  pushed_by  text NOT NULL,
  sha256     text NOT NULL,
  yaml       text NOT NULL
);`;

type Queryable = Pick<pg.Pool, 'query'>;

interface Row {
  id: string;
  created_at: Date;
  pushed_by: string;
  sha256: string;
  yaml: string;
}

const COLUMNS = 'id, created_at, pushed_by, sha256, yaml';
const version = (r: Row): ConfigVersion => ({ id: Number(r.id), createdAt: r.created_at.toISOString(), pushedBy: r.pushed_by, sha256: r.sha256, yaml: r.yaml });

export const ensureConfigSchema = (pool: pg.Pool): Promise<void> => ensureSchema(pool, 'config', DDL);

export async function newestVersion(db: Queryable): Promise<ConfigVersion | null> {
  const r = await db.query<Row>(`SELECT ${COLUMNS} FROM config_versions ORDER BY id DESC LIMIT 1`);
  return r.rows[0] ? version(r.rows[0]) : null;
}

export async function versionById(db: Queryable, id: number): Promise<ConfigVersion | null> {
  const r = await db.query<Row>(`SELECT ${COLUMNS} FROM config_versions WHERE id = $1`, [id]);
  return r.rows[0] ? version(r.rows[0]) : null;
}

/** Newest first, without the documents. */
export async function listVersions(db: Queryable, limit = 50): Promise<Omit<ConfigVersion, 'yaml'>[]> {
  const r = await db.query<Row>(`SELECT id, created_at, pushed_by, sha256, '' AS yaml FROM config_versions ORDER BY id DESC LIMIT $1`, [limit]);
  return r.rows.map((row) => {
    const { yaml: _, ...v } = version(row);
    return v;
  });
}

export async function insertVersion(pool: pg.Pool, v: Pick<ConfigVersion, 'pushedBy' | 'sha256' | 'yaml'>): Promise<ConfigVersion> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const r = await client.query<Row>(`INSERT INTO config_versions (pushed_by, sha256, yaml) VALUES ($1, $2, $3) RETURNING ${COLUMNS}`, [v.pushedBy, v.sha256, v.yaml]);
    const row = version(r.rows[0]!);
    await client.query('SELECT pg_notify($1, $2)', [CONFIG_CHANNEL, String(row.id)]);
    await client.query('COMMIT');
    return row;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
