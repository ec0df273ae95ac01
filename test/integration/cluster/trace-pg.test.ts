// The shared message trace over real engines: two Sluice replicas (child processes, own spools)
// share one throw-away PostgreSQL and one recording smart host. `sluice trace` on replica A sees
// replica B's mail; with PostgreSQL stopped under bounded traffic SMTP keeps answering 250 and
// delivering, the outbox holds the events (named in /readyz), and after the restart it drains with
// every event stored exactly once (rows counted per queue id against what the host received).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { runCli, type SluiceProcess } from '../../helpers/sluice.js';
import { adminGet } from '../../helpers/admin-http.js';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PgTraceStore } from '../../../src/cluster/pg-trace-store.js';
import { DAY_MS, partitionOf } from '../../../src/cluster/trace-partitions.js';
import { SqliteTraceStore } from '../../../src/observe/sqlite-trace-store.js';
import type { TimedEvent, TraceQuery } from '../../../src/observe/trace-store.js';
import { CLUSTER_WAIT_MS, sendVia, startTwoReplicas, subjectOf, until, type TwoReplicas } from '../../helpers/cluster-replicas.js';

const OUTAGE_MESSAGES = 20;
/** A 250 while the database is down must come as fast as without it (connect timeout is 2 s). */
const MAX_SEND_MS = 1_500;

let cluster: TwoReplicas;
let a: SluiceProcess;
let b: SluiceProcess;

before(async () => {
  cluster = await startTwoReplicas();
  ({ a, b } = cluster);
});

after(async () => {
  await cluster?.stop();
});

interface Row {
  subject: string | null;
  status: string;
  queueId: string | null;
  recipient: string;
}

async function traceOn(r: SluiceProcess, args: string[]): Promise<Row[]> {
  const out = await runCli(['trace', '--config', r.configPath, '--json', ...args]);
  assert.equal(out.code, 0, out.stderr);
  return out.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row);
}

async function db<T extends pg.QueryResultRow>(sql: string, args: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: cluster.postgres.url });
  await c.connect();
  try {
    return (await c.query<T>(sql, args)).rows;
  } finally {
    await c.end();
  }
}

test('sluice trace on replica A shows the message that went through replica B, with its node id stored', async () => {
  await sendVia(a, 'via-a', 'alice@contoso.com');
  await sendVia(b, 'via-b', 'bob@contoso.com');
  const row = await until('B\'s message Delivered in A\'s trace', async () => {
    const rows = await traceOn(a, ['--recipient', 'bob@contoso.com']);
    return rows.find((x) => x.subject === 'via-b' && x.status === 'Delivered') ?? null;
  });
  assert.ok(row.queueId);
  const both = await traceOn(b, ['--sender', 'sender@fabrikam.com']);
  assert.deepEqual(new Set(both.map((x) => x.subject)), new Set(['via-a', 'via-b']));
  const nodes = await db<{ node_id: string }>('SELECT DISTINCT node_id FROM trace_events WHERE queue_id = $1', [row.queueId]);
  assert.deepEqual(nodes.map((n) => n.node_id), ['node-b']);
  const details = await runCli(['trace', '--config', a.configPath, '--details', row.queueId!]);
  assert.equal(details.code, 0, details.stderr);
  assert.match(details.stdout, /bob@contoso\.com: Delivered/);
});

