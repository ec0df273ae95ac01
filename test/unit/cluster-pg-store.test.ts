// The pure parts of the shared trace and quarantine (cluster mode): day partition names and
// ranges, which partitions a batch needs and which retention drops, the outbox's batches and
// retry delays, the insert's column arrays (one row per recipient, past-retention events left
// out) and the query's conditions, and the quarantine's body chunking.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { DAY_MS, partitionOf, partitionStart, partitionsAround, partitionsNeeded, partitionsToDrop, pastRetention } from '../../src/cluster/trace-partitions.js';
import { insertArrays, traceConditions, traceQuerySql } from '../../src/cluster/pg-trace-store.js';
import { batchOf, DRAIN_BATCH, nextDrainDelay } from '../../src/cluster/trace-outbox.js';
import { chunked } from '../../src/cluster/pg-quarantine.js';
import type { TimedEvent } from '../../src/observe/trace-store.js';

const D1 = Date.UTC(2026, 11, 1);
const H = 3_600_000;

describe('trace day partitions', () => {
  const cases: { name: string; time: number; expected: { name: string; from: number; to: number } }[] = [
    { name: 'midnight belongs to its own day', time: D1, expected: { name: 'trace_events_p20261201', from: D1, to: D1 + DAY_MS } },
    { name: 'the last millisecond of a day stays in it', time: D1 + DAY_MS - 1, expected: { name: 'trace_events_p20261201', from: D1, to: D1 + DAY_MS } },
    { name: 'a new year rolls the name over', time: Date.UTC(2026, 11, 31, 23, 59), expected: { name: 'trace_events_p20261231', from: Date.UTC(2026, 11, 31), to: Date.UTC(2027, 0, 1) } },
    { name: 'a leap day has its partition', time: Date.UTC(2028, 1, 29, 12), expected: { name: 'trace_events_p20280229', from: Date.UTC(2028, 1, 29), to: Date.UTC(2028, 2, 1) } },
  ];
  for (const c of cases) test(c.name, () => assert.deepEqual(partitionOf(c.time), c.expected));

  test('a partition name gives back its day; names not ours give null', () => {
    assert.equal(partitionStart('trace_events_p20261201'), D1);
    for (const bad of ['trace_events', 'trace_events_p20261301', 'trace_events_p20260230', 'other_p20261201', 'trace_events_p2026120']) assert.equal(partitionStart(bad), null, bad);
  });

  test('yesterday, today and two days ahead are kept created', () => {
    assert.deepEqual(partitionsAround(D1 + 5 * H).map((p) => p.name), ['trace_events_p20261130', 'trace_events_p20261201', 'trace_events_p20261202', 'trace_events_p20261203']);
  });

  test('a batch needs only the days not known yet, oldest first, each once', () => {
    const known = new Set(['trace_events_p20261201']);
    const needed = partitionsNeeded([D1 + H, D1 + 2 * DAY_MS, D1 - H, D1 + 2 * DAY_MS + H], known);
    assert.deepEqual(needed.map((p) => p.name), ['trace_events_p20261130', 'trace_events_p20261203']);
  });

  const retention: { name: string; now: number; retentionMs: number; expected: string[] }[] = [
    { name: 'a day goes when its last instant is older than the retention', now: D1 + 3 * DAY_MS, retentionMs: 2 * DAY_MS, expected: ['trace_events_p20261130', 'trace_events_p20261201'] },
    { name: 'a day partly inside the retention stays', now: D1 + 3 * DAY_MS - 1, retentionMs: 2 * DAY_MS, expected: ['trace_events_p20261130'] },
    { name: 'nothing goes while every day is young', now: D1, retentionMs: 90 * DAY_MS, expected: [] },
  ];
  const names = ['trace_events_p20261130', 'trace_events_p20261201', 'trace_events_p20261202', 'trace_events_p20261203', 'trace_events_default', 'unrelated'];
  for (const c of retention) test(`retention: ${c.name}`, () => assert.deepEqual(partitionsToDrop(names, c.now, c.retentionMs), c.expected));

  test('an event past the retention is not inserted (its day would be dropped at once)', () => {
    assert.equal(pastRetention(D1, D1 + 3 * DAY_MS, 2 * DAY_MS), true);
    assert.equal(pastRetention(D1 + DAY_MS, D1 + 3 * DAY_MS, 2 * DAY_MS), false);
  });
});

