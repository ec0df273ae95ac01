// Client certificates as identity: only a chain that verifies against server.tls.clientCa, with a name
// that equals a connector's tlsSenderCertificateName or is covered by its "*.domain" (the domain and
// any name under it; a wildcard certificate only literally), may identify a connector. Each case is observed twice at the smart hosts: whether a relay recipient gets
// through (the "internet" host) and what the Received header the on-prem host got says. Complements
// test/integration/core-flow.test.ts (which checks the relay refusal for the stock bad certificates).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import tls from 'node:tls';
import { createCert } from '../../src/certs/generate.js';
import { Dialog, openSession, startGateway, stillServing, upgrade, waitForToken, withToken, delay, type Gateway } from '../helpers/security-fixtures.js';

let gw: Gateway;
const token = () => `tok${randomBytes(6).toString('hex')}`;
type Pem = { cert: string; key: string };
/** Certificates this file adds to the stock set, all signed by the trusted test CA unless noted. */
let extra: Record<string, Pem>;

before(async () => {
  gw = await startGateway({
    inboundConnectors: [
      { name: 'Exact', connectorType: 'OnPremises', senderDomains: ['*'], tlsSenderCertificateName: 'mail.contoso.com' },
      { name: 'Wildcard', connectorType: 'OnPremises', senderDomains: ['*'], tlsSenderCertificateName: '*.contoso.com' },
      { name: 'On-prem IP', connectorType: 'OnPremises', senderDomains: ['*'], senderIPAddresses: ['127.0.0.2'] },
      { name: 'Disabled', enabled: false, connectorType: 'OnPremises', senderDomains: ['*'], tlsSenderCertificateName: 'mail.fabrikam.com' },
    ],
  });
  const ca = gw.certs.ca;
  const key = gw.certs.clients.goodCn.key;
  const signed = (cn: string, sans?: string[], usage: 'client' | 'server' = 'client') => createCert({ ca, cn, usage, key, ...(sans ? { sans } : {}) });
  extra = {
    oneLabelCn: signed('relay.contoso.com'),
    oneLabelSan: signed('unrelated-name', ['relay.contoso.com']),
    bareParent: signed('contoso.com'),
    glued: signed('evilcontoso.com'),
    suffixed: signed('mail.contoso.com.evil.example'),
    upperCase: signed('MAIL.CONTOSO.COM'),
    serverOnly: signed('mail.contoso.com', undefined, 'server'),
  };
});

after(async () => {
  await gw?.stop();
});

interface Case {
  name: string;
  cert: () => Pem;
  localAddress?: string;
  /** The connector the session must be attributed to; null = anonymous. */
  connector: string | null;
  matchedBy?: 'certificate' | 'ip';
}

const stock = (n: keyof Gateway['certs']['clients']) => () => gw.certs.clients[n];
const CASES: Case[] = [
  { name: 'a name one label under the wildcard, in the CN only', cert: () => extra.oneLabelCn!, connector: 'Wildcard' },
  { name: 'a name one label under the wildcard, in a SAN only', cert: () => extra.oneLabelSan!, connector: 'Wildcard' },
  { name: 'a name two labels under the wildcard (a.b.contoso.com)', cert: stock('deepName'), connector: 'Wildcard' },
  { name: 'the wildcard\'s bare domain (contoso.com, which "*.contoso.com" covers)', cert: () => extra.bareParent!, connector: 'Wildcard' },
  { name: 'a certificate that itself carries "*.contoso.com" (literal match)', cert: stock('wildcard'), connector: 'Wildcard' },
  { name: 'a name glued onto the domain (evilcontoso.com)', cert: () => extra.glued!, connector: null },
  { name: 'the right name followed by a foreign suffix', cert: () => extra.suffixed!, connector: null },
  { name: 'the right name in upper case', cert: () => extra.upperCase!, connector: 'Exact' },
  { name: 'the right name self-signed', cert: stock('selfSigned'), connector: null },
  { name: 'the right name from another CA', cert: stock('otherCa'), connector: null },
  { name: 'the right name, expired', cert: stock('expired'), connector: null },
  { name: 'the right name, not yet valid', cert: stock('notYetValid'), connector: null },
  { name: 'a wrong name that only a disabled connector lists', cert: stock('wrongName'), connector: null },
  { name: 'the right name without the clientAuth key usage', cert: () => extra.serverOnly!, connector: null },
  { name: 'the right name from the on-prem IP (certificate beats IP)', cert: stock('goodCn'), localAddress: '127.0.0.2', connector: 'Exact' },
  { name: 'a self-signed certificate from the on-prem IP (falls back to the IP)', cert: stock('selfSigned'), localAddress: '127.0.0.2', connector: 'On-prem IP', matchedBy: 'ip' },
];

