// The embedded message trace store: one SQLite file (WAL, so `sluice trace` reads while the
// daemon writes), indexed by time, sender, recipient, Message-ID and queue id. Synchronous
// better-sqlite3 calls: the daemon runs it in a worker thread (trace-worker.ts), the CLI reads it.
import Database from 'better-sqlite3';
import { rowsOf, type TimedEvent, type TraceQuery, type TraceRow, type TraceStore } from './trace-store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  kind TEXT NOT NULL,
  queue_id TEXT,
  session_id TEXT,
  message_id TEXT,
  sender TEXT NOT NULL,
  recipient TEXT NOT NULL,
  subject TEXT,
  size INTEGER,
  client_ip TEXT,
  inbound TEXT,
  outbound TEXT,
  rule TEXT,
  remote_host TEXT,
  remote_ip TEXT,
  reply TEXT,
  reason TEXT,
  extra TEXT
);
CREATE INDEX IF NOT EXISTS events_time ON events (time);
CREATE INDEX IF NOT EXISTS events_sender ON events (sender COLLATE NOCASE, time);
CREATE INDEX IF NOT EXISTS events_recipient ON events (recipient COLLATE NOCASE, time);
CREATE INDEX IF NOT EXISTS events_message_id ON events (message_id);
CREATE INDEX IF NOT EXISTS events_queue_id ON events (queue_id);
`;

const COLUMNS =
  'time, kind, queue_id, session_id, message_id, sender, recipient, subject, size, client_ip, inbound, outbound, rule, remote_host, remote_ip, reply, reason, extra';
const DEFAULT_LIMIT = 1_000;
const WRITER_CACHE_KIB = 64 * 1024;
/** Rows deleted per statement while pruning, so a large prune never holds the write lock long. */
const PRUNE_CHUNK = 10_000;

interface DbRow {
  time: number;
  kind: TraceRow['kind'];
  queue_id: string | null;
  session_id: string | null;
  message_id: string | null;
  sender: string;
  recipient: string;
  subject: string | null;
  size: number | null;
  client_ip: string | null;
  inbound: string | null;
  outbound: string | null;
  rule: string | null;
  remote_host: string | null;
  remote_ip: string | null;
  reply: string | null;
  reason: string | null;
  extra: string | null;
}

const fromDb = (r: DbRow): TraceRow => ({
  time: r.time,
  kind: r.kind,
  queueId: r.queue_id,
  sessionId: r.session_id,
  messageId: r.message_id,
  sender: r.sender,
  recipient: r.recipient,
  subject: r.subject,
  size: r.size,
  clientIp: r.client_ip,
  inbound: r.inbound,
  outbound: r.outbound,
  rule: r.rule,
  remoteHost: r.remote_host,
  remoteIp: r.remote_ip,
  reply: r.reply,
  reason: r.reason,
  extra: r.extra === null ? null : (JSON.parse(r.extra) as TraceRow['extra']),
});

export class SqliteTraceStore implements TraceStore {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement | null;
  private readonly insertMany: ((rows: TraceRow[]) => void) | null;

  constructor(
    file: string,
    private readonly opts: { readonly?: boolean; includeSubject?: boolean } = {},
  ) {
    this.db = new Database(file, { readonly: opts.readonly === true, fileMustExist: opts.readonly === true });
    if (opts.readonly) {
      this.insert = null;
      this.insertMany = null;
      return;
    }
    this.db.pragma('journal_mode = WAL');
    // WAL with synchronous=NORMAL stays consistent after a crash; the trace may lose its last batch, never a message.
    this.db.pragma('synchronous = NORMAL');
    // Index pages of a large trace stay in memory: inserts touch five B-trees at random places.
    this.db.pragma(`cache_size = -${WRITER_CACHE_KIB}`);
    this.db.exec(SCHEMA);
    this.insert = this.db.prepare(`INSERT INTO events (${COLUMNS}) VALUES (${COLUMNS.split(', ').map(() => '?').join(', ')})`);
    const insert = this.insert;
    this.insertMany = this.db.transaction((rows: TraceRow[]) => {
      for (const r of rows) {
        insert.run(
          r.time, r.kind, r.queueId, r.sessionId, r.messageId, r.sender, r.recipient, r.subject, r.size, r.clientIp,
          r.inbound, r.outbound, r.rule, r.remoteHost, r.remoteIp, r.reply, r.reason, r.extra === null ? null : JSON.stringify(r.extra),
        );
      }
    });
  }

  /** Synchronous: the worker thread calls it directly. */
  writeSync(batch: readonly TimedEvent[]): number {
    if (!this.insertMany) throw new Error('the trace store is open read-only');
    const rows = batch.flatMap((e) => rowsOf(e, this.opts.includeSubject !== false));
    this.insertMany(rows);
    return rows.length;
  }

  async write(batch: readonly TimedEvent[]): Promise<void> {
    this.writeSync(batch);
  }

  querySync(q: TraceQuery): TraceRow[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.sender !== undefined) (where.push('sender = ? COLLATE NOCASE'), args.push(q.sender));
    if (q.recipient !== undefined) (where.push('recipient = ? COLLATE NOCASE'), args.push(q.recipient));
    if (q.messageId !== undefined) (where.push('message_id = ?'), args.push(q.messageId.replace(/^<|>$/g, '')));
    if (q.since !== undefined) (where.push('time >= ?'), args.push(q.since));
    if (q.until !== undefined) (where.push('time <= ?'), args.push(q.until));
    const cond = where.length ? `WHERE ${where.join(' AND ')}` : '';
    // The matching messages first (newest first, bounded), then every row of each of them.
    const keys = this.db
      .prepare(`SELECT queue_id, session_id, MAX(time) AS t FROM events ${cond} GROUP BY queue_id, CASE WHEN queue_id IS NULL THEN session_id END ORDER BY t DESC LIMIT ?`)
      .all(...args, q.limit ?? DEFAULT_LIMIT) as { queue_id: string | null; session_id: string | null }[];
    const byQueue = this.db.prepare(`SELECT ${COLUMNS} FROM events WHERE queue_id = ? ORDER BY time, id`);
    // A refusal before DATA has no queue id: its session's rows that match stand for it.
    const bySession = this.db.prepare(`SELECT ${COLUMNS} FROM events WHERE queue_id IS NULL AND session_id IS ? ${where.length ? `AND ${where.join(' AND ')}` : ''} ORDER BY time, id`);
    const out: TraceRow[] = [];
    for (const k of keys) {
      const rows = (k.queue_id !== null ? byQueue.all(k.queue_id) : bySession.all(k.session_id, ...args)) as DbRow[];
      for (const r of rows) out.push(fromDb(r));
    }
    return out;
  }

  async query(q: TraceQuery): Promise<TraceRow[]> {
    return this.querySync(q);
  }

  async details(queueId: string): Promise<TraceRow[]> {
    return (this.db.prepare(`SELECT ${COLUMNS} FROM events WHERE queue_id = ? ORDER BY time, id`).all(queueId) as DbRow[]).map(fromDb);
  }

  pruneSync(before: number): number {
    const del = this.db.prepare('DELETE FROM events WHERE id IN (SELECT id FROM events WHERE time < ? LIMIT ?)');
    let total = 0;
    for (;;) {
      const n = del.run(before, PRUNE_CHUNK).changes;
      total += n;
      if (n < PRUNE_CHUNK) return total;
    }
  }

  async prune(before: number): Promise<number> {
    return this.pruneSync(before);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
