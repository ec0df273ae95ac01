// The EOP-standalone seed end to end with Debian Postfix as the on-premises server: Postfix relays
// outbound mail through Sluice over STARTTLS with its client certificate, and receives inbound mail
// from Sluice as the "To on-prem" smart host. A recording smart host stands in for the internet.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { startSluice, type SluiceProcess } from '../helpers/sluice.js';
import { startPostfix, type PostfixInstance, type PostfixOptions } from '../helpers/postfix.js';
import { message, send } from '../helpers/clients.js';
import { freePort } from '../helpers/ports.js';

/** The on-prem server's address; listed in the connector, as the seed lists its servers' IPs. */
const ONPREM_IP = '127.0.0.4';
const DELIVERY_WAIT_MS = 15_000;
const QUIET_MS = 1_000;

let certs: CertSet;
let internet: SmartHost;
let sluice: SluiceProcess;
/** Postfix with the CA-signed certificate for mail.contoso.com. */
let onprem: PostfixInstance;
/** The same server misconfigured: same address and TLS, but no client certificate. */
let bare: PostfixInstance;

/** Splits off the first header field (with its continuation lines) of an RFC 5322 text. */
function firstHeader(text: string, eol = '\r\n'): { field: string; rest: string } {
  const m = new RegExp(`^[^\\t ][^]*?${eol}(?=[^\\t ])`).exec(text);
  assert.ok(m, `a header field at the start of:\n${text.slice(0, 300)}`);
  return { field: m[0], rest: text.slice(m[0].length) };
}

/** Adds both servers' logs to a failure, so a timeout says what Postfix and Sluice did. */
async function explained<T>(p: Promise<T>, pf: PostfixInstance): Promise<T> {
  try {
    return await p;
  } catch (err) {
    const tail = sluice.logs.slice(-10).map((l) => JSON.stringify(l)).join('\n');
    throw new Error(`${(err as Error).message}\n--- postfix queue\n${await pf.queue()}\n--- postfix log\n${await pf.log()}\n--- sluice\n${tail}`);
  }
}

before(async () => {
  certs = await makeCertSet();
  internet = await startSmartHost();
  const onpremPort = await freePort(ONPREM_IP);
  sluice = await startSluice({
    certs,
    patch: {
      acceptedDomains: [{ domain: 'contoso.com', type: 'Authoritative' }],
      inboundConnectors: [
        {
          name: 'From on-prem',
          connectorType: 'OnPremises',
          senderDomains: ['*'],
          senderIPAddresses: [ONPREM_IP],
          tlsSenderCertificateName: 'mail.contoso.com',
          requireTls: true,
          restrictDomainsToCertificate: true,
        },
      ],
      outboundConnectors: [
        { name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`${ONPREM_IP}:${onpremPort}`] },
        { name: 'To internet', connectorType: 'Partner', recipientDomains: ['*'], smartHosts: [`127.0.0.1:${internet.port}`] },
      ],
    },
  });
  const common: PostfixOptions = {
    host: ONPREM_IP,
    relayhost: { host: '127.0.0.1', port: sluice.port },
    ca: certs.ca.certPath,
    serverCert: { cert: certs.server.certPath, key: certs.server.keyPath },
  };
  const goodCn = certs.clients.goodCn;
  [onprem, bare] = await Promise.all([
    startPostfix({ ...common, port: onpremPort, clientCert: { cert: goodCn.certPath, key: goodCn.keyPath } }),
    startPostfix(common),
  ]);
});

after(async () => {
  // Each peer is stopped even if another fails to stop, or never started.
  await Promise.allSettled([onprem?.stop(), bare?.stop(), sluice?.stop(), internet?.close()]);
});

