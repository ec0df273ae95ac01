// The shared message trace: the TraceStore interface on PostgreSQL, for cluster mode. One
// append-only table partitioned by UTC day on the event time (ms); retention drops whole
// partitions, never deletes rows. Each row carries the replica's node id and an event id, and an
// insert of a row already there does nothing, so the outbox (trace-outbox.ts) may resend a batch
// after a failure without writing an event twice. Query semantics are the SQLite store's.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { rowsOf, type TimedEvent, type TraceQuery, type TraceRow, type TraceStore } from '../observe/trace-store.js';
import { ensureSchema } from './pg.js';
import { PARTITION_PREFIX, partitionDdl, partitionsAround, partitionsNeeded, partitionsToDrop, pastRetention, type Partition } from './trace-partitions.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS trace_events (
  time bigint NOT NULL,
  event_id text NOT NULL,
  seq integer NOT NULL,
  node_id text NOT NULL,
  ord bigint NOT NULL,
  kind text NOT NULL,
  queue_id text,
  session_id text,
  message_id text,
  sender text NOT NULL,
  recipient text NOT NULL,
  subject text,
  size bigint,
  client_ip text,
  inbound text,
  outbound text,
  rule text,
  remote_host text,
  remote_ip text,
  reply text,
  reason text,
  extra jsonb,
  PRIMARY KEY (time, event_id, seq)
) PARTITION BY RANGE (time);
CREATE INDEX IF NOT EXISTS trace_events_sender ON trace_events (lower(sender), time);
CREATE INDEX IF NOT EXISTS trace_events_recipient ON trace_events (lower(recipient), time);
CREATE INDEX IF NOT EXISTS trace_events_message_id ON trace_events (message_id);
CREATE INDEX IF NOT EXISTS trace_events_queue_id ON trace_events (queue_id);
CREATE INDEX IF NOT EXISTS trace_events_session_id ON trace_events (session_id) WHERE queue_id IS NULL;
`;

const DEFAULT_LIMIT = 1_000;
/** SQLSTATEs of an insert into a missing table (42P01) or with no partition for its rows (23514). */
const MISSING_RELATION = ['42P01', '23514'];
const COLUMNS =
  'time, kind, queue_id, session_id, message_id, sender, recipient, subject, size, client_ip, inbound, outbound, rule, remote_host, remote_ip, reply, reason, extra, node_id';
/** The insert's columns and their array types, in unnest order. */
const INSERT_COLUMNS: readonly (readonly [string, string])[] = [
  ['time', 'bigint'], ['event_id', 'text'], ['seq', 'integer'], ['node_id', 'text'], ['ord', 'bigint'], ['kind', 'text'],
  ['queue_id', 'text'], ['session_id', 'text'], ['message_id', 'text'], ['sender', 'text'], ['recipient', 'text'],
  ['subject', 'text'], ['size', 'bigint'], ['client_ip', 'text'], ['inbound', 'text'], ['outbound', 'text'], ['rule', 'text'],
  ['remote_host', 'text'], ['remote_ip', 'text'], ['reply', 'text'], ['reason', 'text'], ['extra', 'jsonb'],
];
const INSERT_SQL =
  `INSERT INTO trace_events (${INSERT_COLUMNS.map(([c]) => c).join(', ')}) ` +
  `SELECT * FROM unnest(${INSERT_COLUMNS.map(([, t], i) => `$${i + 1}::${t}[]`).join(', ')}) ON CONFLICT DO NOTHING`;

/** One event as the outbox hands it over: its id (the idempotency key) and local order. */
export interface OutboxEntry {
  readonly ord: number;
  readonly eventId: string;
  readonly event: TimedEvent;
}

type Cell = string | number | null;

/**
 * The insert's parameters: one array per column (unnest), one element per recipient row. Rows
 * past the retention are left out; `times` are the event times kept, for the partitions needed.
 */
export function insertArrays(entries: readonly OutboxEntry[], o: { nodeId: string; includeSubject: boolean; now: number; retentionMs: number }): { columns: Cell[][]; rows: number; times: number[] } {
  const columns: Cell[][] = INSERT_COLUMNS.map(() => []);
  const times: number[] = [];
  let rows = 0;
  for (const { ord, eventId, event } of entries) {
    if (pastRetention(event.time, o.now, o.retentionMs)) continue;
    times.push(event.time);
    rowsOf(event, o.includeSubject).forEach((r, seq) => {
      const cells: Cell[] = [
        r.time, eventId, seq, o.nodeId, ord, r.kind, r.queueId, r.sessionId, r.messageId, r.sender, r.recipient, r.subject, r.size,
        r.clientIp, r.inbound, r.outbound, r.rule, r.remoteHost, r.remoteIp, r.reply, r.reason, r.extra === null ? null : JSON.stringify(r.extra),
      ];
      cells.forEach((c, i) => columns[i]!.push(c));
      rows++;
    });
  }
  return { columns, rows, times };
}

/** The WHERE conditions of a trace query, with `$n` placeholders numbered from `first`. */
export function traceConditions(q: TraceQuery, first = 1): { where: string[]; args: (string | number)[] } {
  const where: string[] = [];
  const args: (string | number)[] = [];
  const add = (sql: (p: string) => string, v: string | number) => {
    args.push(v);
    where.push(sql(`$${first + args.length - 1}`));
  };
  if (q.sender !== undefined) add((p) => `lower(sender) = lower(${p})`, q.sender);
  if (q.recipient !== undefined) add((p) => `lower(recipient) = lower(${p})`, q.recipient);
  if (q.messageId !== undefined) add((p) => `message_id = ${p}`, q.messageId.replace(/^<|>$/g, ''));
  if (q.since !== undefined) add((p) => `time >= ${p}`, q.since);
  if (q.until !== undefined) add((p) => `time <= ${p}`, q.until);
  return { where, args };
}

/**
 * The matching messages (newest first, bounded), then every row of each: all of a queue id's
 * rows, or for a refusal before DATA (no queue id) its session's matching rows.
 */
export function traceQuerySql(q: TraceQuery): { sql: string; args: (string | number)[] } {
  const { where, args } = traceConditions(q);
  const cond = where.length ? `WHERE ${where.join(' AND ')}` : '';
  const also = where.map((w) => `AND ${w.replace(/\b(sender|recipient|message_id|time)\b/g, 'e.$1')}`).join(' ');
  const limit = `$${args.length + 1}`;
  const cols = COLUMNS.split(', ').map((c) => `e.${c}`).join(', ');
  const sql = `WITH m AS (
  SELECT queue_id, CASE WHEN queue_id IS NULL THEN session_id END AS sid, max(time) AS t
  FROM trace_events ${cond} GROUP BY 1, 2 ORDER BY t DESC LIMIT ${limit})
