// The shared quarantine for cluster mode: index rows and message bodies (bytea chunks) in
// PostgreSQL, so `sluice quarantine list/show/release/delete` works from any replica. A replica
// quarantines into its own spool first (the 250 never waits on the network) and copies each held
// message up, removing the local copy only after the COMMIT; with the database down the message
// stays in the local quarantine and goes up when it returns. A release takes the row lock, writes
// the message into the releasing replica's spool, then marks the row released in the same
// transaction: exactly one replica delivers it, a second release answers E_ALREADY_RELEASED.
import type pg from 'pg';
import { parseHeaderBlock } from '../filters/header-block.js';
import { headerText, HEADER_READ_LIMIT_BYTES } from '../queue/scan.js';
import type { Spool } from '../queue/spool.js';
import type { SpoolRecord } from '../queue/record.js';
import { releaseChange, type RouteOf } from '../queue/quarantine-ops.js';
import type { EngineState } from './engine-state.js';
import { ensureSchema } from './pg.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS quarantine_messages (
  id text PRIMARY KEY,
  node_id text NOT NULL,
  record jsonb NOT NULL,
  type text NOT NULL,
  sender text NOT NULL,
  recipients text[] NOT NULL,
  subject text,
  headers text,
  size bigint NOT NULL,
  received_at bigint NOT NULL,
  quarantined_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  released_at bigint,
  released_by text,
  queued_as text
);
CREATE INDEX IF NOT EXISTS quarantine_messages_held ON quarantine_messages (quarantined_at) WHERE released_at IS NULL;
CREATE INDEX IF NOT EXISTS quarantine_messages_expires ON quarantine_messages (expires_at);
CREATE TABLE IF NOT EXISTS quarantine_chunks (
  id text NOT NULL REFERENCES quarantine_messages (id) ON DELETE CASCADE,
  n integer NOT NULL,
  data bytea NOT NULL,
  PRIMARY KEY (id, n)
);
`;

/** Body chunk size in the database: large enough for few rows, small enough to stream. */
export const CHUNK_BYTES = 256 * 1024;
/** Chunks fetched per round trip when a body is read back. */
const CHUNKS_PER_READ = 8;

export type SharedError = { ok: false; code: 'E_NOT_FOUND' | 'E_BAD_REQUEST' | 'E_ALREADY_RELEASED' | 'E_POSTGRES_DOWN'; error: string };
export type SharedRelease = { ok: true; held: SpoolRecord; queued: SpoolRecord; remaining: SpoolRecord | null } | SharedError;

export interface HeldRow {
  record: SpoolRecord;
  subject: string | null;
  headers: string | null;
  nodeId: string;
}

/** Splits a stream into CHUNK_BYTES pieces (the last one shorter). */
export async function* chunked(stream: AsyncIterable<Buffer>, size = CHUNK_BYTES): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let have = 0;
  for await (const b of stream) {
    let buf = b;
    while (have + buf.length >= size) {
      const take = size - have;
      parts.push(buf.subarray(0, take));
      yield Buffer.concat(parts);
      buf = buf.subarray(take);
      parts = [];
      have = 0;
    }
    if (buf.length) (parts.push(buf), (have += buf.length));
  }
  if (have) yield Buffer.concat(parts);
}

const alreadyReleased = (id: string, r: { released_by: string | null; released_at: string | null; queued_as: string | null }): SharedError => ({
  ok: false,
  code: 'E_ALREADY_RELEASED',
  error: `quarantine: ${id} was already released by ${r.released_by} at ${new Date(Number(r.released_at)).toISOString()}${r.queued_as ? ` (queued there as ${r.queued_as})` : ''}`,
});

export interface PgQuarantineOptions {
  pool: pg.Pool;
  nodeId: string;
  /** The daemon's view of PostgreSQL (the CLI has none). */
  state?: EngineState | null;
}

export class PgQuarantine {
  private schemaReady = false;

  constructor(private readonly o: PgQuarantineOptions) {}

  private async ready(): Promise<void> {
    if (this.schemaReady) return;
    await ensureSchema(this.o.pool, 'quarantine', SCHEMA);
    this.schemaReady = true;
  }

  /** Runs `task`, telling the engine state; a database error becomes E_POSTGRES_DOWN. */
  private async guarded<T>(task: () => Promise<T>): Promise<T | SharedError> {
    try {
      await this.ready();
      const out = await task();
      this.o.state?.markUp();
      return out;
    } catch (err) {
      if (!isDbError(err)) throw err;
      this.o.state?.markDown(err);
      return { ok: false, code: 'E_POSTGRES_DOWN', error: `quarantine: the shared quarantine (PostgreSQL) is unreachable: ${(err as Error).message}` };
    }
  }

  /**
   * Copies every message of the local quarantine up and removes each local copy after its COMMIT.
   * A message already there (a crash between the COMMIT and the removal) is only removed locally.
   * Resolves with how many moved; stops at the first database error (the rest waits locally).
   */
  async upload(spool: Spool): Promise<number | SharedError> {
    const held: SpoolRecord[] = [];
    for await (const rec of spool.list('quarantine')) if (rec.quarantine) held.push(rec);
    // Nothing held here: no round trip, so nothing to say about the database either.
    if (!held.length) return 0;
    return this.guarded(async () => {
      let n = 0;
      for (const rec of held) {
        await this.uploadOne(spool, rec);
        await spool.removeQuarantined(rec.id);
        n++;
      }
      return n;
    });
  }

  private async uploadOne(spool: Spool, rec: SpoolRecord): Promise<void> {
    const q = rec.quarantine!;
    const head = await spool.readHead(rec, HEADER_READ_LIMIT_BYTES, 'quarantine').catch(() => null);
    const subject = head ? (parseHeaderBlock(head).fields.find((h) => h.name.toLowerCase() === 'subject')?.value ?? null) : null;
    const c = await this.o.pool.connect();
    try {
      await c.query('BEGIN');
      const ins = await c.query(
        `INSERT INTO quarantine_messages (id, node_id, record, type, sender, recipients, subject, headers, size, received_at, quarantined_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO NOTHING`,
        [rec.id, this.o.nodeId, JSON.stringify(rec), q.type, rec.mailFrom, rec.rcpts.map((r) => r.address), subject, headerText(head), rec.size, rec.receivedAt, q.quarantinedAt, q.expiresAt],
      );
      if (ins.rowCount === 1) {
        let i = 0;
        for await (const chunk of chunked(spool.received(rec, 'quarantine') as AsyncIterable<Buffer>)) {
          await c.query('INSERT INTO quarantine_chunks (id, n, data) VALUES ($1, $2, $3)', [rec.id, i++, chunk]);
        }
      }
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  /** Held (not released) messages, newest first. */
  async list(): Promise<HeldRow[] | SharedError> {
    return this.guarded(async () => {
      const r = await this.o.pool.query<{ record: SpoolRecord; subject: string | null; headers: string | null; node_id: string }>(
        'SELECT record, subject, headers, node_id FROM quarantine_messages WHERE released_at IS NULL ORDER BY quarantined_at DESC',
      );
      return r.rows.map((x) => ({ record: x.record, subject: x.subject, headers: x.headers, nodeId: x.node_id }));
    });
  }

  async get(id: string): Promise<HeldRow | null | SharedError> {
    return this.guarded(async () => {
      const r = await this.o.pool.query<{ record: SpoolRecord; subject: string | null; headers: string | null; node_id: string }>(
        'SELECT record, subject, headers, node_id FROM quarantine_messages WHERE id = $1 AND released_at IS NULL',
        [id],
      );
      const x = r.rows[0];
      return x ? { record: x.record, subject: x.subject, headers: x.headers, nodeId: x.node_id } : null;
    });
  }

  /** The message exactly as received, streamed from its chunks (a few per round trip). */
  async *body(id: string, client: pg.Pool | pg.PoolClient = this.o.pool): AsyncGenerator<Buffer> {
    for (let n = 0; ; n += CHUNKS_PER_READ) {
      const r = await client.query<{ data: Buffer }>('SELECT data FROM quarantine_chunks WHERE id = $1 AND n >= $2 AND n < $3 ORDER BY n', [id, n, n + CHUNKS_PER_READ]);
      for (const row of r.rows) yield row.data;
      if (r.rows.length < CHUNKS_PER_READ) return;
    }
  }

  /**
   * Takes a held message into `spool` (this replica's) for the named recipients (null: all). The
   * row stays locked from the read until the COMMIT that marks it released, so two replicas
   * releasing at once deliver it once; the spool copy is removed again if that COMMIT fails.
   */
  async release(id: string, recipients: readonly string[] | null, d: { spool: Spool; routeOf: RouteOf; now: number }): Promise<SharedRelease> {
    return this.guarded(async (): Promise<SharedRelease> => {
      const c = await this.o.pool.connect();
      try {
        await c.query('BEGIN');
        const r = await c.query<{ record: SpoolRecord; released_at: string | null; released_by: string | null; queued_as: string | null }>(
          'SELECT record, released_at, released_by, queued_as FROM quarantine_messages WHERE id = $1 FOR UPDATE',
          [id],
        );
        const row = r.rows[0];
        const refusal: SharedError | null = !row ? { ok: false, code: 'E_NOT_FOUND', error: `quarantine: no message ${id}` } : row.released_at !== null ? alreadyReleased(id, row) : null;
        const change = row && !refusal ? releaseChange(row.record, recipients, d.routeOf, d.now, () => d.spool.newId()) : null;
        if (!row || refusal || !change || change.kind === 'refuse') {
          await c.query('ROLLBACK');
          return refusal ?? (change?.kind === 'refuse' ? { ok: false, code: change.code, error: change.error } : { ok: false, code: 'E_NOT_FOUND', error: `quarantine: no message ${id}` });
        }
        const { queued, remaining } = change;
        const w = await d.spool.create(queued.id);
        try {
          for await (const chunk of this.body(id, c)) await w.write(chunk);
        } catch (err) {
          await w.abort();
          throw err;
        }
        await w.commit(queued, 'queue');
        try {
          if (remaining) {
            await c.query('UPDATE quarantine_messages SET record = $2, recipients = $3 WHERE id = $1', [id, JSON.stringify(remaining), remaining.rcpts.map((x) => x.address)]);
          } else {
            await c.query('UPDATE quarantine_messages SET released_at = $2, released_by = $3, queued_as = $4 WHERE id = $1', [id, d.now, this.o.nodeId, queued.id]);
            // The row stays (until its retention) to answer a second release; the body goes now.
            await c.query('DELETE FROM quarantine_chunks WHERE id = $1', [id]);
          }
        } catch (err) {
          // Not committed, and now it cannot be: the copy goes, the message stays held.
          await d.spool.remove(queued.id).catch(() => undefined);
          throw err;
        }
        await this.commitOrKeep(c, id, queued, d.spool);
        return { ok: true, held: row.record, queued, remaining };
      } catch (err) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        c.release();
      }
    });
  }

  /**
   * A COMMIT that fails may still have happened (the answer was lost). The spool copy goes only
   * when the row shows it did not; when that cannot be read either the copy stays queued: a
   * possible second delivery is better than a lost message.
   */
  private async commitOrKeep(c: pg.PoolClient, id: string, queued: SpoolRecord, spool: Spool): Promise<void> {
    try {
      await c.query('COMMIT');
      return;
    } catch (err) {
      const r = await this.o.pool.query<{ queued_as: string | null; recipients: string[] }>('SELECT queued_as, recipients FROM quarantine_messages WHERE id = $1', [id]).catch(() => null);
      if (!r) return; // unknown: keep the copy (see above); the caller reports success
      const row = r.rows[0];
      const committed = row ? row.queued_as === queued.id || !queued.rcpts.some((q) => row.recipients.includes(q.address)) : false;
      if (!committed) {
        await spool.remove(queued.id).catch(() => undefined);
        throw err;
      }
    }
  }

  async delete(id: string): Promise<{ ok: true; held: SpoolRecord } | SharedError> {
    return this.guarded(async (): Promise<{ ok: true; held: SpoolRecord } | SharedError> => {
      const r = await this.o.pool.query<{ record: SpoolRecord }>('DELETE FROM quarantine_messages WHERE id = $1 AND released_at IS NULL RETURNING record', [id]);
      if (r.rows[0]) return { ok: true, held: r.rows[0].record };
      const was = await this.o.pool.query<{ released_at: string | null; released_by: string | null; queued_as: string | null }>('SELECT released_at, released_by, queued_as FROM quarantine_messages WHERE id = $1', [id]);
      return was.rows[0] ? alreadyReleased(id, was.rows[0]) : { ok: false, code: 'E_NOT_FOUND', error: `quarantine: no message ${id}` };
    });
  }

  /** Rows past their retention go (released ones too); resolves with the held ones that expired. */
  async sweep(now: number): Promise<SpoolRecord[] | SharedError> {
    return this.guarded(async () => {
      const r = await this.o.pool.query<{ record: SpoolRecord; released_at: string | null }>('DELETE FROM quarantine_messages WHERE expires_at <= $1 RETURNING record, released_at', [now]);
      return r.rows.filter((x) => x.released_at === null).map((x) => x.record);
    });
  }
}

export const isSharedError = (v: unknown): v is SharedError => typeof v === 'object' && v !== null && (v as { ok?: unknown }).ok === false;

/** pg's server errors carry a SQLSTATE; a lost or refused connection a Node errno or pg's own text. */
function isDbError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; severity?: unknown; path?: unknown } | null;
  if (!e) return false;
  if (typeof e.severity === 'string') return true; // a server error (pg's DatabaseError)
  // A socket errno (ECONNREFUSED, ENOENT for a missing unix socket), not a file's (those carry `path`).
  if (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) return e.path === undefined;
  return typeof e.message === 'string' && /connection|timeout|terminat/i.test(e.message);
}
