// Tables over sender authentication's pure parts: the Received-chain parser and enhanced
// filtering (which IP is judged, for which recipients), the DMARC verdict mapping, and the
// Authentication-Results authserv-id test (RFC 8601 §5).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileIpRule } from '../../src/domain/match.js';
import { authservIdOf, authResultsValue, claimsAuthservId } from '../../src/filters/auth-results.js';
import { applyHeaderEdits } from '../../src/filters/header-edits.js';
import { authVerdict, type AuthFacts } from '../../src/filters/auth-verdict.js';
import type { HeaderField, SessionView } from '../../src/filters/contract.js';
import { appliesToRecipients, efHeaderValue, enhancedSender } from '../../src/filters/enhanced-filtering.js';
import { originalSender, parseReceived, type Hop } from '../../src/filters/received-chain.js';
import type { SenderAuthenticationModel } from '../../src/config/sections/sender.js';
import { inbound } from '../helpers/model-builder.js';

describe('Received header parser', () => {
  const cases: { name: string; value: string; expected: Hop | null }[] = [
    {
      name: 'reads Postfix’s "from helo (rdns [ip])"',
      value: 'from mail.fabrikam.com (mail.fabrikam.com [203.0.113.5])\r\n\tby mx.contoso.com (Postfix) with ESMTPS id 4F1; Tue, 1 Dec 2026 10:00:00 +0000',
      expected: { ip: '203.0.113.5', helo: 'mail.fabrikam.com' },
    },
    {
      name: 'reads Sluice’s own "from helo ([ip])"',
      value: 'from relay.fabrikam.com ([198.51.100.20])\r\n\tby gw.contoso.com (Sluice) with ESMTP id Q1\r\n\t(anonymous);\r\n\tTue, 1 Dec 2026 10:00:00 +0000',
      expected: { ip: '198.51.100.20', helo: 'relay.fabrikam.com' },
    },
    {
      name: 'reads an IPv6 literal with its IPv6: tag',
      value: 'from mx.fabrikam.com (mx.fabrikam.com [IPv6:2001:db8::25]) by mx.contoso.com with ESMTP; Tue, 1 Dec 2026 10:00:00 +0000',
      expected: { ip: '2001:db8::25', helo: 'mx.fabrikam.com' },
    },
    {
      name: 'reads an address literal as the from name',
      value: 'from [192.0.2.44] (port=5123 helo=laptop) by smtp.fabrikam.com with esmtpsa; Tue, 1 Dec 2026 10:00:00 +0000',
      expected: { ip: '192.0.2.44', helo: null },
    },
    {
      name: 'reads Exchange’s bare address in parentheses',
      value: 'from exserver (192.168.2.9) by exserver2 (192.168.2.12) with Microsoft SMTP Server id 15.0.1497.2; Thu, 5 Aug 2021 09:49:43 +0700',
      expected: { ip: '192.168.2.9', helo: 'exserver' },
    },
    {
      name: 'takes the connection address, not one the client put in a nested comment',
      value: 'from evil (helo [10.9.9.9] (claims [10.8.8.8]) [203.0.113.77]) by mx.contoso.com; Tue, 1 Dec 2026 10:00:00 +0000',
      expected: { ip: '203.0.113.77', helo: 'evil' },
    },
    {
      name: 'ignores an address in the by clause',
      value: 'from localhost by mx.contoso.com ([127.0.0.1]) with LMTP; Tue, 1 Dec 2026 10:00:00 +0000',
      expected: null,
    },
    { name: 'gives null without a from clause', value: 'by mx.contoso.com with ESMTP id 1; Tue, 1 Dec 2026 10:00:00 +0000', expected: null },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(parseReceived(c.value), c.expected));
});

const gw = { ip: '10.0.0.5', helo: 'gw.filtering.example' };
const hop = (from: string, ip: string) => `from ${from} (${from} [${ip}]) by next.example with ESMTP; Tue, 1 Dec 2026 10:00:00 +0000`;

