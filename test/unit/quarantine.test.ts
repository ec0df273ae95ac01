// The quarantine on a real file spool in a temp dir: commit into held/, release (all, partial,
// unknown recipient), delete, the retention sweep with a clock, the omitted ranges read back,
// held mail surviving the spool's start-up migration, and quarantine.retention's bounds.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import pino from 'pino';
import { FileSpool } from '../../src/queue/file-spool.js';
import { Quarantine } from '../../src/queue/quarantine.js';
import { releaseChange } from '../../src/queue/quarantine-ops.js';
import type { SpoolRecord } from '../../src/queue/record.js';
import { ConfigError, formatIssues, loadConfigText } from '../../src/config/load.js';
import type { Model } from '../../src/domain/model.js';
import { testRecord } from '../helpers/spool-files.js';

const log = pino({ level: 'silent' });

const BASE = `server:
  hostname: gw.example.test
  listen: [{ host: 127.0.0.1, port: 2525 }]
  tls: { cert: certs/server.crt, key: certs/server.key, clientCa: [certs/ca.crt] }
`;

function parseConfigText(yaml: string): { ok: true; model: Model } | { ok: false; error: string } {
  try {
    return { ok: true, model: loadConfigText(BASE + yaml + '\n', 'test.yaml') };
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, error: formatIssues(err.issues) };
    throw err;
  }
}
const DAY_MS = 86_400_000;
const BODY = Buffer.from('X-Secret: 1\r\nSubject: held\r\n\r\nbody\r\n');
const route = (address: string) => ({ kind: 'connector', connector: `for ${address.split('@')[1]}`, rule: 'test' });

function heldRecord(id: string, rcpts: string[], now: number): SpoolRecord {
  const base = testRecord(id, BODY.length, { now });
  return {
    ...base,
    rcpts: rcpts.map((address) => ({ ...base.rcpts[0]!, address })),
    quarantine: { filter: 'av', stage: 'malware', type: 'Malware', reason: 'EICAR', quarantinedAt: now, expiresAt: now + 15 * DAY_MS },
  };
}

async function spoolWithHeld(rcpts: string[], now = Date.now()) {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-q-'));
  const spool = new FileSpool(dir, log);
  await spool.open();
  const id = spool.newId();
  const w = await spool.create(id);
  await w.write(BODY);
  await w.commit(heldRecord(id, rcpts, now), 'quarantine');
  return { dir, spool, id };
}

describe('release as a pure change', () => {
  const held = heldRecord('0000000000AAHELD', ['a@contoso.com', 'b@contoso.com'], 1_000);
  test('all recipients: the held id goes to the queue, re-routed, pending, without the quarantine mark', () => {
    const c = releaseChange(held, null, route, 2_000, () => 'NEW');
    assert.equal(c.kind, 'release');
    if (c.kind !== 'release') return;
    assert.equal(c.queued.id, held.id);
    assert.equal(c.remaining, null);
    assert.equal(c.queued.quarantine, undefined);
    assert.deepEqual(c.queued.rcpts.map((r) => [r.address, r.route.connector, r.status]), [['a@contoso.com', 'for contoso.com', 'pending'], ['b@contoso.com', 'for contoso.com', 'pending']]);
    assert.equal(c.queued.nextAttemptAt, 2_000);
  });
  test('named recipients (any case): a copy for them, the rest stays held', () => {
    const c = releaseChange(held, ['B@contoso.com'], route, 2_000, () => 'NEW');
    assert.ok(c.kind === 'release');
    if (c.kind !== 'release') return;
    assert.equal(c.queued.id, 'NEW');
    assert.deepEqual(c.queued.rcpts.map((r) => r.address), ['b@contoso.com']);
    assert.deepEqual(c.remaining?.rcpts.map((r) => r.address), ['a@contoso.com']);
    assert.ok(c.remaining?.quarantine);
  });
  test('an address the message is not held for is refused and nothing changes', () => {
    const c = releaseChange(held, ['c@contoso.com'], route, 2_000, () => 'NEW');
    assert.deepEqual(c, { kind: 'refuse', code: 'E_BAD_REQUEST', error: `quarantine: ${held.id} is not held for c@contoso.com` });
  });
  test('an explicit route (a mail-flow rule) is kept', () => {
    const explicit = { ...held, rcpts: [{ ...held.rcpts[0]!, route: { kind: 'connector', connector: 'Rule route', rule: 'rule 1', explicit: true } }] };
    const c = releaseChange(explicit, null, route, 2_000, () => 'NEW');
    assert.equal(c.kind === 'release' && c.queued.rcpts[0]!.route.connector, 'Rule route');
  });
});

