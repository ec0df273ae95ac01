// Table tests for config.source: postgres: how the local file is laid over a pushed version,
// where an issue of the layered config is located, which version a replica starts from, and
// the last good copy's format (a torn copy is no copy).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chooseStart,
  formatLastGood,
  fromLocal,
  isPostgresSource,
  layerConfig,
  localOverrides,
  parseLastGood,
  postgresUrlOf,
  pushDecision,
  sha256,
  shouldApply,
  type ConfigVersion,
} from '../../../src/cluster/config-merge.js';
import { loadLayered } from '../../../src/cluster/config-layered.js';
import { ConfigError, parseConfigYaml } from '../../../src/config/load.js';

const pushed = {
  server: { hostname: 'mx.example', listen: [{ host: '0.0.0.0', port: 25 }], limits: { maxRecipients: 100 } },
  acceptedDomains: [{ domain: 'contoso.com' }],
  cluster: { enabled: false },
  config: { source: 'file' },
  spool: { dir: '/pushed/spool' },
};
const local = {
  config: { source: 'postgres' },
  cluster: { enabled: true, postgres: { url: 'postgresql://db/sluice' } },
  spool: { dir: '/var/lib/sluice/spool' },
  server: { listen: [{ host: '10.0.0.2', port: 25 }] },
};

const layerRows: { name: string; pushed: unknown; local: unknown; want: unknown }[] = [
  {
    name: 'bootstrap keys come from the local file only; a local mapping merges, a local list replaces',
    pushed,
    local,
    want: {
      server: { hostname: 'mx.example', listen: [{ host: '10.0.0.2', port: 25 }], limits: { maxRecipients: 100 } },
      acceptedDomains: [{ domain: 'contoso.com' }],
      config: { source: 'postgres' },
      cluster: { enabled: true, postgres: { url: 'postgresql://db/sluice' } },
      spool: { dir: '/var/lib/sluice/spool' },
    },
  },
  {
    name: 'a pushed bootstrap key the local file leaves out is dropped, not inherited',
    pushed,
    local: { config: { source: 'postgres' } },
    want: { server: pushed.server, acceptedDomains: pushed.acceptedDomains, config: { source: 'postgres' } },
  },
  { name: 'an empty pushed document leaves the local file', pushed: null, local: { a: 1 }, want: { a: 1 } },
  { name: 'a local scalar replaces a pushed mapping', pushed: { server: { hostname: 'x' } }, local: { server: 'y' }, want: { server: 'y' } },
];

for (const r of layerRows) test(`layerConfig: ${r.name}`, () => assert.deepEqual(layerConfig(r.pushed, r.local), r.want));

test('layerConfig shares nothing with its inputs', () => {
  const out = layerConfig(pushed, local) as typeof pushed;
  out.server.listen[0]!.port = 1;
  assert.equal(local.server.listen[0]!.port, 25);
  assert.equal(pushed.server.listen[0]!.port, 25);
});

const originRows: { path: (string | number)[]; local: boolean }[] = [
  { path: ['cluster', 'postgres', 'url'], local: true },
  { path: ['spool'], local: true },
  { path: ['config', 'source'], local: true },
  { path: ['server', 'listen', 0, 'port'], local: true }, // inside a list the local file replaced
  { path: ['server', 'listen'], local: true },
  { path: ['server', 'hostname'], local: false },
  { path: ['server'], local: true }, // the local file sets part of it: its line is the better hint
  { path: ['acceptedDomains', 0, 'domain'], local: false },
  { path: [], local: false },
];
for (const r of originRows) test(`fromLocal: ${r.path.join('.') || '(root)'} → ${r.local ? 'local file' : 'pushed version'}`, () => assert.equal(fromLocal(local, r.path), r.local));

test('localOverrides names what a replica sets differently, not the bootstrap keys', () => {
  assert.deepEqual(localOverrides(pushed, { ...local, admin: { listen: '127.0.0.1:0' } }), ['server.listen', 'admin (local only)']);
});

test('isPostgresSource and postgresUrlOf read a parsed local file defensively', () => {
  assert.equal(isPostgresSource(local), true);
  assert.equal(isPostgresSource(pushed), false);
  assert.equal(isPostgresSource(null), false);
  assert.equal(isPostgresSource({ config: 'postgres' }), false);
  assert.equal(postgresUrlOf(local), 'postgresql://db/sluice');
  assert.equal(postgresUrlOf({ cluster: { postgres: { url: '  ' } } }), null);
  assert.equal(postgresUrlOf({ cluster: { postgres: { url: 5 } } }), null);
});

const v = (id: number, yaml = `# v${id}\n`): ConfigVersion => ({ id, createdAt: '2026-12-01T10:00:00.000Z', pushedBy: 'ops@host', sha256: sha256(yaml), yaml });

