// The connection filter and sender authentication against a real dnsmasq (DNSBL A records, SPF
// TXT, DKIM keys, DMARC policies), called through the filter contract as the runner calls them.
// What the SMTP peer sees is in sender-filters-smtp.test.ts; this file pins the DNS behaviour.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { connectionFilter } from '../../src/filters/connection-filter.js';
import type { ContentContext, FilterContext, HeaderField, MessageView, SessionView } from '../../src/filters/contract.js';
import { senderAuthentication } from '../../src/filters/sender-auth.js';
import type { Model } from '../../src/domain/model.js';
import { compileIpRule } from '../../src/domain/match.js';
import { startDnsmasq, type DnsServer } from '../helpers/dnsmasq.js';
import { buildModel, inbound } from '../helpers/model-builder.js';
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

let dns: DnsServer;
let key: DkimKey;

before(async () => {
  key = makeDkimKey();
  dns = await startDnsmasq(senderRecords(key));
});
after(async () => dns?.stop());

function model(dnsbl: string[] = []): Model {
  const m = buildModel({ sections: {
    connectionFilter: { ipAllowList: [], ipBlockList: [], dnsBlocklists: dnsbl },
    senderAuthentication: { enabled: true, honorDmarcPolicy: true, dmarcRejectAction: 'Reject', dmarcQuarantineAction: 'Quarantine' },
  } });
  return { ...m, dns: { servers: [dns.address] } };
}

const session = (ip: string, extra: Partial<SessionView> = {}): SessionView => ({
  sessionId: 'test', peerIp: ip, clientIp: ip, helo: 'mail.sender.test', tls: false, certNames: [], inbound: null, matchedBy: null, ...extra,
});

function ctx(m: Model, s: SessionView, mailFrom: string, raw = ''): ContentContext {
  const headerBlock = raw.split('\r\n\r\n')[0] ?? '';
  const headers: HeaderField[] = headerBlock
    .split(/\r\n(?![ \t])/)
    .filter(Boolean)
    .map((line) => ({ name: line.slice(0, line.indexOf(':')), value: line.slice(line.indexOf(':') + 1).trim(), line: `${line}\r\n` }));
  const message: MessageView = {
    queueId: 'Q1', size: raw.length, headers,
    open: () => Readable.from([Buffer.from(raw)]),
    mime: () => Promise.reject(new Error('not needed')),
  };
  const base: FilterContext = {
    model: m, session: s, envelope: { mailFrom, rcpts: [{ address: 'alice@contoso.com', route: null as never }] },
    facts: { ipAllowed: false, scl: null, bcl: null, auth: null, skip: new Set() }, signal: new AbortController().signal,
  };
  return { ...base, message };
}

describe('connection filter DNSBL over real DNS', () => {
  it('rejects a listed client with 550 5.7.1 naming the zone', async () => {
    const m = model([DNSBL_ZONE]);
    const v = await connectionFilter(m).connect!(ctx(m, session(DNSBL_LISTED_IP), ''));
    assert.equal(v.action.kind, 'reject');
    assert.equal(v.action.kind === 'reject' && v.action.text, `Service unavailable; Client host [${DNSBL_LISTED_IP}] blocked using ${DNSBL_ZONE}`);
  });
  it('accepts an unlisted client (NXDOMAIN)', async () => {
    const m = model([DNSBL_ZONE]);
    const v = await connectionFilter(m).connect!(ctx(m, session(SENDER_IP), ''));
    assert.equal(v.action.kind, 'accept');
    assert.equal(v.reason, 'not listed');
  });
  it('skips a DNSBL that does not answer and says so, still using the one that does', async () => {
    const m = model([DEAD_ZONE, DNSBL_ZONE]);
    const started = Date.now();
    const listed = await connectionFilter(m).connect!(ctx(m, session(DNSBL_LISTED_IP), ''));
    assert.equal(listed.action.kind, 'reject');
    const v = await connectionFilter(m).connect!(ctx(m, session(SENDER_IP), ''));
    assert.equal(v.action.kind, 'accept');
    assert.match(v.reason, new RegExp(`skipped unanswered DNSBL ${DEAD_ZONE.replace(/\./g, '\\.')}: ETIMEOUT`));
    assert.ok(Date.now() - started < 15_000, 'bounded by the resolver timeout');
  });
});