/** One STARTTLS session with the certificate: a relay recipient, then a local one, then DATA. */
async function probe(c: Case, t: string): Promise<{ relayReply: string }> {
  const raw = await openSession(gw.sluice.port, c.localAddress ? { localAddress: c.localAddress } : {});
  assert.match(await raw.cmd('STARTTLS'), /^220 /);
  const cert = c.cert();
  const d = new Dialog(await upgrade(raw, { cert: cert.cert, key: cert.key }));
  assert.match(await d.cmd('EHLO client.example'), /^250/);
  assert.match(await d.cmd('MAIL FROM:<news@fabrikam.example>'), /^250 /);
  const relayReply = await d.cmd(`RCPT TO:<relay-${t}@fabrikam.com>`);
  assert.match(await d.cmd(`RCPT TO:<local-${t}@contoso.com>`), /^250 /);
  assert.match(await d.cmd('DATA'), /^354 /);
  d.write(`Subject: certificate ${t}\r\n\r\n${t}\r\n.\r\n`);
  assert.match(await d.reply(), /^250 /);
  await d.cmd('QUIT');
  d.close();
  return { relayReply };
}

const receivedOf = (raw: Buffer) => /^Received: [^]*?\r\n(?=[^\t ])/.exec(raw.toString('latin1'))?.[0] ?? '';

describe('which client certificates identify a connector', () => {
  for (const c of CASES) {
    const expect = c.connector ? `identifies "${c.connector}" by ${c.matchedBy ?? 'certificate'}` : 'identifies nothing';
    test(`${c.name} ${expect}`, async () => {
      const t = token();
      const { relayReply } = await probe(c, t);
      const local = await waitForToken(gw.onprem, t);
      const received = receivedOf(local.raw);
      assert.match(received, /with ESMTPS/);
      if (c.connector) {
        assert.match(received, new RegExp(`\\(inbound connector "${c.connector}" by ${c.matchedBy ?? 'certificate'}\\)`), received);
      } else {
        assert.match(received, /\(anonymous\)/, received);
      }
      if (c.connector && (c.matchedBy ?? 'certificate') === 'certificate') {
        assert.match(relayReply, /^250 /, 'a certificate-matched on-prem connector may relay');
        const relayed = await waitForToken(gw.internet, t);
        assert.deepEqual(relayed.rcptTo, [`relay-${t}@fabrikam.com`]);
        assert.match(receivedOf(relayed.raw), new RegExp(`inbound connector "${c.connector}" by certificate`));
      } else {
        // Anonymous: 5.4.1. Matched by IP with a foreign MAIL FROM domain: 5.7.64.
        assert.match(relayReply, c.connector ? /^550 5\.7\.64 / : /^550 5\.4\.1 /);
        await delay(150);
        assert.equal(withToken(gw.internet, t).length, 0, 'nothing relayed');
      }
    });
  }
});

describe('a client certificate on a plaintext session', () => {
  test('a plaintext session carries no certificate, so it is anonymous and may not relay', async () => {
    // Without STARTTLS there is no TLS handshake, so there is nothing a certificate could be sent in.
    const t = token();
    const c = await openSession(gw.sluice.port);
    assert.equal(typeof (c.socket as Partial<tls.TLSSocket>).getPeerCertificate, 'undefined', 'a plain TCP socket has no peer certificate');
    await c.cmd('MAIL FROM:<news@fabrikam.example>');
    assert.match(await c.cmd(`RCPT TO:<relay-${t}@fabrikam.com>`), /^550 5\.4\.1 /);
    assert.match(await c.cmd(`RCPT TO:<local-${t}@contoso.com>`), /^250 /);
    await c.cmd('DATA');
    c.write(`Subject: plain ${t}\r\n\r\n${t}\r\n.\r\n`);
    assert.match(await c.reply(), /^250 /);
    c.close();
    const got = await waitForToken(gw.onprem, t);
    assert.match(receivedOf(got.raw), /with ESMTP id .*\(anonymous\)/s);
    assert.equal(withToken(gw.internet, t).length, 0);
  });

  test('a TLS handshake with a good certificate sent straight to the plaintext port fails and identifies nothing', async () => {
    const before = gw.sluice.logs.filter((l) => l.msg === 'session classified after STARTTLS').length;
    const cert = gw.certs.clients.goodCn;
    const err = await new Promise<Error | null>((resolve) => {
      const s = tls.connect({ port: gw.sluice.port, host: '127.0.0.1', rejectUnauthorized: false, cert: cert.cert, key: cert.key });
      const timer = setTimeout(() => (s.destroy(), resolve(new Error('timed out'))), 5_000);
      s.once('secureConnect', () => (clearTimeout(timer), s.destroy(), resolve(null)));
      s.once('error', (e) => (clearTimeout(timer), resolve(e)));
    });
    assert.ok(err, 'no TLS session can start before STARTTLS');
    await delay(200);
    assert.equal(gw.sluice.logs.filter((l) => l.msg === 'session classified after STARTTLS').length, before, 'no session was classified by certificate');
    assert.ok(await stillServing(gw.sluice));
  });
});
