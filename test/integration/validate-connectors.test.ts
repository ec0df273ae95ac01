// `sluice validate` and `sluice connectors` over real sockets. Validate runs every stage against
// smart hosts started here: a good one (DomainValidation with the test CA), a dead port, one whose
// certificate does not carry the connector's tlsDomain, and one that answers 5xx to the test
// message; each stage's status is asserted. Connectors shows configuration without a daemon and
// the daemon's live numbers (queue depth, connections, host-down marks) when one runs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { launch, runCli, testConfig, type SluiceProcess } from '../helpers/sluice.js';
import { freePort } from '../helpers/ports.js';
import { message, send } from '../helpers/clients.js';

let certs: CertSet;
let good: SmartHost;
let refusing: SmartHost;
let dir: string;
let configPath: string;
let deadPort: number;
let sluicePort: number;
let sluice: SluiceProcess | undefined;

interface Stage {
  stage: string;
  status: string;
  target: string | null;
  detail: string;
  data?: Record<string, unknown>;
}

before(async () => {
  certs = await makeCertSet();
  const serverTls = { cert: certs.server.cert, key: certs.server.key };
  good = await startSmartHost({ tls: serverTls, clientCa: certs.ca.cert });
  refusing = await startSmartHost({ tls: serverTls, onData: () => '554 5.6.0 Message refused by policy' });
  deadPort = await freePort();
  dir = await mkdtemp(path.join(tmpdir(), 'sluice-validate-'));
  sluicePort = await freePort();
  const tlsOk = { tlsSettings: 'DomainValidation', tlsCa: [certs.ca.certPath] };
  const config = {
    ...testConfig({ port: sluicePort, dir, certs }),
    inboundConnectors: [
      { name: 'On-prem by IP', connectorType: 'OnPremises', senderIPAddresses: ['10.0.0.0/24'] },
      { name: 'Partner by cert', connectorType: 'Partner', tlsSenderCertificateName: 'mail.contoso.com', senderDomains: ['contoso.com'] },
      { name: 'Loopback relay', connectorType: 'OnPremises', senderIPAddresses: ['127.0.0.1'] },
    ],
    outboundConnectors: [
      {
        name: 'Good',
        recipientDomains: ['good.test'],
        smartHosts: [`localhost:${good.port}`],
        ...tlsOk,
        tlsCert: certs.clients.goodCn.certPath,
        tlsKey: certs.clients.goodCn.keyPath,
        validationRecipients: ['check@good.test'],
      },
      { name: 'Dead', recipientDomains: ['dead.test'], smartHosts: [`127.0.0.1:${deadPort}`], validationRecipients: ['check@dead.test'] },
      { name: 'Wrong name', recipientDomains: ['wrong.test'], smartHosts: [`127.0.0.1:${good.port}`], ...tlsOk, tlsDomain: 'mail.fabrikam.com' },
      { name: 'Refusing', recipientDomains: ['refusing.test'], smartHosts: [`127.0.0.1:${refusing.port}`], tlsSettings: 'EncryptionOnly' },
      { name: 'Switched off', enabled: false, recipientDomains: ['off.test'], smartHosts: [`127.0.0.1:${good.port}`] },
    ],
  };
  configPath = path.join(dir, 'sluice.yaml');
  await writeFile(configPath, stringify(config));
});

after(async () => {
  await sluice?.stop();
  await good?.close();
  await refusing?.close();
});

async function validate(args: string[]): Promise<{ code: number | null; stages: Stage[]; out: string }> {
  const r = await runCli(['validate', ...args, '--json', '--config', configPath], dir);
  let stages: Stage[] = [];
  try {
    stages = (JSON.parse(r.stdout) as { stages: Stage[] }).stages;
  } catch {
    assert.fail(`no JSON from validate: ${r.stdout} ${r.stderr}`);
  }
  return { code: r.code, stages, out: r.stdout };
}

const statuses = (stages: Stage[]) => stages.map((s) => `${s.stage}:${s.status}`);

describe('sluice validate (outbound)', () => {
  test('a good smart host passes every stage, with its extensions, certificate and the delivered test message', async () => {
    const before = good.messages.length;
    const r = await validate(['Good']);
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(statuses(r.stages), ['Resolve:passed', 'Connect:passed', 'EHLO:passed', 'TLS:passed', 'Send:passed']);
    const ehlo = r.stages.find((s) => s.stage === 'EHLO')!;
    assert.ok((ehlo.data!.extensions as string[]).includes('STARTTLS'));
    const tls = r.stages.find((s) => s.stage === 'TLS')!;
    assert.equal(tls.data!.subject, 'localhost');
    assert.equal(tls.data!.issuer, 'Sluice Test CA');
    assert.equal(tls.data!.tlsSettings, 'DomainValidation');
    const got = await good.waitFor(before + 1);
    const msg = got[got.length - 1]!;
    assert.deepEqual([msg.mailFrom, msg.rcptTo], ['SluiceConnectorValidation@gateway.sluice.test', ['check@good.test']]);
    assert.match(msg.raw.toString(), /Subject: Test email for connector validation/);
    // The connector's client certificate was presented to the smart host.
    assert.equal(good.connections.at(-1)!.peerCertificate?.cn, 'mail.contoso.com');
  });

  test('a dead smart host fails at Connect and nothing is sent', async () => {
    const r = await validate(['outbound', 'Dead']);
    assert.equal(r.code, 1);
    assert.deepEqual(statuses(r.stages), ['Resolve:passed', 'Connect:failed', 'Send:skipped']);
    assert.match(r.stages[1]!.detail, /ECONNREFUSED/);
  });

  test('a certificate without the connector tlsDomain fails at TLS with EOP\'s SubjectMismatch reply', async () => {
    const r = await validate(['Wrong name', '--recipient', 'x@wrong.test']);
    assert.equal(r.code, 1);
    assert.deepEqual(statuses(r.stages), ['Resolve:passed', 'Connect:passed', 'EHLO:passed', 'TLS:failed', 'Send:skipped']);
    assert.match(r.stages[3]!.detail, /^450 4\.4\.317 .*SubjectMismatch Expected Subject: mail\.fabrikam\.com/);
  });

  test('a smart host that refuses the test message with 5xx fails at Send with its reply', async () => {
    const r = await validate(['Refusing', '--recipient', 'x@refusing.test']);
    assert.equal(r.code, 1);
    assert.deepEqual(statuses(r.stages), ['Resolve:passed', 'Connect:passed', 'EHLO:passed', 'TLS:passed', 'Send:failed']);
    assert.match(r.stages[4]!.detail, /554 5\.6\.0 Message refused by policy/);
    assert.equal(refusing.messages.length, 0);
  });

  test('a disabled connector fails with a clear reason, and an unknown name is an error', async () => {
    const r = await validate(['Switched off', '--recipient', 'x@off.test']);
    assert.equal(r.code, 1);
    assert.deepEqual(statuses(r.stages), ['Connector:failed']);
    assert.match(r.stages[0]!.detail, /disabled/);
    const unknown = await runCli(['validate', 'Nope', '--config', configPath], dir);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no outbound connector named "Nope"/);
  });

  test('the text report names each stage and the result', async () => {
    const r = await runCli(['validate', 'Dead', '--config', configPath], dir);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /FAILED\s+Connect/);
    assert.match(r.stdout, /Result: failed/);
  });
});

