// Table over destinations.ts: which destination (the queue manager's unit of isolation) a pending
// recipient goes to on the live config, how explicit routes are honoured, and each destination's window.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { destinationOf, windowForKey, windowOf } from '../../src/delivery/destinations.js';
import type { RcptState } from '../../src/queue/record.js';
import { buildModel } from '../helpers/model-builder.js';

const model = buildModel({
  acceptedDomains: ['contoso.com', { domain: 'relay.contoso.com', type: 'InternalRelay' }],
  outboundConnectors: [
    { name: 'To on-prem', recipientDomains: ['contoso.com'], smartHosts: ['10.0.0.1'], maxConnections: 7 },
    { name: 'Partner MX', recipientDomains: ['fabrikam.com'], useMxRecord: true, smartHosts: [], maxConnections: 5 },
    { name: 'Rule only', isTransportRuleScoped: true, smartHosts: ['10.0.0.9'] },
    { name: 'Off', enabled: false, recipientDomains: ['off.test'], smartHosts: ['10.0.0.8'] },
  ],
});

const route = (connector: string | null, explicit?: boolean): RcptState['route'] => ({ kind: 'connector', connector, rule: 'r', ...(explicit ? { explicit } : {}) });

const rows: { name: string; address: string; route: RcptState['route']; key: string; window: number }[] = [
  { name: 'a smart-host connector is one destination with its maxConnections', address: 'a@contoso.com', route: route('To on-prem'), key: 'connector:To on-prem', window: 7 },
  { name: 'a stored connector name that is not explicit is routed again on the live config', address: 'a@contoso.com', route: route('Gone'), key: 'connector:To on-prem', window: 7 },
  { name: 'a connector with useMxRecord is one destination per domain, capped by perDomain and maxConnections', address: 'b@fabrikam.com', route: route(null), key: 'connector:Partner MX/fabrikam.com', window: 5 },
  { name: 'internet mail is one destination per domain with the perDomain window', address: 'c@example.org', route: route(null), key: 'mx:example.org', window: 20 },
  { name: 'an explicit route reaches an isTransportRuleScoped connector', address: 'a@contoso.com', route: route('Rule only', true), key: 'connector:Rule only', window: 49 },
  { name: 'an explicit route to a disabled connector has no route (deferred)', address: 'a@contoso.com', route: route('Off', true), key: 'none', window: 200 },
  { name: 'an InternalRelay domain without a connector goes to the internet', address: 'd@relay.contoso.com', route: route(null), key: 'mx:relay.contoso.com', window: 20 },
];
for (const row of rows) {
  test(row.name, () => {
    const d = destinationOf(model, { address: row.address, route: row.route });
    assert.equal(d.key, row.key);
    assert.equal(windowOf(model, d), row.window);
    assert.equal(windowForKey(model, d.key), row.window, 'the window from the key alone agrees');
  });
}

test('an explicit route to a connector that is not configured is deferred with the reason', () => {
  const d = destinationOf(model, { address: 'a@contoso.com', route: route('Nope', true) });
  assert.equal(d.kind === 'none' && `${d.outcome.action} ${d.outcome.status} ${d.outcome.diagnostic}`, 'defer 4.4.0 explicit route to connector Nope, which is not configured');
});
