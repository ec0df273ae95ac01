// Spool ownership across real replicas (child-process daemons) and a real PostgreSQL: replica A
// is SIGKILLed with mail queued for a smart host that is down; replica B (cluster.adoptSpools:
// [A's spool]) adopts the spool once the lease has expired and delivers every message exactly
// once; A restarted refuses its adopted spool (E_SPOOL_ADOPTED naming B) until `sluice cluster
// release-spool` hands it back. Also: a second live replica with the same node id refuses to
// start, and a replica whose PostgreSQL is down starts and serves.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { makeCertSet, type CertSet } from '../../helpers/certs.js';
import { startPostgres, type PostgresServer } from '../../helpers/postgres.js';
import { startSmartHost, type SmartHost } from '../../helpers/smart-host.js';
import { runCli, startSluice, type SluiceProcess } from '../../helpers/sluice.js';
import { freePort } from '../../helpers/ports.js';
import { message, send } from '../../helpers/clients.js';
import { adminGet, series } from '../../helpers/admin-http.js';

/** Short leases, so the takeover happens within the test's time. */
const TTL_MS = 3_000;
const RENEW_MS = 1_000;
const MESSAGES = 12;

/** Every daemon started here, killed in after() whatever the test did with it. */
const daemons: SluiceProcess[] = [];
let certs: CertSet;
let postgres: PostgresServer;
/** The smart host's port: nothing listens there until A is dead. */
let sinkPort: number;
let sink: SmartHost | undefined;

before(async () => {
  [certs, postgres] = await Promise.all([makeCertSet(), startPostgres()]);
  sinkPort = await freePort();
});
after(async () => {
  for (const d of daemons) await d.kill().catch(() => undefined);
  await sink?.close();
  await postgres?.destroy();
});

const cluster = (nodeId: string, extra: Record<string, unknown> = {}, url = postgres.url) => ({
  enabled: true,
  nodeId,
  postgres: { url },
  leases: { spoolTtl: `${TTL_MS / 1000}s`, spoolRenew: `${RENEW_MS / 1000}s` },
  ...extra,
});