describe('sluice validate (inbound)', () => {
  test('an IP inside a connector range matches it by IP', async () => {
    const r = await runCli(['validate', '--inbound', 'On-prem by IP', '--ip', '10.0.0.5', '--json', '--config', configPath], dir);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { connector: string; matchedBy: string; matched: boolean };
    assert.deepEqual([out.connector, out.matchedBy, out.matched], ['On-prem by IP', 'ip', true]);
  });

  test('a client certificate issued by the clientCa matches the certificate connector; a foreign one does not', async () => {
    const ok = await runCli(['validate', 'inbound', '--ip', '192.0.2.9', '--cert', certs.clients.goodCn.certPath, '--json', '--config', configPath], dir);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as { connector: string }).connector, 'Partner by cert');
    const foreign = await runCli(['validate', 'inbound', 'Partner by cert', '--ip', '192.0.2.9', '--cert', certs.clients.otherCa.certPath, '--config', configPath], dir);
    assert.equal(foreign.code, 1);
    assert.match(foreign.stdout, /not issued by a server\.tls\.clientCa authority/);
    assert.match(foreign.stdout, /Partner by cert: not matched/);
  });
});

describe('sluice connectors', () => {
  test('without a daemon: configuration, last validation, and a note that live state is missing', async () => {
    const r = await runCli(['connectors', '--json', '--config', configPath], dir);
    assert.equal(r.code, 0, r.stderr);
    const v = JSON.parse(r.stdout) as { daemon: { running: boolean; note: string }; inbound: any[]; outbound: any[] };
    assert.equal(v.daemon.running, false);
    assert.match(v.daemon.note, /no daemon running/);
    assert.deepEqual(v.inbound.map((c) => c.name), ['On-prem by IP', 'Partner by cert', 'Loopback relay']);
    assert.deepEqual(v.inbound[0].senderIPAddresses, ['10.0.0.0/24']);
    const goodRow = v.outbound.find((c) => c.name === 'Good');
    assert.deepEqual([goodRow.tlsSettings, goodRow.routing, goodRow.enabled], ['DomainValidation', [`localhost:${good.port}`], true]);
    assert.equal(goodRow.lastValidation.passed, true, 'validated by the test above');
    const dead = v.outbound.find((c) => c.name === 'Dead');
    assert.deepEqual([dead.lastValidation.passed, dead.lastValidation.failedStage.stage], [false, 'Connect']);
    assert.equal(v.outbound.find((c) => c.name === 'Switched off').enabled, false);
    assert.equal(dead.connections, null);
  });

  test('with the daemon running: queue depth, last error, host-down marks and connections come from it', async () => {
    sluice = await launch(dir, configPath, sluicePort);
    // A message to the dead smart host stays queued and marks the host down.
    const raw = message({ from: 'john@contoso.com', to: 'someone@dead.test', subject: 'to a dead host' });
    await send({ port: sluicePort, from: 'john@contoso.com', to: ['someone@dead.test'], raw });
    await sluice.waitForLog((l) => l.msg === 'delivery deferred', 15_000);
    const r = await runCli(['connectors', '--json', '--config', configPath], dir);
    assert.equal(r.code, 0, r.stderr);
    const v = JSON.parse(r.stdout) as { daemon: { running: boolean }; outbound: any[] };
    assert.equal(v.daemon.running, true);
    const dead = v.outbound.find((c) => c.name === 'Dead');
    assert.equal(dead.queueDepth, 1);
    assert.ok(dead.lastDeliveryError, 'the last delivery error is shown');
    assert.deepEqual(dead.hostsDown.map((h: { host: string }) => h.host), [`127.0.0.1:${deadPort}`]);
    assert.deepEqual(dead.connections, { open: 0, busy: 0 });
    const text = await runCli(['connectors', '--config', configPath], dir);
    assert.match(text.stdout, /live state from the running daemon/);
    assert.match(text.stdout, /Dead {2}\[Partner\] enabled: yes/);
    assert.match(text.stdout, /queue: {5}1 message/);
  });
});
