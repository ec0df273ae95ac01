// The admin HTTP listener over real sockets: /healthz, /readyz naming the failing check (a broken
// config edit, a full spool disk), /metrics counting reloads; a bearer token is required by the
// config when the listener is not on loopback, and enforced with 401.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { stringify } from 'yaml';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { runCli, startSluice, testConfig, type SluiceProcess } from '../helpers/sluice.js';
import { adminGet, series } from '../helpers/admin-http.js';
import { freePort } from '../helpers/ports.js';
import { mountTmpfs } from '../helpers/tmpfs.js';
import { message, send } from '../helpers/clients.js';

const TOKEN = 'test-token-0123456789abcdef';
let certs: CertSet;

before(async () => {
  certs = await makeCertSet();
});

describe('health and readiness', () => {
  let sluice: SluiceProcess;
  before(async () => {
    sluice = await startSluice({ certs });
  });
  after(async () => {
    await sluice?.stop();
  });

  test('/healthz answers ok and /readyz lists every check as passing', async () => {
    const h = await adminGet(sluice.adminPort!, '/healthz');
    assert.deepEqual([h.status, h.body], [200, 'ok\n']);
    const r = await adminGet(sluice.adminPort!, '/readyz');
    assert.equal(r.status, 200, r.body);
    assert.match(r.body, /^ready\n/);
    for (const name of ['listening', 'spool', 'config', 'trace']) assert.match(r.body, new RegExp(`^ok ${name}: `, 'm'));
    const j = await adminGet(sluice.adminPort!, '/readyz?json');
    assert.equal((JSON.parse(j.body) as { ready: boolean }).ready, true);
    assert.equal((await adminGet(sluice.adminPort!, '/nope')).status, 404);
  });

  test('a broken config edit makes /readyz 503 naming the config check, and a fixed one makes it ready again', async () => {
    const good = await readFile(sluice.configPath, 'utf8');
    const before = (await adminGet(sluice.adminPort!, '/metrics')).body;
    await writeFile(sluice.configPath, good.replace('maxRecipients: 20', 'maxRecipients: -3'));
    await sluice.waitForLog((l) => l.msg === 'configuration rejected; keeping the running one');
    const r = await adminGet(sluice.adminPort!, '/readyz');
    assert.equal(r.status, 503);
    assert.match(r.body, /^not ready: config\n/);
    assert.match(r.body, /^FAIL config: the last reload failed at .*maxRecipients/m);
    const m = (await adminGet(sluice.adminPort!, '/metrics')).body;
    assert.equal(series(m, 'sluice_config_reload_failures_total') - series(before, 'sluice_config_reload_failures_total'), 1);
    assert.equal(series(m, 'sluice_config_reload_failed'), 1);
    const n = sluice.logs.length;
    await writeFile(sluice.configPath, good);
    await sluice.waitForLog((l) => l.msg === 'configuration reloaded' && sluice.logs.indexOf(l) >= n);
    assert.equal((await adminGet(sluice.adminPort!, '/readyz')).status, 200);
    const m2 = (await adminGet(sluice.adminPort!, '/metrics')).body;
    assert.ok(series(m2, 'sluice_config_reloads_total') >= 1);
    assert.equal(series(m2, 'sluice_config_reload_failed'), 0);
  });
});

test('a full spool disk makes /readyz 503 naming the spool check', async (t) => {
  const fs = await mountTmpfs(4 * 1024 * 1024);
  if (typeof fs === 'string') return t.skip(fs);
  let sluice: SluiceProcess | undefined;
  try {
    sluice = await startSluice({ certs, config: (port, dir) => ({ ...testConfig({ port, dir, certs }), spool: { dir: path.join(fs.dir, 'spool') }, trace: { path: path.join(dir, 'trace.db') } }) });
    assert.equal((await adminGet(sluice.adminPort!, '/readyz')).status, 200);
    await fs.fill();
    const r = await adminGet(sluice.adminPort!, '/readyz');
    assert.equal(r.status, 503, r.body);
    assert.match(r.body, /^not ready: spool\n/);
    assert.match(r.body, /^FAIL spool: not writable \(ENOSPC\)/m);
    await fs.free();
    assert.equal((await adminGet(sluice.adminPort!, '/readyz')).status, 200);
  } finally {
    await sluice?.stop();
    await fs.unmount();
  }
});

test('a trace store that cannot be opened fails /readyz\'s trace check and mail still flows', async () => {
  const sluice = await startSluice({
    certs,
    config: (port, dir) => ({
      ...testConfig({ port, dir, certs }),
      trace: { path: path.join(dir, 'no-such-dir', 'trace.db') },
      // Nothing listens there: the message is accepted and stays queued.
      outboundConnectors: [{ name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: ['127.0.0.1:9'] }],
    }),
  });
  try {
    await sluice.waitForLog((l) => l.code === 'E_TRACE_OPEN');
    const r = await adminGet(sluice.adminPort!, '/readyz');
    assert.equal(r.status, 503);
    assert.match(r.body, /^not ready: trace\n/);
    const m = await adminGet(sluice.adminPort!, '/metrics');
    assert.equal(series(m.body, 'sluice_trace_writable'), 0);
    const sent = await send({ port: sluice.port, from: 'bob@fabrikam.com', to: ['john@contoso.com'], raw: message({ from: 'bob@fabrikam.com', to: 'john@contoso.com', subject: 'still flows' }) });
    assert.match(sent.response, /^250 /);
  } finally {
    await sluice.stop();
  }
});

describe('the admin token', () => {
  async function configFile(admin: Record<string, unknown>): Promise<{ dir: string; file: string; port: number }> {
    const dir = await mkdtemp(path.join(tmpdir(), 'sluice-admin-'));
    await mkdir(dir, { recursive: true });
    const port = await freePort();
    const file = path.join(dir, 'sluice.yaml');
    await writeFile(file, stringify({ ...testConfig({ port, dir, certs }), admin }));
    return { dir, file, port };
  }

  test('listening on anything but loopback without a token is a config error naming admin.token, and start refuses', async () => {
    const { dir, file } = await configFile({ listen: '0.0.0.0:0' });
    const check = await runCli(['check', '--config', file]);
    assert.equal(check.code, 1);
    assert.match(check.stderr + check.stdout, /admin\.token: the admin listener on 0\.0\.0\.0 is reachable from other hosts/);
    const start = await runCli(['start', '--config', file], dir);
    assert.equal(start.code, 1, 'the daemon refuses to start');
    assert.match(start.stderr + start.stdout, /admin\.token/);
  });

  test('with a token, a request without it or with a wrong one gets 401 and the right one gets the metrics', async () => {
    const sluice = await startSluice({ certs, patch: { admin: { listen: '0.0.0.0:0', token: TOKEN } } });
    try {
      const none = await adminGet(sluice.adminPort!, '/metrics');
      assert.equal(none.status, 401);
      assert.equal((await adminGet(sluice.adminPort!, '/healthz', 'wrong-token-0123456789')).status, 401);
      const ok = await adminGet(sluice.adminPort!, '/metrics', TOKEN);
      assert.equal(ok.status, 200);
      assert.match(ok.body, /^# TYPE sluice_queue_depth gauge$/m);
    } finally {
      await sluice.stop();
    }
  });
});
