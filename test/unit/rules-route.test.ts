// A rule's route is honoured at delivery: the named connector, even a rule-scoped one, and with
// routeMessageOutboundRequireTls a connector without a TLS policy is held to EncryptionOnly.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { destinationOf, windowForKey } from '../../src/delivery/destinations.js';
import { buildModel } from '../helpers/model-builder.js';

const model = buildModel({
  outboundConnectors: [
    { name: 'Partner TLS', connectorType: 'Partner', isTransportRuleScoped: true, smartHosts: ['mx.partner.test'], maxConnections: 7 },
    { name: 'Strict', connectorType: 'Partner', isTransportRuleScoped: true, smartHosts: ['mx.strict.test'], tlsSettings: 'DomainValidation', tlsDomain: null },
  ],
});

it('routes to the rule-scoped connector; requireTls raises a connector without TLS policy to EncryptionOnly', () => {
  const plain = destinationOf(model, { address: 'x@partner.test', route: { kind: 'connector', connector: 'Partner TLS', rule: 'R', explicit: true } });
  assert.equal(plain.kind === 'deliver' && plain.connector.tlsSettings, null);
  const tls = destinationOf(model, { address: 'x@partner.test', route: { kind: 'connector', connector: 'Partner TLS', rule: 'R', explicit: true, requireTls: true } });
  assert.ok(tls.kind === 'deliver');
  assert.equal(tls.connector.tlsSettings, 'EncryptionOnly');
  assert.notEqual(tls.key, plain.key, 'a queue of its own');
  assert.equal(windowForKey(model, tls.key), 7);
  const strict = destinationOf(model, { address: 'x@strict.test', route: { kind: 'connector', connector: 'Strict', rule: 'R', explicit: true, requireTls: true } });
  assert.equal(strict.kind === 'deliver' && strict.connector.tlsSettings, 'DomainValidation', 'a stricter policy stays');
  const normal = destinationOf(model, { address: 'x@partner.test', route: { kind: 'connector', connector: 'Partner TLS', rule: 'R' } });
  assert.notEqual(normal.kind === 'deliver' && normal.connector.name, 'Partner TLS', 'without a rule nothing routes through a rule-scoped connector');
});
