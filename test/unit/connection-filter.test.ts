// Tables over the connection filter's pure parts: list matching (allow beats block, OnPremises
// never blocked), DNSBL query names and answers, the verdicts and their replies, and the config keys.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfigText, loadConfigTextWithWarnings } from '../../src/config/load.js';
import { compileIpRule } from '../../src/domain/match.js';
import { connectionVerdict, matchLists, type DnsblAnswer, type ListMatch } from '../../src/filters/connection-verdict.js';
import { classifyDnsbl, dnsblName } from '../../src/filters/dnsbl.js';
import { inbound } from '../helpers/model-builder.js';

const cf = {
  ipAllowList: ['192.0.2.0/24', '2001:db8:1::/48'].map(compileIpRule),
  ipBlockList: ['198.51.100.7', '192.0.2.50', '203.0.113.10-203.0.113.20', '2001:db8:bad::1'].map(compileIpRule),
  dnsBlocklists: ['zen.example.test'],
};
const partner = inbound({ name: 'Partner in', connectorType: 'Partner', senderIPAddresses: ['198.51.100.0/24'] });
const onPrem = inbound({ name: 'On-prem', connectorType: 'OnPremises', senderIPAddresses: ['198.51.100.0/24'] });

describe('connection filter lists', () => {
  const cases: { name: string; ip: string; connector?: typeof partner; expected: ListMatch }[] = [
    { name: 'blocks a listed single IPv4 address', ip: '198.51.100.7', expected: { kind: 'blocked', rule: '198.51.100.7' } },
    { name: 'blocks an address inside a listed range', ip: '203.0.113.15', expected: { kind: 'blocked', rule: '203.0.113.10-203.0.113.20' } },
    { name: 'leaves the address after a range unlisted', ip: '203.0.113.21', expected: { kind: 'unlisted' } },
    { name: 'blocks a listed IPv6 address', ip: '2001:db8:bad::1', expected: { kind: 'blocked', rule: '2001:db8:bad::1' } },
    { name: 'allows an address in an allowed CIDR', ip: '192.0.2.9', expected: { kind: 'allowed', rule: '192.0.2.0/24' } },
    { name: 'lets allow beat block for an address on both lists', ip: '192.0.2.50', expected: { kind: 'allowed', rule: '192.0.2.0/24' } },
    { name: 'allows an IPv6 address in an allowed prefix', ip: '2001:db8:1::25', expected: { kind: 'allowed', rule: '2001:db8:1::/48' } },
    { name: 'folds an IPv4-mapped IPv6 peer into IPv4', ip: '::ffff:198.51.100.7', expected: { kind: 'blocked', rule: '198.51.100.7' } },
    { name: 'still blocks a Partner session', ip: '198.51.100.7', connector: partner, expected: { kind: 'blocked', rule: '198.51.100.7' } },
    { name: 'never blocks an OnPremises session', ip: '198.51.100.7', connector: onPrem, expected: { kind: 'onPremises', connector: 'On-prem' } },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(matchLists(cf, c.ip, c.connector ?? null), c.expected));
});

describe('DNSBL query names and answers', () => {
  it('reverses IPv4 octets', () => assert.equal(dnsblName('192.0.2.99', 'zen.example.test'), '99.2.0.192.zen.example.test'));
  it('reverses IPv6 nibbles (RFC 5782 §2.4)', () =>
    assert.equal(dnsblName('2001:db8::1', 'bl.test'), '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test'));
  it('queries an IPv4-mapped peer as IPv4', () => assert.equal(dnsblName('::ffff:10.1.2.3', 'bl.test'), '3.2.1.10.bl.test'));
  const answers: { name: string; input: { addresses: string[] } | { error: string }; expected: DnsblAnswer['kind'] }[] = [
    { name: 'a 127.0.0.2 answer is a listing', input: { addresses: ['127.0.0.2'] }, expected: 'listed' },
    { name: 'NXDOMAIN is not listed', input: { error: 'ENOTFOUND' }, expected: 'not-listed' },
    { name: 'no A record is not listed', input: { error: 'ENODATA' }, expected: 'not-listed' },
    { name: 'a timeout is unavailable', input: { error: 'ETIMEOUT' }, expected: 'unavailable' },
    { name: 'SERVFAIL is unavailable', input: { error: 'ESERVFAIL' }, expected: 'unavailable' },
    { name: 'REFUSED is unavailable', input: { error: 'EREFUSED' }, expected: 'unavailable' },
    { name: "a zone's error code 127.255.255.254 is unavailable, not a listing", input: { addresses: ['127.255.255.254'] }, expected: 'unavailable' },
    { name: 'an answer outside 127/8 is unavailable', input: { addresses: ['10.0.0.1'] }, expected: 'unavailable' },
  ];
  for (const a of answers) it(a.name, () => assert.equal(classifyDnsbl('bl.test', a.input).kind, a.expected));
});

