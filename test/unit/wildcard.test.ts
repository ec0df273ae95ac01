// "*.domain" as EOP defines it (SmtpDomainWithSubdomains): the domain itself and every subdomain at
// any depth, never a look-alike. One table of names, run through every field that takes a pattern:
// senderDomains (relay and partner scope), recipientDomains, tlsSenderCertificateName, tlsDomain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifySession, type SessionFacts } from '../../src/classify/classify-session.js';
import { compileDomainPattern, matchCertificateName, matchDomain } from '../../src/domain/match.js';
import { certificateCovers } from '../../src/delivery/tls-policy.js';
import { decideRecipient } from '../../src/policy/relay.js';
import { selectRoute } from '../../src/routing/select-connector.js';
import { ConfigError, loadConfigText } from '../../src/config/load.js';
import { buildModel } from '../helpers/model-builder.js';

/** A name against the pattern "*.contoso.com" (or "*.bücher.example" for the IDN rows). */
const NAMES: { name: string; domain: string; covered: boolean }[] = [
  { name: 'the bare domain', domain: 'contoso.com', covered: true },
  { name: 'one label deep', domain: 'mail.contoso.com', covered: true },
  { name: 'two labels deep', domain: 'a.b.contoso.com', covered: true },
  { name: 'the look-alike suffix evilcontoso.com', domain: 'evilcontoso.com', covered: false },
  { name: 'the domain followed by a foreign suffix', domain: 'contoso.com.evil.example', covered: false },
  { name: 'the parent of the domain', domain: 'com', covered: false },
  { name: 'an IDN domain in punycode under a Unicode pattern', domain: 'xn--bcher-kva.example', covered: true },
  { name: 'an IDN subdomain in punycode under a Unicode pattern', domain: 'mail.xn--bcher-kva.example', covered: true },
];
const patternFor = (domain: string) => (domain.includes('xn--') ? '*.bücher.example' : '*.contoso.com');

for (const row of NAMES) {
  const verb = row.covered ? 'covers' : 'does not cover';
  test(`matchDomain: ${patternFor(row.domain)} ${verb} ${row.name}`, () => {
    assert.equal(matchDomain(compileDomainPattern(patternFor(row.domain)), row.domain), row.covered);
  });

  test(`recipientDomains: ${patternFor(row.domain)} ${verb} ${row.name}`, () => {
    const model = buildModel({ acceptedDomains: [], outboundConnectors: [{ name: 'Wild', recipientDomains: [patternFor(row.domain)] }] });
    const got = selectRoute(model, row.domain);
    assert.equal(got.kind === 'connector' ? got.connector.name : got.kind, row.covered ? 'Wild' : 'mx');
  });

  test(`senderDomains (relay): ${patternFor(row.domain)} ${verb} a MAIL FROM in ${row.name}`, () => {
    const model = buildModel({
      acceptedDomains: ['relay.example'],
      inboundConnectors: [{ name: 'On-prem', tlsSenderCertificateName: 'mta.relay.example', senderDomains: [patternFor(row.domain)] }],
    });
    const facts: SessionFacts = { ip: '198.51.100.1', tls: true, certNames: ['mta.relay.example'] };
    const got = decideRecipient(model, facts, classifySession(model, facts), `a@${row.domain}`, 'b@outlook.com');
    if (row.domain === 'com') return assert.equal(got.verdict.kind, 'reject'); // a single label is no mail domain
    assert.equal(got.verdict.kind === 'accept' ? 250 : got.verdict.enhanced, row.covered ? 250 : '5.7.64', got.verdict.reason);
  });

  test(`senderDomains (partner scope): ${patternFor(row.domain)} ${verb} a MAIL FROM in ${row.name}`, () => {
    const model = buildModel({
      acceptedDomains: ['fabrikam.com'],
      inboundConnectors: [{ name: 'Partner', connectorType: 'Partner', senderDomains: [patternFor(row.domain)], requireTls: true }],
      outboundConnectors: [{ name: 'To on-prem', allAcceptedDomains: true }],
    });
    const facts: SessionFacts = { ip: '203.0.113.9', tls: false, certNames: [] };
    const got = decideRecipient(model, facts, classifySession(model, facts), `a@${row.domain}`, 'b@fabrikam.com');
    if (row.domain === 'com') return assert.equal(got.verdict.kind, 'reject');
    assert.equal(got.verdict.kind === 'accept' ? 250 : got.verdict.enhanced, row.covered ? '5.7.51' : 250, got.verdict.reason);
  });

  test(`tlsSenderCertificateName: ${patternFor(row.domain)} ${verb} a certificate named ${row.name}`, () => {
    const model = buildModel({ inboundConnectors: [{ name: 'By cert', tlsSenderCertificateName: patternFor(row.domain) }] });
    const got = classifySession(model, { ip: '198.51.100.1', tls: true, certNames: [row.domain] });
    assert.equal(got.connector?.name ?? null, row.covered ? 'By cert' : null);
  });

  test(`tlsDomain: ${patternFor(row.domain)} ${verb} a smart host certificate named ${row.name}`, () => {
    const tlsDomain = compileDomainPattern(patternFor(row.domain)); // as compile.ts stores it: punycode
    assert.equal(certificateCovers(`*.${tlsDomain.domain}`, row.domain), row.covered);
  });
}