async function replica(nodeId: string, extra: Record<string, unknown> = {}, url?: string): Promise<SluiceProcess> {
  const d = await startSluice({
    certs,
    patch: {
      delivery: { mxPort: 25, retry: { initial: '1s', max: '1s', lifetime: '1h' } },
      outboundConnectors: [{ name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${sinkPort}`] }],
      cluster: cluster(nodeId, extra, url),
    },
  });
  daemons.push(d);
  return d;
}

async function sendTo(d: SluiceProcess, subject: string): Promise<void> {
  const raw = message({ from: 'sun@example.org', to: 'john@contoso.com', subject, body: `${subject}\r\n` });
  const info = await send({ port: d.port, from: 'sun@example.org', to: ['john@contoso.com'], raw });
  assert.match(info.response, /^250 /);
}

const subjects = (s: SmartHost) => s.messages.map((m) => /Subject: ([^\r\n]+)/.exec(m.raw.toString('latin1'))?.[1] ?? '?').sort();

/** A restart expected to be refused: the error it exited with (a daemon that started is killed and fails the test). */
async function refusedRestart(d: SluiceProcess): Promise<Error> {
  const r = await d.restart().then(
    (p) => p,
    (e: Error) => e,
  );
  if (r instanceof Error) return r;
  daemons.push(r);
  await r.kill();
  assert.fail(`${path.basename(d.dir)} started although it should have been refused`);
}

async function statusJson(configPath: string): Promise<Record<string, any>[]> {
  const r = await runCli(['cluster', 'status', '--config', configPath, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, any>[];
}

test('B adopts the spool of SIGKILLed A after its lease expires and delivers every message once; A refuses until release-spool', async (t) => {
  const a = await replica('alpha');
  const spoolA = path.join(a.dir, 'spool');
  const b = await replica('bravo', { adoptSpools: [spoolA] });
  const spoolIdA = (await readFile(path.join(spoolA, 'spool-id'), 'utf8')).trim();
  // The smart host is down: every message stays queued on A's spool.
  for (let i = 0; i < MESSAGES; i++) await sendTo(a, `takeover ${i}`);
  await a.waitForLog((l) => l.msg === 'spool lease taken');
  const killedAt = Date.now();
  await a.kill();
  sink = await startSmartHost({ port: sinkPort });

  const adopted = await b.waitForLog((l) => l.msg === 'adopted the spool of alpha: delivering its queue', 20_000);
  const adoptedAt = Date.now();
  assert.equal(adopted.spoolId, spoolIdA);
  assert.equal(adopted.epoch, 2);
  const got = await sink.waitFor(MESSAGES, 30_000);
  const firstAt = Math.min(...got.map((m) => m.at));
  const takeoverMs = firstAt - killedAt;
  t.diagnostic(`takeover: SIGKILL of A -> adoption by B ${adoptedAt - killedAt} ms, -> first delivery from B ${takeoverMs} ms (spoolTtl ${TTL_MS} ms, spoolRenew ${RENEW_MS} ms)`);
  // Adopting before the lease ran out would be a bug: A renewed at most RENEW_MS before the kill.
  assert.ok(adoptedAt - killedAt >= TTL_MS - RENEW_MS, `adopted after ${adoptedAt - killedAt} ms, before the lease could expire`);
  assert.ok(takeoverMs < TTL_MS + 8_000, `takeover took ${takeoverMs} ms`);
  // Everything once: nothing more arrives while B works through its retries.
  await b.waitForLog((l) => l.msg === 'message done' && l.adoptedSpool === spoolA && b.logs.filter((x) => x.msg === 'message done' && x.adoptedSpool === spoolA).length === MESSAGES, 20_000);
  assert.deepEqual(subjects(sink), Array.from({ length: MESSAGES }, (_, i) => `takeover ${i}`).sort(), 'each message exactly once');

  // Two replicas, one dead: the status every replica (or no daemon) can print.
  const status = await statusJson(b.configPath);
  assert.deepEqual(status.map((n) => [n.nodeId, n.state]), [['alpha', 'dead'], ['bravo', 'alive']]);
  for (const n of status) for (const k of ['nodeId', 'state', 'lastHeartbeat', 'spoolLease', 'queueDepth', 'connections']) assert.ok(k in n, `${k} in ${JSON.stringify(n)}`);
  const [alpha, bravo] = status as [Record<string, any>, Record<string, any>];
  assert.equal(alpha.spoolLease.owner, 'bravo');
  assert.equal(alpha.spoolLease.epoch, 2);
  assert.ok(Date.parse(alpha.spoolLease.expiresAt) > Date.parse(bravo.lastHeartbeat) - TTL_MS);
  assert.deepEqual(bravo.adopted.map((x: { spoolId: string }) => x.spoolId), [spoolIdA]);
  assert.equal(typeof bravo.queueDepth, 'number');
  assert.equal(typeof bravo.connections, 'object');
  const text = await runCli(['cluster', 'status', '--config', b.configPath]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^NODE +STATE +LAST HEARTBEAT/);
  assert.match(text.stdout, /\nalpha +dead +\S+ +\d+ +[^\n]*bravo@2 until /);
  const metrics = (await adminGet(b.adminPort!, '/metrics')).body;
  assert.equal(series(metrics, 'sluice_cluster_spool_epoch', { spool: spoolIdA, role: 'adopted' }), 2);
  assert.equal(series(metrics, 'sluice_cluster_replicas', { state: 'dead' }), 1);
  assert.equal(series(metrics, 'sluice_cluster_replicas', { state: 'alive' }), 1);

  // A comes back with its old epoch: refused by name, and it delivers nothing.
  const refused = await refusedRestart(a);
  assert.match(refused.message, /E_SPOOL_ADOPTED/);
  assert.match(refused.message, /adopted by bravo \(epoch 2\)/);
  assert.match(refused.message, /release-spool/);
  assert.equal(sink.messages.length, MESSAGES);

  // The operator hands it back; B lets go within a renewal, then A starts on it again.
  const rel = await runCli(['cluster', 'release-spool', '--config', b.configPath, '--spool', spoolA]);
  assert.equal(rel.code, 0, rel.stderr);
  assert.match(rel.stdout, /handed back to alpha \(epoch 3\)/);
  await b.waitForLog((l) => l.msg === 'let go of an adopted spool' && l.spool === spoolA, 10_000);
  const a2 = await a.restart();
  daemons.push(a2);
  const taken = await a2.waitForLog((l) => l.msg === 'spool lease taken');
  assert.equal(taken.epoch, 4);
  await sendTo(a2, 'after release');
  await sink.waitFor(MESSAGES + 1, 15_000);
  assert.deepEqual(subjects(sink).filter((s) => s === 'after release'), ['after release']);
  const again = await statusJson(b.configPath);
  assert.deepEqual(again.map((n) => [n.nodeId, n.state, n.spoolLease?.owner]), [['alpha', 'alive', 'alpha'], ['bravo', 'alive', 'bravo']]);
  assert.deepEqual(again[1]!.adopted, []);
  await a2.stop();
  await b.stop();
});

test('a second live replica with the same node id refuses to start (E_NODE_ID_IN_USE)', async () => {
  const first = await replica('twin');
  const err = await replica('twin').then(
    (d) => d,
    (e: Error) => e,
  );
  if (!(err instanceof Error)) {
    await err.kill();
    assert.fail('the second replica named twin started');
  }
  assert.match(err.message, /E_NODE_ID_IN_USE/);
  assert.match(err.message, new RegExp(`pid ${first.proc.pid}`));
  // The first one is untouched and still serves.
  sink ??= await startSmartHost({ port: sinkPort });
  const before = sink.messages.length;
  await sendTo(first, 'twin still serves');
  await sink.waitFor(before + 1, 15_000);
  await first.stop();
});

test('with PostgreSQL unreachable a replica starts, serves, and says it is degraded in /readyz', async () => {
  const nowhere = `postgresql://postgres@/sluice?host=${encodeURIComponent(path.join(postgres.dir, 'no-such-socket-dir'))}&port=${postgres.port}`;
  const d = await replica('offline', {}, nowhere);
  sink ??= await startSmartHost({ port: sinkPort });
  const before = sink.messages.length;
  await sendTo(d, 'served without postgres');
  await sink.waitFor(before + 1, 15_000);
  const ready = await adminGet(d.adminPort!, '/readyz');
  assert.equal(ready.status, 200, ready.body);
  assert.match(ready.body, /postgres unreachable/);
  // One line for the outage, however many lease rounds failed since the start.
  await d.waitForLog((l) => l.stage === 'cluster' && l.code === 'E_POSTGRES_DOWN');
  assert.equal(d.logs.filter((l) => l.code === 'E_POSTGRES_DOWN').length, 1);
  assert.equal(await d.stop(), 0);
});