describe('connection filter verdicts', () => {
  it('rejects a block-listed IP with 550 5.7.513 and the customer block list text', () => {
    const v = connectionVerdict('198.51.100.7', { kind: 'blocked', rule: '198.51.100.7' }, []);
    assert.deepEqual(v.action, {
      kind: 'reject',
      code: 550,
      enhanced: '5.7.513',
      text: 'Service unavailable, Client host [198.51.100.7] blocked using Customer Block list',
    });
  });
  it('marks an allow-listed IP so the spam filter skips it', () => {
    const v = connectionVerdict('192.0.2.9', { kind: 'allowed', rule: '192.0.2.0/24' }, []);
    assert.equal(v.action.kind, 'accept');
    assert.equal(v.evidence?.ipAllowed, true);
  });
  it('rejects a DNSBL hit with 550 5.7.1 naming the zone', () => {
    const v = connectionVerdict('203.0.113.99', { kind: 'unlisted' }, [
      { zone: 'down.test', kind: 'unavailable', error: 'ETIMEOUT' },
      { zone: 'zen.example.test', kind: 'listed', answer: '127.0.0.2' },
    ]);
    assert.deepEqual(v.action, {
      kind: 'reject',
      code: 550,
      enhanced: '5.7.1',
      text: 'Service unavailable; Client host [203.0.113.99] blocked using zen.example.test',
    });
    assert.deepEqual(v.evidence?.dnsblUnavailable, ['down.test: ETIMEOUT']);
  });
  it('accepts when the only DNSBL does not answer, and says it skipped it', () => {
    const v = connectionVerdict('203.0.113.99', { kind: 'unlisted' }, [{ zone: 'down.test', kind: 'unavailable', error: 'ESERVFAIL' }]);
    assert.equal(v.action.kind, 'accept');
    assert.match(v.reason, /skipped unanswered DNSBL down\.test: ESERVFAIL/);
  });
  it('accepts an OnPremises session without a lookup', () => {
    assert.equal(connectionVerdict('198.51.100.7', { kind: 'onPremises', connector: 'On-prem' }, []).action.kind, 'accept');
  });
});

const BASE = `server:
  hostname: gw.example.test
  listen: [{ host: 127.0.0.1, port: 2525 }]
  tls: { cert: certs/server.crt, key: certs/server.key }
acceptedDomains: [{ domain: contoso.com }]
`;

