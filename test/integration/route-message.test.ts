// `sluice route --message FILE` as an admin runs it: the filters' verdicts and the outcome after
// the routing explanation, in text and --json, and a missing file as an error (exit 1).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli } from '../helpers/sluice.js';

let dir: string;
const CONFIG = `
server:
  hostname: gw.contoso.com
  listen: [{ host: 127.0.0.1, port: 2525 }]
  tls: { cert: c.crt, key: c.key, clientCa: [ca.crt] }
acceptedDomains:
  - { domain: contoso.com }
outboundConnectors:
  - name: To on-prem
    connectorType: OnPremises
    allAcceptedDomains: true
    smartHosts: [mail.contoso.com]
filters: { timeout: 5s }
`;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'sluice-route-msg-'));
  await writeFile(path.join(dir, 'c.yaml'), CONFIG);
  await writeFile(path.join(dir, 'm.eml'), 'From: <sun@fabrikam.com>\nTo: <bob@contoso.com>\nSubject: hi\n\nhello\n');
});

const args = (...more: string[]) => ['route', '--config', path.join(dir, 'c.yaml'), '--from', 'sun@fabrikam.com', '--to', 'bob@contoso.com', '--ip', '203.0.113.9', ...more];

test('route --message prints the filters and the outcome after the routing lines', async () => {
  const r = await runCli(args('--message', path.join(dir, 'm.eml')));
  assert.ok(r.code === 0 || r.code === 2, r.stderr);
  assert.match(r.stdout, /^rcpt: {5}<bob@contoso\.com> 250 /m);
  assert.match(r.stdout, /^filters: {2}\S/m);
  assert.match(r.stdout, /^outcome: {2}[245]\d\d \d\.\d+\.\d+ .* \(at (MAIL FROM|DATA)\)$/m);
  assert.equal(r.code === 0, /^outcome: {2}250 /m.test(r.stdout), 'exit 0 exactly when the message would be accepted');
});

test('route --message --json adds a filters object with the verdicts, reply and groups', async () => {
  const r = await runCli(args('--message', path.join(dir, 'm.eml'), '--json'));
  const out = JSON.parse(r.stdout) as { filters: { reply: string; at: string; verdicts: unknown[]; groups: { recipients: string[] }[] } };
  assert.ok(Array.isArray(out.filters.verdicts));
  assert.match(out.filters.reply, /^[245]\d\d /);
  if (out.filters.reply.startsWith('250')) assert.deepEqual(out.filters.groups.flatMap((g) => g.recipients), ['bob@contoso.com']);
});

test('route without --message prints no filter lines; a missing message file is an error', async () => {
  const plain = await runCli(args());
  assert.doesNotMatch(plain.stdout, /^filters:/m);
  const missing = await runCli(args('--message', path.join(dir, 'nope.eml')));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot run the filters on .*nope\.eml/);
});
