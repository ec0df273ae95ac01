// MX delivery and smart hosts given as names, against a real DNS server: dnsmasq on loopback,
// serving MX and A records that point at recording smart hosts on 127.0.0.11-13 (all on the
// same port, which is Sluice's delivery.mxPort). Also: null MX bounces 5.1.10, and a DNS server
// that is down defers (4.4.3) and delivers once it is back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { arrivedFor, startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { startSluice, type LogLine, type SluiceProcess } from '../helpers/sluice.js';
import { startDnsmasq, type DnsRecords, type DnsServer } from '../helpers/dnsmasq.js';
import { freePort } from '../helpers/ports.js';
import { message, send } from '../helpers/clients.js';
import { spoolHas } from '../helpers/spool-files.js';

const MX1 = '127.0.0.11';
const MX2 = '127.0.0.12';
const AHOST = '127.0.0.13';
const DEAD = '127.0.0.14'; // has an A record, nothing listens

const records: DnsRecords = {
  mx: [
    { name: 'pref.test', exchange: 'mx2.pref.test', preference: 20 },
    { name: 'pref.test', exchange: 'mx1.pref.test', preference: 10 },
    { name: 'down.test', exchange: 'dead.down.test', preference: 10 },
    { name: 'down.test', exchange: 'mx2.pref.test', preference: 20 },
    { name: 'mxonly.smart.test', exchange: 'mx1.pref.test', preference: 10 },
    { name: 'partner-mx.test', exchange: 'mx2.pref.test', preference: 10 },
  ],
  a: {
    'mx1.pref.test': MX1,
    'mx2.pref.test': MX2,
    'dead.down.test': DEAD,
    'amx.test': AHOST,
    'relay.smart.test': AHOST,
  },
  nullMx: ['nullmx.test'],
};

let certs: CertSet;
let port: number;
let mx1: SmartHost;
let mx2: SmartHost;
let ahost: SmartHost;
let dns: DnsServer;
let sluice: SluiceProcess;

/** Three smart hosts on three loopback addresses and one shared port (tries a few ports). */
async function startMxHosts(): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    port = await freePort(MX1);
    try {
      mx1 = await startSmartHost({ host: MX1, port });
      mx2 = await startSmartHost({ host: MX2, port });
      ahost = await startSmartHost({ host: AHOST, port });
      return;
    } catch {
      await Promise.all([mx1, mx2].map((h) => h?.close()));
    }
  }
  throw new Error('no port free on all MX addresses');
}

const inbound = [{ name: 'On-prem IP', connectorType: 'OnPremises', senderDomains: ['*'], senderIPAddresses: ['127.0.0.2'] }];
const delivery = () => ({ mxPort: port, retry: { initial: '1s', max: '2s', lifetime: '1h' } });

before(async () => {
  certs = await makeCertSet();
  await startMxHosts();
  dns = await startDnsmasq(records);
  sluice = await startSluice({
    certs,
    patch: {
      dns: { servers: [dns.address] },
      delivery: delivery(),
      inboundConnectors: inbound,
      outboundConnectors: [
        { name: 'Smart by A', recipientDomains: ['via-a.example'], smartHosts: [`relay.smart.test:${port}`] },
        { name: 'Smart by MX', recipientDomains: ['via-mx.example'], smartHosts: [`mxonly.smart.test:${port}`] },
        { name: 'Partner by MX', recipientDomains: ['partner-mx.test', 'nx-partner.test'], useMxRecord: true },
      ],
    },
  });
});

after(async () => {
  await sluice?.stop();
  await dns?.stop();
  await Promise.all([mx1, mx2, ahost].map((h) => h?.close()));
});

async function relay(s: SluiceProcess, to: string): Promise<void> {
  const raw = message({ from: 'john@contoso.com', to, subject: `mx ${to}` });
  await send({ port: s.port, localAddress: '127.0.0.2', from: 'john@contoso.com', to: [to], raw });
}

