// Table tests for outbound selection: exact > allAcceptedDomains > wildcard (longest first, "*"
// last; "*.contoso.com" covers contoso.com and every subdomain), routing.precedence reordering,
// skipped connectors, and the none/mx fallbacks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RouteClass } from '../../src/domain/model.js';
import { findAcceptedDomain, selectRoute } from '../../src/routing/select-connector.js';
import { buildModel, type ModelSpec } from '../helpers/model-builder.js';

// The seed's example: four accepted domains and three connectors to the on-prem server...
const seedOnly: ModelSpec = {
  acceptedDomains: ['contoso.com', 'sales.contoso.com', 'fabrikam.com', 'contoso.onmicrosoft.com'],
  outboundConnectors: [
    { name: 'Connector 1', allAcceptedDomains: true },
    { name: 'Connector 2', recipientDomains: ['Contoso.com'] },
    { name: 'Connector 3', recipientDomains: ['*.Contoso.com'] },
  ],
};
// ...plus a catch-all "*" connector to a smart host for everything else.
const seed: ModelSpec = {
  ...seedOnly,
  outboundConnectors: [
    ...(seedOnly.outboundConnectors ?? []),
    { name: 'Internet smart host', connectorType: 'Partner', recipientDomains: ['*'], smartHosts: ['relay.isp.example:587'] },
  ],
};
const MICROSOFT_EXAMPLE: RouteClass[] = ['exact', 'wildcard', 'allAcceptedDomains'];

interface Row {
  name: string;
  input: { spec: ModelSpec; domain: string };
  expected: { kind: 'connector'; connector: string; rule: string } | { kind: 'mx' | 'none'; rule: string };
}

