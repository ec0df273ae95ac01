// config.source: postgres with a real PostgreSQL and two real replicas: a pushed version reaches
// both by NOTIFY and shows over SMTP; an invalid push is refused with file, key path and line and
// stores nothing; a version that loads but cannot run is refused by the replicas (the running
// config stays, /readyz says so, and a replica restarted meanwhile starts from its last good copy);
// with the database stopped a restarted replica starts from its last good copy, and catches up
// once the database is back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { makeCertSet, type CertSet } from '../../helpers/certs.js';
import { startPostgres, type PostgresServer } from '../../helpers/postgres.js';
import { launch, runCli, testConfig, type SluiceProcess } from '../../helpers/sluice.js';
import { RawSmtp } from '../../helpers/raw-smtp.js';
import { adminGet } from '../../helpers/admin-http.js';
import { freePort } from '../../helpers/ports.js';

const APPLY_DEADLINE_MS = 15_000;

let postgres: PostgresServer;
let certs: CertSet;
let work: string;
const replicas: SluiceProcess[] = [];

/** A whole config to push: the test defaults with `acceptedDomains` and any patch. */
function version(domains: string[], patch: Record<string, unknown> = {}): Record<string, unknown> {
  const base = testConfig({
    port: 2525,
    dir: work,
    certs,
    patch: {
      acceptedDomains: domains.map((domain) => ({ domain, type: 'Authoritative' })),
      // An accepted domain needs a route to be accepted at RCPT; these tests never send DATA.
      outboundConnectors: [{ name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: ['127.0.0.1:2'] }],
    },
  });
  return { ...base, ...patch };
}

async function push(name: string, doc: Record<string, unknown> | string): Promise<{ code: number | null; stdout: string; stderr: string; file: string }> {
  const file = path.join(work, name);
  await writeFile(file, typeof doc === 'string' ? doc : stringify(doc));
  return { ...(await runCli(['config', 'push', file, '--url', postgres.url, '--by', 'test'])), file };
}

