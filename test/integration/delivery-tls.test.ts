// Outbound TLS per connector over real sockets: the daemon relays to recording smart hosts (with
// and without STARTTLS, with a test-CA certificate for localhost/127.0.0.1) and to a raw fake that
// injects plaintext after "220 Ready" or breaks the handshake. Assertions are on what the smart
// hosts received (and whether over TLS) and on the deferral log lines with EOP's 4.4.317 texts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { arrivedFor, startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { startSluice, type LogLine, type SluiceProcess } from '../helpers/sluice.js';
import { startFakeSmtp, type FakeSmtp } from '../helpers/fake-smtp.js';
import { message, send } from '../helpers/clients.js';

let certs: CertSet;
let tlsHost: SmartHost;
let plainHost: SmartHost;
let certHost: SmartHost;
let injector: FakeSmtp;
let breaker: FakeSmtp;
let sluice: SluiceProcess;

const connector = (name: string, domain: string, host: string, extra: Record<string, unknown> = {}) => ({
  name,
  connectorType: 'Partner',
  recipientDomains: [domain],
  smartHosts: [host],
  ...extra,
});

before(async () => {
  certs = await makeCertSet();
  const serverTls = { cert: certs.server.cert, key: certs.server.key };
  tlsHost = await startSmartHost({ tls: serverTls });
  plainHost = await startSmartHost();
  certHost = await startSmartHost({ tls: serverTls, clientCa: certs.ca.cert });
  injector = await startFakeSmtp({ tls: serverTls, mode: 'inject', injection: '250 injected\r\n', tlsEhloDelayMs: 300 });
  breaker = await startFakeSmtp({ tls: serverTls, mode: 'break' });
  const t = `127.0.0.1:${tlsHost.port}`;
  sluice = await startSluice({
    certs,
    patch: {
      inboundConnectors: [{ name: 'On-prem IP', connectorType: 'OnPremises', senderDomains: ['*'], senderIPAddresses: ['127.0.0.2'] }],
      outboundConnectors: [
        connector('Opportunistic', 'opp.test', t),
        connector('Opportunistic to plain', 'oppplain.test', `127.0.0.1:${plainHost.port}`),
        connector('EncOnly to plain', 'encplain.test', `127.0.0.1:${plainHost.port}`, { tlsSettings: 'EncryptionOnly' }),
        connector('EncOnly', 'encok.test', t, { tlsSettings: 'EncryptionOnly' }),
        connector('CertVal no CA', 'certbad.test', t, { tlsSettings: 'CertificateValidation' }),
        connector('CertVal with CA', 'certok.test', t, { tlsSettings: 'CertificateValidation', tlsCa: [certs.ca.certPath] }),
        connector('DomainVal wrong', 'dvbad.test', t, { tlsSettings: 'DomainValidation', tlsDomain: 'mail.fabrikam.com', tlsCa: [certs.ca.certPath] }),
        connector('DomainVal by IP', 'dvip.test', t, { tlsSettings: 'DomainValidation', tlsCa: [certs.ca.certPath] }),
        connector('DomainVal by name', 'dvname.test', `localhost:${tlsHost.port}`, { tlsSettings: 'DomainValidation', tlsCa: [certs.ca.certPath] }),
        connector('Client cert', 'clientcert.test', `127.0.0.1:${certHost.port}`, {
          tlsSettings: 'CertificateValidation',
          tlsCa: [certs.ca.certPath],
          tlsCert: certs.clients.goodCn.certPath,
          tlsKey: certs.clients.goodCn.keyPath,
        }),
        connector('Injector', 'inject.test', `127.0.0.1:${injector.port}`),
        connector('Broken TLS', 'broken.test', `127.0.0.1:${breaker.port}`),
        connector('Broken TLS required', 'brokenreq.test', `127.0.0.1:${breaker.port}`, { tlsSettings: 'EncryptionOnly' }),
      ],
    },
  });
});

after(async () => {
  await sluice?.stop();
  await Promise.all([tlsHost, plainHost, certHost, injector, breaker].map((h) => h?.close()));
});

async function relay(to: string): Promise<void> {
  const raw = message({ from: 'john@contoso.com', to, subject: `tls ${to}` });
  await send({ port: sluice.port, localAddress: '127.0.0.2', from: 'john@contoso.com', to: [to], raw });
}

const arrived = (host: SmartHost, rcpt: string, timeoutMs = 10_000) => arrivedFor(host, rcpt, timeoutMs);

const deferral = (rcpt: string) => (l: LogLine) => l.msg === 'delivery deferred' && l.rcpt === rcpt;