const arrived = (host: SmartHost, rcpt: string, timeoutMs = 10_000) => arrivedFor(host, rcpt, timeoutMs);

const has = (host: SmartHost, rcpt: string) => host.messages.some((m) => m.rcptTo.includes(rcpt));

describe('internet mail by MX', () => {
  test('goes to the most preferred MX (lowest preference) and only there', async () => {
    await relay(sluice, 'a@pref.test');
    await arrived(mx1, 'a@pref.test');
    assert.ok(!has(mx2, 'a@pref.test'));
  });

  test('moves to the next MX when the preferred one refuses connections, and marks it down', async () => {
    await relay(sluice, 'a@down.test');
    await arrived(mx2, 'a@down.test');
    await sluice.waitForLog((l) => l.msg === 'host marked down' && l.host === `${DEAD}:${port}` && l.name === 'dead.down.test');
  });

  test('falls back to the A record of a domain without MX', async () => {
    await relay(sluice, 'a@amx.test');
    await arrived(ahost, 'a@amx.test');
  });

  test('a connector with useMxRecord delivers to the recipient domain\'s MX', async () => {
    await relay(sluice, 'a@partner-mx.test');
    await arrived(mx2, 'a@partner-mx.test');
    const line = await sluice.waitForLog((l) => l.msg === 'delivered' && l.rcpt === 'a@partner-mx.test');
    assert.equal(line.connector, 'Partner by MX');
  });

  test('a recipient domain that does not exist (NXDOMAIN) fails permanently with 5.1.2', async () => {
    await relay(sluice, 'a@nx-partner.test');
    const line = await sluice.waitForLog((l) => l.msg === 'delivery failed permanently' && l.rcpt === 'a@nx-partner.test');
    assert.equal(line.status, '5.1.2');
    assert.equal(line.connector, 'Partner by MX');
  });

  test('a null MX (RFC 7505) fails permanently with 5.1.10 and the message leaves the queue for failed/', async () => {
    await relay(sluice, 'a@nullmx.test');
    const line = await sluice.waitForLog((l) => l.msg === 'delivery failed permanently' && l.rcpt === 'a@nullmx.test');
    assert.equal(line.status, '5.1.10');
    assert.equal(line.rule, 'null-mx');
    const inFailed = () => spoolHas(path.join(sluice.dir, 'spool'), String(line.queueId), 'failed');
    const deadline = Date.now() + 5_000;
    while (!(await inFailed()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(await inFailed(), 'record in failed/');
    assert.ok(![mx1, mx2, ahost].some((h) => has(h, 'a@nullmx.test')));
  });
});

describe('smart hosts given as names', () => {
  test('a smart host name resolves by its A record', async () => {
    await relay(sluice, 'a@via-a.example');
    await arrived(ahost, 'a@via-a.example');
  });

  test('a smart host name with only MX records resolves through its MX host', async () => {
    await relay(sluice, 'a@via-mx.example');
    await arrived(mx1, 'a@via-mx.example');
  });
});

describe('DNS down', () => {
  test('defers with 4.4.3 while the DNS server is down, keeps the message, and delivers once it answers', async () => {
    const dnsPort = await freePort();
    const other = await startSluice({ certs, patch: { dns: { servers: [`127.0.0.1:${dnsPort}`] }, delivery: delivery(), inboundConnectors: inbound } });
    let late: DnsServer | undefined;
    try {
      await relay(other, 'late@pref.test');
      const line: LogLine = await other.waitForLog((l) => l.msg === 'delivery deferred' && l.rcpt === 'late@pref.test');
      assert.equal(line.status, '4.4.3');
      assert.match(String(line.error), /MX lookup failed/);
      assert.ok(await spoolHas(path.join(other.dir, 'spool'), String(line.queueId)), 'still queued');
      assert.ok(!has(mx1, 'late@pref.test'));
      late = await startDnsmasq(records, dnsPort);
      await arrived(mx1, 'late@pref.test', 15_000);
    } finally {
      await other.stop();
      await late?.stop();
    }
  });
});