describe('original sender in the Received chain', () => {
  const chain = [hop('inner.filtering.example', '10.0.0.6'), hop('mail.fabrikam.com', '203.0.113.5'), hop('forged.example', '198.51.100.66')];
  const cases: { name: string; skipLastIP: boolean; skipIPs: string[]; received: string[]; ip: string | null; rule: string }[] = [
    { name: 'judges the peer when nothing is skipped', skipLastIP: false, skipIPs: [], received: chain, ip: '10.0.0.5', rule: 'peer' },
    { name: 'skips the last hop with efSkipLastIP', skipLastIP: true, skipIPs: [], received: chain, ip: '10.0.0.6', rule: 'efSkipLastIP' },
    { name: 'skips every listed gateway with efSkipIPs', skipLastIP: false, skipIPs: ['10.0.0.0/24'], received: chain, ip: '203.0.113.5', rule: 'efSkipIPs:10.0.0.0/24' },
    { name: 'ignores efSkipIPs when efSkipLastIP is on, as EOP does', skipLastIP: true, skipIPs: ['10.0.0.6'], received: chain, ip: '10.0.0.6', rule: 'efSkipLastIP' },
    { name: 'stops at the first unlisted hop, trusting nothing below it', skipLastIP: false, skipIPs: ['10.0.0.0/24', '203.0.113.5'], received: chain, ip: '198.51.100.66', rule: 'efSkipIPs:203.0.113.5' },
    { name: 'finds nothing when every hop is skipped', skipLastIP: false, skipIPs: ['0.0.0.0/0'], received: chain, ip: null, rule: 'every hop skipped' },
    { name: 'finds nothing when the gateway’s header cannot be read', skipLastIP: true, skipIPs: [], received: ['by x with LMTP; Tue, 1 Dec 2026 10:00:00 +0000'], ip: null, rule: 'unreadable Received header 1' },
    { name: 'finds nothing without a Received header', skipLastIP: true, skipIPs: [], received: [], ip: null, rule: 'every hop skipped' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = originalSender(gw, c.received, { skipLastIP: c.skipLastIP, skipIPs: c.skipIPs.map(compileIpRule) });
      assert.equal(r.found ? r.hop.ip : null, c.ip);
      assert.equal(r.rule, c.rule);
    });
  }
  it('bounds the walk of a looping chain', () => {
    const loop = Array.from({ length: 500 }, () => hop('gw', '10.0.0.5'));
    const r = originalSender(gw, loop, { skipLastIP: false, skipIPs: [compileIpRule('10.0.0.5')] });
    assert.equal(r.found, false);
    assert.ok(r.skipped.length <= 31);
  });
});

describe('enhanced filtering', () => {
  const connector = inbound({ name: 'Filtering service', connectorType: 'Partner', senderIPAddresses: ['10.0.0.5'], efSkipLastIP: true, efUsers: ['alice@contoso.com', 'bob@contoso.com'] });
  const session = (c = connector): SessionView => ({ sessionId: 's', peerIp: '10.0.0.5', clientIp: '10.0.0.5', helo: 'gw', tls: false, certNames: [], inbound: c, matchedBy: 'ip' });
  const headers: HeaderField[] = [{ name: 'Received', value: hop('mail.fabrikam.com', '203.0.113.5'), line: '' }];
  it('applies to every recipient when efUsers is empty', () => assert.equal(appliesToRecipients({ ...connector, efUsers: [] }, ['x@contoso.com']), true));
  it('applies when every recipient is in efUsers (any case)', () => assert.equal(appliesToRecipients(connector, ['Alice@Contoso.com', 'bob@contoso.com']), true));
  it('does not apply when one recipient is outside efUsers', () => assert.equal(appliesToRecipients(connector, ['alice@contoso.com', 'carol@contoso.com']), false));
  it('finds the original sender and records it in Microsoft’s header shape', () => {
    const r = enhancedSender(session(), headers, ['alice@contoso.com']);
    assert.equal(r.kind, 'found');
    assert.deepEqual(r.kind === 'found' && r.header, { op: 'set', name: 'X-MS-Exchange-ExternalOriginalInternetSender', value: 'ip=[203.0.113.5];domain=mail.fabrikam.com' });
  });
  it('is off for a connector without efSkipLastIP or efSkipIPs', () =>
    assert.equal(enhancedSender(session({ ...connector, efSkipLastIP: false }), headers, ['alice@contoso.com']).kind, 'off'));
  it('is off for an anonymous session', () => assert.equal(enhancedSender({ ...session(), inbound: null }, headers, ['alice@contoso.com']).kind, 'off'));
  it('leaves out domain= when the hop gave no name', () => assert.equal(efHeaderValue({ ip: '192.0.2.1', helo: null }), 'ip=[192.0.2.1]'));
});

const settings: SenderAuthenticationModel = { enabled: true, honorDmarcPolicy: true, dmarcRejectAction: 'Reject', dmarcQuarantineAction: 'Quarantine' };
const auth = (dmarc: string, policy: string | null): AuthFacts => ({ spf: 'fail', dkim: 'none', dmarc, arc: 'none', dmarcPolicy: policy, fromDomain: 'fabrikam.com' });

