// Table tests for the relay policy: accepted domains from anyone, relay only for OnPremises
// connectors vouched for by certificate or accepted MAIL FROM domain, partner and on-prem
// restrictions (5.7.51, EOP's generic texts), the partner lock-down recipe, Direct Send (5.7.68),
// and every classic relay trick refused for an anonymous session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifySession, type SessionFacts } from '../../src/classify/classify-session.js';
import type { Verdict } from '../../src/domain/verdict.js';
import { decideRecipient, decideSender } from '../../src/policy/relay.js';
import { buildModel, type ModelSpec } from '../helpers/model-builder.js';

const base: ModelSpec = {
  acceptedDomains: ['contoso.com', { domain: 'contoso.net', type: 'InternalRelay' }, 'contoso.org'],
  inboundConnectors: [
    { name: 'On-prem cert', tlsSenderCertificateName: 'mail.contoso.com' },
    { name: 'On-prem eu', tlsSenderCertificateName: '*.eu.contoso.com' },
    { name: 'On-prem hosted', tlsSenderCertificateName: '*.hosting.example' },
    { name: 'On-prem IP', senderIPAddresses: ['10.0.0.0/24'], senderDomains: ['contoso.com', 'contoso.net'] },
    { name: 'On-prem TLS', senderIPAddresses: ['10.0.5.0/24'], requireTls: true, associatedAcceptedDomains: ['contoso.com'] },
    {
      name: 'On-prem strict',
      senderIPAddresses: ['10.0.6.0/24'],
      tlsSenderCertificateName: 'strict.contoso.com',
      restrictDomainsToCertificate: true,
    },
    {
      name: 'Fabrikam partner',
      connectorType: 'Partner',
      senderDomains: ['fabrikam.com'],
      senderIPAddresses: ['192.0.2.0/24'],
      requireTls: true,
      restrictDomainsToIPAddresses: true,
    },
    {
      name: 'Tailspin partner',
      connectorType: 'Partner',
      senderDomains: ['*.tailspin.example', 'tailspin.example'],
      tlsSenderCertificateName: 'mx.tailspin.example',
      restrictDomainsToCertificate: true,
      associatedAcceptedDomains: ['contoso.net'],
    },
    { name: 'Partner any', connectorType: 'Partner', senderIPAddresses: ['192.0.3.0/24'] },
    { name: 'Woodgrove off', enabled: false, connectorType: 'Partner', senderDomains: ['woodgrove.example'], requireTls: true },
  ],
  outboundConnectors: [{ name: 'To on-prem', allAcceptedDomains: true }],
};
const noConnectors: ModelSpec = { ...base, outboundConnectors: [] };
const withInternet: ModelSpec = {
  ...base,
  outboundConnectors: [...(base.outboundConnectors ?? []), { name: 'Internet', connectorType: 'Partner', recipientDomains: ['*'] }],
};

const anon: SessionFacts = { ip: '203.0.113.9', tls: false, certNames: [] };
const anonTls: SessionFacts = { ip: '203.0.113.9', tls: true, certNames: [] };
const certSession = (...certNames: string[]): SessionFacts => ({ ip: '198.51.100.20', tls: true, certNames });
const ipSession = (ip: string, tls = false): SessionFacts => ({ ip, tls, certNames: [] });

interface Row {
  name: string;
  input: { facts: SessionFacts; from: string; to: string; spec?: ModelSpec };
  /** code 250 = accepted; route 'connector:<name>' | 'mx' | null. */
  expected: { code: number; enhanced?: string; text?: string; reason?: string; route?: string | null; address?: string | null };
}

const ACCESS_DENIED = { code: 550, enhanced: '5.4.1', text: 'Relay Access Denied', route: null };
const TENANT_DENIED = { code: 550, enhanced: '5.7.64', text: 'TenantAttribution; Relay Access Denied', route: null };
// The wire texts are EOP's generic ones (issue 7): no connector name, no unmet check. Those go to
// the reason, which the log line and `sluice route` show.
const EOP_PARTNER_TEXT =
  "TenantInboundAttribution; There is a partner connector configured that matched the message's recipient domain. " +
  'The connector had either the RestrictDomainsToIPAddresses or RestrictDomainsToCertificate set';