test('PostgreSQL stopped under traffic: 250 and delivery go on, the outbox drains after the restart, every event once', async () => {
  const before = cluster.host.messages.length;
  await cluster.postgres.stop();
  const subjects: string[] = [];
  for (let i = 0; i < OUTAGE_MESSAGES; i++) {
    const subject = `outage-${i}`;
    const started = Date.now();
    const r = await sendVia(i % 2 ? b : a, subject, `rcpt${i}@contoso.com`);
    assert.match(r.response, /^250 /);
    assert.ok(Date.now() - started < MAX_SEND_MS, `send ${i} took ${Date.now() - started} ms while PostgreSQL was down`);
    subjects.push(subject);
  }
  const delivered = await cluster.host.waitFor(before + OUTAGE_MESSAGES, CLUSTER_WAIT_MS);
  assert.equal(delivered.filter((m) => subjects.includes(subjectOf(m.raw) ?? '')).length, OUTAGE_MESSAGES);
  for (const r of [a, b]) {
    const ready = await until(`${r.port}: readyz names the outbox`, async () => {
      const res = await adminGet(r.adminPort!, '/readyz');
      return /outbox: [1-9]\d* events pending/.test(res.body) ? res : null;
    });
    assert.equal(ready.status, 200);
  }
  await cluster.postgres.start();
  // Each outage message: one RECEIVE and one DELIVER row, no more, once the outboxes drained.
  const counts = await until('the outboxes drained', async () => {
    const rows = await db<{ subject: string; queue_id: string; kind: string; n: string }>(
      `SELECT r.subject, e.queue_id, e.kind, count(*) AS n FROM trace_events e
       JOIN (SELECT DISTINCT queue_id, subject FROM trace_events WHERE kind = 'RECEIVE' AND subject LIKE 'outage-%') r ON r.queue_id = e.queue_id
       GROUP BY 1, 2, 3`,
    ).catch(() => []);
    const delivers = rows.filter((x) => x.kind === 'DELIVER');
    return delivers.length === OUTAGE_MESSAGES ? rows : null;
  });
  const bySubject = new Map<string, Record<string, number>>();
  for (const r of counts) bySubject.set(r.subject, { ...bySubject.get(r.subject), [r.kind]: Number(r.n) });
  assert.equal(bySubject.size, OUTAGE_MESSAGES);
  for (const s of subjects) assert.deepEqual(bySubject.get(s), { RECEIVE: 1, DELIVER: 1 }, s);
  for (const r of [a, b]) {
    await until(`${r.port}: readyz no longer degraded`, async () => {
      const res = await adminGet(r.adminPort!, '/readyz');
      return res.body.includes('outbox') ? null : res;
    });
    assert.equal(r.logs.filter((l) => l.msg === 'postgres unreachable: trace events wait in the local outbox, quarantined mail stays in the local spool').length, 1);
  }
});

test('the PostgreSQL store answers queries as the SQLite store does, and retention drops whole old days', async () => {
  const now = Date.now();
  // Two days back: the replicas' own mail in this database stays out of the time-range query.
  const base = now - 2 * DAY_MS;
  const old = now - 10 * DAY_MS;
  const ev = (e: Partial<TimedEvent> & Pick<TimedEvent, 'kind'>): TimedEvent => ({ queueId: 'SQ1', sender: 'bob@fabrikam.com', recipients: ['a@contoso.com'], time: base - 5_000, ...e });
  const events: TimedEvent[] = [
    ev({ kind: 'RECEIVE', recipients: ['a@contoso.com', 'b@contoso.com'], messageId: 'same-1@x', subject: 'Hi' }),
    ev({ kind: 'DELIVER', time: base - 4_000, outbound: 'To on-prem' }),
    ev({ kind: 'DEFER', time: base - 3_000, recipients: ['b@contoso.com'], reply: '450 4.2.1 busy' }),
    ev({ kind: 'RECEIVE', queueId: 'SQ2', sender: 'Eve@Example.org', time: base - 2_000 }),
    ev({ kind: 'REJECT', queueId: null, sessionId: 'S9', sender: 'spam@example.net', recipients: ['x@contoso.com'], reply: '550 5.1.1 unknown', time: base - 1_000 }),
    ev({ kind: 'RECEIVE', queueId: 'SQ3', time: old }),
  ];
  const lite = new SqliteTraceStore(path.join(await mkdtemp(path.join(tmpdir(), 'sluice-trace-cmp-')), 'trace.db'));
  const pool = new pg.Pool({ connectionString: cluster.postgres.url });
  const shared = new PgTraceStore({ pool, nodeId: 'cmp', includeSubject: true, retentionMs: 30 * DAY_MS });
  try {
    await lite.write(events);
    await shared.write(events);
    const queries: TraceQuery[] = [
      { recipient: 'B@CONTOSO.COM' },
      { sender: 'eve@example.org' },
      { messageId: '<same-1@x>' },
      { sender: 'spam@example.net' },
      { since: base - 2_500, until: base },
      { sender: 'bob@fabrikam.com', limit: 1 },
    ];
    const plain = (rows: { nodeId?: string }[]) => rows.map(({ nodeId: _n, ...r }) => r);
    for (const q of queries) assert.deepEqual(plain(await shared.query(q)), await lite.query(q), JSON.stringify(q));
    assert.deepEqual(plain(await shared.details('SQ1')), await lite.details('SQ1'));
    // Retention: the old day's partition goes whole, today's stays.
    const dropped = await new PgTraceStore({ pool, nodeId: 'cmp', includeSubject: true, retentionMs: 5 * DAY_MS }).prune(now - 5 * DAY_MS);
    assert.ok(dropped >= 1, `rows dropped: ${dropped}`);
    const parts = await pool.query<{ relname: string }>("SELECT relname FROM pg_class WHERE relname = $1 OR relname = $2", [partitionOf(old).name, partitionOf(now).name]);
    assert.deepEqual(parts.rows.map((r) => r.relname), [partitionOf(now).name]);
    assert.deepEqual(await shared.details('SQ3'), []);
  } finally {
    await lite.close();
    await pool.end();
  }
});
