// Startup recovery over a damaged spool: truncated and garbage records, a record without its
// body, a body of the wrong size, leftover .tmp files, a body without a record and a record
// whose id does not match its name are placed in queue/ before the daemon starts. Each is moved
// to quarantine/ with an E_SPOOL_CORRUPT log line and never delivered; the good messages beside
// them are delivered; the daemon keeps running.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { launch, testConfig, type SluiceProcess } from '../helpers/sluice.js';
import { freePort } from '../helpers/ports.js';

let certs: CertSet;
let host: SmartHost;
let sluice: SluiceProcess | undefined;
let queueDir: string;
let quarantineDir: string;

const body = (subject: string) =>
  `Received: from test\r\nFrom: <sun@example.org>\r\nTo: <john@contoso.com>\r\nSubject: ${subject}\r\n\r\nHello.\r\n`;

function record(id: string, size: number): Record<string, unknown> {
  const now = Date.now();
  return {
    v: 1,
    id,
    receivedAt: now,
    sessionId: 'test',
    client: { ip: '127.0.0.1', helo: 'test', tls: false, inbound: null, matchedBy: null },
    mailFrom: 'sun@example.org',
    size,
    status: 'active',
    attempts: 0,
    nextAttemptAt: now,
    rcpts: [
      {
        address: 'john@contoso.com',
        route: { kind: 'connector', connector: 'To on-prem', rule: 'test' },
        status: 'pending',
        attempts: 0,
        lastError: null,
        lastHost: null,
        updatedAt: now,
      },
    ],
  };
}

/** The damaged files, by name, with the reason the spool gives for quarantining them. */
function damagedFiles(): { files: Record<string, string>; quarantined: string[] } {
  const files: Record<string, string> = {};
  const put = (id: string, subject: string, recordText: string | null, bodyText: string | null) => {
    if (recordText !== null) files[`${id}.json`] = recordText;
    if (bodyText !== null) files[`${id}.eml`] = bodyText;
  };
  const b = (s: string) => body(s);
  const full = (id: string, s: string) => JSON.stringify(record(id, Buffer.byteLength(b(s))));
  put('000000000001TRUNC', 'truncated record', full('000000000001TRUNC', 'truncated record').slice(0, 60), b('truncated record'));
  put('000000000002GARBAGE', 'garbage record', '\u0000\u0007\u00ff not json at all {{{', b('garbage record'));
  put('000000000003NOBODY', 'record without body', full('000000000003NOBODY', 'record without body'), null);
  const short = b('wrong size');
  put('000000000004SIZE', 'wrong size', full('000000000004SIZE', 'wrong size'), short.slice(0, short.length - 10));
  put('000000000005SHAPE', 'wrong shape', JSON.stringify({ ...record('000000000005SHAPE', 10), rcpts: [] }), b('wrong shape'));
  put('000000000006MISMATCH', 'id mismatch', full('000000000099OTHER', 'id mismatch'), b('id mismatch'));
  put('000000000007ORPHAN', 'body without record', null, b('body without record'));
  files['000000000008TMP.eml.tmp'] = b('leftover tmp body').slice(0, 30);
  files['000000000008TMP.json.tmp'] = full('000000000008TMP', 'leftover tmp body').slice(0, 40);
  return { files, quarantined: Object.keys(files) };
}

const GOOD = ['000000000000GOODA', '00000000000AGOODB'];

before(async () => {
  certs = await makeCertSet();
  host = await startSmartHost();
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-corrupt-'));
  const port = await freePort();
  const spoolDir = path.join(dir, 'spool');
  queueDir = path.join(spoolDir, 'queue');
  quarantineDir = path.join(spoolDir, 'quarantine');
  await mkdir(queueDir, { recursive: true });
  for (const id of GOOD) {
    await writeFile(path.join(queueDir, `${id}.eml`), body(`good ${id}`));
    await writeFile(path.join(queueDir, `${id}.json`), JSON.stringify(record(id, Buffer.byteLength(body(`good ${id}`)))));
  }
  for (const [name, text] of Object.entries(damagedFiles().files)) await writeFile(path.join(queueDir, name), text, 'latin1');
  const config = {
    ...testConfig({ port, dir, certs }),
    outboundConnectors: [{ name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${host.port}`] }],
  };
  const configPath = path.join(dir, 'sluice.yaml');
  await writeFile(configPath, stringify(config));
  sluice = await launch(dir, configPath, port);
});

after(async () => {
  await sluice?.stop();
  await host?.close();
});

test('damaged spool files are quarantined with E_SPOOL_CORRUPT and only the good messages are delivered', async () => {
  const s = sluice!;
  const recovered = await s.waitForLog((l) => l.msg === 'spool recovered');
  assert.equal(recovered.recovered, GOOD.length, 'only the intact messages are recovered');
  await host.waitFor(GOOD.length, 10_000);
  await new Promise((r) => setTimeout(r, 1_000)); // anything half-written would arrive by now
  const subjects = host.messages.map((m) => /^Subject: (.*)\r$/m.exec(m.raw.toString('latin1'))?.[1]).sort();
  assert.deepEqual(subjects, GOOD.map((id) => `good ${id}`).sort(), 'the smart host got the good messages, once each, and nothing else');
  const { quarantined } = damagedFiles();
  assert.deepEqual((await readdir(quarantineDir)).sort(), [...quarantined].sort(), 'every damaged file is in quarantine/');
  assert.deepEqual(await readdir(queueDir), [], 'queue/ is empty once the good messages are delivered');
  const corruptLines = s.logs.filter((l) => l.code === 'E_SPOOL_CORRUPT');
  const named = (n: string) => corruptLines.some((l) => l.queueId === n.replace(/\..*$/, '') || l.file === n);
  for (const name of quarantined) assert.ok(named(name), `an E_SPOOL_CORRUPT line names ${name}`);
  assert.ok(corruptLines.every((l) => typeof l.reason === 'string' && l.reason.length > 0), 'each line says why');
  assert.equal(s.proc.exitCode, null, 'the daemon is still running');
});

test('a restart over the quarantined spool recovers nothing and does not crash', async () => {
  assert.equal(await sluice!.stop(), 0);
  sluice = await sluice!.restart();
  const recovered = await sluice.waitForLog((l) => l.msg === 'spool recovered');
  assert.equal(recovered.recovered, 0);
  assert.equal(sluice.logs.filter((l) => l.code === 'E_SPOOL_CORRUPT').length, 0, 'quarantine/ is not scanned again');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(host.messages.length, GOOD.length, 'nothing more was delivered');
});