describe('DMARC verdicts', () => {
  const cases: { name: string; auth: AuthFacts; settings?: Partial<SenderAuthenticationModel>; onPrem?: boolean; kind: string; scl?: number }[] = [
    { name: 'accepts a DMARC pass', auth: auth('pass', 'reject'), kind: 'accept' },
    { name: 'accepts a domain without DMARC', auth: auth('none', null), kind: 'accept' },
    { name: 'accepts a DMARC fail with p=none', auth: auth('fail', 'none'), kind: 'accept' },
    { name: 'rejects a p=reject failure', auth: auth('fail', 'reject'), kind: 'reject' },
    { name: 'quarantines a p=reject failure with dmarcRejectAction Quarantine', auth: auth('fail', 'reject'), settings: { dmarcRejectAction: 'Quarantine' }, kind: 'quarantine' },
    { name: 'quarantines a p=quarantine failure', auth: auth('fail', 'quarantine'), kind: 'quarantine' },
    { name: 'marks a p=quarantine failure as spam with MoveToJmf', auth: auth('fail', 'quarantine'), settings: { dmarcQuarantineAction: 'MoveToJmf' }, kind: 'accept', scl: 6 },
    { name: 'only records with honorDmarcPolicy false', auth: auth('fail', 'reject'), settings: { honorDmarcPolicy: false }, kind: 'accept' },
    { name: 'never rejects an OnPremises session', auth: auth('fail', 'reject'), onPrem: true, kind: 'accept' },
    { name: 'treats a temperror as no verdict', auth: auth('temperror', 'reject'), kind: 'accept' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const v = authVerdict(c.auth, { ...settings, ...c.settings }, c.onPrem ?? false);
      assert.equal(v.action.kind, c.kind);
      assert.equal(v.scl, c.scl);
      assert.deepEqual(v.evidence?.auth, c.auth);
    });
  }
  it('gives EOP’s 550 5.7.509 text with the domain', () =>
    assert.deepEqual(authVerdict(auth('fail', 'reject'), settings, false).action, {
      kind: 'reject',
      code: 550,
      enhanced: '5.7.509',
      text: 'Access denied, sending domain [fabrikam.com] does not pass DMARC verification and has a DMARC policy of reject',
    }));
  it('quarantines as Phish', () => {
    const a = authVerdict(auth('fail', 'quarantine'), settings, false).action;
    assert.equal(a.kind === 'quarantine' && a.type, 'Phish');
  });
});

describe('Authentication-Results authserv-id', () => {
  const cases: { value: string; id: string | null }[] = [
    { value: 'gw.contoso.com; spf=pass smtp.mailfrom=a@b', id: 'gw.contoso.com' },
    { value: 'GW.Contoso.COM;\r\n\tdkim=pass header.d=b', id: 'gw.contoso.com' },
    { value: '(forged) gw.contoso.com; dmarc=pass', id: 'gw.contoso.com' },
    { value: '(a (nested) comment) gw.contoso.com 1; none', id: 'gw.contoso.com' },
    { value: '"gw.contoso.com"; spf=pass', id: 'gw.contoso.com' },
    { value: 'mx.fabrikam.com; spf=pass', id: 'mx.fabrikam.com' },
    { value: '', id: null },
  ];
  for (const c of cases) it(`reads ${JSON.stringify(c.value)} as ${c.id}`, () => assert.equal(authservIdOf(c.value), c.id));
  it('claims ours only for our hostname', () => {
    assert.equal(claimsAuthservId('gw.contoso.com; spf=pass', 'gw.contoso.com'), true);
    assert.equal(claimsAuthservId('gw.contoso.com.evil; spf=pass', 'gw.contoso.com'), false);
  });
  it('writes every method in order, none where mailauth had nothing', () =>
    assert.equal(authResultsValue('gw.contoso.com', { spf: 'spf=pass smtp.mailfrom=a@fabrikam.com', dkim: [], dmarc: null, arc: null }),
      'gw.contoso.com;\r\n\tspf=pass smtp.mailfrom=a@fabrikam.com;\r\n\tdkim=none;\r\n\tdmarc=none;\r\n\tarc=none'));
});

describe('header removes that target one value', () => {
  const field = (name: string, value: string, start: number) => ({ name, value, line: `${name}: ${value}\r\n`, start, end: start + name.length + value.length + 4 });
  const received = [
    field('Authentication-Results', 'gateway.contoso.test; spf=pass', 0),
    field('Authentication-Results', 'mx.fabrikam.test; spf=pass', 100),
    field('Subject', 'hi', 200),
  ];
  it('leaves out only the received field with that value, and adds ours', () => {
    const r = applyHeaderEdits('', received, [
      { op: 'remove', name: 'Authentication-Results', value: 'gateway.contoso.test; spf=pass' },
      { op: 'add', name: 'Authentication-Results', value: 'gateway.contoso.test; spf=fail' },
    ]);
    assert.deepEqual(r.omit, [[0, received[0]!.end]]);
    assert.equal(r.headers, 'Authentication-Results: gateway.contoso.test; spf=fail\r\n');
  });
  it('still removes every field of the name without a value', () => {
    const r = applyHeaderEdits('', received, [{ op: 'remove', name: 'authentication-results' }]);
    assert.equal(r.omit.length, 2);
  });
});
