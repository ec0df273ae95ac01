// Startup recovery over a damaged spool (one-file format): message files with a truncated
// trailer, a damaged footer, a footer that does not fit the file, a record checksum mismatch, bad
// JSON, the wrong shape, an id mismatch, a record whose size does not match the body, a file too
// short for a footer; a state file without its message, a damaged state file beside an intact
// message, and leftover .tmp files are placed in queue/ before the daemon starts. Each damaged
// file is moved to corrupt/ with an E_SPOOL_CORRUPT log line and never delivered; the intact
// messages beside them are delivered (the one with a damaged state from its committed record), a
// held message's state file keeps it held; the daemon keeps running.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { launchToSmartHost, type SluiceProcess } from '../helpers/sluice.js';
import { messageFile, testRecord } from '../helpers/spool-files.js';
import { encodeTrailerJson, FOOTER_BYTES } from '../../src/queue/spool-format.js';

let certs: CertSet;
let host: SmartHost;
let sluice: SluiceProcess | undefined;
let queueDir: string;
let corruptDir: string;

const body = (subject: string) =>
  `Received: from test\r\nFrom: <sun@example.org>\r\nTo: <john@contoso.com>\r\nSubject: ${subject}\r\n\r\nHello.\r\n`;
const good = (id: string, subject: string) => messageFile(body(subject), testRecord(id, Buffer.byteLength(body(subject))));
/** A message file whose trailer holds `json` as given (the footer is right for it). */
const withJson = (subject: string, json: string) => {
  const b = Buffer.from(body(subject), 'latin1');
  return Buffer.concat([b, encodeTrailerJson(Buffer.from(json), b.length)]);
};

const flip = (buf: Buffer, at: number, mask: number) => buf.writeUInt8(buf.readUInt8(at) ^ mask, at);

const GOOD = ['000000000000GOODA', '00000000000AGOODB'];
const BADSTATE = '000000000010BADSTATE';
const HELD = '000000000011HELD';

/** The damaged files by name; every one of them must end in corrupt/. */
function damagedFiles(): Record<string, Buffer> {
  const files: Record<string, Buffer> = {};
  const trunc = good('000000000001TRUNC', 'truncated trailer');
  files['000000000001TRUNC.msg'] = trunc.subarray(0, trunc.length - 40);
  const footer = good('000000000002FOOTER', 'bad footer');
  flip(footer, footer.length - FOOTER_BYTES + 9, 0xff); // a length byte: the footer checksum no longer fits
  files['000000000002FOOTER.msg'] = footer;
  const crc = good('000000000003CRC', 'record checksum');
  flip(crc, crc.length - FOOTER_BYTES - 20, 0x01); // one bit of the record JSON
  files['000000000003CRC.msg'] = crc;
  files['000000000004BADJSON.msg'] = withJson('bad json', '{"v":2,"id":"000000000004BADJSON", not json');
  files['000000000005SHAPE.msg'] = withJson('wrong shape', JSON.stringify({ ...testRecord('000000000005SHAPE', Buffer.byteLength(body('wrong shape'))), rcpts: [] }));
  files['000000000006MISMATCH.msg'] = good('000000000099OTHER', 'id mismatch');
  files['000000000007SIZE.msg'] = withJson('wrong size', JSON.stringify(testRecord('000000000007SIZE', 10)));
  files['000000000008SHORT.msg'] = Buffer.from('SLUICE');
  const grown = good('000000000009GROWN', 'bytes after the footer');
  files['000000000009GROWN.msg'] = Buffer.concat([grown, Buffer.from('\r\n')]);
  files['00000000000CORPHAN.state'] = Buffer.from(JSON.stringify(testRecord('00000000000CORPHAN', 10)));
  files[`${BADSTATE}.state`] = Buffer.from('{"v":2,"id":"truncated');
  files['00000000000DTMP.msg.tmp'] = Buffer.from(body('leftover partial message')).subarray(0, 30);
  files[`${GOOD[0]}.state.tmp`] = Buffer.from('{"v":2');
  return files;
}

