// Behind a load balancer: a listener with proxyProtocol: true takes the client address from a
// real PROXY v1 or v2 header written by the test's socket (standing in for HAProxy on 127.0.0.1),
// so IP-based inbound connectors see the client behind the proxy. Untrusted senders of a header
// and trusted proxies without one are closed before any greeting. Assertions are on what the
// client read and what the receiving servers got.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { arrivedFor, startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import type { SluiceProcess } from '../helpers/sluice.js';
import { startBehindProxy } from '../helpers/proxy-config.js';
import { RawSmtp } from '../helpers/raw-smtp.js';
import { V2_SIGNATURE } from '../../src/listener/proxy-header.js';

let certs: CertSet;
let onprem: SmartHost;
let internet: SmartHost;
let sluice: SluiceProcess;

const ON_PREM_IP = '10.1.2.3';
const INTERNET_IP = '198.51.100.7';

function v2Header(src: string, sport: number, dport: number): Buffer {
  const ip = src.split('.').map(Number);
  const body = [...ip, 127, 0, 0, 1, sport >> 8, sport & 0xff, dport >> 8, dport & 0xff];
  return Buffer.from([...V2_SIGNATURE, 0x21, 0x11, 0, body.length, ...body]);
}
const v1Header = (src: string, sport: number, dport: number) => `PROXY TCP4 ${src} 127.0.0.1 ${sport} ${dport}\r\n`;

/** Opens a connection from `localAddress`, writes `header` at once (as HAProxy does) and returns the client. */
async function through(header: string | Buffer, localAddress = '127.0.0.1'): Promise<RawSmtp> {
  const c = await RawSmtp.connect(sluice.port, { localAddress });
  c.write(header);
  return c;
}

async function relay(c: RawSmtp, from: string, to: string): Promise<string[]> {
  const out = [await c.reply(), await c.cmd('EHLO mail.contoso.com'), await c.cmd(`MAIL FROM:<${from}>`), await c.cmd(`RCPT TO:<${to}>`)];
  if (out[3]?.startsWith('250')) {
    out.push(await c.cmd('DATA'));
    out.push(await c.cmd(`From: <${from}>\r\nTo: <${to}>\r\nSubject: via the balancer\r\n\r\nhello\r\n.`));
  }
  await c.cmd('QUIT').catch(() => '');
  c.close();
  return out;
}

