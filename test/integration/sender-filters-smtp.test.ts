// The connection filter and sender authentication in a real daemon over real SMTP: clients bind
// to loopback addresses (127.0.0.x) to be the blocked, allowed, DNSBL-listed or SPF-permitted
// host; dnsmasq serves the records; assertions are on the client's replies and on what the
// smart host actually received.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { send } from '../helpers/clients.js';
import { startDnsmasq, type DnsServer } from '../helpers/dnsmasq.js';
import { runCli, startSluice, type SluiceProcess } from '../helpers/sluice.js';
import { arrivedFor, startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import {
  DEAD_ZONE,
  DNSBL_LISTED_IP,
  DNSBL_ZONE,
  OTHER_IP,
  SENDER_IP,
  makeDkimKey,
  plainMessage,
  senderRecords,
  signedMessage,
  type DkimKey,
} from '../helpers/sender-dns.js';

const BLOCKED_IP = '127.0.0.5';
const ALLOWED_IP = '127.0.0.6'; // on both lists: allow wins
const ONPREM_IP = '127.0.0.7'; // on the block list, but an OnPremises connector
const GATEWAY_IP = '127.0.0.8'; // a filtering service in front of Sluice (enhanced filtering)
const HOSTNAME = 'gateway.sluice.test';

let certs: CertSet;
let dns: DnsServer;
let key: DkimKey;
let host: SmartHost;
let n = 0;

before(async () => {
  certs = await makeCertSet();
  key = makeDkimKey();
  dns = await startDnsmasq(senderRecords(key));
  host = await startSmartHost();
});
after(async () => {
  await host?.close();
  await dns?.stop();
});

const toOnPrem = () => [{ name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${host.port}`] }];
const inboundConnectors = [
  { name: 'On-prem servers', connectorType: 'OnPremises', senderIPAddresses: [ONPREM_IP] },
  { name: 'Filtering service', connectorType: 'Partner', senderIPAddresses: [GATEWAY_IP], efSkipLastIP: true },
];

/** A daemon that resolves through the test's dnsmasq and delivers everything to the smart host. */
const daemon = (patch: Record<string, unknown>) =>
  startSluice({ certs, patch: { dns: { servers: [dns.address] }, outboundConnectors: toOnPrem(), ...patch } });

async function sendFrom(sluice: SluiceProcess, localAddress: string, mailFrom: string, raw: string, to = `u${++n}@contoso.com`) {
  try {
    await send({ port: sluice.port, localAddress, from: mailFrom, to: [to], raw, ignoreTLS: true });
    return { to, reply: '250' };
  } catch (err) {
    return { to, reply: String((err as { response?: string }).response ?? (err as Error).message) };
  }
}

const headerOf = (raw: Buffer, name: string): string[] => {
  const block = raw.toString('utf8').split('\r\n\r\n')[0] ?? '';
  return block
    .split(/\r\n(?![ \t])/)
    .filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
    .map((l) => l.slice(name.length + 1).replace(/\r\n[ \t]+/g, ' ').trim());
};

/** Nothing for `to` arrived: checked after a later message to the same host did arrive. */
async function assertNothingFor(sluice: SluiceProcess, to: string) {
  const probe = await sendFrom(sluice, SENDER_IP, 'probe@relaxed.test', plainMessage('probe@relaxed.test', 'x@contoso.com', 'probe'));
  await arrivedFor(host, probe.to);
  assert.equal(host.messages.filter((m) => m.rcptTo.includes(to)).length, 0, `nothing may reach ${to}`);
}

describe('connection filter over SMTP', () => {
  let sluice: SluiceProcess;
  before(async () => {
    sluice = await daemon({
      connectionFilter: { ipAllowList: [ALLOWED_IP], ipBlockList: [BLOCKED_IP, ALLOWED_IP, ONPREM_IP], dnsBlocklists: [DNSBL_ZONE] },
      inboundConnectors,
    });
  });
  after(async () => sluice?.stop());

  it('refuses a block-listed IP with 550 5.7.513 before MAIL FROM, and delivers nothing', async () => {
    const r = await sendFrom(sluice, BLOCKED_IP, 'a@relaxed.test', plainMessage('a@relaxed.test', 'x@contoso.com', 'blocked'));
    assert.match(r.reply, new RegExp(`^550 5\\.7\\.513 Service unavailable, Client host \\[${BLOCKED_IP.replace(/\./g, '\\.')}\\] blocked using Customer Block list`));
    await assertNothingFor(sluice, r.to);
  });
  it('relays for an IP on the allow list even though it is also on the block list', async () => {
    const r = await sendFrom(sluice, ALLOWED_IP, 'a@relaxed.test', plainMessage('a@relaxed.test', 'x@contoso.com', 'allowed'));
    assert.equal(r.reply, '250');
    await arrivedFor(host, r.to);
    const line = await sluice.waitForLog((l) => l.msg === 'filter verdict' && l.filter === 'connection-filter' && String(l.reason).startsWith('IP allow list'));
    assert.equal((line.evidence as { ipAllowed?: boolean }).ipAllowed, true);
  });
  it('refuses a DNSBL-listed IP with 550 5.7.1 naming the zone', async () => {
    const r = await sendFrom(sluice, DNSBL_LISTED_IP, 'a@relaxed.test', plainMessage('a@relaxed.test', 'x@contoso.com', 'dnsbl'));
    assert.match(r.reply, new RegExp(`^550 5\\.7\\.1 Service unavailable; Client host \\[${DNSBL_LISTED_IP.replace(/\./g, '\\.')}\\] blocked using ${DNSBL_ZONE.replace(/\./g, '\\.')}`));
    await assertNothingFor(sluice, r.to);
  });
  it('never blocks a session of an OnPremises connector', async () => {
    const r = await sendFrom(sluice, ONPREM_IP, 'a@contoso.com', plainMessage('a@contoso.com', 'x@contoso.com', 'onprem'));
    assert.equal(r.reply, '250');
    await arrivedFor(host, r.to);
  });
  it('with enhanced filtering, judges the original sender from the Received chain and records it', async () => {
    const via = (ip: string) => `Received: from mail.origin.test (mail.origin.test [${ip}])\r\n\tby filter.example with ESMTP; Tue, 1 Dec 2026 09:59:00 +0000\r\n`;
    const blocked = await sendFrom(sluice, GATEWAY_IP, 'a@relaxed.test', plainMessage('a@relaxed.test', 'x@contoso.com', 'ef blocked', via(BLOCKED_IP)));
    assert.match(blocked.reply, /^550 5\.7\.513 .*\[127\.0\.0\.5\]/);
    const clean = await sendFrom(sluice, GATEWAY_IP, 'a@relaxed.test', plainMessage('a@relaxed.test', 'x@contoso.com', 'ef clean', via(SENDER_IP)));
    assert.equal(clean.reply, '250');
    const got = await arrivedFor(host, clean.to);
    assert.deepEqual(headerOf(got.raw, 'X-MS-Exchange-ExternalOriginalInternetSender'), [`ip=[${SENDER_IP}];domain=mail.origin.test`]);
    await assertNothingFor(sluice, blocked.to);
  });
});

describe('a DNSBL that does not answer', () => {
  let sluice: SluiceProcess;
  before(async () => {
    sluice = await daemon({ connectionFilter: { dnsBlocklists: [DEAD_ZONE] } });
  });
  after(async () => sluice?.stop());

  it('is skipped: the message is accepted and the log says which blocklist did not answer', async () => {
    const r = await sendFrom(sluice, SENDER_IP, 'a@relaxed.test', plainMessage('a@relaxed.test', 'x@contoso.com', 'dead dnsbl'));
    assert.equal(r.reply, '250');
    await arrivedFor(host, r.to);
    const line = await sluice.waitForLog((l) => l.filter === 'connection-filter' && String(l.reason).includes('skipped unanswered DNSBL'));
    assert.equal(line.level, 30, 'logged at info, not only at debug');
    assert.match(String(line.reason), new RegExp(`${DEAD_ZONE.replace(/\./g, '\\.')}: ETIMEOUT`));
  });
});

describe('sender authentication over SMTP', () => {
  let sluice: SluiceProcess;
  before(async () => {
    sluice = await daemon({ senderAuthentication: { enabled: true }, inboundConnectors });
  });
  after(async () => sluice?.stop());

  const arOf = async (to: string) => {
    const got = await arrivedFor(host, to);
    const ar = headerOf(got.raw, 'Authentication-Results');
    return { got, ar, ours: ar.filter((v) => v.startsWith(`${HOSTNAME};`)) };
  };

  it('records spf=pass in the Authentication-Results header the smart host received', async () => {
    const r = await sendFrom(sluice, SENDER_IP, 'bob@relaxed.test', plainMessage('bob@relaxed.test', 'x@contoso.com', 'spf pass'));
    assert.equal(r.reply, '250');
    const { ours } = await arOf(r.to);
    assert.equal(ours.length, 1);
    assert.match(ours[0] ?? '', /^gateway\.sluice\.test; spf=pass .*; dkim=none.*; dmarc=pass .*; arc=none/);
  });
  it('records spf=fail for an IP the SPF record does not permit (p=none: delivered)', async () => {
    const r = await sendFrom(sluice, OTHER_IP, 'bob@relaxed.test', plainMessage('bob@relaxed.test', 'x@contoso.com', 'spf fail'));
    assert.equal(r.reply, '250');
    const { ours } = await arOf(r.to);
    assert.match(ours[0] ?? '', /spf=fail .*dmarc=fail/);
  });
  it('verifies a DKIM signature made by the sender: dkim=pass in what the smart host received', async () => {
    const raw = await signedMessage(key, plainMessage('bob@fabrikam.test', 'x@contoso.com', 'dkim signed'));
    const r = await sendFrom(sluice, OTHER_IP, 'bob@fabrikam.test', raw);
    assert.equal(r.reply, '250', 'aligned DKIM passes DMARC p=reject although SPF fails');
    const { ours } = await arOf(r.to);
    assert.match(ours[0] ?? '', /dkim=pass header\.i=@fabrikam\.test .*dmarc=pass/);
  });
  it('rejects a DMARC p=reject failure with 550 5.7.509 and delivers nothing', async () => {
    const r = await sendFrom(sluice, OTHER_IP, 'ceo@fabrikam.test', plainMessage('ceo@fabrikam.test', 'x@contoso.com', 'spoofed ceo'));
    assert.match(r.reply, /^550 5\.7\.509 Access denied, sending domain \[fabrikam\.test\] does not pass DMARC verification and has a DMARC policy of reject/);
    await assertNothingFor(sluice, r.to);
  });
  it('removes a received Authentication-Results that claims our authserv-id and keeps others', async () => {
    const forged = `Authentication-Results: ${HOSTNAME}; spf=pass; dkim=pass; dmarc=pass\r\nAuthentication-Results: mx.upstream.test; spf=pass smtp.mailfrom=bob@relaxed.test\r\n`;
    const r = await sendFrom(sluice, OTHER_IP, 'bob@relaxed.test', plainMessage('bob@relaxed.test', 'x@contoso.com', 'forged ar', forged));
    const { ar, ours } = await arOf(r.to);
    assert.equal(ours.length, 1, 'only the header Sluice wrote claims its id');
    assert.match(ours[0] ?? '', /spf=fail/);
    assert.ok(ar.some((v) => v.startsWith('mx.upstream.test;')), 'another server’s results are kept');
  });
  it('relays an OnPremises session whose SPF and DMARC fail, recording the results', async () => {
    const r = await sendFrom(sluice, ONPREM_IP, 'ceo@fabrikam.test', plainMessage('ceo@fabrikam.test', 'x@contoso.com', 'onprem dmarc fail'));
    assert.equal(r.reply, '250');
    const { ours } = await arOf(r.to);
    assert.match(ours[0] ?? '', /spf=fail .*dmarc=fail/);
  });
  it('quarantines a DMARC p=quarantine failure as Phish; release delivers it once', async () => {
    const r = await sendFrom(sluice, OTHER_IP, 'ceo@woodgrove.test', plainMessage('ceo@woodgrove.test', 'x@contoso.com', 'quarantined'));
    assert.equal(r.reply, '250');
    await assertNothingFor(sluice, r.to);
    const list = await runCli(['quarantine', 'list', '--json', '--type', 'Phish', '--config', sluice.configPath]);
    assert.equal(list.code, 0, list.stderr);
    const items = list.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: string; type: string; reason: string; sender: string; recipients: string[] });
    const item = items.find((i) => i.recipients.includes(r.to));
    assert.ok(item, `held: ${list.stdout}`);
    assert.deepEqual([item.type, item.reason, item.sender], ['Phish', 'DMARC p=quarantine for woodgrove.test', 'ceo@woodgrove.test']);
    const rel = await runCli(['quarantine', 'release', item.id, '--config', sluice.configPath]);
    assert.equal(rel.code, 0, rel.stderr);
    const got = await arrivedFor(host, r.to);
    assert.match(headerOf(got.raw, 'Authentication-Results').join('\n'), /dmarc=fail/);
    const again = await runCli(['quarantine', 'release', item.id, '--config', sluice.configPath]);
    assert.equal(again.code, 1, 'a second release finds nothing');
    await assertNothingFor(sluice, 'barrier@contoso.com');
    assert.equal(host.messages.filter((m) => m.rcptTo.includes(r.to)).length, 1, 'delivered exactly once');
  });
  it('with enhanced filtering, checks SPF for the original sender behind the gateway', async () => {
    const via = `Received: from mail.fabrikam.test (mail.fabrikam.test [${SENDER_IP}])\r\n\tby filter.example with ESMTP; Tue, 1 Dec 2026 09:59:00 +0000\r\n`;
    const r = await sendFrom(sluice, GATEWAY_IP, 'ceo@fabrikam.test', plainMessage('ceo@fabrikam.test', 'x@contoso.com', 'ef spf', via));
    assert.equal(r.reply, '250', 'SPF passes for the original IP, so DMARC p=reject passes');
    const { got, ours } = await arOf(r.to);
    assert.match(ours[0] ?? '', new RegExp(`spf=pass .*${SENDER_IP.replace(/\./g, '\\.')}`));
    assert.deepEqual(headerOf(got.raw, 'X-MS-Exchange-ExternalOriginalInternetSender'), [`ip=[${SENDER_IP}];domain=mail.fabrikam.test`]);
  });
});