const ev = (e: Partial<TimedEvent> & Pick<TimedEvent, 'kind'>): TimedEvent => ({ queueId: 'Q1', sender: 'bob@fabrikam.com', recipients: ['a@contoso.com'], time: D1 + H, ...e });

describe('outbox batches and the insert', () => {
  test('a drain takes whole outbox batches up to the event cap, ids and order keys per event', () => {
    const row = (id: number, n: number) => ({ id, batch_id: `b${id}`, n, body: JSON.stringify(Array.from({ length: n }, (_, i) => ev({ kind: 'RECEIVE', queueId: `Q${id}.${i}` }))) });
    const b = batchOf([row(1, 2), row(2, 1), row(5, 3)], 4);
    assert.equal(b.lastId, 2);
    assert.equal(b.rows, 2);
    assert.deepEqual(b.entries.map((e) => [e.ord, e.eventId, e.event.queueId]), [[65_536, 'b1:0', 'Q1.0'], [65_537, 'b1:1', 'Q1.1'], [131_072, 'b2:0', 'Q2.0']]);
    const big = batchOf([row(3, 6), row(4, 1)], 4);
    assert.deepEqual([big.rows, big.entries.length, big.lastId], [1, 6, 3], 'the first batch goes whole even past the cap');
    assert.deepEqual(batchOf([]), { entries: [], lastId: 0, rows: 0 });
  });

  const delays: { name: string; input: Parameters<typeof nextDrainDelay>[0]; expected: number }[] = [
    { name: 'a full batch drains again at once', input: { failed: false, full: true, lastDelayMs: 0 }, expected: 0 },
    { name: 'a short batch waits the idle interval', input: { failed: false, full: false, lastDelayMs: 4_000 }, expected: 200 },
    { name: 'the first failure waits the minimum', input: { failed: true, full: false, lastDelayMs: 0 }, expected: 500 },
    { name: 'failures double the wait', input: { failed: true, full: false, lastDelayMs: 1_000 }, expected: 2_000 },
    { name: 'the wait is capped', input: { failed: true, full: false, lastDelayMs: 4_000 }, expected: 5_000 },
  ];
  for (const c of delays) test(`drain delay: ${c.name}`, () => assert.equal(nextDrainDelay(c.input), c.expected));

  test('DRAIN_BATCH is bounded', () => assert.ok(DRAIN_BATCH > 0 && DRAIN_BATCH <= 1_000));

  test('one row per recipient, numbered within the event, with node id and event id; old events left out', () => {
    const entries = [
      { ord: 7, eventId: 'id-1', event: ev({ kind: 'RECEIVE', recipients: ['a@contoso.com', 'b@contoso.com'], subject: 'Hi', detail: { tls: true } }) },
      { ord: 8, eventId: 'id-2', event: ev({ kind: 'REJECT', queueId: null, recipients: [], sessionId: 'S1' }) },
      { ord: 9, eventId: 'id-3', event: ev({ kind: 'DELIVER', time: D1 - 10 * DAY_MS }) },
    ];
    const out = insertArrays(entries, { nodeId: 'node-a', includeSubject: false, now: D1 + 2 * H, retentionMs: 5 * DAY_MS });
    assert.equal(out.rows, 3);
    assert.deepEqual(out.times, [D1 + H, D1 + H]);
    const [time, eventId, seq, node, ord, kind, queueId, sessionId, , , recipient, subject] = out.columns;
    assert.deepEqual(eventId, ['id-1', 'id-1', 'id-2']);
    assert.deepEqual(seq, [0, 1, 0]);
    assert.deepEqual(node, ['node-a', 'node-a', 'node-a']);
    assert.deepEqual(ord, [7, 7, 8]);
    assert.deepEqual(kind, ['RECEIVE', 'RECEIVE', 'REJECT']);
    assert.deepEqual(queueId, ['Q1', 'Q1', null]);
    assert.deepEqual(sessionId, [null, null, 'S1']);
    assert.deepEqual(recipient, ['a@contoso.com', 'b@contoso.com', '']);
    assert.deepEqual(subject, [null, null, null], 'the subject is left out unless kept');
    assert.deepEqual(time, [D1 + H, D1 + H, D1 + H]);
    assert.equal(out.columns.at(-1)![0], JSON.stringify({ detail: { tls: true } }));
  });
});

