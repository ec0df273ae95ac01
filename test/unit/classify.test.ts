// Table tests for inbound classification: certificate (CN, SAN, "*.domain" at any depth and the
// domain itself; a wildcard certificate only literally) beats
// IP (v4, v6, CIDR, range, IPv4-mapped); disabled connectors never match; else anonymous.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifySession, type SessionFacts } from '../../src/classify/classify-session.js';
import { buildModel } from '../helpers/model-builder.js';

const model = buildModel({
  acceptedDomains: ['contoso.com', 'fabrikam.com'],
  inboundConnectors: [
    { name: 'Disabled', enabled: false, senderIPAddresses: ['10.9.9.9'], tlsSenderCertificateName: 'disabled.contoso.com' },
    { name: 'On-prem by cert', tlsSenderCertificateName: 'mail.contoso.com' },
    { name: 'Wildcard cert', tlsSenderCertificateName: '*.fabrikam.com', connectorType: 'Partner' },
    { name: 'On-prem by IP', senderIPAddresses: ['10.0.0.5', '10.0.1.0/24', '10.0.2.1-10.0.2.9', '2001:db8::/64'] },
    { name: 'Second IP', senderIPAddresses: ['10.0.0.5', '192.0.2.7'] },
  ],
});

interface Row {
  name: string;
  input: SessionFacts;
  expected: { connector: string | null; matchedBy: 'certificate' | 'ip' | null; certName?: string | null };
}

const cert = (ip: string, ...certNames: string[]): SessionFacts => ({ ip, tls: true, certNames });
const plain = (ip: string): SessionFacts => ({ ip, tls: false, certNames: [] });

