// The `sluice` command as admins and scripts use it: check's exit codes and error positions,
// route's explanation (text and --json), --help, and a daemon that refuses a bad config.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli } from '../helpers/sluice.js';

let dir: string;
const HYBRID = `
server:
  hostname: gw.contoso.com
  listen: [{ host: 127.0.0.1, port: 2525 }]
  tls: { cert: c.crt, key: c.key, clientCa: [ca.crt] }
routing:
  precedence: [exact, wildcard, allAcceptedDomains]
acceptedDomains:
  - { domain: contoso.com }
  - { domain: sales.contoso.com }
inboundConnectors:
  - name: From on-prem
    connectorType: OnPremises
    senderIPAddresses: [10.0.0.0/24]
    tlsSenderCertificateName: mail.contoso.com
outboundConnectors:
  - name: All accepted
    connectorType: OnPremises
    allAcceptedDomains: true
    smartHosts: [mail.contoso.com]
  - name: Contoso subdomains
    connectorType: OnPremises
    recipientDomains: ["*.contoso.com"]
    smartHosts: ["10.0.0.7:2526"]
  - name: Internet
    connectorType: Partner
    recipientDomains: ["*"]
    useMxRecord: true
`;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'sluice-cli-'));
  await writeFile(path.join(dir, 'hybrid.yaml'), HYBRID);
  await writeFile(
    path.join(dir, 'bad.yaml'),
    HYBRID.replace('senderIPAddresses: [10.0.0.0/24]', 'senderIPAddresses: [10.0.0.0/24, 10.0.0.300]').replace('useMxRecord: true', 'useMxRecord: true\n    smartHost: [x]'),
  );
});

test('check exits 0 on the shipped default config', async () => {
  const r = await runCli(['check', '--config', 'config/sluice.yaml']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^OK: /);
});

test('check exits 1 and names file, line and key path of every error', async () => {
  const r = await runCli(['check', '--config', path.join(dir, 'bad.yaml')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bad\.yaml:14:38: inboundConnectors\[0\]\.senderIPAddresses\[1\]: "10\.0\.0\.300"/);
  assert.match(r.stderr, /bad\.yaml:\d+:\d+: outboundConnectors\[2\]\.smartHost: unknown key/);
});

test('start refuses a bad config with the same errors and exit code 1', async () => {
  const r = await runCli(['start', '--config', path.join(dir, 'bad.yaml')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /senderIPAddresses\[1\]/);
});

test("route reproduces Microsoft's example: john@sales.contoso.com goes to the *.contoso.com connector", async () => {
  const r = await runCli([
    'route', '--config', path.join(dir, 'hybrid.yaml'), '--from', 'sun@fabrikam.com', '--to', 'john@sales.contoso.com', '--to', 'bob@contoso.com', '--ip', '203.0.113.9', '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { inbound: { connector: null }; recipients: { recipient: string; outbound: { connector: string; rule: string } }[] };
  assert.equal(out.inbound.connector, null);
  const byRcpt = Object.fromEntries(out.recipients.map((x) => [x.recipient, x.outbound]));
  assert.deepEqual(byRcpt['john@sales.contoso.com'], { kind: 'connector', connector: 'Contoso subdomains', rule: 'wildcard:*.contoso.com' });
  assert.deepEqual(byRcpt['bob@contoso.com'], { kind: 'connector', connector: 'All accepted', rule: 'allAcceptedDomains' });
});

test('route explains a refused relay with the SMTP reply an internet sender would get', async () => {
  const r = await runCli(['route', '--config', path.join(dir, 'hybrid.yaml'), '--from', 'x@example.org', '--to', 'y@fabrikam.com', '--ip', '203.0.113.9']);
  assert.equal(r.code, 2);
  assert.match(r.stdout, /inbound: +\(anonymous internet sender\)/);
  assert.match(r.stdout, /rcpt: +<y@fabrikam\.com> 550 5\.4\.1 Relay Access Denied/);
});

test('route shows an on-prem certificate session relaying to the internet by MX', async () => {
  const r = await runCli([
    'route', '--config', path.join(dir, 'hybrid.yaml'), '--from', 'x@example.org', '--to', 'y@fabrikam.com', '--ip', '198.51.100.1', '--cert-name', 'mail.contoso.com',
  ]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /inbound: +From on-prem \[OnPremises\]/);
  assert.match(r.stdout, /outbound connector "Internet" \(wildcard:\*\)/);
});

test('--help lists every command', async () => {
  const r = await runCli(['--help']);
  assert.equal(r.code, 0);
  for (const c of ['start', 'check', 'route']) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'));
});

test('start refuses to run without its TLS certificate instead of falling back to a built-in key', async () => {
  const config = HYBRID.replace('listen: [{ host: 127.0.0.1, port: 2525 }]', 'listen: [{ host: 127.0.0.1, port: 0 }]');
  await writeFile(path.join(dir, 'nocert.yaml'), config + `spool: { dir: ${path.join(dir, 'spool')} }\n`);
  const r = await runCli(['start', '--config', path.join(dir, 'nocert.yaml')], dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot start: cannot read TLS certificate: .*c\.crt/);
});