describe('Postfix as the on-premises server of the EOP-standalone seed', () => {
  test('Postfix relays to the internet through Sluice with its client certificate, body intact', async () => {
    internet.messages.length = 0;
    const raw = message({
      from: 'john@contoso.com',
      to: 'sun@fabrikam.com',
      subject: 'outbound via Postfix',
      body: 'Hello Sun,\r\n.a line that starts with a dot\r\n..and two\r\n\r\ntrailing blank line above\r\n',
    });
    await onprem.submit('john@contoso.com', 'sun@fabrikam.com', raw);
    const [got] = await explained(internet.waitFor(1, DELIVERY_WAIT_MS), onprem);
    assert.equal(got!.mailFrom, 'john@contoso.com');
    assert.deepEqual(got!.rcptTo, ['sun@fabrikam.com']);

    const { field: ours, rest } = firstHeader(got!.raw.toString('latin1'));
    assert.match(ours, /^Received: from mail\.contoso\.com \(\[127\.0\.0\.4\]\)/);
    assert.match(ours, /by gateway\.sluice\.test \(Sluice\) with ESMTPS/);
    assert.match(ours, /\(inbound connector "From on-prem" by certificate\)/);
    const { field: postfixs, rest: original } = firstHeader(rest);
    assert.match(postfixs, /^Received: by mail\.contoso\.com \(Postfix, from userid 0\)/);
    assert.equal(original, raw, 'the message Postfix was given arrives byte-for-byte below the two trace headers');

    const log = await onprem.log();
    assert.match(log, new RegExp(`Trusted TLS connection established to 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${sluice.port}: TLSv1\\.[23]`));
    assert.match(log, /to=<sun@fabrikam\.com>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*status=sent \(250 2\.6\.0 /);
  });

  test('an internet sender reaches john@contoso.com: Sluice delivers to Postfix, which files it in his maildir', async () => {
    internet.messages.length = 0;
    const raw = message({ from: 'sun@fabrikam.com', to: 'john@contoso.com', subject: 'inbound to Postfix', body: 'Hi John,\r\n.dot\r\n' });
    const info = await send({ port: sluice.port, from: 'sun@fabrikam.com', to: ['john@contoso.com'], raw });
    assert.match(info.response, /^250 2\.6\.0 /);
    const [stored] = await explained(onprem.waitForMailbox('john', 1, DELIVERY_WAIT_MS), onprem);
    const text = stored!.toString('latin1');

    // Maildir stores LF line endings; Postfix's own delivery headers come first.
    const lf = (s: string) => s.replace(/\r\n/g, '\n');
    assert.match(text, /^Return-Path: <sun@fabrikam\.com>\n/);
    assert.match(text, /\nDelivered-To: john@contoso\.com\n/);
    const at = text.indexOf('Received: from gateway.sluice.test');
    assert.ok(at > 0, `Postfix's Received header for the hop from Sluice:\n${text}`);
    const { field: postfixs, rest } = firstHeader(text.slice(at), '\n');
    assert.match(postfixs, /by mail\.contoso\.com \(Postfix\) with ESMTPS id /);
    const { field: ours, rest: original } = firstHeader(rest, '\n');
    assert.match(ours, /^Received: from [^\n]+ \(\[127\.0\.0\.1\]\)\n\tby gateway\.sluice\.test \(Sluice\)/);
    assert.match(ours, /\(anonymous\)/);
    assert.equal(original, lf(raw), 'the internet message arrives byte-for-byte (modulo maildir LF) below the trace headers');
    assert.equal(internet.messages.length, 0, 'nothing went back out to the internet');
  });

  test('Postfix without its client certificate may not relay: 550 5.7.51, bounced, nothing reaches the internet', async () => {
    internet.messages.length = 0;
    const raw = message({ from: 'john@contoso.com', to: 'sun@fabrikam.com', subject: 'no certificate' });
    await bare.submit('john@contoso.com', 'sun@fabrikam.com', raw);
    const [bounce] = await explained(bare.waitForMailbox('john', 1, DELIVERY_WAIT_MS), bare);

    const log = await bare.log();
    // TLS itself succeeded: the refusal is about the missing certificate, not requireTls.
    assert.match(log, new RegExp(`TLS connection established to 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${sluice.port}`));
    assert.match(
      log,
      /to=<sun@fabrikam\.com>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*status=bounced \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 550 5\.7\.51 TenantInboundAttribution; There is an on-premises connector configured that matched the sending server\. The connector had either the RestrictDomainsToIPAddresses or RestrictDomainsToCertificate set \(in reply to RCPT TO command\)\)/,
    );
    assert.ok(!log.includes('From on-prem'), 'the reply does not name the connector');
    // The name and the unmet check are in Sluice's own log line instead.
    await sluice.waitForLog((l) => l.msg === 'recipient refused' && /on-premises connector 'From on-prem': certificate matching 'mail\.contoso\.com' required/.test(String(l.reason)));
    const ndr = bounce!.toString('latin1');
    assert.match(ndr, /^Return-Path: <>\n/);
    assert.match(ndr, /\nFrom: Mail Delivery System <MAILER-DAEMON@contoso\.com>\n/);
    assert.match(ndr, /\nStatus: 5\.7\.51\n/);
    assert.match(ndr, /\nDiagnostic-Code: smtp; 550 5\.7\.51 TenantInboundAttribution;/);
    await new Promise((r) => setTimeout(r, QUIET_MS));
    assert.equal(internet.messages.length, 0, 'the internet received nothing');
  });
});