const rows: Row[] = [
  {
    name: 'sends john@fabrikam.com through the all-accepted-domains connector',
    input: { spec: seed, domain: 'fabrikam.com' },
    expected: { kind: 'connector', connector: 'Connector 1', rule: 'allAcceptedDomains' },
  },
  {
    name: 'sends john@contoso.com through the exact connector',
    input: { spec: seed, domain: 'contoso.com' },
    expected: { kind: 'connector', connector: 'Connector 2', rule: 'exact:contoso.com' },
  },
  {
    name: 'matches the exact connector case-insensitively',
    input: { spec: seed, domain: 'CONTOSO.COM' },
    expected: { kind: 'connector', connector: 'Connector 2', rule: 'exact:contoso.com' },
  },
  {
    name: 'sends john@sales.contoso.com through the all-accepted-domains connector with the default precedence',
    input: { spec: seedOnly, domain: 'sales.contoso.com' },
    expected: { kind: 'connector', connector: 'Connector 1', rule: 'allAcceptedDomains' },
  },
  {
    name: "reproduces Microsoft's example (john@sales.contoso.com to Connector 3) with precedence exact, wildcard, allAcceptedDomains",
    input: { spec: { ...seed, precedence: MICROSOFT_EXAMPLE }, domain: 'sales.contoso.com' },
    expected: { kind: 'connector', connector: 'Connector 3', rule: 'wildcard:*.contoso.com' },
  },
  {
    name: "reproduces Microsoft's john@fabrikam.com (Connector 1) with the Microsoft precedence",
    input: { spec: { ...seedOnly, precedence: MICROSOFT_EXAMPLE }, domain: 'fabrikam.com' },
    expected: { kind: 'connector', connector: 'Connector 1', rule: 'allAcceptedDomains' },
  },
  {
    name: "reproduces Microsoft's john@contoso.com (Connector 2) with the Microsoft precedence",
    input: { spec: { ...seedOnly, precedence: MICROSOFT_EXAMPLE }, domain: 'contoso.com' },
    expected: { kind: 'connector', connector: 'Connector 2', rule: 'exact:contoso.com' },
  },
  {
    name: 'keeps john@fabrikam.com off the "*" catch-all under the Microsoft precedence, because "*" comes after every class',
    input: { spec: { ...seed, precedence: MICROSOFT_EXAMPLE }, domain: 'fabrikam.com' },
    expected: { kind: 'connector', connector: 'Connector 1', rule: 'allAcceptedDomains' },
  },
  {
    name: 'sends a non-accepted subdomain through the wildcard connector',
    input: { spec: seed, domain: 'eu.contoso.com' },
    expected: { kind: 'connector', connector: 'Connector 3', rule: 'wildcard:*.contoso.com' },
  },
  {
    name: 'sends an internet domain through the "*" connector',
    input: { spec: seed, domain: 'outlook.com' },
    expected: { kind: 'connector', connector: 'Internet smart host', rule: 'wildcard:*' },
  },
  {
    name: 'lets allAcceptedDomains beat an exact match when precedence puts it first',
    input: { spec: { ...seed, precedence: ['allAcceptedDomains', 'exact', 'wildcard'] }, domain: 'contoso.com' },
    expected: { kind: 'connector', connector: 'Connector 1', rule: 'allAcceptedDomains' },
  },
  {
    name: 'prefers a "*.contoso.com" wildcard to a "*" listed earlier',
    input: {
      spec: {
        outboundConnectors: [
          { name: 'Any', recipientDomains: ['*'] },
          { name: 'Short', recipientDomains: ['*.contoso.com'] },
        ],
      },
      domain: 'eu.contoso.com',
    },
    expected: { kind: 'connector', connector: 'Short', rule: 'wildcard:*.contoso.com' },
  },
  {
    name: 'picks the longest wildcard before a shorter one listed earlier',
    input: {
      spec: {
        outboundConnectors: [
          { name: 'Any', recipientDomains: ['*'] },
          { name: 'Short', recipientDomains: ['*.contoso.com'] },
          { name: 'Long', recipientDomains: ['*.eu.contoso.com'] },
        ],
      },
      domain: 'paris.eu.contoso.com',
    },
    expected: { kind: 'connector', connector: 'Long', rule: 'wildcard:*.eu.contoso.com' },
  },
  {
    name: 'lets "*.contoso.com" cover contoso.com itself, as EOP does',
    input: { spec: { acceptedDomains: [], outboundConnectors: [{ name: 'Short', recipientDomains: ['*.contoso.com'] }] }, domain: 'contoso.com' },
    expected: { kind: 'connector', connector: 'Short', rule: 'wildcard:*.contoso.com' },
  },
  {
    name: 'lets "*.contoso.com" cover a name two labels deep',
    input: { spec: { acceptedDomains: [], outboundConnectors: [{ name: 'Short', recipientDomains: ['*.contoso.com'] }] }, domain: 'a.b.contoso.com' },
    expected: { kind: 'connector', connector: 'Short', rule: 'wildcard:*.contoso.com' },
  },
  {
    name: 'never lets "*.contoso.com" cover the look-alike evilcontoso.com',
    input: { spec: { acceptedDomains: [], outboundConnectors: [{ name: 'Short', recipientDomains: ['*.contoso.com'] }] }, domain: 'evilcontoso.com' },
    expected: { kind: 'mx', rule: 'mx:evilcontoso.com' },
  },
  {
    name: 'matches a Unicode wildcard pattern against the punycode recipient domain',
    input: { spec: { acceptedDomains: [], outboundConnectors: [{ name: 'IDN', recipientDomains: ['*.bücher.example'] }] }, domain: 'xn--bcher-kva.example' },
    expected: { kind: 'connector', connector: 'IDN', rule: 'wildcard:*.xn--bcher-kva.example' },
  },
  {
    name: 'keeps an exact connector ahead of a "*.contoso.com" one for contoso.com under the default precedence',
    input: {
      spec: { acceptedDomains: [], outboundConnectors: [{ name: 'Wild', recipientDomains: ['*.contoso.com'] }, { name: 'Exact', recipientDomains: ['contoso.com'] }] },
      domain: 'contoso.com',
    },
    expected: { kind: 'connector', connector: 'Exact', rule: 'exact:contoso.com' },
  },
  {
    name: 'keeps an exact connector ahead of a "*.contoso.com" one for contoso.com under the Microsoft precedence',
    input: {
      spec: {
        acceptedDomains: [],
        precedence: MICROSOFT_EXAMPLE,
        outboundConnectors: [{ name: 'Wild', recipientDomains: ['*.contoso.com'] }, { name: 'Exact', recipientDomains: ['contoso.com'] }],
      },
      domain: 'contoso.com',
    },
    expected: { kind: 'connector', connector: 'Exact', rule: 'exact:contoso.com' },
  },
  {
    name: 'picks the longer wildcard for its own bare domain ("*.eu.contoso.com" for eu.contoso.com)',
    input: {
      spec: { acceptedDomains: [], outboundConnectors: [{ name: 'Short', recipientDomains: ['*.contoso.com'] }, { name: 'Long', recipientDomains: ['*.eu.contoso.com'] }] },
      domain: 'eu.contoso.com',
    },
    expected: { kind: 'connector', connector: 'Long', rule: 'wildcard:*.eu.contoso.com' },
  },
  {
    name: 'sends contoso.com to "*.contoso.com" before allAcceptedDomains under the Microsoft precedence when no exact connector exists',
    input: { spec: { ...seedOnly, precedence: MICROSOFT_EXAMPLE, outboundConnectors: [{ name: 'Connector 1', allAcceptedDomains: true }, { name: 'Connector 3', recipientDomains: ['*.Contoso.com'] }] }, domain: 'contoso.com' },
    expected: { kind: 'connector', connector: 'Connector 3', rule: 'wildcard:*.contoso.com' },
  },
  {
    name: 'skips a disabled connector',
    input: {
      spec: {
        outboundConnectors: [
          { name: 'Off', enabled: false, recipientDomains: ['contoso.com'] },
          { name: 'On', allAcceptedDomains: true },
        ],
      },
      domain: 'contoso.com',
    },
    expected: { kind: 'connector', connector: 'On', rule: 'allAcceptedDomains' },
  },
  {
    name: 'skips a transport-rule-scoped connector',
    input: {
      spec: {
        outboundConnectors: [
          { name: 'Scoped', isTransportRuleScoped: true, recipientDomains: ['*'] },
          { name: 'On', allAcceptedDomains: true },
        ],
      },
      domain: 'fabrikam.com',
    },
    expected: { kind: 'mx', rule: 'mx:fabrikam.com' },
  },
  {
    name: 'refuses an Authoritative accepted domain no connector serves',
    input: { spec: { acceptedDomains: ['contoso.com'] }, domain: 'contoso.com' },
    expected: { kind: 'none', rule: 'authoritative:contoso.com' },
  },
  {
    name: 'sends an InternalRelay accepted domain with no connector to MX',
    input: { spec: { acceptedDomains: [{ domain: 'contoso.com', type: 'InternalRelay' }] }, domain: 'contoso.com' },
    expected: { kind: 'mx', rule: 'internalRelay:contoso.com' },
  },
  {
    name: 'sends a non-accepted domain with no connector to MX',
    input: { spec: { acceptedDomains: ['contoso.com'] }, domain: 'fabrikam.com' },
    expected: { kind: 'mx', rule: 'mx:fabrikam.com' },
  },
  {
    name: 'does not treat an unlisted subdomain of an accepted domain as accepted',
    input: { spec: { acceptedDomains: ['contoso.com'], outboundConnectors: [{ name: 'All', allAcceptedDomains: true }] }, domain: 'eu.contoso.com' },
    expected: { kind: 'mx', rule: 'mx:eu.contoso.com' },
  },
];

