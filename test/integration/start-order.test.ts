// A failed start delivers nothing: with mail due at once in the spool, a daemon whose certificate
// cannot be read, whose key does not fit its certificate, or whose SMTP port is taken exits
// non-zero, the smart host sees no connection at all, the spool keeps every message and no lock
// is left behind. An I/O error while recovering the spool (EACCES: the daemon runs without the
// capability to override file permissions and one message file has mode 000) stops the start
// with E_SPOOL_IO naming the file and moves nothing to corrupt/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { runCli, testConfig } from '../helpers/sluice.js';
import { freePort } from '../helpers/ports.js';
import { spoolIds, testRecord, writeMessage } from '../helpers/spool-files.js';

const QUEUED = 3;

let certs: CertSet;
let host: SmartHost;

before(async () => {
  certs = await makeCertSet();
  host = await startSmartHost();
});

after(async () => {
  await host?.close();
});

const body = (subject: string) => `From: <sun@example.org>\r\nTo: <john@contoso.com>\r\nSubject: ${subject}\r\n\r\nHello.\r\n`;
const ids = Array.from({ length: QUEUED }, (_, i) => `00000000000${i}START`);

/** A dir whose spool holds QUEUED messages due now, and a config for it with `patch` applied to server.tls / port. */
async function setup(opts: { tls?: Record<string, unknown>; port?: number; certs?: CertSet } = {}): Promise<{ dir: string; spoolDir: string; config: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-start-'));
  const spoolDir = path.join(dir, 'spool');
  for (const id of ids) await writeMessage(spoolDir, body(id), testRecord(id, Buffer.byteLength(body(id))));
  const c = opts.certs ?? certs;
  const base = testConfig({ port: opts.port ?? (await freePort()), dir, certs: c });
  const server = base.server as Record<string, unknown>;
  const config = {
    ...base,
    server: { ...server, tls: { ...(server.tls as object), ...opts.tls } },
    outboundConnectors: [{ name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${host.port}`] }],
  };
  const file = path.join(dir, 'sluice.yaml');
  await writeFile(file, stringify(config));
  return { dir, spoolDir, config: file };
}

async function assertNothingHappened(spoolDir: string): Promise<void> {
  assert.equal(host.connections.length, 0, 'the smart host saw no connection');
  assert.deepEqual(await spoolIds(spoolDir), ids, 'every message is still queued');
  assert.equal(existsSync(path.join(spoolDir, 'sluice.lock')), false, 'no lock left behind');
}

test('an unreadable certificate (a directory at its path) stops the start: exit 1, no delivery', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-notacert-'));
  const s = await setup({ tls: { cert: dir } });
  const r = await runCli(['start', '--config', s.config], s.dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot read TLS certificate: EISDIR.*\(E_TLS_CERT_MISSING\)/);
  await assertNothingHappened(s.spoolDir);
});

test('a key that does not fit the certificate stops the start: exit 1, no delivery', async () => {
  const s = await setup({ tls: { key: certs.clients[Object.keys(certs.clients)[0] as keyof CertSet['clients']].keyPath } });
  const r = await runCli(['start', '--config', s.config], s.dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\(E_TLS_CERT_INVALID\)/);
  await assertNothingHappened(s.spoolDir);
});

test('an SMTP port already taken stops the start after recovery: exit 1, no delivery, every timer stopped', async () => {
  const blocker = net.createServer();
  const port = await freePort();
  await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
  try {
    const s = await setup({ port });
    // runCli resolves only when the process exits: a timer left running would hold it (test timeout).
    const r = await runCli(['start', '--config', s.config], s.dir);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /EADDRINUSE/);
    assert.match(r.stdout, /"msg":"spool recovered"/, 'it got as far as recovering the queue');
    await assertNothingHappened(s.spoolDir);
  } finally {
    blocker.close();
  }
});

test('an I/O error while recovering (EACCES: no permission override) stops the start with E_SPOOL_IO and moves nothing aside', async () => {
  const s = await setup();
  await mkdir(path.join(s.spoolDir, 'corrupt'), { recursive: true });
  // One message file is unreadable (mode 000) to a process that cannot override file modes: root
  // without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH, so the checkout needs no other owner.
  const bad = path.join(s.spoolDir, 'queue', `${ids[1]}.msg`);
  await chmod(bad, 0o000);
  const r = await runCli(['start', '--config', s.config], s.dir, { withoutPermissionOverride: true });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`cannot read spool file ${bad.replace(/[.]/g, '\\.')}: EACCES.*\\(E_SPOOL_IO\\)`));
  const fatal = r.stdout.split('\n').filter((l) => l.includes('"E_SPOOL_IO"')).map((l) => JSON.parse(l) as { file: string; errno: string });
  assert.equal(fatal[0]?.file, bad);
  assert.equal(fatal[0]?.errno, 'EACCES');
  assert.deepEqual(await readdir(path.join(s.spoolDir, 'corrupt')), [], 'nothing moved aside');
  await chmod(bad, 0o640);
  await assertNothingHappened(s.spoolDir);
});