before(async () => {
  certs = await makeCertSet();
  onprem = await startSmartHost();
  internet = await startSmartHost();
  sluice = await startBehindProxy(certs, ['127.0.0.1/32'], {
    inboundConnectors: [{ name: 'On-prem behind the balancer', connectorType: 'OnPremises', senderIPAddresses: ['10.1.2.0/24'] }],
    outboundConnectors: [
      { name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${onprem.port}`] },
      { name: 'To internet', connectorType: 'Partner', recipientDomains: ['*'], smartHosts: [`127.0.0.1:${internet.port}`] },
    ],
  });
});

after(async () => {
  await sluice?.stop();
  await onprem?.close();
  await internet?.close();
});

describe('PROXY protocol from a trusted balancer', () => {
  test('an on-prem server behind a v1 header relays to the internet, and Received names client and proxy', async () => {
    const r = await relay(await through(v1Header(ON_PREM_IP, 40001, sluice.port)), 'john@contoso.com', 'sun@fabrikam.com');
    assert.match(r[0]!, /^220 /);
    assert.match(r[3]!, /^250 /, r.join('\n'));
    assert.match(r[5]!, /^250 2\.6\.0 /);
    const got = await arrivedFor(internet, 'sun@fabrikam.com');
    const text = got.raw.toString('latin1');
    assert.match(text, /^Received: from mail\.contoso\.com \(\[10\.1\.2\.3\]\)\r\n\t\(via PROXY protocol from \[127\.0\.0\.1\]\)\r\n/);
    assert.match(text, /inbound connector "On-prem behind the balancer" by ip/);
  });

  test('an on-prem server behind a v2 header relays to the internet', async () => {
    const r = await relay(await through(v2Header(ON_PREM_IP, 40002, sluice.port)), 'bob@contoso.com', 'moon@fabrikam.com');
    assert.match(r[3]!, /^250 /, r.join('\n'));
    const got = await arrivedFor(internet, 'moon@fabrikam.com');
    assert.match(got.raw.toString('latin1'), /^Received: from mail\.contoso\.com \(\[10\.1\.2\.3\]\)\r\n\t\(via PROXY protocol from \[127\.0\.0\.1\]\)/);
  });

  for (const [name, header] of [
    ['v2', v2Header(INTERNET_IP, 40003, 25)],
    ['v1', v1Header(INTERNET_IP, 40004, 25)],
  ] as const) {
    test(`an internet address behind a ${name} header is not allowed to relay (550 5.4.1)`, async () => {
      const r = await relay(await through(header), 'spam@example.org', 'victim@fabrikam.com');
      assert.match(r[0]!, /^220 /);
      assert.equal(r[3], '550 5.4.1 Relay Access Denied');
      assert.ok(!internet.messages.some((m) => m.rcptTo.includes('victim@fabrikam.com')));
    });
  }

  test('an internet address behind the balancer still reaches an accepted domain, and the on-prem server sees it named', async () => {
    const r = await relay(await through(v2Header(INTERNET_IP, 40005, 25)), 'sun@example.org', 'john@contoso.com');
    assert.match(r[5]!, /^250 2\.6\.0 /, r.join('\n'));
    const got = await arrivedFor(onprem, 'john@contoso.com');
    assert.match(got.raw.toString('latin1'), /^Received: from mail\.contoso\.com \(\[198\.51\.100\.7\]\)\r\n\t\(via PROXY protocol from \[127\.0\.0\.1\]\)/);
  });

  test('an EHLO sent in the same packet as the header is not lost', async () => {
    const c = await through(Buffer.concat([v2Header(ON_PREM_IP, 40007, 25), Buffer.from('EHLO mail.contoso.com\r\n')]));
    assert.match(await c.reply(), /^220 /);
    assert.match(await c.reply(), /^250-gateway\.sluice\.test/);
    c.close();
  });

  test("a v2 LOCAL header (the balancer's health check) is greeted as the balancer itself", async () => {
    const c = await through(Buffer.from([...V2_SIGNATURE, 0x20, 0x00, 0, 0]));
    assert.match(await c.reply(), /^220 /);
    c.close();
  });
});

describe('connections that are closed before the greeting', () => {
  test('a forged PROXY header from an address not in trustedProxies is refused and logged', async () => {
    const c = await through(v1Header(ON_PREM_IP, 40006, 25), '127.0.0.2');
    assert.equal(await c.reply(), '', 'closed without a greeting');
    assert.equal(c.pending(), '', 'not a byte was sent');
    const line = await sluice.waitForLog((l) => l.peer === '127.0.0.2' && /PROXY protocol/.test(String(l.msg)));
    assert.match(String(line.reason), /not in server\.trustedProxies/);
  });

  test('a trusted proxy that sends SMTP instead of a PROXY header is closed without a greeting and logged', async () => {
    const c = await through('EHLO mail.contoso.com\r\n');
    assert.equal(await c.reply(), '');
    assert.equal(c.pending(), '');
    const line = await sluice.waitForLog((l) => /no valid PROXY header/.test(String(l.reason)));
    assert.match(String(line.reason), /no PROXY protocol header/);
  });

  test('a trusted proxy that stays silent is closed without a greeting once the header timeout passes', async () => {
    const c = await RawSmtp.connect(sluice.port);
    assert.equal(await c.reply(8_000), '');
    assert.equal(c.pending(), '');
    await sluice.waitForLog((l) => /no PROXY header within/.test(String(l.reason)));
  });
});