async function versionCount(): Promise<number> {
  const r = await runCli(['config', 'versions', '--url', postgres.url, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as unknown[]).length;
}

/** The reply to RCPT TO:<rcpt> from an anonymous internet sender. */
async function rcpt(replica: SluiceProcess, to: string): Promise<string> {
  const c = await RawSmtp.connect(replica.port);
  try {
    assert.match(await c.reply(), /^220 /);
    assert.match(await c.cmd('EHLO client.example'), /^250/);
    assert.match(await c.cmd('MAIL FROM:<someone@external.example>'), /^250/);
    return await c.cmd(`RCPT TO:<${to}>`);
  } finally {
    c.write('QUIT\r\n');
    c.close();
  }
}

async function eventually(what: string, cond: () => Promise<boolean>, deadlineMs = APPLY_DEADLINE_MS): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (!(await cond())) {
    if (Date.now() > until) assert.fail(`not within ${deadlineMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startReplica(nodeId: string): Promise<SluiceProcess> {
  const dir = await mkdtemp(path.join(tmpdir(), `sluice-cfgsrc-${nodeId}-`));
  const port = await freePort();
  const local = {
    config: { source: 'postgres' },
    cluster: { enabled: true, nodeId, postgres: { url: postgres.url } },
    spool: { dir: path.join(dir, 'spool') },
    // What differs per replica; everything else comes from the pushed version.
    server: { listen: [{ host: '127.0.0.1', port }] },
  };
  const configPath = path.join(dir, 'sluice.yaml');
  await writeFile(configPath, stringify(local));
  const r = await launch(dir, configPath, port);
  replicas.push(r);
  return r;
}

before(async () => {
  postgres = await startPostgres();
  work = await mkdtemp(path.join(tmpdir(), 'sluice-cfgsrc-'));
  certs = await makeCertSet();
});

after(async () => {
  for (const r of replicas) await r.stop();
  await postgres?.destroy();
});

describe('configuration from PostgreSQL', () => {
  let a: SluiceProcess;
  let b: SluiceProcess;

  before(async () => {
    const first = await push('v1.yaml', version(['contoso.com']));
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /stored config version 1/);
    [a, b] = await Promise.all([startReplica('replica-a'), startReplica('replica-b')]);
  });

  test('both replicas run version 1, each on the listen address its local file sets', async () => {
    for (const r of [a, b]) {
      assert.match(await rcpt(r, 'user@contoso.com'), /^250 /);
      assert.ok(r.logs.some((l) => l.msg === 'running config version 1'));
    }
    assert.notEqual(a.port, b.port);
  });

  test('a pushed version that adds an accepted domain is applied by both replicas', async (t) => {
    for (const r of [a, b]) assert.match(await rcpt(r, 'user@fabrikam.test'), /^550 5\.4\.1 /);
    const pushed = await push('v2.yaml', version(['contoso.com', 'fabrikam.test']));
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, /stored config version 2/);
    const pushedAt = Date.now();
    for (const r of [a, b]) await eventually(`${r.dir} accepts fabrikam.test`, async () => /^250 /.test(await rcpt(r, 'user@fabrikam.test')));
    t.diagnostic(`push to both replicas accepting the new domain: ${Date.now() - pushedAt} ms`);
    // Each replica keeps what it runs as its last good copy, beside its spool.
    for (const r of [a, b]) await eventually(`${r.dir} wrote version 2`, async () => (await readFile(path.join(r.dir, 'config.last-good.yaml'), 'utf8').catch(() => '')).startsWith('# sluice config version 2\n'));
    // The tools read what a replica runs from its local file and last good copy, without the database.
    const checked = await runCli(['check', '--config', a.configPath], a.dir);
    assert.equal(checked.code, 0, checked.stderr);
    assert.match(checked.stdout, /^OK: .* 2 accepted domains/);
    const shown = await runCli(['config', 'show', '--version', '2', '--url', postgres.url]);
    assert.equal(shown.stdout, await readFile(pushed.file, 'utf8'));
    // The same document again stores nothing.
    const again = await push('v2-again.yaml', await readFile(pushed.file, 'utf8'));
    assert.match(again.stdout, /unchanged: .* is config version 2/);
    assert.equal(await versionCount(), 2);
  });

  test('an invalid version is refused with file, key path and line, and nothing is stored', async () => {
    const bad = 'server:\n  hostname: gateway.sluice.test\n  listen: [{ host: 127.0.0.1, port: 2525 }]\n' +
      `  tls: { cert: ${certs.server.certPath}, key: ${certs.server.keyPath} }\n` +
      'outboundConnectors: [{ name: To on-prem, connectorType: OnPremises, allAcceptedDomains: true, smartHosts: ["127.0.0.1:2"] }]\n' +
      'acceptedDomains:\n  - domain: contoso.com\n  - domain: "not a domain!"\n  - domain: fabrikam.test\n';
    const r = await push('bad.yaml', bad);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${r.file.replace(/[.]/g, '\\.')}:8:\\d+: acceptedDomains\\[1\\]\\.domain: `), r.stderr);
    assert.match(r.stderr, /refused: nothing stored/);
    assert.equal(await versionCount(), 2);
    for (const x of [a, b]) {
      assert.match(await rcpt(x, 'user@fabrikam.test'), /^250 /);
      assert.ok(!x.logs.some((l) => l.msg === 'configuration rejected; keeping the running one'));
    }
  });

  test('a version that loads but cannot run here is refused by each replica: the running config stays, /readyz says so', async () => {
    // Certificate files are checked where they are read: on the replica, not at push.
    const missing = path.join(work, 'no-such.crt');
    const v3 = version(['contoso.com', 'fabrikam.test', 'northwind.test']);
    (v3.server as Record<string, unknown>).tls = { cert: missing, key: certs.server.keyPath };
    const pushed = await push('v3.yaml', v3);
    assert.equal(pushed.code, 0, pushed.stderr);
    for (const r of [a, b]) {
      const line = await r.waitForLog((l) => l.msg === 'configuration rejected; keeping the running one', APPLY_DEADLINE_MS);
      assert.match(String(line.errors), /no-such\.crt/);
      const ready = await adminGet(r.adminPort!, '/readyz');
      assert.equal(ready.status, 503, ready.body);
      assert.match(ready.body, /the last reload failed/);
      assert.match(await rcpt(r, 'user@northwind.test'), /^550 5\.4\.1 /);
      assert.match(await rcpt(r, 'user@fabrikam.test'), /^250 /);
    }
    // A replica restarted meanwhile does not stay down for it: it starts from its last good copy.
    assert.equal(await b.stop(), 0);
    b = await b.restart();
    replicas.push(b);
    assert.ok(b.logs.some((l) => l.msg === 'config version 3 does not load on this replica; starting from the last good copy of config version 2'), JSON.stringify(b.logs.slice(0, 6)));
    assert.match(await rcpt(b, 'user@fabrikam.test'), /^250 /);
    assert.equal((await adminGet(b.adminPort!, '/readyz')).status, 503);
    // Pushing a fixed version clears it.
    const fixed = await push('v4.yaml', version(['contoso.com', 'fabrikam.test', 'northwind.test']));
    assert.equal(fixed.code, 0, fixed.stderr);
    for (const r of [a, b]) {
      await eventually(`${r.dir} accepts northwind.test`, async () => /^250 /.test(await rcpt(r, 'user@northwind.test')));
      await eventually(`${r.dir} ready again`, async () => (await adminGet(r.adminPort!, '/readyz')).status === 200);
    }
  });

  test('with PostgreSQL stopped a restarted replica starts from its last good copy; it catches up when the database returns', async () => {
    await postgres.stop();
    assert.equal(await a.stop(), 0);
    const restarted = await a.restart();
    replicas.push(restarted);
    a = restarted;
    assert.ok(a.logs.some((l) => l.code === 'E_CONFIG_LAST_GOOD' && l.version === 4), JSON.stringify(a.logs.slice(0, 10)));
    assert.match(await rcpt(a, 'user@northwind.test'), /^250 /);
    assert.match(await rcpt(a, 'user@fabrikam.test'), /^250 /);
    const ready = await adminGet(a.adminPort!, '/readyz');
    assert.equal(ready.status, 200, ready.body);
    assert.match(ready.body, /postgres unreachable since/);
    // One line per outage, not one per retry.
    const retries = () => a.logs.filter((l) => l.msg === 'config notifications: cannot connect; retrying').length;
    await eventually('the notification connection retried', async () => retries() >= 2);
    assert.equal(a.logs.filter((l) => l.code === 'E_POSTGRES_DOWN').length, 1);

    await postgres.start();
    const v5 = await push('v5.yaml', version(['contoso.com', 'fabrikam.test', 'northwind.test', 'tailspin.test']));
    assert.equal(v5.code, 0, v5.stderr);
    for (const r of [a, b]) await eventually(`${r.dir} accepts tailspin.test`, async () => /^250 /.test(await rcpt(r, 'user@tailspin.test')));
    await eventually('readyz no longer degraded', async () => !/postgres unreachable/.test((await adminGet(a.adminPort!, '/readyz')).body));
  });
});