SELECT ${cols}, m.t AS m_t, e.ord, e.seq FROM m JOIN trace_events e ON e.queue_id = m.queue_id
UNION ALL
SELECT ${cols}, m.t AS m_t, e.ord, e.seq FROM m JOIN trace_events e ON m.queue_id IS NULL AND e.queue_id IS NULL AND e.session_id IS NOT DISTINCT FROM m.sid ${also}
ORDER BY m_t DESC, queue_id, session_id, time, node_id, ord, seq`;
  return { sql, args: [...args, q.limit ?? DEFAULT_LIMIT] };
}

/** A stored row; `nodeId` names the replica that wrote it. */
export type PgTraceRow = TraceRow & { nodeId: string };

const camel = (col: string) => col.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const OUTPUT_COLUMNS = COLUMNS.split(', ').map((c) => [c, camel(c)] as const);

/** pg returns bigint as text and jsonb parsed; the query's ordering columns are left out. */
export function fromDb(r: Record<string, unknown>): PgTraceRow {
  const out = Object.fromEntries(OUTPUT_COLUMNS.map(([c, k]) => [k, r[c] ?? null])) as unknown as PgTraceRow;
  out.time = Number(r.time);
  out.size = r.size === null || r.size === undefined ? null : Number(r.size);
  return out;
}

export interface PgTraceStoreOptions {
  pool: pg.Pool;
  nodeId: string;
  includeSubject: boolean;
  retentionMs: number;
  now?: () => number;
}

export class PgTraceStore implements TraceStore {
  private schemaReady = false;
  /** Partitions this process created or saw: only new days cost a DDL round trip. */
  private readonly known = new Set<string>();
  private ord = 0;

  constructor(private readonly o: PgTraceStoreOptions) {}

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  /** Creates the table (once per process, lazily: the database may be down at start). */
  private async ready(): Promise<void> {
    if (this.schemaReady) return;
    await ensureSchema(this.o.pool, 'trace', SCHEMA);
    this.schemaReady = true;
    await this.createPartitions(partitionsAround(this.now()));
  }

  private async createPartitions(parts: readonly Partition[]): Promise<void> {
    const missing = parts.filter((p) => !this.known.has(p.name));
    if (!missing.length) return;
    await ensureSchema(this.o.pool, 'trace-partitions', missing.map(partitionDdl).join('\n'));
    for (const p of missing) this.known.add(p.name);
  }

  /** Idempotent: an entry whose event id is stored already is skipped. Resolves with the rows sent. */
  async insert(entries: readonly OutboxEntry[]): Promise<number> {
    await this.ready();
    const { columns, rows, times } = insertArrays(entries, { nodeId: this.o.nodeId, includeSubject: this.o.includeSubject, now: this.now(), retentionMs: this.o.retentionMs });
    if (!rows) return 0;
    await this.createPartitions(partitionsNeeded(times, this.known));
    try {
      await this.o.pool.query(INSERT_SQL, columns);
    } catch (err) {
      // The table or a partition is gone (a database restored or recreated, a day dropped by
      // another replica's retention): forget what we knew, so the next try creates them again.
      if (MISSING_RELATION.includes((err as { code?: string }).code ?? '')) (this.schemaReady = false), this.known.clear();
      throw err;
    }
    return rows;
  }

  /** One round trip: whether the database answers. */
  async ping(): Promise<void> {
    await this.o.pool.query('SELECT 1');
  }

  async write(batch: readonly TimedEvent[]): Promise<void> {
    await this.insert(batch.map((event) => ({ ord: ++this.ord, eventId: randomUUID(), event })));
  }

  async query(q: TraceQuery): Promise<PgTraceRow[]> {
    await this.ready();
    const { sql, args } = traceQuerySql(q);
    return (await this.o.pool.query(sql, args)).rows.map(fromDb);
  }

  async details(queueId: string): Promise<PgTraceRow[]> {
    await this.ready();
    const r = await this.o.pool.query(`SELECT ${COLUMNS} FROM trace_events WHERE queue_id = $1 ORDER BY time, node_id, ord, seq`, [queueId]);
    return r.rows.map(fromDb);
  }

  /** Keeps the days ahead created and drops whole days older than `before`; resolves with the rows dropped. */
  async prune(before: number): Promise<number> {
    await this.ready();
    const now = this.now();
    await this.createPartitions(partitionsAround(now));
    const r = await this.o.pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'trace_events' AND c.relname LIKE $1`,
      [`${PARTITION_PREFIX}%`],
    );
    const drop = partitionsToDrop(r.rows.map((x) => x.name), now, now - before);
    let dropped = 0;
    for (const name of drop) {
      // Names come from partitionsToDrop, which accepts only trace_events_pYYYYMMDD.
      const n = await this.o.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${name}`).catch(() => ({ rows: [{ n: '0' }] }));
      await ensureSchema(this.o.pool, 'trace-partitions', `DROP TABLE IF EXISTS ${name};`);
      this.known.delete(name);
      dropped += Number(n.rows[0]?.n ?? 0);
    }
    return dropped;
  }

  /** The pool belongs to the cluster (or the CLI that opened it). */
  async close(): Promise<void> {}
}
