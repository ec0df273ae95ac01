// The file spool's format and its operations on a temp dir: a table of damaged trailers and the
// reason each is refused with; a commit is one file that reads back as written (body range only,
// our headers in front); state files override the trailer and a removal leaves nothing; an
// interrupted move to failed/ is finished by recovery; the lock refuses a second owner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import pino from 'pino';
import { FileSpool } from '../../src/queue/file-spool.js';
import { decodeTrailer, encodeTrailer, encodeTrailerJson, FOOTER_BYTES, type ReadResult } from '../../src/queue/spool-format.js';
import type { SpoolRecord } from '../../src/queue/record.js';
import { SluiceError } from '../../src/domain/errors.js';
import { testRecord } from '../helpers/spool-files.js';

const log = pino({ level: 'silent' });
const BODY = Buffer.from('Subject: t\r\n\r\nhello\r\n');
const ID = '0000000000AAUNIT';

const decode = (file: Buffer, id = ID): ReadResult => decodeTrailer(id, file, file.length, (pos, len) => file.subarray(pos, pos + len));
const withTrailer = (trailer: Buffer) => Buffer.concat([BODY, trailer]);
const flipped = (buf: Buffer, at: number) => {
  const copy = Buffer.from(buf);
  copy.writeUInt8(copy.readUInt8(at) ^ 0x20, at);
  return copy;
};
const good = withTrailer(encodeTrailer(testRecord(ID, BODY.length), BODY.length));

const cases: { name: string; file: Buffer; id?: string; reason: RegExp | null }[] = [
  { name: 'an intact file reads back', file: good, reason: null },
  { name: 'a file cut inside its footer has no footer', file: good.subarray(0, good.length - 3), reason: /no footer/ },
  { name: 'a file cut inside its record has no footer', file: good.subarray(0, BODY.length + 10), reason: /no footer|shorter/ },
  { name: 'bytes appended after the footer hide it', file: Buffer.concat([good, Buffer.from('x')]), reason: /no footer/ },
  { name: 'a damaged length in the footer fails its checksum', file: flipped(good, good.length - FOOTER_BYTES + 15), reason: /footer checksum/ },
  { name: 'a damaged record fails its checksum', file: flipped(good, BODY.length + 5), reason: /record checksum/ },
  { name: 'a record that is not JSON', file: withTrailer(encodeTrailerJson(Buffer.from('{"v":2'), BODY.length)), reason: /not valid JSON/ },
  { name: 'a record of the wrong shape', file: withTrailer(encodeTrailerJson(Buffer.from(JSON.stringify({ ...testRecord(ID, BODY.length), rcpts: [] })), BODY.length)), reason: /not valid JSON of the right shape/ },
  { name: 'a record for another id', file: good, id: '0000000000BBOTHER', reason: /id mismatch/ },
  { name: 'a record whose size is not the body length', file: withTrailer(encodeTrailer(testRecord(ID, 3), BODY.length)), reason: /does not match the body/ },
  { name: 'a footer whose lengths do not add up to the file', file: Buffer.concat([Buffer.from('xx'), good]), reason: /size does not match/ },
];

for (const c of cases) {
  test(`trailer: ${c.name}`, () => {
    const r = decode(c.file, c.id);
    if (c.reason === null) assert.deepEqual(r.ok && r.record.id, ID);
    else assert.match(r.ok ? 'ok' : r.reason, c.reason);
  });
}

async function openSpool(): Promise<FileSpool> {
  const spool = new FileSpool(await mkdtemp(path.join(tmpdir(), 'sluice-fs-')), log);
  await spool.open();
  return spool;
}

async function commit(spool: FileSpool, rec: Partial<SpoolRecord> = {}): Promise<SpoolRecord> {
  const id = spool.newId();
  const w = await spool.create(id);
  await w.write(BODY.subarray(0, 5));
  await w.write(BODY.subarray(5));
  const record = { ...testRecord(id, BODY.length), headers: 'Received: by us\r\n', ...rec };
  assert.equal((await buffer(w.reader(record.headers))).toString(), `Received: by us\r\n${BODY}`, 'the uncommitted copy as it will be delivered');
  await w.commit(record);
  return record;
}

