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

test("route reproduces Microsoft's example: john@sales.contoso.com goes to the *.contoso.com connector, which covers contoso.com too", async () => {
  const r = await runCli([
    'route', '--config', path.join(dir, 'hybrid.yaml'), '--from', 'sun@fabrikam.com', '--to', 'john@sales.contoso.com', '--to', 'bob@contoso.com', '--ip', '203.0.113.9', '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { inbound: { connector: null }; recipients: { recipient: string; outbound: { connector: string; rule: string } }[] };
  assert.equal(out.inbound.connector, null);
  const byRcpt = Object.fromEntries(out.recipients.map((x) => [x.recipient, x.outbound]));
  assert.deepEqual(byRcpt['john@sales.contoso.com'], { kind: 'connector', connector: 'Contoso subdomains', rule: 'wildcard:*.contoso.com' });
  // No exact connector here, and wildcards come before allAcceptedDomains: "*.contoso.com" covers contoso.com itself.
  assert.deepEqual(byRcpt['bob@contoso.com'], { kind: 'connector', connector: 'Contoso subdomains', rule: 'wildcard:*.contoso.com' });
});

test('route without --ip explains an anonymous internet sender and says so', async () => {
  const r = await runCli(['route', '--config', path.join(dir, 'hybrid.yaml'), '--from', 'x@example.org', '--to', 'bob@contoso.com']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^inbound: +\(anonymous internet sender\) — anonymous: no connector matched certificate or IP \(no --ip or --cert-name given: an internet sender\)$/m);
  const json = await runCli(['route', '--config', path.join(dir, 'hybrid.yaml'), '--from', 'x@example.org', '--to', 'bob@contoso.com', '--json']);
  const out = JSON.parse(json.stdout) as { inbound: { ip: string | null; connector: string | null } };
  assert.deepEqual([out.inbound.ip, out.inbound.connector], [null, null]);
});

test('route shows the Direct Send refusal at MAIL FROM, with the reason an admin needs', async () => {
  await writeFile(path.join(dir, 'direct-send.yaml'), HYBRID + 'organization: { rejectDirectSend: true }\n');
  const r = await runCli(['route', '--config', path.join(dir, 'direct-send.yaml'), '--from', 'ceo@contoso.com', '--to', 'bob@contoso.com', '--ip', '203.0.113.9']);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(
    r.stdout,
    /^sender: +<ceo@contoso\.com> 550 5\.7\.68 TenantInboundAttribution; Direct Send not allowed for this organization from unauthorized sources — direct send: anonymous session with MAIL FROM in accepted domain contoso\.com/m,
  );
  const onPrem = await runCli(['route', '--config', path.join(dir, 'direct-send.yaml'), '--from', 'ceo@contoso.com', '--to', 'bob@contoso.com', '--ip', '10.0.0.5']);
  assert.equal(onPrem.code, 0, onPrem.stdout);
});

test('check explains the smart-hosts-or-MX rule in EOP\'s words', async () => {
  await writeFile(path.join(dir, 'no-hosts.yaml'), HYBRID.replace('    useMxRecord: true\n', ''));
  const r = await runCli(['check', '--config', path.join(dir, 'no-hosts.yaml')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no-hosts\.yaml:\d+:\d+: outboundConnectors\[2\]: an outbound connector needs smartHosts or useMxRecord: true\./);
  assert.match(r.stderr, /"specifies the smart hosts the Outbound connector uses to route mail\. This parameter is required if you set the UseMxRecord parameter to \$false"/);
});

test('check refuses allAcceptedDomains on a Partner outbound connector and warns where connectorType was left out', async () => {
  await writeFile(path.join(dir, 'partner-all.yaml'), HYBRID.replace('  - name: All accepted\n    connectorType: OnPremises\n', '  - name: All accepted\n    connectorType: Partner\n'));
  const bad = await runCli(['check', '--config', path.join(dir, 'partner-all.yaml')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /partner-all\.yaml:19:5: outboundConnectors\[0\]\.allAcceptedDomains: allAcceptedDomains: true is only valid on an OnPremises outbound connector/);
  await writeFile(path.join(dir, 'untyped-all.yaml'), HYBRID.replace('  - name: All accepted\n    connectorType: OnPremises\n', '  - name: All accepted\n'));
  const warned = await runCli(['check', '--config', path.join(dir, 'untyped-all.yaml')]);
  assert.equal(warned.code, 0, warned.stderr);
  assert.match(warned.stdout, /^OK: /);
  assert.match(warned.stderr, /^warning: .*untyped-all\.yaml:18:5: outboundConnectors\[0\]\.allAcceptedDomains: .*defaults to Partner.*add connectorType: OnPremises$/m);
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

test('route proves the lock-down example: internet senders only through the service, on-prem relays', async () => {
  const example = ['route', '--config', 'config/examples/partner-lockdown.yaml'];
  const direct = await runCli([...example, '--from', 'sun@fabrikam.com', '--to', 'john@contoso.com']);
  assert.equal(direct.code, 2, direct.stdout + direct.stderr);
  assert.match(direct.stdout, /^rcpt: +<john@contoso\.com> 550 5\.7\.51 TenantInboundAttribution; There is a partner connector configured that matched the message's recipient domain\. .* — restriction: partner connector 'From filtering service': sender IP \(unknown\) not in senderIPAddresses$/m);
  const viaService = await runCli([...example, '--from', 'sun@fabrikam.com', '--to', 'john@contoso.com', '--ip', '203.0.113.10']);
  assert.equal(viaService.code, 0, viaService.stdout);
  for (const onPrem of [['--ip', '192.0.2.99', '--cert-name', 'mail1.contoso.com'], ['--ip', '192.0.2.10']]) {
    const r = await runCli([...example, '--from', 'john@contoso.com', '--to', 'sun@fabrikam.com', ...onPrem]);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^inbound: +From Contoso on-prem \[OnPremises\]/m);
  }
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
