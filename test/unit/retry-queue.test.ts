// The queue manager's failure paths with a scripted deliverer and a real spool in a temp dir:
// failAndBounce (the admin tools' entry point) fails pending recipients, queues one DSN from <>
// and moves the original to failed/; a null sender gets none; unknown ids answer false.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { buffer } from 'node:stream/consumers';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { QueueManager, type DestinationDeliverer } from '../../src/queue/scheduler.js';
import { FileSpool } from '../../src/queue/file-spool.js';
import type { SpoolRecord } from '../../src/queue/record.js';
import type { RcptOutcome } from '../../src/delivery/deliver.js';
import { buildModel } from '../helpers/model-builder.js';

const log = pino({ level: 'silent' });
const model = buildModel({ outboundConnectors: [{ name: 'To on-prem', allAcceptedDomains: true, smartHosts: ['127.0.0.1:1'] }] });

/** Delivers nothing: every recipient of every message (the DSN too) is deferred with a 450. */
const deferAll: DestinationDeliverer = {
  async deliverGroup(_rec: SpoolRecord, _body, group): Promise<RcptOutcome[]> {
    return group.rcpts.map((address) => ({
      address,
      connector: 'To on-prem',
      host: '127.0.0.1:1',
      outcome: { action: 'defer', rule: '4xx-at-RCPT TO', status: '4.2.0', diagnostic: '450 4.2.0 busy' },
    }));
  },
  downUntil: () => null,
};

async function setup(mailFrom: string): Promise<{ q: QueueManager; spool: FileSpool; id: string }> {
  const spool = new FileSpool(await mkdtemp(path.join(tmpdir(), 'sluice-q-')), log);
  await spool.open();
  const q = new QueueManager(spool, deferAll, () => model, log);
  q.start();
  const id = spool.newId();
  const now = Date.now();
  const rec: SpoolRecord = {
    v: 1,
    id,
    receivedAt: now,
    sessionId: 's1',
    client: { ip: '127.0.0.2', helo: 'x', tls: false, inbound: null, matchedBy: null },
    mailFrom,
    size: 0,
    status: 'active',
    attempts: 0,
    nextAttemptAt: now,
    rcpts: ['a@contoso.com', 'b@contoso.com'].map((address) => ({
      address,
      route: { kind: 'connector', connector: 'To on-prem', rule: 'allAcceptedDomains' },
      status: 'pending' as const,
      attempts: 0,
      lastError: null,
      lastHost: null,
      updatedAt: now,
    })),
  };
  const body = await spool.create(id);
  const raw = Buffer.from('Subject: held mail\r\nMessage-ID: <m@x>\r\n\r\nbody\r\n');
  await body.write(raw);
  rec.size = raw.length;
  await body.commit(rec);
  q.enqueue(rec);
  return { q, spool, id };
}

/** The records the spool lists in one area. */
async function listed(spool: FileSpool, area: 'queue' | 'failed'): Promise<SpoolRecord[]> {
  const out: SpoolRecord[] = [];
  for await (const r of spool.list(area)) out.push(r);
  return out;
}

test('failAndBounce fails the pending recipients, queues one DSN from <> to the sender and keeps the original in failed/', async () => {
  const { q, spool, id } = await setup('john@contoso.com');
  try {
    assert.equal(await q.failAndBounce(id, 'Bounced by administrator (queue bounce)'), true);
    const failed = (await spool.readRecord(id, 'failed'))!;
    assert.equal(failed.status, 'failed');
    assert.deepEqual(
      failed.rcpts.map((r) => [r.status, r.lastError, r.notified]),
      [
        ['failed', '5.0.0 Bounced by administrator (queue bounce)', true],
        ['failed', '5.0.0 Bounced by administrator (queue bounce)', true],
      ],
    );
    const queued = await listed(spool, 'queue');
    assert.equal(queued.length, 1, 'one DSN in the queue');
    const dsn = queued[0]!;
    assert.equal(dsn.mailFrom, '');
    assert.deepEqual(dsn.rcpts.map((r) => [r.address, r.route.connector]), [['john@contoso.com', 'To on-prem']]);
    const text = (await buffer(spool.body(dsn))).toString('utf8');
    assert.match(text, /^Subject: Undeliverable: held mail$/m);
    assert.match(text, /Final-Recipient: rfc822; a@contoso\.com\r\nAction: failed\r\nStatus: 5\.0\.0\r\n/);
    assert.match(text, /Diagnostic-Code: X-Sluice; Bounced by administrator/);
    assert.match(text, /Final-Recipient: rfc822; b@contoso\.com/);
    assert.equal(text.match(/^X-Sluice-Queue-ID: /gm)?.length, 1, 'one report for the message');
  } finally {
    await q.stop();
  }
});

test('failAndBounce on a null-sender message queues no DSN', async () => {
  const { q, spool, id } = await setup('');
  try {
    assert.equal(await q.failAndBounce(id, 'gone'), true);
    assert.deepEqual(await listed(spool, 'queue'), [], 'nothing queued');
    assert.deepEqual((await listed(spool, 'failed')).map((r) => r.id), [id]);
  } finally {
    await q.stop();
  }
});

test('failAndBounce answers false for an id that is not queued', async () => {
  const { q } = await setup('john@contoso.com');
  try {
    assert.equal(await q.failAndBounce('0123456789ABCDEF', 'x'), false);
  } finally {
    await q.stop();
  }
});