const ON_PREM_TEXT =
  'TenantInboundAttribution; There is an on-premises connector configured that matched the sending server. ' +
  'The connector had either the RestrictDomainsToIPAddresses or RestrictDomainsToCertificate set';
const TLS_TEXT = 'TenantInboundAttribution; STARTTLS is required to send mail to this organization';
const partner = (name: string, what: string, text = EOP_PARTNER_TEXT) => ({
  code: 550,
  enhanced: '5.7.51',
  text,
  reason: `restriction: partner connector '${name}': ${what}`,
});
const onPrem = (name: string, what: string, text = ON_PREM_TEXT) => ({
  code: 550,
  enhanced: '5.7.51',
  text,
  reason: `restriction: on-premises connector '${name}': ${what}`,
});
const LOCAL = { code: 250, route: 'connector:To on-prem' };
const RELAYED = { code: 250, route: 'mx' };

const rows: Row[] = [
  // Accepted domains: from anyone.
  { name: 'accepts an anonymous sender to an accepted domain', input: { facts: anon, from: 'a@outlook.com', to: 'b@contoso.com' }, expected: LOCAL },
  {
    name: 'accepts a case variant of an accepted domain and normalises it',
    input: { facts: anon, from: 'a@outlook.com', to: 'Bob@CONTOSO.Com' },
    expected: { ...LOCAL, address: 'Bob@contoso.com' },
  },
  { name: 'accepts the null sender to an accepted domain', input: { facts: anon, from: '', to: 'b@contoso.com' }, expected: LOCAL },
  {
    name: 'refuses an Authoritative accepted domain that no connector serves',
    input: { facts: anon, from: 'a@outlook.com', to: 'b@contoso.com', spec: noConnectors },
    expected: { code: 550, enhanced: '5.4.1', text: 'Recipient address rejected: Access denied', route: null },
  },
  {
    name: 'sends an InternalRelay accepted domain that no connector serves to MX',
    input: { facts: anon, from: 'a@outlook.com', to: 'b@contoso.net', spec: noConnectors },
    expected: RELAYED,
  },
  // Relay elsewhere.
  { name: 'refuses an anonymous sender to a non-accepted domain', input: { facts: anon, from: 'a@contoso.com', to: 'b@outlook.com' }, expected: ACCESS_DENIED },
  {
    name: 'relays from an on-prem connector matched by a certificate in an accepted domain',
    input: { facts: certSession('mail.contoso.com'), from: 'a@contoso.com', to: 'b@outlook.com' },
    expected: RELAYED,
  },
  {
    name: 'relays a foreign MAIL FROM when the certificate name is in an accepted domain',
    input: { facts: certSession('mail.contoso.com'), from: 'news@mailer.example', to: 'b@outlook.com' },
    expected: RELAYED,
  },
  {
    name: 'relays when the certificate name is a subdomain of an accepted domain',
    input: { facts: certSession('smtp.eu.contoso.com'), from: 'news@mailer.example', to: 'b@outlook.com' },
    expected: RELAYED,
  },
  { name: 'relays the null sender over a certificate-matched on-prem connector', input: { facts: certSession('mail.contoso.com'), from: '', to: 'b@outlook.com' }, expected: RELAYED },
  {
    name: 'routes a relayed recipient through a "*" connector when one exists',
    input: { facts: certSession('mail.contoso.com'), from: 'a@contoso.com', to: 'b@outlook.com', spec: withInternet },
    expected: { code: 250, route: 'connector:Internet' },
  },
  {
    name: 'relays for an IP-matched on-prem connector when the MAIL FROM domain is accepted',
    input: { facts: ipSession('10.0.0.5'), from: 'a@contoso.com', to: 'b@outlook.com' },
    expected: RELAYED,
  },
  {
    name: 'relays for an IP-matched on-prem connector when the MAIL FROM domain is an InternalRelay accepted domain',
    input: { facts: ipSession('10.0.0.5'), from: 'a@contoso.net', to: 'b@outlook.com' },
    expected: RELAYED,
  },
  {
    name: 'refuses an IP-matched on-prem connector with a foreign MAIL FROM',
    input: { facts: ipSession('10.0.0.5'), from: 'a@mailer.example', to: 'b@outlook.com' },
    expected: TENANT_DENIED,
  },
  {
    name: 'refuses an IP-matched on-prem connector with an unlisted subdomain MAIL FROM',
    input: { facts: ipSession('10.0.0.5'), from: 'a@eu.contoso.com', to: 'b@outlook.com' },
    expected: TENANT_DENIED,
  },
  {
    name: "refuses an accepted MAIL FROM domain outside the connector's senderDomains",
    input: { facts: ipSession('10.0.0.5'), from: 'a@contoso.org', to: 'b@outlook.com' },
    expected: TENANT_DENIED,
  },
  { name: 'refuses the null sender over an IP-matched on-prem connector', input: { facts: ipSession('10.0.0.5'), from: '', to: 'b@outlook.com' }, expected: TENANT_DENIED },
  {
    name: 'refuses a certificate-matched connector whose name is not in an accepted domain with a foreign MAIL FROM',
    input: { facts: certSession('relay.hosting.example'), from: 'a@mailer.example', to: 'b@outlook.com' },
    expected: TENANT_DENIED,
  },
  {
    name: 'refuses the null sender over a certificate whose name is not in an accepted domain',
    input: { facts: certSession('relay.hosting.example'), from: '', to: 'b@outlook.com' },
    expected: TENANT_DENIED,
  },
  {
    name: 'relays over a non-accepted certificate name when the MAIL FROM domain is accepted',
    input: { facts: certSession('relay.hosting.example'), from: 'a@contoso.com', to: 'b@outlook.com' },
    expected: RELAYED,
  },
  {
    name: 'refuses a partner session that tries to relay',
    input: { facts: ipSession('192.0.2.10', true), from: 'a@fabrikam.com', to: 'b@outlook.com' },
    expected: TENANT_DENIED,
  },
  {
    name: 'refuses a partner session that tries to relay with an accepted MAIL FROM domain',
    input: { facts: ipSession('192.0.2.10', true), from: 'a@contoso.com', to: 'b@outlook.com' },
    expected: TENANT_DENIED,
  },
  {
    name: 'refuses a partner session for all sender domains even with an accepted MAIL FROM domain',
    input: { facts: ipSession('192.0.3.4'), from: 'a@contoso.com', to: 'b@outlook.com' },
    expected: TENANT_DENIED,
  },
  {
    name: 'accepts mail to an accepted domain from a partner session for all sender domains',
    input: { facts: ipSession('192.0.3.4'), from: 'a@contoso.com', to: 'b@contoso.com' },
    expected: LOCAL,
  },
  {
    name: 'refuses a certificate-matched partner session that tries to relay',
    input: { facts: certSession('mx.tailspin.example'), from: 'a@tailspin.example', to: 'b@outlook.com' },
    expected: TENANT_DENIED,
  },
  // Partner restrictions.
  {
    name: "refuses a partner's domain sent without TLS from outside its IPs, naming every unmet requirement",
    input: { facts: anon, from: 'a@fabrikam.com', to: 'b@contoso.com' },
    expected: partner('Fabrikam partner', 'TLS required, sender IP 203.0.113.9 not in senderIPAddresses', TLS_TEXT),
  },
  {
    name: "refuses a partner's domain over TLS from outside its IPs",
    input: { facts: anonTls, from: 'a@fabrikam.com', to: 'b@contoso.com' },
    expected: partner('Fabrikam partner', 'sender IP 203.0.113.9 not in senderIPAddresses'),
  },
  {
    name: "refuses a partner's domain from its IPs without TLS",
    input: { facts: ipSession('192.0.2.10'), from: 'a@fabrikam.com', to: 'b@contoso.com' },
    expected: partner('Fabrikam partner', 'TLS required', TLS_TEXT),
  },
  {
    name: "accepts a partner's domain over TLS from its IPs",
    input: { facts: ipSession('192.0.2.10', true), from: 'a@fabrikam.com', to: 'b@contoso.com' },
    expected: LOCAL,
  },
  {
    name: 'refuses a certificate-restricted partner without its certificate to an associated accepted domain',
    input: { facts: anonTls, from: 'a@mail.tailspin.example', to: 'b@contoso.net' },
    expected: partner('Tailspin partner', "certificate matching 'mx.tailspin.example' required"),
  },
  {
    name: 'does not apply a partner restriction to an accepted domain outside its associatedAcceptedDomains',
    input: { facts: anon, from: 'a@tailspin.example', to: 'b@contoso.com' },
    expected: LOCAL,
  },
  {
    name: 'accepts a certificate-restricted partner with its verified certificate',
    input: { facts: certSession('mx.tailspin.example'), from: 'a@tailspin.example', to: 'b@contoso.net' },
    expected: LOCAL,
  },
  { name: 'ignores the restrictions of a disabled partner connector', input: { facts: anon, from: 'a@woodgrove.example', to: 'b@contoso.com' }, expected: LOCAL },
  // On-prem restrictions (an extension: older EOP honoured them).
  {
    name: 'refuses an on-prem connector that requires TLS on a plain session',
    input: { facts: ipSession('10.0.5.7'), from: 'a@contoso.com', to: 'b@contoso.com' },
    expected: onPrem('On-prem TLS', 'TLS required', TLS_TEXT),
  },
  { name: 'accepts an on-prem connector that requires TLS over TLS', input: { facts: ipSession('10.0.5.7', true), from: 'a@contoso.com', to: 'b@contoso.com' }, expected: LOCAL },
  {
    name: "does not apply on-prem requireTls to an accepted domain outside its associatedAcceptedDomains",
    input: { facts: ipSession('10.0.5.7'), from: 'a@contoso.com', to: 'b@contoso.net' },
    expected: LOCAL,
  },
  {
    name: 'applies on-prem requireTls to a relay recipient despite associatedAcceptedDomains',
    input: { facts: ipSession('10.0.5.7'), from: 'a@contoso.com', to: 'b@outlook.com' },
    expected: onPrem('On-prem TLS', 'TLS required', TLS_TEXT),
  },
  {
    name: 'refuses a certificate-restricted on-prem connector matched only by IP',
    input: { facts: ipSession('10.0.6.7', true), from: 'a@contoso.com', to: 'b@outlook.com' },
    expected: onPrem('On-prem strict', "certificate matching 'strict.contoso.com' required"),
  },
  {
    name: 'accepts a certificate-restricted on-prem connector matched by its certificate',
    input: { facts: { ip: '10.0.6.7', tls: true, certNames: ['strict.contoso.com'] }, from: 'a@contoso.com', to: 'b@outlook.com' },
    expected: RELAYED,
  },
  // Syntax.
  {
    name: 'refuses a trick recipient even from a certificate-matched on-prem connector',
    input: { facts: certSession('mail.contoso.com'), from: 'a@contoso.com', to: 'b%outlook.com@contoso.com' },
    expected: { ...ACCESS_DENIED, address: null },
  },
  {
    name: 'refuses a bad MAIL FROM that reaches the recipient check',
    input: { facts: anon, from: 'a@[10.0.0.1]', to: 'b@contoso.com' },
    expected: { code: 501, enhanced: '5.1.7', text: 'Bad sender address syntax', route: null },
  },
];