test('a commit is one file; body() streams our headers and the body range only, never the trailer', async () => {
  const spool = await openSpool();
  const rec = await commit(spool);
  assert.deepEqual(await readdir(spool.queueDir), [`${rec.id}.msg`]);
  assert.equal((await buffer(spool.body(rec))).toString(), `Received: by us\r\n${BODY}`);
  assert.equal((await spool.readHead(rec, 1000)).toString(), `Received: by us\r\n${BODY}`, 'readHead stops at the body too');
  assert.equal((await spool.readHead(rec, 20)).toString(), `Received: by us\r\nSub`);
  assert.equal((await spool.readRecord(rec.id))?.v, 2, 'stored as the current record version');
  await spool.close();
});

test('a state file overrides the committed record; remove() leaves nothing behind', async () => {
  const spool = await openSpool();
  const rec = await commit(spool);
  await spool.update({ ...rec, attempts: 3, status: 'hold' });
  assert.deepEqual(await readdir(spool.queueDir), [`${rec.id}.msg`, `${rec.id}.state`].sort());
  assert.equal((await spool.readRecord(rec.id))?.status, 'hold');
  const listed: SpoolRecord[] = [];
  for await (const r of spool.list('queue')) listed.push(r);
  assert.deepEqual(listed.map((r) => [r.id, r.attempts]), [[rec.id, 3]]);
  await spool.remove(rec.id);
  assert.deepEqual(await readdir(spool.queueDir), []);
  await spool.close();
});

test('recovery finishes a move to failed/ that a crash cut short after the failed state was written', async () => {
  const spool = await openSpool();
  const rec = await commit(spool);
  await spool.update({ ...rec, attempts: 1 }); // a queue state, as after a deferral
  await spool.moveToFailed({ ...rec });
  // Undo the second half of the move: the message file back in queue/, its queue state too.
  await rename(spool.msgPath(rec.id, 'failed'), spool.msgPath(rec.id));
  await writeFile(spool.statePath(rec.id), JSON.stringify({ ...rec, attempts: 1 }));
  const recovered: string[] = [];
  for await (const r of spool.recover()) recovered.push(r.id);
  assert.deepEqual(recovered, [], 'a failed message is not queued again');
  assert.deepEqual(await readdir(spool.queueDir), []);
  assert.deepEqual((await readdir(spool.failedDir)).sort(), [`${rec.id}.msg`, `${rec.id}.state`]);
  assert.equal((await spool.readRecord(rec.id, 'failed'))?.status, 'failed');
  await spool.close();
});

test('a second open() of a held spool throws E_SPOOL_LOCKED naming the holder; close() frees it', async () => {
  const spool = await openSpool();
  const other = new FileSpool(spool.dir, log);
  await assert.rejects(other.open(), (err: unknown) => err instanceof SluiceError && err.code === 'E_SPOOL_LOCKED' && err.details.lockPid === process.pid);
  await spool.close();
  await other.open();
  await other.close();
});

test('a fresh small body is served from memory for its first attempt, the same bytes as on disk; an update drops it', async () => {
  const spool = await openSpool();
  const rec = await commit(spool);
  assert.equal(spool.cache.get(rec.id)?.toString(), BODY.toString(), 'kept after commit');
  const fromMemory = await buffer(spool.body(rec));
  await spool.update({ ...rec, attempts: 1 });
  assert.equal(spool.cache.get(rec.id), undefined, 'a waiting message keeps no body');
  assert.deepEqual(await buffer(spool.body(rec)), fromMemory, 'disk and memory give the same message');
  await spool.remove(rec.id);
  assert.equal(spool.cache.bytes, 0);
  await spool.close();
});

test('a body over the cache limit, or an aborted one, is never kept in memory', async () => {
  const spool = await openSpool();
  const big = Buffer.alloc(64 * 1024 + 1, 'a');
  const id = spool.newId();
  const w = await spool.create(id);
  await w.write(big);
  await w.commit(testRecord(id, big.length));
  assert.equal(spool.cache.get(id), undefined);
  assert.equal((await buffer(spool.body(testRecord(id, big.length)))).length, big.length, 'read from disk');
  const id2 = spool.newId();
  const w2 = await spool.create(id2);
  await w2.write(BODY);
  await w2.abort();
  assert.equal(spool.cache.get(id2), undefined);
  assert.equal(spool.cache.bytes, 0);
  await spool.close();
});