describe('quarantine on a file spool', () => {
  test('held mail lives in held/, outside the queue; it survives a restart and the old-folder migration', async () => {
    const { dir, spool, id } = await spoolWithHeld(['a@contoso.com']);
    assert.deepEqual(await readdir(path.join(dir, 'held')), [`${id}.msg`]);
    const queued = [];
    for await (const r of spool.recover()) queued.push(r.id);
    assert.deepEqual(queued, [], 'recovery never queues held mail');
    await spool.close();
    const again = new FileSpool(dir, log);
    await again.open(); // runs migrateQuarantine (quarantine/ → corrupt/): held/ is not touched
    assert.ok(await again.readRecord(id, 'quarantine'));
    assert.equal(existsSync(path.join(dir, 'quarantine')), false);
    await again.close();
  });

  test('release of all recipients moves the message into the queue, handed to the queue once', async () => {
    const { spool, id } = await spoolWithHeld(['a@contoso.com', 'b@contoso.com']);
    const handed: SpoolRecord[] = [];
    const q = new Quarantine({ spool, log, routeOf: route, enqueue: (r) => handed.push(r) });
    const res = await q.release(id, null);
    assert.deepEqual(res, { ok: true, id, released: ['a@contoso.com', 'b@contoso.com'], queuedAs: id });
    assert.equal(await spool.readRecord(id, 'quarantine'), null);
    const rec = await spool.readRecord(id);
    assert.equal(rec?.quarantine, undefined);
    assert.deepEqual((await buffer(spool.received(rec!))).toString(), BODY.toString());
    assert.equal(handed.length, 1);
    assert.deepEqual(await q.release(id, null), { ok: false, code: 'E_NOT_FOUND', error: `quarantine: no message ${id}` });
    await spool.close();
  });

  test('a partial release copies the message for the named recipients; the rest stays held', async () => {
    const { spool, id } = await spoolWithHeld(['a@contoso.com', 'b@contoso.com']);
    const q = new Quarantine({ spool, log, routeOf: route, enqueue: null });
    const res = await q.release(id, ['a@contoso.com']);
    assert.ok(res.ok && res.queuedAs !== id);
    if (!res.ok) return;
    const copy = await spool.readRecord(res.queuedAs!);
    assert.deepEqual(copy?.rcpts.map((r) => r.address), ['a@contoso.com']);
    assert.deepEqual((await buffer(spool.received(copy!))).toString(), BODY.toString());
    assert.deepEqual((await spool.readRecord(id, 'quarantine'))?.rcpts.map((r) => r.address), ['b@contoso.com']);
    await spool.close();
  });

  test('the sweep deletes only expired messages, by the clock it is given', async () => {
    const now = Date.now();
    const { spool, id } = await spoolWithHeld(['a@contoso.com'], now);
    let clock = now + 14 * DAY_MS;
    const q = new Quarantine({ spool, log, routeOf: route, enqueue: null, now: () => clock });
    assert.equal(await q.sweep(), 0);
    assert.ok(await spool.readRecord(id, 'quarantine'));
    clock = now + 15 * DAY_MS;
    assert.equal(await q.sweep(), 1);
    assert.equal(await spool.readRecord(id, 'quarantine'), null);
    await spool.close();
  });

  test('delete removes a held message; an unknown id is E_NOT_FOUND', async () => {
    const { spool, id } = await spoolWithHeld(['a@contoso.com']);
    const q = new Quarantine({ spool, log, routeOf: route, enqueue: null });
    assert.deepEqual(await q.delete(id), { ok: true, id });
    assert.equal((await q.delete(id)).ok, false);
    await spool.close();
  });

  test('omitted ranges and stored headers apply to body() and readHead(), never to received()', async () => {
    const { spool, id } = await spoolWithHeld(['a@contoso.com']);
    const rec = { ...(await spool.readRecord(id, 'quarantine'))!, headers: 'X-Added: 1\r\n', omit: [[0, 13]] as [number, number][] };
    const edited = 'X-Added: 1\r\nSubject: held\r\n\r\nbody\r\n';
    assert.equal((await buffer(spool.body(rec, 'quarantine'))).toString(), edited);
    assert.equal((await spool.readHead(rec, 1024, 'quarantine')).toString(), edited);
    assert.equal((await spool.readHead(rec, 20, 'quarantine')).toString(), edited.slice(0, 20));
    assert.equal((await buffer(spool.received(rec, 'quarantine'))).toString(), BODY.toString());
    await spool.close();
  });
});

describe('quarantine and filters config', () => {
  const rows: { name: string; yaml: string; error: RegExp | null; retentionMs?: number; timeoutMs?: number }[] = [
    { name: 'defaults: 15 days, 30 s', yaml: '', error: null, retentionMs: 15 * DAY_MS, timeoutMs: 30_000 },
    { name: 'a retention of 30 days', yaml: 'quarantine: { retention: 30d }', error: null, retentionMs: 30 * DAY_MS },
    { name: 'a retention under a day is refused', yaml: 'quarantine: { retention: 12h }', error: /quarantine\.retention.*between 1d and 30d/ },
    { name: 'a retention over 30 days is refused', yaml: 'quarantine: { retention: 31d }', error: /quarantine\.retention.*between 1d and 30d/ },
    { name: 'a bad duration names its key', yaml: 'filters: { timeout: soon }', error: /filters\.timeout/ },
    { name: 'a zero timeout is refused', yaml: 'filters: { timeout: 0s }', error: /filters\.timeout.*longer than zero/ },
    { name: 'an unknown key is refused', yaml: 'filters: { budget: 1s }', error: /filters/ },
    { name: 'filters.timeout of 5s', yaml: 'filters: { timeout: 5s }', error: null, timeoutMs: 5_000 },
  ];
  for (const r of rows) {
    test(r.name, async () => {
      const res = parseConfigText(r.yaml);
      if (r.error) {
        assert.ok(!res.ok, 'refused');
        assert.match(res.error, r.error);
        return;
      }
      assert.ok(res.ok, res.ok ? '' : res.error);
      if (r.retentionMs !== undefined) assert.equal(res.model.quarantine.retentionMs, r.retentionMs);
      if (r.timeoutMs !== undefined) assert.equal(res.model.filters.timeoutMs, r.timeoutMs);
    });
  }
});