const rows: Row[] = [
  {
    name: 'matches a connector by the certificate CN',
    input: cert('198.51.100.1', 'mail.contoso.com'),
    expected: { connector: 'On-prem by cert', matchedBy: 'certificate', certName: 'mail.contoso.com' },
  },
  {
    name: 'matches a connector by a DNS SAN when the CN does not match',
    input: cert('198.51.100.1', 'unrelated.example', 'other.example', 'mail.contoso.com'),
    expected: { connector: 'On-prem by cert', matchedBy: 'certificate', certName: 'mail.contoso.com' },
  },
  {
    name: 'compares certificate names case-insensitively',
    input: cert('198.51.100.1', 'MAIL.Contoso.COM'),
    expected: { connector: 'On-prem by cert', matchedBy: 'certificate', certName: 'MAIL.Contoso.COM' },
  },
  {
    name: 'matches a wildcard certificate pattern one label deep',
    input: cert('198.51.100.1', 'smtp.fabrikam.com'),
    expected: { connector: 'Wildcard cert', matchedBy: 'certificate', certName: 'smtp.fabrikam.com' },
  },
  {
    name: 'matches a wildcard certificate pattern two labels deep',
    input: cert('198.51.100.1', 'a.smtp.fabrikam.com'),
    expected: { connector: 'Wildcard cert', matchedBy: 'certificate', certName: 'a.smtp.fabrikam.com' },
  },
  {
    name: 'matches a wildcard certificate pattern with the bare parent domain',
    input: cert('198.51.100.1', 'fabrikam.com'),
    expected: { connector: 'Wildcard cert', matchedBy: 'certificate', certName: 'fabrikam.com' },
  },
  {
    name: 'does not match a wildcard certificate pattern with a look-alike suffix',
    input: cert('198.51.100.1', 'evilfabrikam.com'),
    expected: { connector: null, matchedBy: null },
  },
  {
    name: 'matches a certificate that itself carries the same wildcard name, literally',
    input: cert('198.51.100.1', '*.fabrikam.com'),
    expected: { connector: 'Wildcard cert', matchedBy: 'certificate', certName: '*.fabrikam.com' },
  },
  {
    name: 'does not match a certificate carrying a narrower wildcard name (literal rule)',
    input: cert('198.51.100.1', '*.smtp.fabrikam.com'),
    expected: { connector: null, matchedBy: null },
  },
  {
    name: 'does not let a wildcard certificate name match an exact pattern',
    input: cert('198.51.100.1', '*.contoso.com'),
    expected: { connector: null, matchedBy: null },
  },
  {
    name: 'lets a certificate beat an IP match on a connector earlier in config order',
    input: cert('10.0.0.5', 'mail.contoso.com'),
    expected: { connector: 'On-prem by cert', matchedBy: 'certificate' },
  },
  {
    name: 'falls back to the IP when the certificate matches no connector',
    input: cert('10.0.0.5', 'stranger.example'),
    expected: { connector: 'On-prem by IP', matchedBy: 'ip', certName: null },
  },
  {
    name: 'ignores certificate names when the session is not TLS',
    input: { ip: '198.51.100.1', tls: false, certNames: ['mail.contoso.com'] },
    expected: { connector: null, matchedBy: null },
  },
  {
    name: 'never matches a disabled connector by certificate',
    input: cert('198.51.100.1', 'disabled.contoso.com'),
    expected: { connector: null, matchedBy: null },
  },
  { name: 'never matches a disabled connector by IP', input: plain('10.9.9.9'), expected: { connector: null, matchedBy: null } },
  { name: 'matches a single IPv4 address', input: plain('10.0.0.5'), expected: { connector: 'On-prem by IP', matchedBy: 'ip' } },
  { name: 'matches an IPv4 CIDR', input: plain('10.0.1.200'), expected: { connector: 'On-prem by IP', matchedBy: 'ip' } },
  { name: 'matches inside an IPv4 range', input: plain('10.0.2.9'), expected: { connector: 'On-prem by IP', matchedBy: 'ip' } },
  { name: 'does not match just outside an IPv4 range', input: plain('10.0.2.10'), expected: { connector: null, matchedBy: null } },
  { name: 'matches an IPv6 CIDR', input: plain('2001:db8::25'), expected: { connector: 'On-prem by IP', matchedBy: 'ip' } },
  { name: 'does not match outside an IPv6 CIDR', input: plain('2001:db8:0:1::25'), expected: { connector: null, matchedBy: null } },
  {
    name: 'normalises an IPv4-mapped IPv6 peer address to IPv4',
    input: plain('::ffff:10.0.1.7'),
    expected: { connector: 'On-prem by IP', matchedBy: 'ip' },
  },
  {
    name: 'picks the first connector in config order when two list the same IP',
    input: plain('10.0.0.5'),
    expected: { connector: 'On-prem by IP', matchedBy: 'ip' },
  },
  { name: 'matches a later connector when only it lists the IP', input: plain('192.0.2.7'), expected: { connector: 'Second IP', matchedBy: 'ip' } },
  { name: 'treats an unknown internet peer as anonymous', input: plain('203.0.113.50'), expected: { connector: null, matchedBy: null } },
];

for (const { name, input, expected } of rows) {
  test(`classification ${name}`, () => {
    const got = classifySession(model, input);
    assert.equal(got.connector?.name ?? null, expected.connector);
    assert.equal(got.matchedBy, expected.matchedBy);
    if (expected.certName !== undefined) assert.equal(got.certName, expected.certName);
    assert.ok(got.reason.length > 0, 'every classification carries a reason');
    if (expected.connector === null) assert.equal(got.reason, 'anonymous: no connector matched certificate or IP');
    else assert.ok(got.reason.includes(expected.connector), `reason names the connector: ${got.reason}`);
  });
}

test('classification lets the first certificate connector in config order win a tie', () => {
  const tie = buildModel({
    inboundConnectors: [
      { name: 'First', tlsSenderCertificateName: '*.contoso.com' },
      { name: 'Second', tlsSenderCertificateName: 'mail.contoso.com' },
    ],
  });
  assert.equal(classifySession(tie, cert('198.51.100.1', 'mail.contoso.com')).connector?.name, 'First');
});
