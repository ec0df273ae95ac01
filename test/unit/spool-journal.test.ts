// spool.journal: the segment format (entries, tombstones, torn and damaged tails) as a table, and
// the file spool with the journal on a temp dir: a committed message reads back (body, record,
// header block) without a file of its own; what a crash leaves (a copy of the spool taken while it
// is open, as a SIGKILL leaves it) is replayed into queue/ at the next open, byte for byte, less
// what was removed; an update gives the message a file of its own; large and quarantined
// messages never enter the journal; a damaged segment is kept in corrupt/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import pino from 'pino';
import { FileSpool } from '../../src/queue/file-spool.js';
import { encodeEntryHead, encodeTombstone, parseSegment } from '../../src/queue/spool-journal.js';
import { encodeTrailer } from '../../src/queue/spool-format.js';
import type { SpoolRecord } from '../../src/queue/record.js';
import { testRecord } from '../helpers/spool-files.js';
import { ConfigError, formatIssues, loadConfigText } from '../../src/config/load.js';

const log = pino({ level: 'silent' });

const BODY_A = Buffer.from('Subject: a\r\n\r\nfirst\r\n');
const BODY_B = Buffer.from('Subject: b\r\n\r\nsecond\r\n');
const ID_A = '0000000000AAJRNL';
const ID_B = '0000000000BBJRNL';
const messageFile = (id: string, body: Buffer) => Buffer.concat([body, encodeTrailer(testRecord(id, body.length, { now: 1_700_000_000_000 }), body.length)]);
const entry = (id: string, body: Buffer) => {
  const m = messageFile(id, body);
  return Buffer.concat([encodeEntryHead(id, m.length), m]);
};
const A = entry(ID_A, BODY_A);
const B = entry(ID_B, BODY_B);

const segments: { name: string; seg: Buffer; live: string[]; damage: RegExp | null }[] = [
  { name: 'two entries are both live', seg: Buffer.concat([A, B]), live: [ID_A, ID_B], damage: null },
  { name: 'a tombstone forgets its entry', seg: Buffer.concat([A, B, encodeTombstone(ID_A)]), live: [ID_B], damage: null },
  { name: 'an empty segment holds nothing', seg: Buffer.alloc(0), live: [], damage: null },
  { name: 'an entry cut short at the end (a torn write) is not live', seg: Buffer.concat([A, B.subarray(0, B.length - 7)]), live: [ID_A], damage: /torn entry/ },
  { name: 'a header cut short at the end is not live', seg: Buffer.concat([A, B.subarray(0, 3)]), live: [ID_A], damage: /torn record/ },
  { name: 'a torn tombstone leaves its entry live', seg: Buffer.concat([A, encodeTombstone(ID_A).subarray(0, 8)]), live: [ID_A], damage: /torn tombstone/ },
  { name: 'zeros after the entries (a hole) stop the parse', seg: Buffer.concat([A, Buffer.alloc(64)]), live: [ID_A], damage: /not a journal record/ },
  {
    name: 'an entry whose footer is damaged is refused, and nothing after it is read',
    seg: Buffer.concat([A, Buffer.from(B).fill(0x41, B.length - 10, B.length - 9), entry('0000000000CCJRNL', BODY_A)]),
    live: [ID_A],
    damage: /entry 0000000000BBJRNL: /,
  },
];

for (const c of segments) {
  test(`journal segment: ${c.name}`, () => {
    const p = parseSegment(c.seg);
    assert.deepEqual([...p.live.keys()].sort(), c.live);
    if (c.damage) assert.match(p.damage ?? 'no damage', c.damage);
    else assert.equal(p.damage, null);
    for (const id of c.live) assert.deepEqual(p.live.get(id), messageFile(id, id === ID_A ? BODY_A : BODY_B));
  });
}

async function openJournaled(dir?: string): Promise<FileSpool> {
  const spool = new FileSpool(dir ?? (await mkdtemp(path.join(tmpdir(), 'sluice-jr-'))), log, { journal: true });
  await spool.open();
  return spool;
}

