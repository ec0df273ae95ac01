// The walking skeleton over real sockets: the daemon as a child process, swaks and nodemailer
// as clients, recording smart hosts as the on-prem server and the internet. Every assertion is
// on what a peer actually received (or that it received nothing).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { startSluice, type SluiceProcess } from '../helpers/sluice.js';
import { message, replies, send, swaks } from '../helpers/clients.js';
import { RawSmtp } from '../helpers/raw-smtp.js';

let certs: CertSet;
let onprem: SmartHost;
let internet: SmartHost;
let sluice: SluiceProcess;

function splitMessage(raw: Buffer): { received: string; rest: Buffer } {
  const text = raw.toString('latin1');
  const m = /^Received: [^]*?\r\n(?=[^\t ])/.exec(text);
  assert.ok(m, 'message starts with a Received: header');
  return { received: m[0], rest: raw.subarray(Buffer.byteLength(m[0], 'latin1')) };
}

async function expectNothingDelivered(ms = 600): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
  assert.equal(onprem.messages.length + internet.messages.length, 0, 'no peer received anything');
}

before(async () => {
  certs = await makeCertSet();
  onprem = await startSmartHost();
  internet = await startSmartHost();
  sluice = await startSluice({
    certs,
    patch: {
      acceptedDomains: [{ domain: 'contoso.com', type: 'Authoritative' }],
      inboundConnectors: [
        { name: 'Cert exact', connectorType: 'OnPremises', senderDomains: ['*'], tlsSenderCertificateName: 'mail.contoso.com' },
        { name: 'Cert wildcard', connectorType: 'OnPremises', senderDomains: ['*'], tlsSenderCertificateName: '*.contoso.com' },
        { name: 'On-prem IP', connectorType: 'OnPremises', senderDomains: ['*'], senderIPAddresses: ['127.0.0.2'] },
        {
          name: 'Woodgrove',
          connectorType: 'Partner',
          senderDomains: ['woodgrovebank.com'],
          senderIPAddresses: ['127.0.0.3'],
          requireTls: true,
          restrictDomainsToIPAddresses: true,
        },
      ],
      outboundConnectors: [
        { name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${onprem.port}`] },
        { name: 'To internet', connectorType: 'Partner', recipientDomains: ['*'], smartHosts: [`127.0.0.1:${internet.port}`] },
      ],
    },
  });
});

after(async () => {
  await sluice?.stop();
  await onprem?.close();
  await internet?.close();
});

const reset = () => {
  onprem.messages.length = 0;
  internet.messages.length = 0;
};

describe('inbound from the internet', () => {
  test('an anonymous sender reaches an accepted domain and the on-prem server gets the exact bytes', async () => {
    reset();
    const raw = message({ from: 'sun@example.org', to: 'john@contoso.com', subject: 'hello' }) + 'line two\r\n.dot line\r\n';
    const info = await send({ port: sluice.port, from: 'sun@example.org', to: ['john@contoso.com'], raw });
    assert.match(info.response, /^250 2\.6\.0 Ok: queued as [0-9A-F]+/);
    const [got] = await onprem.waitFor(1);
    assert.equal(got!.mailFrom, 'sun@example.org');
    assert.deepEqual(got!.rcptTo, ['john@contoso.com']);
    const { received, rest } = splitMessage(got!.raw);
    assert.equal(rest.toString('latin1'), raw, 'body byte-for-byte after our Received header');
    assert.match(received, /by gateway\.sluice\.test \(Sluice\) with ESMTP/);
    assert.match(received, /\(anonymous\)/);
    assert.equal(internet.messages.length, 0);
  });

  test('an anonymous sender to a foreign domain gets 550 5.4.1 and nothing is relayed', async () => {
    reset();
    const r = await swaks(['--server', `127.0.0.1:${sluice.port}`, '--from', 'spam@example.org', '--to', 'victim@fabrikam.com']);
    assert.ok(replies(r).includes('550 5.4.1 Relay Access Denied'), r.output);
    await expectNothingDelivered();
  });

  for (const rcpt of ['victim%fabrikam.com@contoso.com', '@contoso.com:victim@fabrikam.com', 'fabrikam.com!victim@contoso.com', 'victim@fabrikam.com.']) {
    test(`the relay trick <${rcpt}> is refused`, async () => {
      reset();
      const c = await RawSmtp.connect(sluice.port);
      await c.reply();
      await c.cmd('EHLO trick.example');
      assert.match(await c.cmd('MAIL FROM:<spam@example.org>'), /^250/);
      const reply = await c.cmd(`RCPT TO:<${rcpt}>`);
      assert.match(reply, /^5\d\d /);
      c.close();
      await expectNothingDelivered(200);
    });
  }

  test('a partner domain from the wrong IP and without TLS is refused with 550 5.7.51 that names no connector', async () => {
    reset();
    const r = await swaks(['--server', `127.0.0.1:${sluice.port}`, '--from', 'clerk@woodgrovebank.com', '--to', 'john@contoso.com']);
    const line = replies(r).find((l) => l.startsWith('550 5.7.51'));
    assert.equal(line, '550 5.7.51 TenantInboundAttribution; STARTTLS is required to send mail to this organization', r.output);
    assert.ok(!r.output.includes('Woodgrove'), 'nothing on the wire names the connector');
    // The log line keeps the connector and every unmet check for the admin.
    await sluice.waitForLog(
      (l) => l.msg === 'recipient refused' && l.reason === "restriction: partner connector 'Woodgrove': TLS required, sender IP 127.0.0.1 not in senderIPAddresses",
    );
    await expectNothingDelivered();
  });

  test('the same partner domain over TLS from the wrong IP gets EOP\'s generic partner text', async () => {
    reset();
    const r = await swaks(['--server', `127.0.0.1:${sluice.port}`, '--tls', '--from', 'clerk@woodgrovebank.com', '--to', 'john@contoso.com']);
    assert.ok(
      replies(r).includes(
        "550 5.7.51 TenantInboundAttribution; There is a partner connector configured that matched the message's recipient domain. The connector had either the RestrictDomainsToIPAddresses or RestrictDomainsToCertificate set",
      ),
      r.output,
    );
    assert.ok(!r.output.includes('Woodgrove'), 'nothing on the wire names the connector');
    await expectNothingDelivered();
  });
});

describe('relay from on-premises', () => {
  test('an on-prem server identified by IP relays a message from an accepted domain to the internet', async () => {
    reset();
    const raw = message({ from: 'john@contoso.com', to: 'sun@fabrikam.com', subject: 'out' });
    await send({ port: sluice.port, localAddress: '127.0.0.2', from: 'john@contoso.com', to: ['sun@fabrikam.com'], raw });
    const [got] = await internet.waitFor(1);
    assert.deepEqual(got!.rcptTo, ['sun@fabrikam.com']);
    assert.match(splitMessage(got!.raw).received, /inbound connector "On-prem IP" by ip/);
    assert.equal(onprem.messages.length, 0);
  });

  test('an on-prem server identified by IP may not relay for a foreign sender domain (550 5.7.64)', async () => {
    reset();
    const r = await swaks(['--server', `127.0.0.1:${sluice.port}`, '--local-interface', '127.0.0.2', '--from', 'x@gmail.example', '--to', 'sun@fabrikam.com']);
    assert.ok(replies(r).includes('550 5.7.64 TenantAttribution; Relay Access Denied'), r.output);
    await expectNothingDelivered();
  });

  test('recipients of one message that route differently are split per route', async () => {
    reset();
    const raw = message({ from: 'john@contoso.com', to: 'many', subject: 'split' });
    await send({ port: sluice.port, localAddress: '127.0.0.2', from: 'john@contoso.com', to: ['bob@contoso.com', 'sun@fabrikam.com'], raw });
    const [a] = await onprem.waitFor(1);
    const [b] = await internet.waitFor(1);
    assert.deepEqual(a!.rcptTo, ['bob@contoso.com']);
    assert.deepEqual(b!.rcptTo, ['sun@fabrikam.com']);
  });
});

describe('inbound connectors by client certificate', () => {
  const cases = [
    { cert: 'goodCn', connector: 'Cert exact' },
    { cert: 'sanOnly', connector: 'Cert exact' },
    { cert: 'wildcard', connector: 'Cert wildcard' },
    // "*.contoso.com" covers a.b.contoso.com: any depth, as EOP defines it.
    { cert: 'deepName', connector: 'Cert wildcard' },
  ] as const;
  for (const c of cases) {
    test(`a CA-signed ${c.cert} certificate identifies "${c.connector}" and may relay`, async () => {
      reset();
      const cert = certs.clients[c.cert];
      const raw = message({ from: 'news@fabrikam.example', to: 'sun@fabrikam.com', subject: c.cert });
      await send({ port: sluice.port, from: 'news@fabrikam.example', to: ['sun@fabrikam.com'], raw, tls: { cert: cert.cert, key: cert.key } });
      const [got] = await internet.waitFor(1);
      assert.match(splitMessage(got!.raw).received, new RegExp(`inbound connector "${c.connector}" by certificate`));
      assert.match(splitMessage(got!.raw).received, /with ESMTPS/);
    });
  }

  for (const bad of ['selfSigned', 'otherCa', 'expired', 'notYetValid', 'wrongName'] as const) {
    test(`a ${bad} certificate identifies nothing, so relay is refused`, async () => {
      reset();
      const cert = certs.clients[bad];
      await assert.rejects(
        send({ port: sluice.port, from: 'x@fabrikam.example', to: ['sun@fabrikam.com'], raw: 'Subject: x\r\n\r\nx\r\n', tls: { cert: cert.cert, key: cert.key } }),
        (err: Error & { responseCode?: number; response?: string }) => err.responseCode === 550 && /5\.4\.1 Relay Access Denied/.test(err.response ?? ''),
      );
      await expectNothingDelivered(200);
    });
  }

  test('swaks with a client certificate over STARTTLS relays through the certificate connector', async () => {
    reset();
    const cert = certs.clients.goodCn;
    const r = await swaks([
      '--server', `127.0.0.1:${sluice.port}`, '--tls', '--tls-cert', cert.certPath, '--tls-key', cert.keyPath,
      '--from', '<>', '--to', 'sun@fabrikam.com', '--header', 'Subject: null sender over certificate',
    ]);
    assert.equal(r.code, 0, r.output);
    const [got] = await internet.waitFor(1);
    assert.equal(got!.mailFrom, '');
  });

  test('the null sender over an IP-matched connector may not relay', async () => {
    reset();
    const r = await swaks(['--server', `127.0.0.1:${sluice.port}`, '--local-interface', '127.0.0.2', '--from', '<>', '--to', 'sun@fabrikam.com']);
    assert.ok(replies(r).some((l) => l.startsWith('550 5.7.64')), r.output);
    await expectNothingDelivered();
  });
});

describe('listener limits', () => {
  test('EHLO advertises SIZE, PIPELINING, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES and STARTTLS', async () => {
    const c = await RawSmtp.connect(sluice.port);
    assert.match(await c.reply(), /^220 gateway\.sluice\.test ESMTP/);
    const ehlo = await c.cmd('EHLO client.example');
    for (const ext of ['SIZE 1048576', 'PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'STARTTLS']) {
      assert.match(ehlo, new RegExp(`250[ -]${ext}\\r?$`, 'm'), ehlo);
    }
    c.close();
  });

  test('a SIZE= above the limit is refused at MAIL FROM with 552 5.3.4', async () => {
    const c = await RawSmtp.connect(sluice.port);
    await c.reply();
    await c.cmd('EHLO client.example');
    assert.match(await c.cmd('MAIL FROM:<a@example.org> SIZE=2000000'), /^552 5\.3\.4 /);
    c.close();
  });

  test('a message over the limit is refused after DATA with 552 5.3.4 and reaches nobody', async () => {
    reset();
    const big = 'Subject: big\r\n\r\n' + ('x'.repeat(998) + '\r\n').repeat(1200);
    await assert.rejects(
      send({ port: sluice.port, from: 'a@example.org', to: ['john@contoso.com'], raw: big }),
      (err: Error & { responseCode?: number; response?: string }) => err.responseCode === 552 && /5\.3\.4/.test(err.response ?? ''),
    );
    await expectNothingDelivered();
  });

  test('the recipient past maxRecipients gets 452 4.5.3', async () => {
    const c = await RawSmtp.connect(sluice.port);
    await c.reply();
    await c.cmd('EHLO client.example');
    await c.cmd('MAIL FROM:<a@example.org>');
    for (let i = 0; i < 20; i++) assert.match(await c.cmd(`RCPT TO:<u${i}@contoso.com>`), /^250/);
    assert.match(await c.cmd('RCPT TO:<u20@contoso.com>'), /^452 4\.5\.3 /);
    c.close();
  });

  test('a message with a bare LF is refused with 554 5.6.11 and nothing is delivered', async () => {
    reset();
    const c = await RawSmtp.connect(sluice.port);
    await c.reply();
    await c.cmd('EHLO client.example');
    await c.cmd('MAIL FROM:<a@example.org>');
    await c.cmd('RCPT TO:<john@contoso.com>');
    assert.match(await c.cmd('DATA'), /^354/);
    c.write('Subject: smuggle\r\n\r\nhello\n.\nMAIL FROM:<x@example.org>\r\n.\r\n');
    assert.match(await c.reply(), /^554 5\.6\.11 /);
    c.close();
    await expectNothingDelivered();
  });

  test('connections beyond maxConnectionsPerIp get 421 4.7.0', async () => {
    const open: RawSmtp[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        const c = await RawSmtp.connect(sluice.port, { localAddress: '127.0.0.9' });
        assert.match(await c.reply(), /^220/);
        open.push(c);
      }
      const extra = await RawSmtp.connect(sluice.port, { localAddress: '127.0.0.9' });
      open.push(extra);
      assert.match(await extra.reply(), /^421 4\.7\.0 /);
      const other = await RawSmtp.connect(sluice.port, { localAddress: '127.0.0.10' });
      open.push(other);
      assert.match(await other.reply(), /^220/, 'another address is still served');
    } finally {
      for (const c of open) c.close();
    }
  });
});