function code(v: Verdict): number {
  return v.kind === 'accept' ? 250 : v.code;
}

function check(row: Row): void {
  const model = buildModel(row.input.spec ?? base);
  const cls = classifySession(model, row.input.facts);
  const got = decideRecipient(model, row.input.facts, cls, row.input.from, row.input.to);
  const { expected } = row;
  assert.equal(code(got.verdict), expected.code, got.verdict.reason);
  assert.ok(got.verdict.reason.length > 0, 'every verdict carries a reason');
  if (got.verdict.kind !== 'accept') {
    if (expected.enhanced) assert.equal(got.verdict.enhanced, expected.enhanced);
    if (expected.text) assert.equal(got.verdict.text, expected.text);
    if (expected.reason) assert.equal(got.verdict.reason, expected.reason);
    // Nothing on the wire names a connector: that is for the log and `sluice route`.
    for (const c of [...model.inboundConnectors, ...model.outboundConnectors]) {
      assert.ok(!got.verdict.text.includes(c.name), `reply text names connector '${c.name}': ${got.verdict.text}`);
    }
  }
  if (expected.route !== undefined) {
    const route = got.route === null ? null : got.route.kind === 'connector' ? `connector:${got.route.connector.name}` : got.route.kind;
    assert.equal(route, expected.route);
  }
  if (expected.address !== undefined) assert.equal(got.address, expected.address);
}

