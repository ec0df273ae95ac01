// The daemon's status object (observe/status.ts), which /readyz and /metrics read, kept true by
// start, reload and drain: run in this process so the test reads the same object the admin
// listener would.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { createLogger } from '../../src/observe/log.js';
import { status } from '../../src/observe/status.js';
import { makeCertSet } from '../helpers/certs.js';
import { testConfig } from '../helpers/sluice.js';
import { freePort } from '../helpers/ports.js';
import { RawSmtp } from '../helpers/raw-smtp.js';

let daemon: Daemon | undefined;
let configPath: string;

before(async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-status-'));
  configPath = path.join(dir, 'sluice.yaml');
  const config = testConfig({ port: await freePort(), dir, certs: await makeCertSet() }) as Record<string, any>;
  config.server.drainTimeout = '3s';
  await writeFile(configPath, stringify(config));
  daemon = await startDaemon(configPath, createLogger('silent'));
});

after(async () => {
  await daemon?.stop();
});

async function edit(change: (c: Record<string, any>) => void): Promise<void> {
  const c = parse(await readFile(configPath, 'utf8')) as Record<string, any>;
  change(c);
  await writeFile(configPath, stringify(c));
}

test('start sets listening, the spool lock and the loaded config', () => {
  assert.equal(status.listening, true);
  assert.equal(status.spoolLocked, true);
  assert.equal(status.config.source, configPath);
  assert.ok(status.config.loadedAt !== null && status.config.loadedAt <= Date.now());
});

test('a failed reload sets reloadFailure with file, line and key path; a good one clears it', async () => {
  await edit((c) => (c.server.limits.maxRecipients = 'many'));
  const bad = await daemon!.reload();
  assert.equal(bad.ok, false);
  assert.ok(status.reloadFailure, 'reloadFailure set');
  assert.match(status.reloadFailure.errors, /sluice\.yaml:\d+:\d+/);
  assert.match(status.reloadFailure.errors, /server\.limits\.maxRecipients/);
  assert.equal(daemon!.model().server.limits.maxRecipients, 20, 'the running config is unchanged');
  const loadedBefore = status.config.loadedAt!;
  await edit((c) => {
    c.server.limits.maxRecipients = 9;
    c.spool.dir = `${c.spool.dir}-moved`;
  });
  const good = await daemon!.reload();
  assert.equal(good.ok, true);
  assert.equal(status.reloadFailure, null);
  assert.deepEqual(status.pendingRestart, ['spool.dir']);
  assert.equal(daemon!.model().server.limits.maxRecipients, 9);
  assert.ok(status.config.loadedAt! >= loadedBefore);
});

test('a TLS file that cannot be read fails the reload and changes nothing', async () => {
  await edit((c) => (c.server.tls.cert = '/nonexistent/server.crt'));
  const r = await daemon!.reload();
  assert.equal(r.ok, false);
  assert.match(status.reloadFailure!.errors, /sluice\.yaml:\d+:\d+: server\.tls\.cert: cannot read TLS certificate/);
  assert.notEqual(daemon!.model().server.tls.cert, '/nonexistent/server.crt');
});

test('SIGTERM drain: draining is set, a new connection gets 421 4.3.2, listening clears when done', async () => {
  const port = daemon!.addresses[0]!.port;
  const inFlight = await RawSmtp.connect(port);
  assert.match(await inFlight.reply(), /^220 /);
  const stopping = daemon!.stop();
  assert.equal(status.draining, true);
  const late = await RawSmtp.connect(port);
  assert.match(await late.reply(), /^421 4\.3\.2 Service shutting down/);
  late.close();
  // The idle session in flight is closed with 421 4.3.2 at drainTimeout (3 s).
  assert.match(await inFlight.reply(10_000), /^421 4\.3\.2 Service shutting down/);
  await stopping;
  daemon = undefined;
  assert.equal(status.listening, false);
  assert.equal(status.spoolLocked, false);
});
