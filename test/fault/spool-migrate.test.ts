// Upgrade from the v1 spool (<id>.eml + <id>.json) and from quarantine/: a spool written by the
// old layout — with per-recipient progress, a failed message, a migration a crash cut short at
// either step, damaged v1 files and a quarantine/ folder — is opened by the daemon. Every intact
// message is delivered once to the recipients still pending, nothing is lost, damaged files and
// the old quarantine/ end in corrupt/, and queue/ holds only the one-file format afterwards.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { launchToSmartHost, type SluiceProcess } from '../helpers/sluice.js';
import { readSpoolRecord, testRecord, writeMessage, writeV1Message } from '../helpers/spool-files.js';
import type { SpoolRecord } from '../../src/queue/record.js';

let certs: CertSet;
let host: SmartHost;
let sluice: SluiceProcess | undefined;
let spoolDir: string;

const body = (subject: string) => `From: <sun@example.org>\r\nTo: <john@contoso.com>\r\nSubject: ${subject}\r\n\r\nHello.\r\n`;
const rec = (id: string, subject: string, patch: Partial<SpoolRecord> = {}): SpoolRecord => ({ ...testRecord(id, Buffer.byteLength(body(subject))), ...patch });

const A = '000000000001V1A';
const B = '000000000002V1B';
const HALF = '000000000003HALF';
const DONE = '000000000004DONE';
const FAILED = '000000000005FAILED';

before(async () => {
  certs = await makeCertSet();
  host = await startSmartHost();
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-migrate-'));
  spoolDir = path.join(dir, 'spool');
  const q = path.join(spoolDir, 'queue');
  await writeV1Message(spoolDir, body('v1 plain'), rec(A, 'v1 plain'));
  // One of two recipients was delivered before the upgrade: only the other may get it now.
  const twoRcpts = rec(B, 'v1 half delivered');
  const first = { ...twoRcpts.rcpts[0]!, address: 'done@contoso.com', status: 'delivered' as const, attempts: 1 };
  const second = { ...twoRcpts.rcpts[0]!, address: 'pending@contoso.com', attempts: 1, lastError: '4.2.0 450 busy' };
  await writeV1Message(spoolDir, body('v1 half delivered'), { ...twoRcpts, attempts: 1, rcpts: [first, second] });
  // A migration cut short after appending part of the trailer, before the rename.
  await writeV1Message(spoolDir, body('v1 interrupted append'), rec(HALF, 'v1 interrupted append'));
  await writeFile(path.join(q, `${HALF}.eml`), body('v1 interrupted append') + '{"v":2,"id":"0000', { encoding: 'latin1' });
  // A migration cut short after the rename, before the old record was removed.
  await writeMessage(spoolDir, body('v1 interrupted cleanup'), rec(DONE, 'v1 interrupted cleanup'));
  await writeFile(path.join(q, `${DONE}.json`), JSON.stringify({ ...rec(DONE, 'v1 interrupted cleanup'), v: 1 }));
  // Damaged v1 files: a truncated record, a body whose record never got written.
  await writeFile(path.join(q, '000000000006BAD.json'), JSON.stringify(rec('000000000006BAD', 'bad')).slice(0, 50));
  await writeFile(path.join(q, '000000000006BAD.eml'), body('bad'));
  await writeFile(path.join(q, '000000000007ORPHAN.eml'), body('orphan'));
  const failedRec = rec(FAILED, 'v1 failed', { status: 'failed' });
  failedRec.rcpts[0]!.status = 'failed';
  await writeV1Message(spoolDir, body('v1 failed'), failedRec, 'failed');
  await mkdir(path.join(spoolDir, 'quarantine'));
  await writeFile(path.join(spoolDir, 'quarantine', '0000000000OLD.json'), 'old garbage');
  await writeFile(path.join(spoolDir, 'quarantine', '0000000000OLD.eml'), 'old body');
  sluice = await launchToSmartHost(dir, certs, host.port);
});

after(async () => {
  await sluice?.stop();
  await host?.close();
});

test('a v1 spool is migrated at start and every intact message is delivered once, to the recipients still pending', async () => {
  const s = sluice!;
  const migrated = await s.waitForLog((l) => l.msg === 'migrated v1 spool files to the one-file format' && l.area === 'queue');
  assert.equal(migrated.migrated, 4);
  await Promise.all([A, B, HALF, DONE].map((id) => s.waitForLog((l) => l.msg === 'message done' && l.queueId === id)));
  const got = host.messages.map((m) => [/^Subject: (.*)\r$/m.exec(m.raw.toString('latin1'))?.[1], m.rcptTo.join(',')]).sort();
  assert.deepEqual(got, [
    ['v1 half delivered', 'pending@contoso.com'],
    ['v1 interrupted append', 'john@contoso.com'],
    ['v1 interrupted cleanup', 'john@contoso.com'],
    ['v1 plain', 'john@contoso.com'],
  ]);
  const appended = host.messages.find((m) => m.raw.toString('latin1').includes('interrupted append'))!;
  assert.equal(appended.raw.toString('latin1'), body('v1 interrupted append'), 'the half-appended trailer was cut off, the body is as received');
});

test('damaged v1 files and the old quarantine/ end in corrupt/; failed/ is migrated too', async () => {
  assert.deepEqual(await readdir(path.join(spoolDir, 'queue')), [], 'no v1 file is left in queue/');
  assert.equal(existsSync(path.join(spoolDir, 'quarantine')), false, 'quarantine/ is gone');
  assert.deepEqual((await readdir(path.join(spoolDir, 'corrupt'))).sort(), [
    '000000000006BAD.eml',
    '000000000006BAD.json',
    '000000000007ORPHAN.eml',
    '0000000000OLD.eml',
    '0000000000OLD.json',
  ]);
  assert.deepEqual(await readdir(path.join(spoolDir, 'failed')), [`${FAILED}.msg`]);
  const failed = await readSpoolRecord(spoolDir, FAILED, 'failed');
  assert.equal(failed?.status, 'failed');
  assert.equal(failed?.v, 2);
  assert.ok(sluice!.logs.some((l) => l.msg === 'moved quarantine/ to corrupt/' && l.files === 2));
});