before(async () => {
  certs = await makeCertSet();
  host = await startSmartHost();
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-corrupt-'));
  const spoolDir = path.join(dir, 'spool');
  queueDir = path.join(spoolDir, 'queue');
  corruptDir = path.join(spoolDir, 'corrupt');
  await mkdir(queueDir, { recursive: true });
  for (const id of GOOD) await writeFile(path.join(queueDir, `${id}.msg`), good(id, `good ${id}`));
  await writeFile(path.join(queueDir, `${BADSTATE}.msg`), good(BADSTATE, 'damaged state'));
  await writeFile(path.join(queueDir, `${HELD}.msg`), good(HELD, 'held'));
  await writeFile(path.join(queueDir, `${HELD}.state`), JSON.stringify({ ...testRecord(HELD, Buffer.byteLength(body('held'))), status: 'hold' }));
  for (const [name, bytes] of Object.entries(damagedFiles())) await writeFile(path.join(queueDir, name), bytes);
  sluice = await launchToSmartHost(dir, certs, host.port);
});

after(async () => {
  await sluice?.stop();
  await host?.close();
});

const subjects = () => host.messages.map((m) => /^Subject: (.*)\r$/m.exec(m.raw.toString('latin1'))?.[1]).sort();

test('damaged spool files go to corrupt/ with E_SPOOL_CORRUPT and only the intact messages are delivered', async () => {
  const s = sluice!;
  const recovered = await s.waitForLog((l) => l.msg === 'spool recovered');
  assert.equal(recovered.recovered, GOOD.length + 2, 'the intact messages are recovered: the good ones, the one with a damaged state, the held one');
  const delivered = [...GOOD, BADSTATE];
  await Promise.all(delivered.map((id) => s.waitForLog((l) => l.msg === 'message done' && l.queueId === id)));
  assert.deepEqual(subjects(), [...GOOD.map((id) => `good ${id}`), 'damaged state'].sort(), 'the smart host got the intact messages, once each, and nothing else');
  const damaged = Object.keys(damagedFiles());
  assert.deepEqual((await readdir(corruptDir)).sort(), damaged.sort(), 'every damaged file is in corrupt/');
  assert.deepEqual((await readdir(queueDir)).sort(), [`${HELD}.msg`, `${HELD}.state`], 'only the held message is left in queue/');
  const corruptLines = s.logs.filter((l) => l.code === 'E_SPOOL_CORRUPT');
  for (const name of damaged) assert.ok(corruptLines.some((l) => l.file === name), `an E_SPOOL_CORRUPT line names ${name}`);
  assert.ok(corruptLines.every((l) => typeof l.reason === 'string' && l.reason.length > 0), 'each line says why');
  const reason = (name: string) => String(corruptLines.find((l) => l.file === name)?.reason);
  assert.match(reason('000000000001TRUNC.msg'), /no footer/);
  assert.match(reason('000000000002FOOTER.msg'), /footer checksum/);
  assert.match(reason('000000000003CRC.msg'), /record checksum/);
  assert.match(reason('000000000004BADJSON.msg'), /not valid JSON/);
  assert.match(reason('000000000006MISMATCH.msg'), /id mismatch/);
  assert.match(reason('000000000007SIZE.msg'), /does not match the body/);
  assert.match(reason('000000000009GROWN.msg'), /no footer|size does not match/);
  assert.match(reason('00000000000CORPHAN.state'), /without its message/);
  assert.match(reason(`${BADSTATE}.state`), /delivered from the record committed with it/);
  assert.match(reason('00000000000DTMP.msg.tmp'), /partial write/);
  assert.equal(s.proc.exitCode, null, 'the daemon is still running');
});

test('a restart over the recovered spool finds only the held message and moves nothing', async () => {
  assert.equal(await sluice!.stop(), 0);
  sluice = await sluice!.restart();
  const recovered = await sluice.waitForLog((l) => l.msg === 'spool recovered');
  assert.equal(recovered.recovered, 1, 'the held message');
  assert.equal(sluice.logs.filter((l) => l.code === 'E_SPOOL_CORRUPT').length, 0, 'corrupt/ is not scanned again');
  assert.equal(host.messages.length, GOOD.length + 1, 'nothing more was delivered: the held message stays held');
});
