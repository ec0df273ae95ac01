// The lock-free readers (queue list/show, connectors, the tests' spool readers) see what a running
// daemon holds in its journal, though such a message has no file of its own: a spool opened with
// the journal plays the daemon, and a second FileSpool that never opens, scanSpool and findRecord
// read beside it. And the journal's idle segment: once nothing in it is live and nothing was
// written for a second, its file is closed and unlinked (an idle daemon keeps no spool file open
// for writing), and the next message starts a new one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import pino from 'pino';
import { FileSpool } from '../../src/queue/file-spool.js';
import { findRecord, scanSpool } from '../../src/queue/scan.js';
import { encodeEntryHead, SEGMENT_IDLE_MS } from '../../src/queue/spool-journal.js';
import type { SpoolRecord } from '../../src/queue/record.js';
import { testRecord } from '../helpers/spool-files.js';

const log = pino({ level: 'silent' });
const BODY = Buffer.from('Subject: in its first attempt\r\nFrom: sun@example.org\r\n\r\nhello\r\n');

async function openJournaled(): Promise<FileSpool> {
  const spool = new FileSpool(await mkdtemp(path.join(tmpdir(), 'sluice-jrd-')), log, { journal: true });
  await spool.open();
  return spool;
}

async function commit(spool: FileSpool, body = BODY): Promise<SpoolRecord> {
  const id = spool.newId();
  const w = await spool.create(id);
  await w.write(body);
  const rec = { ...testRecord(id, body.length), headers: 'Received: by test\r\n' };
  await w.commit(rec, 'queue');
  return rec;
}

async function listed(dir: string): Promise<SpoolRecord[]> {
  const out: SpoolRecord[] = [];
  for await (const r of scanSpool(dir, 'queue')) out.push(r);
  return out;
}

const segmentsOf = async (dir: string) => (await readdir(path.join(dir, 'journal'))).sort();

async function until(what: string, done: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > deadline) assert.fail(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('a lock-free reader sees a journaled message: listed, found, its record, header block, body and received bytes', async () => {
  const daemon = await openJournaled();
  try {
    const rec = await commit(daemon);
    assert.equal(existsSync(daemon.msgPath(rec.id)), false, 'no file of its own: only the journal holds it');
    const reader = new FileSpool(daemon.dir, log);
    assert.deepEqual(await reader.readRecord(rec.id), { ...rec, v: 2 });
    assert.deepEqual((await listed(daemon.dir)).map((r) => r.id), [rec.id]);
    assert.deepEqual(await findRecord(daemon.dir, rec.id), { record: { ...rec, v: 2 }, area: 'queue' });
    assert.equal((await reader.readHead(rec, 40)).toString('latin1'), ('Received: by test\r\n' + BODY.toString('latin1')).slice(0, 40));
    assert.equal((await buffer(reader.body(rec))).toString('latin1'), 'Received: by test\r\n' + BODY.toString('latin1'));
    assert.deepEqual(await buffer(reader.received(rec)), BODY);
    assert.equal(await reader.readRecord(rec.id, 'failed'), null, 'the journal is the queue area only');
  } finally {
    await daemon.close();
  }
});

test('a lock-free reader lists a message once while it leaves the journal, with its new record, and not after its removal', async () => {
  const daemon = await openJournaled();
  try {
    const moved = await commit(daemon);
    const kept = await commit(daemon);
    moved.rcpts[0]!.attempts = 1;
    moved.rcpts[0]!.lastError = '4.4.1 deferred in test';
    await daemon.update(moved);
    // Its file is written and its tombstone may still be on the way: one entry, from the file.
    const after = await listed(daemon.dir);
    assert.deepEqual(after.map((r) => r.id).sort(), [moved.id, kept.id].sort());
    assert.equal(after.find((r) => r.id === moved.id)!.rcpts[0]!.lastError, '4.4.1 deferred in test');
    assert.equal((await findRecord(daemon.dir, moved.id))!.record.rcpts[0]!.lastError, '4.4.1 deferred in test');
    await daemon.remove(kept.id);
    await until('the delivered message leaves the lock-free listing', async () => !(await listed(daemon.dir)).some((r) => r.id === kept.id), 2_000);
    assert.equal(await new FileSpool(daemon.dir, log).readRecord(kept.id), null);
  } finally {
    await daemon.close();
  }
});

test('a segment torn at its end (an append in flight) still shows every whole entry before the tear', async () => {
  const daemon = await openJournaled();
  try {
    const rec = await commit(daemon);
    const [seg] = await segmentsOf(daemon.dir);
    await appendFile(path.join(daemon.dir, 'journal', seg!), encodeEntryHead(daemon.newId(), 5000));
    assert.deepEqual((await listed(daemon.dir)).map((r) => r.id), [rec.id]);
  } finally {
    await daemon.close();
  }
});

test('the idle segment is closed and unlinked once nothing in it is live; the next message starts a new one', async () => {
  const daemon = await openJournaled();
  try {
    const first = await commit(daemon);
    const [seg] = await segmentsOf(daemon.dir);
    await daemon.remove(first.id);
    await until('the empty segment is unlinked', async () => (await segmentsOf(daemon.dir)).length === 0, SEGMENT_IDLE_MS * 5);
    const second = await commit(daemon);
    const now = await segmentsOf(daemon.dir);
    assert.equal(now.length, 1);
    assert.notEqual(now[0], seg, 'a new segment');
    assert.equal((await buffer(daemon.body(second))).toString('latin1'), 'Received: by test\r\n' + BODY.toString('latin1'));
  } finally {
    await daemon.close();
  }
});

test('a segment that still holds a live message is kept however long it is idle', async () => {
  const daemon = await openJournaled();
  try {
    const rec = await commit(daemon);
    const [seg] = await segmentsOf(daemon.dir);
    // Something that must not happen needs a window: two idle periods, the message still in its first attempt.
    await new Promise((r) => setTimeout(r, SEGMENT_IDLE_MS * 2));
    assert.deepEqual(await segmentsOf(daemon.dir), [seg]);
    assert.deepEqual(await new FileSpool(daemon.dir, log).readRecord(rec.id), { ...rec, v: 2 });
  } finally {
    await daemon.close();
  }
});