describe('outbound TLS per connector', () => {
  test('opportunistic TLS uses STARTTLS when the smart host offers it, whatever its certificate', async () => {
    await relay('a@opp.test');
    assert.equal((await arrived(tlsHost, 'a@opp.test')).secure, true);
  });

  test('opportunistic TLS delivers in plaintext to a smart host without STARTTLS', async () => {
    await relay('a@oppplain.test');
    assert.equal((await arrived(plainHost, 'a@oppplain.test')).secure, false);
  });

  test('EncryptionOnly refuses a smart host without STARTTLS with 450 4.4.317 [Message=451 5.7.3 …]', async () => {
    await relay('a@encplain.test');
    const line = await sluice.waitForLog(deferral('a@encplain.test'));
    assert.equal(line.status, '4.4.317');
    assert.equal(line.error, '450 4.4.317 Cannot connect to remote server [Message=451 5.7.3 STARTTLS is required to send mail]');
    assert.match(String(line.rule), /^tls-policy/);
    assert.ok(!plainHost.messages.some((m) => m.rcptTo.includes('a@encplain.test')), 'nothing sent in plaintext');
  });

  test('EncryptionOnly accepts a certificate from a CA nobody trusts', async () => {
    await relay('a@encok.test');
    assert.equal((await arrived(tlsHost, 'a@encok.test')).secure, true);
  });

  test('CertificateValidation without the private CA defers with [Message=UntrustedRoot]', async () => {
    await relay('a@certbad.test');
    const line = await sluice.waitForLog(deferral('a@certbad.test'));
    assert.equal(line.error, '450 4.4.317 Cannot connect to remote server [Message=UntrustedRoot]');
    assert.ok(!tlsHost.messages.some((m) => m.rcptTo.includes('a@certbad.test')));
  });

  test('CertificateValidation with tlsCa delivers over TLS', async () => {
    await relay('a@certok.test');
    assert.equal((await arrived(tlsHost, 'a@certok.test')).secure, true);
  });

  test('DomainValidation with another tlsDomain defers with SubjectMismatch naming both subjects', async () => {
    await relay('a@dvbad.test');
    const line = await sluice.waitForLog(deferral('a@dvbad.test'));
    assert.equal(
      line.error,
      '450 4.4.317 Cannot connect to remote server [Message=SubjectMismatch Expected Subject: mail.fabrikam.com Presented Subject: CN=localhost SAN=localhost,127.0.0.1]',
    );
    assert.ok(!tlsHost.messages.some((m) => m.rcptTo.includes('a@dvbad.test')));
  });

  test('DomainValidation without tlsDomain checks the smart host given as an IP against the IP SAN', async () => {
    await relay('a@dvip.test');
    assert.equal((await arrived(tlsHost, 'a@dvip.test')).secure, true);
  });

  test('DomainValidation without tlsDomain checks the smart host name (localhost, resolved by A)', async () => {
    await relay('a@dvname.test');
    assert.equal((await arrived(tlsHost, 'a@dvname.test')).secure, true);
  });

  test('the connector presents its client certificate and the smart host verifies it', async () => {
    await relay('a@clientcert.test');
    const m = await arrived(certHost, 'a@clientcert.test');
    const conn = certHost.connections.find((c) => c.id === m.connectionId);
    assert.equal(conn?.peerCertificate?.authorized, true, JSON.stringify(conn?.peerCertificate));
    assert.equal(conn?.peerCertificate?.cn, 'mail.contoso.com');
  });
});

describe('a misbehaving smart host', () => {
  test('plaintext injected after "220 Ready" is discarded: the client waits for the real EHLO reply', async () => {
    await relay('a@inject.test');
    const deadline = Date.now() + 10_000;
    while (!injector.messages.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const [m] = injector.messages;
    assert.ok(m, 'the message arrived');
    assert.equal(m.secure, true);
    assert.deepEqual(m.rcptTo, ['a@inject.test']);
    assert.deepEqual(injector.outOfTurn, [], 'no command was sent before its reply (the injected 250 was not taken as one)');
    const tlsVerbs = injector.commands.filter((c) => c.secure).map((c) => c.line.slice(0, 4).toUpperCase());
    assert.deepEqual(tlsVerbs.slice(0, 4), ['EHLO', 'MAIL', 'RCPT', 'DATA']);
    assert.ok(!injector.commands.some((c) => !c.secure && /^MAIL/i.test(c.line)), 'no MAIL FROM in plaintext');
  });

  test('nodemailer is at least 10.6.0, the release that discards STARTTLS injections and hardens the upgrade', () => {
    const require = createRequire(import.meta.url);
    const pkgPath = require.resolve('nodemailer').replace(/dist\/.*$/, 'package.json');
    const version = (JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string }).version;
    const [major = 0, minor = 0] = version.split('.').map(Number);
    assert.ok(major > 10 || (major === 10 && minor >= 6), `nodemailer ${version}`);
  });

  test('opportunistic TLS retries once in plaintext on the same host after a broken handshake', async () => {
    await relay('a@broken.test');
    await sluice.waitForLog((l) => l.msg === 'TLS handshake failed; retrying in plaintext (opportunistic TLS)');
    const deadline = Date.now() + 10_000;
    while (!breaker.messages.some((m) => m.rcptTo.includes('a@broken.test')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const m = breaker.messages.find((x) => x.rcptTo.includes('a@broken.test'));
    assert.ok(m, 'delivered after the fallback');
    assert.equal(m.secure, false);
    assert.ok(!breaker.commands.some((c) => c.conn === m.conn && /^STARTTLS/i.test(c.line)), 'the retry did not try STARTTLS');
  });

  test('a required TLS level never falls back: a broken handshake defers with 4.4.317', async () => {
    const before = breaker.messages.length;
    await relay('a@brokenreq.test');
    const line = await sluice.waitForLog(deferral('a@brokenreq.test'));
    assert.match(String(line.error), /^450 4\.4\.317 Cannot connect to remote server \[Message=TlsNegotiationFailed /);
    assert.ok(!breaker.messages.slice(before).some((m) => m.rcptTo.includes('a@brokenreq.test')));
  });
});