describe('sender authentication over real DNS', () => {
  const arOf = (v: { headerEdits?: readonly { op: string; name: string; value?: string }[] }) =>
    v.headerEdits?.find((e) => e.op === 'add' && e.name === 'Authentication-Results')?.value ?? '';

  it('records spf=pass for a permitted IP in one Authentication-Results header', async () => {
    const m = model();
    const v = await senderAuthentication(m).content!(ctx(m, session(SENDER_IP), 'bob@relaxed.test', plainMessage('bob@relaxed.test', 'alice@contoso.com', 'spf pass')));
    assert.match(arOf(v), /^gateway\.contoso\.test;\r\n\tspf=pass /);
    assert.match(arOf(v), /dkim=none/);
    assert.equal((v.evidence?.auth as { spf: string }).spf, 'pass');
    assert.equal(v.action.kind, 'accept');
  });
  it('records spf=fail for an IP the record does not permit', async () => {
    const m = model();
    const v = await senderAuthentication(m).content!(ctx(m, session(OTHER_IP), 'bob@relaxed.test', plainMessage('bob@relaxed.test', 'alice@contoso.com', 'spf fail')));
    assert.match(arOf(v), /spf=fail /);
    assert.match(arOf(v), /dmarc=fail/);
    assert.equal(v.action.kind, 'accept', 'p=none only records');
  });
  it('verifies a DKIM signature against the key in DNS', async () => {
    const m = model();
    const raw = await signedMessage(key, plainMessage('bob@fabrikam.test', 'alice@contoso.com', 'dkim'));
    const v = await senderAuthentication(m).content!(ctx(m, session(OTHER_IP), 'bob@fabrikam.test', raw));
    assert.match(arOf(v), /dkim=pass header\.i=@fabrikam\.test/);
    assert.match(arOf(v), /dmarc=pass/);
    assert.equal(v.action.kind, 'accept', 'aligned DKIM passes DMARC even though SPF fails');
  });
  it('rejects a DMARC p=reject failure with 550 5.7.509', async () => {
    const m = model();
    const v = await senderAuthentication(m).content!(ctx(m, session(OTHER_IP), 'ceo@fabrikam.test', plainMessage('ceo@fabrikam.test', 'alice@contoso.com', 'spoof')));
    assert.deepEqual(v.action, {
      kind: 'reject', code: 550, enhanced: '5.7.509',
      text: 'Access denied, sending domain [fabrikam.test] does not pass DMARC verification and has a DMARC policy of reject',
    });
  });
  it('quarantines a DMARC p=quarantine failure as Phish', async () => {
    const m = model();
    const v = await senderAuthentication(m).content!(ctx(m, session(OTHER_IP), 'ceo@woodgrove.test', plainMessage('ceo@woodgrove.test', 'alice@contoso.com', 'spoof q')));
    assert.deepEqual(v.action, { kind: 'quarantine', type: 'Phish', reason: 'DMARC p=quarantine for woodgrove.test' });
  });
  it('removes only a received Authentication-Results that claims our authserv-id', async () => {
    const m = model();
    const raw = plainMessage('bob@relaxed.test', 'alice@contoso.com', 'forged ar',
      'Authentication-Results: gateway.contoso.test; spf=pass; dmarc=pass\r\nAuthentication-Results: mx.fabrikam.test; spf=pass\r\n');
    const v = await senderAuthentication(m).content!(ctx(m, session(SENDER_IP), 'bob@relaxed.test', raw));
    const removes = v.headerEdits?.filter((e) => e.op === 'remove') ?? [];
    assert.deepEqual(removes, [{ op: 'remove', name: 'Authentication-Results', value: 'gateway.contoso.test; spf=pass; dmarc=pass' }]);
  });
  it('judges the original sender behind a gateway with enhanced filtering', async () => {
    const gw = inbound({ name: 'Filtering service', connectorType: 'Partner', senderIPAddresses: [OTHER_IP], efSkipIPs: [OTHER_IP] });
    assert.deepEqual(gw.efSkipIPs, [compileIpRule(OTHER_IP)]);
    const m = model();
    const raw = plainMessage('ceo@fabrikam.test', 'alice@contoso.com', 'via gateway',
      `Received: from mail.fabrikam.test (mail.fabrikam.test [${SENDER_IP}])\r\n\tby filter.example with ESMTP; Tue, 1 Dec 2026 09:59:00 +0000\r\n`);
    const v = await senderAuthentication(m).content!(ctx(m, session(OTHER_IP, { inbound: gw, matchedBy: 'ip' }), 'ceo@fabrikam.test', raw));
    assert.match(arOf(v), new RegExp(`spf=pass .*${SENDER_IP.replace(/\./g, '\\.')}`));
    assert.equal(v.action.kind, 'accept');
    const cf = await connectionFilter(model([DNSBL_ZONE])).content!(ctx(model([DNSBL_ZONE]), session(OTHER_IP, { inbound: gw, matchedBy: 'ip' }), 'ceo@fabrikam.test', raw));
    assert.deepEqual(cf.headerEdits, [{ op: 'set', name: 'X-MS-Exchange-ExternalOriginalInternetSender', value: `ip=[${SENDER_IP}];domain=mail.fabrikam.test` }]);
  });
  it('checks SPF for the HELO name of a null sender (a bounce)', async () => {
    const m = model();
    const v = await senderAuthentication(m).content!(ctx(m, session(SENDER_IP, { helo: 'relaxed.test' }), '', plainMessage('mailer-daemon@relaxed.test', 'alice@contoso.com', 'bounce')));
    assert.match(arOf(v), /spf=pass .*smtp\.(mailfrom|helo)=.*relaxed\.test/);
    assert.equal(v.action.kind, 'accept');
  });
  it('never rejects an OnPremises session for DMARC, but still records the failure', async () => {
    const onPrem = inbound({ name: 'On-prem', connectorType: 'OnPremises', senderIPAddresses: [OTHER_IP] });
    const m = model();
    const v = await senderAuthentication(m).content!(ctx(m, session(OTHER_IP, { inbound: onPrem, matchedBy: 'ip' }), 'ceo@fabrikam.test', plainMessage('ceo@fabrikam.test', 'alice@contoso.com', 'onprem')));
    assert.equal(v.action.kind, 'accept');
    assert.match(arOf(v), /dmarc=fail/);
  });
});