async function commit(spool: FileSpool, body: Buffer, area: 'queue' | 'quarantine' = 'queue'): Promise<SpoolRecord> {
  const id = spool.newId();
  const w = await spool.create(id);
  for (let i = 0; i < body.length; i += 4096) await w.write(body.subarray(i, i + 4096));
  const rec = { ...testRecord(id, body.length), headers: 'Received: by test\r\n' };
  await w.commit(rec, area);
  return rec;
}

/** What a SIGKILL leaves: the spool's files as they are now, in another directory, without the (live) lock. */
async function crashCopy(spool: FileSpool): Promise<string> {
  const copy = await mkdtemp(path.join(tmpdir(), 'sluice-jr-crash-'));
  await cp(spool.dir, copy, { recursive: true, filter: (src) => !src.endsWith('control.sock') });
  await rm(path.join(copy, 'sluice.lock'), { force: true });
  return copy;
}

async function recovered(spool: FileSpool): Promise<SpoolRecord[]> {
  const out: SpoolRecord[] = [];
  for await (const r of spool.recover()) out.push(r);
  return out;
}

const queueNames = async (dir: string) => (await readdir(path.join(dir, 'queue'))).sort();
const bodyText = async (spool: FileSpool, rec: SpoolRecord) => (await buffer(spool.body(rec))).toString('latin1');

test('journal: a committed message reads back (body with our headers, record, header block) and has no file of its own', async () => {
  const spool = await openJournaled();
  try {
    const rec = await commit(spool, BODY_A);
    assert.deepEqual(await queueNames(spool.dir), []);
    assert.equal((await readdir(path.join(spool.dir, 'journal'))).length, 1, 'one segment');
    assert.equal(await bodyText(spool, rec), 'Received: by test\r\n' + BODY_A.toString('latin1'));
    spool.cache.drop(rec.id); // the same from the segment, not the first-attempt cache
    assert.equal(await bodyText(spool, rec), 'Received: by test\r\n' + BODY_A.toString('latin1'));
    assert.equal((await buffer(spool.received(rec))).toString('latin1'), BODY_A.toString('latin1'));
    assert.equal((await spool.readHead(rec, 30)).toString('latin1'), ('Received: by test\r\n' + BODY_A.toString('latin1')).slice(0, 30));
    assert.deepEqual(await spool.readRecord(rec.id), { ...rec, v: 2 });
  } finally {
    await spool.close();
  }
});

test('journal: a crash is replayed at the next open: each message not removed gets its file, byte for byte; removed ones stay gone', async () => {
  const spool = await openJournaled();
  const kept = await Promise.all(Array.from({ length: 20 }, (_, i) => commit(spool, Buffer.from(`Subject: ${i}\r\n\r\nbody ${i}\r\n`))));
  const gone = kept.splice(0, 5);
  for (const r of gone) await spool.remove(r.id);
  // Removal tombstones go out without an fsync, with the next batch; one more commit carries them.
  const last = await commit(spool, BODY_B);
  kept.push(last);
  const copy = await crashCopy(spool);
  await spool.close();

  const after = await openJournaled(copy);
  try {
    assert.deepEqual((await readdir(path.join(copy, 'journal'))).length, 0, 'the replayed segments are gone');
    const recs = await recovered(after);
    assert.deepEqual(recs.map((r) => r.id).sort(), kept.map((r) => r.id).sort());
    for (const r of kept) {
      assert.ok((await queueNames(copy)).includes(`${r.id}.msg`));
      assert.deepEqual(await after.readRecord(r.id), { ...r, v: 2 });
    }
    assert.equal(await bodyText(after, last), 'Received: by test\r\n' + BODY_B.toString('latin1'));
  } finally {
    await after.close();
  }
});

test('journal: an update gives the message a file of its own first; a crash after it replays no second copy', async () => {
  const spool = await openJournaled();
  const rec = await commit(spool, BODY_A);
  rec.rcpts[0]!.attempts = 1;
  rec.rcpts[0]!.lastError = '4.4.1 test';
  await spool.update(rec);
  assert.deepEqual(await queueNames(spool.dir), [`${rec.id}.msg`, `${rec.id}.state`]);
  assert.equal(await bodyText(spool, rec), 'Received: by test\r\n' + BODY_A.toString('latin1'));
  await commit(spool, BODY_B); // carries the tombstone of the first
  const copy = await crashCopy(spool);
  await spool.close();

  const after = await openJournaled(copy);
  try {
    const recs = await recovered(after);
    const mine = recs.filter((r) => r.id === rec.id);
    assert.equal(mine.length, 1);
    assert.equal(mine[0]!.rcpts[0]!.lastError, '4.4.1 test');
    assert.equal(recs.length, 2);
  } finally {
    await after.close();
  }
});