function issuesOf(text: string) {
  try {
    loadConfigText(text, 'test.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.issues;
  }
  assert.fail('expected the config to be rejected');
}

describe('connectionFilter and senderAuthentication config', () => {
  it('defaults to empty lists and sender authentication off', () => {
    const m = loadConfigText(BASE, 'test.yaml');
    assert.deepEqual(m.connectionFilter, { ipAllowList: [], ipBlockList: [], dnsBlocklists: [] });
    assert.deepEqual(m.senderAuthentication, { enabled: false, honorDmarcPolicy: true, dmarcRejectAction: 'Reject', dmarcQuarantineAction: 'Quarantine' });
  });
  it('compiles CIDRs, ranges and IPv6 and normalises EOP enum spellings', () => {
    const m = loadConfigText(
      BASE +
        `connectionFilter:\n  ipAllowList: [192.0.2.0/24, 2001:db8::/32]\n  ipBlockList: [198.51.100.1-198.51.100.9]\n  dnsBlocklists: [Zen.Example.Org]\n` +
        `senderAuthentication: { enabled: true, dmarcRejectAction: quarantine, dmarcQuarantineAction: movetojmf }\n`,
      'test.yaml',
    );
    assert.equal(m.connectionFilter.ipAllowList.length, 2);
    assert.equal(m.connectionFilter.ipBlockList[0]?.raw, '198.51.100.1-198.51.100.9');
    assert.deepEqual(m.connectionFilter.dnsBlocklists, ['zen.example.org']);
    assert.equal(m.senderAuthentication.dmarcRejectAction, 'Quarantine');
    assert.equal(m.senderAuthentication.dmarcQuarantineAction, 'MoveToJmf');
  });
  const bad: { name: string; yaml: string; path: string; message: RegExp }[] = [
    { name: 'a bad block-list entry', yaml: `connectionFilter: { ipBlockList: [198.51.100.300] }\n`, path: 'connectionFilter.ipBlockList[0]', message: /not an IP address/ },
    { name: 'a bad DNSBL zone', yaml: `connectionFilter: { dnsBlocklists: ["*.bl"] }\n`, path: 'connectionFilter.dnsBlocklists[0]', message: /DNS zone/ },
    { name: 'an unknown DMARC action', yaml: `senderAuthentication: { dmarcRejectAction: Drop }\n`, path: 'senderAuthentication.dmarcRejectAction', message: /Reject, Quarantine/ },
    { name: 'an unknown key', yaml: `connectionFilter: { ipBlock: [] }\n`, path: 'connectionFilter.ipBlock', message: /unknown key/ },
    {
      name: 'a bad efSkipIPs entry',
      yaml: `inboundConnectors:\n  - { name: gw, connectorType: Partner, senderIPAddresses: [192.0.2.1], efSkipIPs: [nope] }\n`,
      path: 'inboundConnectors[0].efSkipIPs[0]',
      message: /not an IP address/,
    },
    {
      name: 'an efUsers entry that is not an address',
      yaml: `inboundConnectors:\n  - { name: gw, connectorType: Partner, senderIPAddresses: [192.0.2.1], efUsers: [contoso.com] }\n`,
      path: 'inboundConnectors[0].efUsers[0]',
      message: /not an email address/,
    },
  ];
  for (const b of bad) {
    it(`names the key path of ${b.name}`, () => {
      const issues = issuesOf(BASE + b.yaml);
      const hit = issues.find((i) => i.path === b.path);
      assert.ok(hit, `no issue at ${b.path}: ${JSON.stringify(issues)}`);
      assert.match(hit.message, b.message);
      assert.ok(hit.line && hit.line > 0, 'the issue carries a line');
    });
  }
  it('reads the enhanced filtering keys of an inbound connector', () => {
    const m = loadConfigText(
      BASE + `inboundConnectors:\n  - { name: gw, connectorType: Partner, senderIPAddresses: [192.0.2.1], efSkipLastIP: true, efSkipIPs: [10.0.0.0/8], efUsers: [Alice@Contoso.com] }\n`,
      'test.yaml',
    );
    const c = m.inboundConnectors[0];
    assert.equal(c?.efSkipLastIP, true);
    assert.equal(c?.efSkipIPs[0]?.raw, '10.0.0.0/8');
    assert.deepEqual(c?.efUsers, ['alice@contoso.com']);
  });
});

describe('enhanced filtering config warnings', () => {
  it('warns that efSkipIPs is ignored while efSkipLastIP is true', () => {
    const { warnings } = loadConfigTextWithWarnings(
      BASE + `inboundConnectors:\n  - { name: gw, connectorType: Partner, senderIPAddresses: [192.0.2.1], efSkipLastIP: true, efSkipIPs: [192.0.2.1] }\n`,
      'test.yaml',
    );
    assert.deepEqual(warnings.map((w) => w.path), ['inboundConnectors[0].efSkipIPs']);
  });
});

describe('enhanced filtering without skip keys', () => {
  it('warns that efUsers alone has no effect', () => {
    const { warnings } = loadConfigTextWithWarnings(
      BASE + `inboundConnectors:\n  - { name: gw, connectorType: Partner, senderIPAddresses: [192.0.2.1], efUsers: [alice@contoso.com] }\n`,
      'test.yaml',
    );
    assert.deepEqual(warnings.map((w) => w.path), ['inboundConnectors[0].efUsers']);
  });
});