for (const { name, input, expected } of rows) {
  test(`selectRoute ${name}`, () => {
    const got = selectRoute(buildModel(input.spec), input.domain);
    assert.equal(got.kind, expected.kind);
    assert.equal(got.rule, expected.rule);
    if (got.kind === 'connector' && expected.kind === 'connector') assert.equal(got.connector.name, expected.connector);
    if (got.kind === 'mx') assert.equal(got.domain, input.domain.toLowerCase());
  });
}

// The seed's example routes as before the wildcard change, under both precedences: the exact
// connector keeps contoso.com, and "*.contoso.com" never reaches the look-alike contoso.onmicrosoft.com.
const SEED_ROUTES: Record<string, Record<string, string>> = {
  default: { 'fabrikam.com': 'Connector 1', 'contoso.com': 'Connector 2', 'sales.contoso.com': 'Connector 1', 'contoso.onmicrosoft.com': 'Connector 1' },
  microsoft: { 'fabrikam.com': 'Connector 1', 'contoso.com': 'Connector 2', 'sales.contoso.com': 'Connector 3', 'contoso.onmicrosoft.com': 'Connector 1' },
};
for (const [order, routes] of Object.entries(SEED_ROUTES)) {
  for (const [domain, connector] of Object.entries(routes)) {
    test(`selectRoute sends john@${domain} in the seed's example to ${connector} with the ${order} precedence`, () => {
      const model = buildModel(order === 'microsoft' ? { ...seedOnly, precedence: MICROSOFT_EXAMPLE } : seedOnly);
      const got = selectRoute(model, domain);
      assert.equal(got.kind === 'connector' ? got.connector.name : got.kind, connector);
    });
  }
}

test('findAcceptedDomain matches exactly, case-insensitively, and not subdomains', () => {
  const model = buildModel({ acceptedDomains: ['contoso.com', { domain: 'fabrikam.com', type: 'InternalRelay' }] });
  assert.deepEqual(findAcceptedDomain(model, 'CONTOSO.com'), { domain: 'contoso.com', type: 'Authoritative' });
  assert.deepEqual(findAcceptedDomain(model, 'fabrikam.com'), { domain: 'fabrikam.com', type: 'InternalRelay' });
  assert.equal(findAcceptedDomain(model, 'sales.contoso.com'), null);
  assert.equal(findAcceptedDomain(model, 'contoso.org'), null);
});

test('selectRoute treats a precedence list missing a class as a reordering, not a removal', () => {
  const model = buildModel({ ...seedOnly, precedence: ['wildcard'] });
  assert.equal(selectRoute(model, 'sales.contoso.com').rule, 'wildcard:*.contoso.com');
  // [wildcard, exact, allAcceptedDomains]: "*.contoso.com" covers contoso.com too, and comes first.
  assert.equal(selectRoute(model, 'contoso.com').rule, 'wildcard:*.contoso.com');
  assert.equal(selectRoute(model, 'fabrikam.com').rule, 'allAcceptedDomains');
  const exactFirst = buildModel({ ...seedOnly, precedence: ['exact', 'wildcard'] });
  assert.equal(selectRoute(exactFirst, 'contoso.com').rule, 'exact:contoso.com');
});