for (const row of rows) test(`decideRecipient ${row.name}`, () => check(row));

// Every classic relay trick, from an anonymous internet session: none may be accepted.
const TRICKS: { name: string; input: string }[] = [
  { name: 'the percent hack', input: 'user%outlook.com@contoso.com' },
  { name: 'the percent hack with a second at', input: 'user%outlook.com@contoso.com@contoso.com' },
  { name: 'a source route', input: '@contoso.com:user@outlook.com' },
  { name: 'a multi-hop source route', input: '@contoso.com,@mail.contoso.com:user@outlook.com' },
  { name: 'a bang path', input: 'outlook.com!user@contoso.com' },
  { name: 'a bang path after the domain', input: 'user@contoso.com!outlook.com' },
  { name: 'a quoted local part hiding an at', input: '"user@outlook.com"@contoso.com' },
  { name: 'a quoted percent hack', input: '"user%outlook.com"@contoso.com' },
  { name: 'an IPv4 address literal', input: 'user@[192.0.2.1]' },
  { name: 'a bare IP domain', input: 'user@192.0.2.1' },
  { name: 'a trailing dot', input: 'user@contoso.com.' },
  { name: 'an accepted domain followed by a trailing dot and foreign domain', input: 'user@outlook.com.contoso.com.' },
  { name: 'two at signs', input: 'user@outlook.com@contoso.com' },
  { name: 'a full-width at sign', input: 'user＠outlook.com@contoso.com' },
  { name: 'a CRLF injection', input: 'user@contoso.com\r\nRCPT TO:<user@outlook.com>' },
  { name: 'an unlisted subdomain of an accepted domain', input: 'user@eu.contoso.com' },
  { name: 'a look-alike domain with a Greek omicron', input: 'user@cοntoso.com' },
  { name: 'an accepted domain used as a prefix', input: 'user@contoso.com.outlook.com' },
  { name: 'a case variant of a foreign domain', input: 'user@OUTLOOK.COM' },
  { name: 'a single-label host', input: 'user@localhost' },
];