const startRows: { name: string; newest: ConfigVersion | null | Error; lastGood: ConfigVersion | null; want: string; id?: number }[] = [
  { name: 'database up: its newest version, even with an older copy on disk', newest: v(7), lastGood: v(6), want: 'database', id: 7 },
  { name: 'database up, no copy: its newest version', newest: v(7), lastGood: null, want: 'database', id: 7 },
  { name: 'database down: the last good copy', newest: new Error('ECONNREFUSED'), lastGood: v(6), want: 'last-good', id: 6 },
  { name: 'database down and no copy: nothing to start from', newest: new Error('ECONNREFUSED'), lastGood: null, want: 'none' },
  { name: 'nothing pushed yet and no copy: nothing to start from', newest: null, lastGood: null, want: 'none' },
  { name: 'table emptied: the last good copy', newest: null, lastGood: v(6), want: 'last-good', id: 6 },
];
for (const r of startRows) {
  test(`chooseStart: ${r.name}`, () => {
    const c = chooseStart(r.newest, r.lastGood);
    assert.equal(c.use, r.want);
    if (c.use !== 'none') assert.equal(c.version.id, r.id);
    else assert.match(c.why, /push|unreachable/);
  });
}

test('shouldApply: any other newest row (a newer push, or an older one after a bad row was deleted)', () => {
  assert.equal(shouldApply(null, v(1)), true);
  assert.equal(shouldApply(v(1), v(2)), true);
  assert.equal(shouldApply(v(3), v(2)), true);
  assert.equal(shouldApply(v(2), v(2)), false);
  assert.equal(shouldApply(v(2), null), false);
});

test('pushDecision: the same document as the newest version is not stored again', () => {
  assert.deepEqual(pushDecision(null, 'a: 1\n'), { store: true });
  assert.deepEqual(pushDecision(v(4, 'a: 1\n'), 'a: 1\n'), { store: false, sameAs: 4 });
  assert.deepEqual(pushDecision(v(4, 'a: 1\n'), 'a: 2\n'), { store: true });
});

test('the last good copy round-trips, and a torn or foreign file is no copy', () => {
  const version = v(9, 'server:\n  hostname: mx.example\n');
  const text = formatLastGood(version);
  assert.deepEqual(parseLastGood(text), version);
  assert.equal(parseLastGood(text.slice(0, -5)), null);
  assert.equal(parseLastGood('server: {}\n'), null);
  // A comment header: the copy is still a config file an operator can read and check.
  assert.ok(text.split('\n').slice(0, 3).every((l) => l.startsWith('# ')));
});

test('loadLayered locates each issue in its layer: the local file by path and line, the version by number and line', () => {
  const localText = 'config:\n  source: postgres\ncluster:\n  enabled: true\n  postgres:\n    url: postgresql://db/sluice\nserver:\n  listen:\n    - host: 127.0.0.1\n      port: -1\n';
  const pushedText = 'server:\n  hostname: mx.example\n  listen: [{ host: 0.0.0.0, port: 25 }]\n  tls: { cert: a.crt, key: a.key }\nacceptedDomains:\n  - domain: contoso.com\n  - domain: "not a domain!"\n';
  const parsedLocal = parseConfigYaml(localText, '/etc/sluice/local.yaml');
  assert.throws(
    () => loadLayered(parsedLocal, '/etc/sluice/local.yaml', v(3, pushedText)),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const where = err.issues.map((i) => `${i.file}:${i.line}: ${i.path}`);
      assert.ok(where.includes('/etc/sluice/local.yaml:10: server.listen[0].port'), where.join('\n'));
      assert.ok(where.includes('config version 3:7: acceptedDomains[1].domain'), where.join('\n'));
      return true;
    },
  );
});

test('loadLayered compiles a valid pair into one model naming both layers', () => {
  const localText = 'config:\n  source: postgres\ncluster:\n  enabled: true\n  postgres:\n    url: postgresql://db/sluice\nspool:\n  dir: /tmp/replica-a/spool\n';
  const pushedText = 'server:\n  hostname: mx.example\n  listen: [{ host: 0.0.0.0, port: 25 }]\n  tls: { cert: a.crt, key: a.key }\nacceptedDomains:\n  - domain: contoso.com\nspool:\n  dir: /pushed/spool\n';
  const { model } = loadLayered(parseConfigYaml(localText, '/etc/sluice/local.yaml'), '/etc/sluice/local.yaml', v(3, pushedText));
  assert.equal(model.spool.dir, '/tmp/replica-a/spool');
  assert.equal(model.config.source, 'postgres');
  assert.equal(model.cluster.postgresUrl, 'postgresql://db/sluice');
  assert.deepEqual(model.acceptedDomains.map((d) => d.domain), ['contoso.com']);
  assert.equal(model.source, 'config version 3 + /etc/sluice/local.yaml');
});

test('config.source: postgres without the database URL is refused at config.source', () => {
  const localText = 'config:\n  source: postgres\n';
  const pushedText = 'server:\n  hostname: mx.example\n  listen: [{ host: 0.0.0.0, port: 25 }]\n  tls: { cert: a.crt, key: a.key }\n';
  assert.throws(
    () => loadLayered(parseConfigYaml(localText, 'local.yaml'), 'local.yaml', v(1, pushedText)),
    (err: unknown) => err instanceof ConfigError && err.issues.some((i) => i.file === 'local.yaml' && i.path === 'config.source' && i.line === 2),
  );
});
