// The queue tools' changes as one pure table (admin-ops.ts), and proof that both paths apply that
// same table: the offline tool (applyOffline, no daemon) and the daemon's queue manager leave the
// same record on disk for hold, release, retry and bounce.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { adminChange, ADMIN_BOUNCE_ERROR, type AdminOp } from '../../src/queue/admin-ops.js';
import { applyOffline } from '../../src/queue/offline.js';
import { FileSpool } from '../../src/queue/file-spool.js';
import { QueueManager, type DestinationDeliverer } from '../../src/queue/scheduler.js';
import type { RcptState, SpoolRecord } from '../../src/queue/record.js';
import { buildModel } from '../helpers/model-builder.js';
import { ManualClock } from '../helpers/manual-clock.js';

const T0 = Date.UTC(2026, 0, 1);
const NOW = T0 + 60_000;
const log = pino({ level: 'silent' });

function rcpt(address: string, status: RcptState['status'] = 'pending'): RcptState {
  return { address, route: { kind: 'connector', connector: 'To on-prem', rule: 'allAcceptedDomains' }, status, attempts: 1, lastError: '4.2.0 busy', lastHost: null, updatedAt: T0 };
}
function record(status: SpoolRecord['status']): SpoolRecord {
  return {
    v: 1, id: 'ABC', receivedAt: T0, sessionId: 's', client: { ip: '', helo: '', tls: false, inbound: null, matchedBy: null },
    mailFrom: '', size: 0, status, attempts: 1, nextAttemptAt: T0 + 3_600_000, rcpts: [rcpt('a@contoso.com', 'delivered'), rcpt('b@contoso.com')],
  };
}

const rows: { name: string; op: AdminOp; status: SpoolRecord['status']; expect: (c: ReturnType<typeof adminChange>) => void }[] = [
  { name: 'retry makes an active message due now', op: 'retry', status: 'active', expect: (c) => assert.deepEqual(c, { kind: 'reschedule', at: NOW }) },
  { name: 'retry refuses a held message', op: 'retry', status: 'hold', expect: (c) => assert.equal(c.kind === 'refuse' && c.code, 'E_ON_HOLD') },
  { name: 'hold marks an active message held', op: 'hold', status: 'active', expect: (c) => assert.equal(c.kind === 'update' && c.record.status, 'hold') },
  { name: 'hold leaves a held message as it is', op: 'hold', status: 'hold', expect: (c) => assert.deepEqual(c, { kind: 'unchanged' }) },
  { name: 'release makes a held message active and due now', op: 'release', status: 'hold', expect: (c) => assert.deepEqual(c.kind === 'update' && [c.record.status, c.record.nextAttemptAt, c.finish], ['active', NOW, false]) },
  { name: 'release leaves an active message as it is', op: 'release', status: 'active', expect: (c) => assert.deepEqual(c, { kind: 'unchanged' }) },
  { name: 'delete removes the message', op: 'delete', status: 'hold', expect: (c) => assert.deepEqual(c, { kind: 'remove' }) },
  {
    name: 'bounce fails only the pending recipients and leaves the rest of the work to the queue',
    op: 'bounce',
    status: 'hold',
    expect: (c) => {
      assert.ok(c.kind === 'update' && c.finish);
      assert.deepEqual(c.record.rcpts.map((r) => [r.status, r.lastError]), [['delivered', '4.2.0 busy'], ['failed', ADMIN_BOUNCE_ERROR]]);
      assert.deepEqual([c.record.status, c.record.nextAttemptAt], ['active', NOW]);
    },
  },
];
for (const row of rows) test(row.name, () => row.expect(adminChange(row.op, record(row.status), NOW)));

test('adminChange never changes the record it is given', () => {
  for (const op of ['retry', 'hold', 'release', 'delete', 'bounce'] as const) {
    const rec = record('active');
    const copy = structuredClone(rec);
    adminChange(op, rec, NOW);
    assert.deepEqual(rec, copy, op);
  }
});

/** Holds every delivery until the test has compared the records, then delivers nothing. */
function gated(): { deliverer: DestinationDeliverer; open: () => void } {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  return { deliverer: { deliverGroup: async () => (await gate, []), downUntil: () => null }, open };
}

async function spoolWith(rec: SpoolRecord): Promise<FileSpool> {
  const spool = new FileSpool(await mkdtemp(path.join(tmpdir(), 'sluice-admin-')), log);
  await spool.open();
  const w = await spool.create(rec.id);
  await w.write(Buffer.from('Subject: x\r\n\r\nbody\r\n'));
  await w.commit({ ...rec, size: w.bytes });
  return spool;
}

for (const [op, status] of [['hold', 'active'], ['release', 'hold']] as const) {
  test(`${op}: the daemon and the offline tool leave the same record`, async () => {
    const offline = await spoolWith(record(status));
    await applyOffline(offline, { op, id: 'ABC' }, NOW);
    const daemonSpool = await spoolWith(record(status));
    const clock = new ManualClock(NOW);
    const { deliverer, open } = gated();
    const q = new QueueManager(daemonSpool, deliverer, () => buildModel(), log, clock);
    q.start();
    await q.recover();
    assert.equal(await q[op]('ABC'), true);
    const a = await offline.readRecord('ABC');
    const b = await daemonSpool.readRecord('ABC');
    open();
    await q.stop();
    assert.deepEqual({ ...b, size: 0 }, { ...a, size: 0 });
    assert.equal(b?.status, op === 'hold' ? 'hold' : 'active');
  });
}

test('bounce: offline marks the recipients failed and the daemon finishes it at start exactly as a live bounce', async () => {
  const offline = await spoolWith(record('active'));
  await applyOffline(offline, { op: 'bounce', id: 'ABC' }, NOW);
  const live = await spoolWith(record('active'));
  for (const [spool, run] of [
    [offline, (q: QueueManager) => q.recover()],
    [live, async (q: QueueManager) => (await q.recover(), await q.bounce('ABC'))],
  ] as const) {
    const { deliverer, open } = gated();
    open();
    const q = new QueueManager(spool, deliverer, () => buildModel(), log, new ManualClock(NOW));
    q.start();
    await run(q);
    await q.settled();
    await q.stop();
  }
  const a = await offline.readRecord('ABC', 'failed');
  const b = await live.readRecord('ABC', 'failed');
  assert.ok(a && b, 'both in failed/');
  assert.deepEqual({ ...b, size: 0 }, { ...a, size: 0 });
  assert.deepEqual(b.rcpts.map((r) => [r.status, r.lastError]), [['delivered', '4.2.0 busy'], ['failed', ADMIN_BOUNCE_ERROR]]);
  assert.equal(await offline.readRecord('ABC'), null);
});