for (const { name, input } of TRICKS) {
  test(`decideRecipient refuses ${name} from an anonymous session with 550 5.4.1`, () => {
    const model = buildModel(withInternet);
    const cls = classifySession(model, anon);
    const got = decideRecipient(model, anon, cls, 'a@outlook.com', input);
    const v = got.verdict;
    assert.ok(v.kind === 'reject', `accepted: ${v.reason}`);
    assert.equal(v.code, 550);
    assert.equal(v.enhanced, '5.4.1');
    assert.equal(v.text, 'Relay Access Denied');
    assert.equal(got.route, null);
  });
}

const SENDERS: { name: string; input: string; expected: number }[] = [
  { name: 'accepts the null sender', input: '', expected: 250 },
  { name: 'accepts a plain sender', input: 'a@contoso.com', expected: 250 },
  { name: 'accepts a foreign sender (relay is decided per recipient)', input: 'a@outlook.com', expected: 250 },
  { name: 'refuses a percent-hack sender with 501 5.1.7', input: 'a%b@contoso.com', expected: 501 },
  { name: 'refuses an address-literal sender with 501 5.1.7', input: 'a@[10.0.0.1]', expected: 501 },
  { name: 'refuses a sender without a domain with 501 5.1.7', input: 'postmaster', expected: 501 },
];

for (const { name, input, expected } of SENDERS) {
  test(`decideSender ${name}`, () => {
    const model = buildModel(base);
    const got = decideSender(model, anon, classifySession(model, anon), input);
    assert.equal(code(got), expected, got.reason);
    if (got.kind !== 'accept') {
      assert.equal(got.enhanced, '5.1.7');
      assert.equal(got.text, 'Bad sender address syntax');
      assert.match(got.reason, /^trick:/);
    }
  });
}

// Microsoft's partner lock-down: a Partner connector for every sender domain, restricted to the IPs of
// a filtering service in front of us (198.51.100.0/28). Internet mail must come through the service;
// our own servers are judged by their OnPremises connectors only.
const lockdown: ModelSpec = {
  acceptedDomains: ['contoso.com'],
  inboundConnectors: [
    { name: 'On-prem by cert', tlsSenderCertificateName: 'mail.contoso.com' },
    { name: 'On-prem by IP', senderIPAddresses: ['10.0.0.0/24'] },
    { name: 'On-prem TLS only', senderIPAddresses: ['10.0.9.0/24'], requireTls: true },
    {
      name: 'Filtering service',
      connectorType: 'Partner',
      senderDomains: ['*'],
      senderIPAddresses: ['198.51.100.0/28'],
      restrictDomainsToIPAddresses: true,
    },
  ],
  outboundConnectors: [{ name: 'To on-prem', allAcceptedDomains: true }],
};
const LOCKED_OUT = partner('Filtering service', 'sender IP 203.0.113.9 not in senderIPAddresses');

