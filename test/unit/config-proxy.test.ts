// The PROXY protocol keys: server.listen[].proxyProtocol and server.trustedProxies, with their
// key paths when wrong.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfigText } from '../../src/config/load.js';

const config = (listen: string, extra = '') => `server:
  hostname: gw.example.test
  listen: [${listen}]
${extra}  tls: { cert: certs/server.crt, key: certs/server.key }
`;

function issues(text: string): { path: string; message: string }[] {
  try {
    loadConfigText(text, 'test.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.issues.map((i) => ({ path: i.path, message: i.message }));
  }
  assert.fail('expected the config to be rejected');
}

test('a proxy listener with trusted proxies compiles them into IP rules', () => {
  const m = loadConfigText(config('{ host: 0.0.0.0, port: 25, proxyProtocol: true }, { host: 127.0.0.1, port: 2525 }', '  trustedProxies: [10.0.0.0/29, 192.0.2.7]\n'), 'test.yaml');
  assert.deepEqual(m.server.listen.map((l) => l.proxyProtocol), [true, false]);
  assert.deepEqual(m.server.trustedProxies.map((r) => r.raw), ['10.0.0.0/29', '192.0.2.7']);
});

test('proxyProtocol: true without trustedProxies is refused at the listener that asks for it', () => {
  const [issue, ...rest] = issues(config('{ host: 127.0.0.1, port: 2525 }, { host: 127.0.0.1, port: 2526, proxyProtocol: true }'));
  assert.equal(rest.length, 0);
  assert.equal(issue?.path, 'server.listen[1].proxyProtocol');
  assert.match(issue!.message, /needs server\.trustedProxies/);
});

test('a bad trusted proxy address names its index', () => {
  const [issue] = issues(config('{ host: 127.0.0.1, port: 2525, proxyProtocol: true }', '  trustedProxies: [10.0.0.0/33]\n'));
  assert.equal(issue?.path, 'server.trustedProxies[0]');
});

test('proxyProtocol must be true or false', () => {
  const [issue] = issues(config('{ host: 127.0.0.1, port: 2525, proxyProtocol: yes please }', '  trustedProxies: [10.0.0.1]\n'));
  assert.equal(issue?.path, 'server.listen[0].proxyProtocol');
});