describe('trace query', () => {
  test('conditions are case-insensitive on addresses, strip <> from a Message-ID, and number their placeholders', () => {
    const c = traceConditions({ sender: 'Bob@Fabrikam.com', messageId: '<m1@x>', since: 5, until: 9 });
    assert.deepEqual(c.where, ['lower(sender) = lower($1)', 'message_id = $2', 'time >= $3', 'time <= $4']);
    assert.deepEqual(c.args, ['Bob@Fabrikam.com', 'm1@x', 5, 9]);
  });

  test('the query bounds the messages and repeats the conditions for refusals without a queue id', () => {
    const q = traceQuerySql({ recipient: 'a@contoso.com', limit: 10 });
    assert.deepEqual(q.args, ['a@contoso.com', 10]);
    assert.match(q.sql, /LIMIT \$2/);
    assert.match(q.sql, /AND lower\(e\.recipient\) = lower\(\$1\)/);
    assert.deepEqual(traceQuerySql({}).args, [1_000]);
  });
});

describe('quarantine body chunks', () => {
  const sizes = async (parts: number[], size: number) => {
    const out: number[] = [];
    for await (const c of chunked(Readable.from(parts.map((n) => Buffer.alloc(n, 1))), size)) out.push(c.length);
    return out;
  };
  const cases: { name: string; parts: number[]; size: number; expected: number[] }[] = [
    { name: 'small writes are joined up to the chunk size', parts: [3, 3, 3], size: 4, expected: [4, 4, 1] },
    { name: 'a large write is split', parts: [10], size: 4, expected: [4, 4, 2] },
    { name: 'an exact multiple leaves no empty chunk', parts: [4, 4], size: 4, expected: [4, 4] },
    { name: 'an empty body has no chunk', parts: [], size: 4, expected: [] },
  ];
  for (const c of cases) test(c.name, async () => assert.deepEqual(await sizes(c.parts, c.size), c.expected));
});

describe('trace rows from PostgreSQL', () => {
  test('bigint columns become numbers, columns camel-cased, ordering columns left out', async () => {
    const { fromDb } = await import('../../src/cluster/pg-trace-store.js');
    const row = fromDb({ time: '1796135137426', kind: 'DELIVER', queue_id: 'Q1', session_id: null, message_id: 'm@x', sender: 's@x', recipient: 'r@x', subject: null, size: '165', client_ip: null, inbound: null, outbound: 'To on-prem', rule: null, remote_host: 'h', remote_ip: '127.0.0.1', reply: '250 OK', reason: null, extra: { detail: { a: 1 } }, node_id: 'node-b', m_t: '1', ord: '3', seq: 0 });
    assert.equal(row.time, 1796135137426);
    assert.equal(row.size, 165);
    assert.equal(row.queueId, 'Q1');
    assert.equal(row.remoteIp, '127.0.0.1');
    assert.equal(row.nodeId, 'node-b');
    assert.deepEqual(row.extra, { detail: { a: 1 } });
    assert.equal('ord' in row || 'm_t' in row || 'seq' in row, false);
  });
});