const lockdownRows: Row[] = [
  {
    name: 'lets the on-prem server identified by certificate relay to the internet despite the lock-down',
    input: { spec: lockdown, facts: certSession('mail.contoso.com'), from: 'john@contoso.com', to: 'sun@fabrikam.com' },
    expected: RELAYED,
  },
  {
    name: 'lets the on-prem server identified by IP relay to the internet despite the lock-down',
    input: { spec: lockdown, facts: ipSession('10.0.0.5'), from: 'john@contoso.com', to: 'sun@fabrikam.com' },
    expected: RELAYED,
  },
  {
    name: 'lets the on-prem server identified by IP deliver to an accepted domain despite the lock-down',
    input: { spec: lockdown, facts: ipSession('10.0.0.5'), from: 'john@contoso.com', to: 'bob@contoso.com' },
    expected: LOCAL,
  },
  {
    name: "still applies an on-prem connector's own requireTls under the lock-down",
    input: { spec: lockdown, facts: ipSession('10.0.9.5'), from: 'john@contoso.com', to: 'sun@fabrikam.com' },
    expected: onPrem('On-prem TLS only', 'TLS required', TLS_TEXT),
  },
  {
    name: 'refuses an internet sender from outside the filtering service with the generic partner text',
    input: { spec: lockdown, facts: anon, from: 'sun@fabrikam.com', to: 'bob@contoso.com' },
    expected: LOCKED_OUT,
  },
  {
    name: 'refuses an internet sender claiming our own domain from outside the filtering service',
    input: { spec: lockdown, facts: anonTls, from: 'john@contoso.com', to: 'bob@contoso.com' },
    expected: LOCKED_OUT,
  },
  {
    name: 'refuses the null sender from outside the filtering service ("*" claims it)',
    input: { spec: lockdown, facts: anon, from: '', to: 'bob@contoso.com' },
    expected: LOCKED_OUT,
  },
  {
    name: 'accepts internet mail that comes through the filtering service',
    input: { spec: lockdown, facts: ipSession('198.51.100.3'), from: 'sun@fabrikam.com', to: 'bob@contoso.com' },
    expected: LOCAL,
  },
  {
    name: 'does not let the filtering service relay',
    input: { spec: lockdown, facts: ipSession('198.51.100.3'), from: 'sun@fabrikam.com', to: 'x@outlook.com' },
    expected: TENANT_DENIED,
  },
  {
    name: 'refuses a certificate that is not on-prem (unverified names are anonymous) from outside the service',
    input: { spec: lockdown, facts: certSession('mx.fabrikam.com'), from: 'sun@fabrikam.com', to: 'bob@contoso.com' },
    expected: partner('Filtering service', 'sender IP 198.51.100.20 not in senderIPAddresses'),
  },
];
for (const row of lockdownRows) test(`decideRecipient ${row.name}`, () => check(row));

// Direct Send (organization.rejectDirectSend): refused at MAIL FROM.
const directSend: ModelSpec = {
  rejectDirectSend: true,
  acceptedDomains: ['contoso.com', { domain: 'contoso.net', type: 'InternalRelay' }, 'contoso.org', 'contoso.biz'],
  inboundConnectors: [
    { name: 'On-prem IP', senderIPAddresses: ['10.0.0.0/24'] },
    { name: 'Scanner partner', connectorType: 'Partner', senderDomains: ['contoso.org'], senderIPAddresses: ['192.0.2.0/24'], restrictDomainsToIPAddresses: true },
    { name: 'Bulk mailer', connectorType: 'Partner', senderDomains: ['*.contoso.biz'], requireTls: true },
    { name: 'Old mailer', enabled: false, connectorType: 'Partner', senderDomains: ['contoso.com'], requireTls: true },
    { name: 'On-prem claims', senderIPAddresses: ['10.0.1.0/24'], senderDomains: ['contoso.com'] },
  ],
  outboundConnectors: [{ name: 'To on-prem', allAcceptedDomains: true }],
};
const DIRECT_SEND = { code: 550, enhanced: '5.7.68', text: 'TenantInboundAttribution; Direct Send not allowed for this organization from unauthorized sources' };