const CERT_NAMES: { name: string; pattern: string; certName: string; matches: boolean }[] = [
  { name: 'a certificate name with a trailing dot is the same name', pattern: '*.contoso.com', certName: 'mail.contoso.com.', matches: true },
  { name: 'an upper-case certificate name', pattern: '*.contoso.com', certName: 'MAIL.Contoso.COM', matches: true },
  { name: 'a Unicode certificate name against a punycode pattern', pattern: '*.xn--bcher-kva.example', certName: 'mail.bücher.example', matches: true },
  { name: 'a wildcard certificate with the same wildcard (literal)', pattern: '*.contoso.com', certName: '*.contoso.com', matches: true },
  { name: 'a wildcard certificate one level down (literal rule)', pattern: '*.contoso.com', certName: '*.mail.contoso.com', matches: false },
  { name: 'a wildcard certificate one level up (literal rule)', pattern: '*.mail.contoso.com', certName: '*.contoso.com', matches: false },
  { name: 'a wildcard certificate against an exact pattern', pattern: 'mail.contoso.com', certName: '*.contoso.com', matches: false },
  { name: 'a partial-label wildcard certificate', pattern: '*.contoso.com', certName: 'm*.contoso.com', matches: false },
  { name: 'an exact pattern against a subdomain', pattern: 'contoso.com', certName: 'mail.contoso.com', matches: false },
];
for (const row of CERT_NAMES) {
  test(`matchCertificateName: ${row.name} ${row.matches ? 'matches' : 'does not match'} ${row.pattern}`, () => {
    assert.equal(matchCertificateName(compileDomainPattern(row.pattern), row.certName), row.matches);
  });
}

const BAD_PATTERNS = ['contoso.com.', '*.contoso.com.', '*.*.contoso.com', '*contoso.com', 'mail.*.contoso.com', '*.'];
for (const raw of BAD_PATTERNS) {
  test(`compileDomainPattern refuses "${raw}" (trailing dots and inner wildcards are config errors)`, () => {
    assert.throws(() => compileDomainPattern(raw), /is not a domain, "\*\.domain" or "\*"/);
  });
}

test('compileDomainPattern stores a Unicode wildcard in punycode, lower case', () => {
  assert.deepEqual(compileDomainPattern('*.Bücher.Example'), { raw: '*.Bücher.Example', kind: 'wildcard', domain: 'xn--bcher-kva.example' });
});

test('a Unicode MAIL FROM domain is matched in punycode by a senderDomains wildcard', () => {
  const model = buildModel({
    acceptedDomains: ['relay.example'],
    inboundConnectors: [{ name: 'On-prem', tlsSenderCertificateName: 'mta.relay.example', senderDomains: ['*.xn--bcher-kva.example'] }],
  });
  const facts: SessionFacts = { ip: '198.51.100.1', tls: true, certNames: ['mta.relay.example'] };
  const got = decideRecipient(model, facts, classifySession(model, facts), 'a@Mail.Bücher.example', 'b@outlook.com');
  assert.equal(got.verdict.kind, 'accept', got.verdict.reason);
});

test('a MAIL FROM with a trailing dot is refused before any pattern sees it', () => {
  const model = buildModel({ inboundConnectors: [{ name: 'On-prem', senderIPAddresses: ['10.0.0.0/24'], senderDomains: ['*.contoso.com'] }] });
  const facts: SessionFacts = { ip: '10.0.0.5', tls: false, certNames: [] };
  const got = decideRecipient(model, facts, classifySession(model, facts), 'a@contoso.com.', 'b@outlook.com');
  assert.equal(got.verdict.kind === 'accept' ? 250 : `${got.verdict.code} ${got.verdict.enhanced}`, '501 5.1.7');
});

test('associatedAcceptedDomains takes accepted domains, not patterns: "*.contoso.com" there is a config error', () => {
  const yaml = `server:
  hostname: gw.example.test
  listen: [{ host: 127.0.0.1, port: 2525 }]
  tls: { cert: c.crt, key: c.key }
acceptedDomains: [{ domain: contoso.com }]
inboundConnectors:
  - { name: p, connectorType: Partner, senderDomains: [fabrikam.com], associatedAcceptedDomains: ["*.contoso.com"] }
`;
  assert.throws(
    () => loadConfigText(yaml, 'assoc.yaml'),
    (err: unknown) => err instanceof ConfigError && err.issues.some((i) => i.path === 'inboundConnectors[0].associatedAcceptedDomains[0]' && i.line === 7),
  );
});