test('journal: a message over 64 KB and a quarantined one are files of their own at once', async () => {
  const spool = await openJournaled();
  try {
    const big = await commit(spool, Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), Buffer.alloc(70 * 1024, 0x61)]));
    assert.deepEqual(await queueNames(spool.dir), [`${big.id}.msg`]);
    const held = await commit(spool, BODY_A, 'quarantine');
    assert.ok((await readdir(path.join(spool.dir, 'held'))).includes(`${held.id}.msg`));
    assert.equal((await spool.readRecord(held.id, 'quarantine'))?.id, held.id);
  } finally {
    await spool.close();
  }
});

test('journal: a segment damaged before its end is kept in corrupt/; the entries before the damage are replayed', async () => {
  const spool = await openJournaled();
  const rec = await commit(spool, BODY_A);
  const copy = await crashCopy(spool);
  await spool.close();
  const [seg] = await readdir(path.join(copy, 'journal'));
  await appendFile(path.join(copy, 'journal', seg!), Buffer.from('garbage after the last entry'));

  const after = await openJournaled(copy);
  try {
    assert.deepEqual((await recovered(after)).map((r) => r.id), [rec.id]);
    const corrupt = await readdir(path.join(copy, 'corrupt'));
    assert.deepEqual(corrupt, [seg]);
    assert.ok((await readFile(path.join(copy, 'corrupt', seg!))).includes('garbage'));
  } finally {
    await after.close();
  }
});

test('journal: a spool opened without the journal still replays one a crash left (the key was turned off meanwhile)', async () => {
  const spool = await openJournaled();
  const rec = await commit(spool, BODY_A);
  const copy = await crashCopy(spool);
  await spool.close();
  const plain = new FileSpool(copy, log);
  await plain.open();
  try {
    assert.deepEqual((await recovered(plain)).map((r) => r.id), [rec.id]);
    assert.equal(await bodyText(plain, rec), 'Received: by test\r\n' + BODY_A.toString('latin1'));
  } finally {
    await plain.close();
  }
});

const CONFIG_BASE = `server:
  hostname: gw.example.test
  listen: [{ host: 127.0.0.1, port: 2525 }]
  tls: { cert: certs/server.crt, key: certs/server.key, clientCa: [certs/ca.crt] }
`;
const journalRows: { name: string; yaml: string; journal: boolean | null; error?: RegExp }[] = [
  { name: 'on by default', yaml: '', journal: true },
  { name: 'spool.journal: false turns it off', yaml: 'spool: { journal: false }', journal: false },
  { name: 'a value that is not true or false names the key and its line', yaml: 'spool:\n  journal: sometimes', journal: null, error: /^test\.yaml:6:3: spool\.journal: .*boolean/ },
];
for (const r of journalRows) {
  test(`config: ${r.name}`, () => {
    try {
      const model = loadConfigText(CONFIG_BASE + r.yaml + '\n', 'test.yaml');
      assert.equal(model.spool.journal, r.journal);
    } catch (err) {
      if (!(err instanceof ConfigError) || !r.error) throw err;
      assert.match(formatIssues(err.issues), r.error);
    }
  });
}

test('journal: a clean stop gives each message still in the journal its file; the next open replays nothing twice', async () => {
  const spool = await openJournaled();
  const recs = [await commit(spool, BODY_A), await commit(spool, BODY_B)];
  await spool.close();
  assert.deepEqual(await queueNames(spool.dir), recs.map((r) => `${r.id}.msg`).sort());
  const again = await openJournaled(spool.dir);
  try {
    assert.deepEqual((await recovered(again)).map((r) => r.id).sort(), recs.map((r) => r.id).sort());
    assert.deepEqual(await again.readRecord(recs[1]!.id), { ...recs[1]!, v: 2 });
  } finally {
    await again.close();
  }
});