const directSendRows: { name: string; input: { facts: SessionFacts; from: string; spec?: ModelSpec }; expected: { code: number; enhanced?: string; text?: string; reason?: RegExp } }[] = [
  { name: 'refuses an anonymous sender claiming an accepted domain', input: { facts: anon, from: 'ceo@contoso.com' }, expected: DIRECT_SEND },
  { name: 'refuses an anonymous sender claiming an accepted domain in another case', input: { facts: anon, from: 'ceo@CONTOSO.Com' }, expected: DIRECT_SEND },
  { name: 'refuses an anonymous sender claiming an InternalRelay accepted domain', input: { facts: anon, from: 'ceo@contoso.net' }, expected: DIRECT_SEND },
  { name: 'refuses an anonymous TLS sender without a certificate', input: { facts: anonTls, from: 'ceo@contoso.com' }, expected: DIRECT_SEND },
  { name: 'accepts an anonymous sender from a foreign domain', input: { facts: anon, from: 'sun@fabrikam.com' }, expected: { code: 250 } },
  { name: 'accepts an anonymous sender from an unlisted subdomain (not an accepted domain)', input: { facts: anon, from: 'a@eu.contoso.com' }, expected: { code: 250 } },
  { name: 'accepts the null sender (no domain to claim)', input: { facts: anon, from: '' }, expected: { code: 250 } },
  { name: 'accepts an accepted-domain sender when the switch is off', input: { facts: anon, from: 'ceo@contoso.com', spec: { ...directSend, rejectDirectSend: false } }, expected: { code: 250 } },
  { name: 'accepts the on-prem server identified by IP', input: { facts: ipSession('10.0.0.5'), from: 'ceo@contoso.com' }, expected: { code: 250 } },
  { name: 'accepts a session a Partner connector identified by IP', input: { facts: ipSession('192.0.2.5'), from: 'scan@contoso.com' }, expected: { code: 250 } },
  {
    name: 'exempts an anonymous sender whose domain a Partner connector claims (its restrictions come at RCPT)',
    input: { facts: anon, from: 'scan@contoso.org' },
    expected: { code: 250, reason: /direct send allowed: partner connector 'Scanner partner' claims contoso\.org/ },
  },
  {
    name: 'exempts the bare domain of a Partner connector wildcard ("*.contoso.biz" covers contoso.biz)',
    input: { facts: anon, from: 'news@contoso.biz' },
    expected: { code: 250, reason: /partner connector 'Bulk mailer'/ },
  },
  { name: 'does not exempt a domain only a disabled Partner connector claims', input: { facts: anon, from: 'ceo@contoso.com' }, expected: DIRECT_SEND },
  { name: 'does not exempt a domain only an OnPremises connector claims', input: { facts: anon, from: 'it@contoso.com' }, expected: DIRECT_SEND },
  { name: 'still refuses bad syntax first with 501 5.1.7', input: { facts: anon, from: 'a%b@contoso.com' }, expected: { code: 501, enhanced: '5.1.7' } },
];

for (const { name, input, expected } of directSendRows) {
  test(`decideSender with rejectDirectSend ${name}`, () => {
    const model = buildModel(input.spec ?? directSend);
    const got = decideSender(model, input.facts, classifySession(model, input.facts), input.from);
    assert.equal(code(got), expected.code, got.reason);
    if (got.kind !== 'accept') {
      if (expected.enhanced) assert.equal(got.enhanced, expected.enhanced);
      if (expected.text) assert.equal(got.text, expected.text);
    }
    if (expected.reason) assert.match(got.reason, expected.reason);
  });
}

test('an exempt Direct Send sender still meets the partner restrictions at RCPT', () => {
  const model = buildModel(directSend);
  const got = decideRecipient(model, anon, classifySession(model, anon), 'scan@contoso.org', 'bob@contoso.com');
  assert.equal(code(got.verdict), 550);
  assert.equal(got.verdict.kind !== 'accept' && got.verdict.enhanced, '5.7.51');
});
