// The values an outbound connector has when the config leaves them out (EOP's defaults: 50
// messages per connection, fewer than 50 connections, opportunistic TLS). Shared by the implicit
// internet connector of MX delivery and by tests that build connectors by hand.
import type { DeliveryTimeouts, OutboundConnector } from './model.js';

export const OUTBOUND_DEFAULTS = Object.freeze({
  enabled: true,
  allAcceptedDomains: false,
  useMxRecord: false,
  tlsSettings: null,
  tlsDomain: null,
  tlsCa: [],
  tlsCert: null,
  tlsKey: null,
  isTransportRuleScoped: false,
  cloudServicesMailEnabled: false,
  maxMessagesPerConnection: 50,
  maxConnections: 49,
  validationRecipients: [],
  comment: '',
} satisfies Partial<OutboundConnector>);

/** delivery.timeouts when the config leaves them out: Postfix's smtp_connect/helo/mail/rcpt/data_* timeouts. */
export const DELIVERY_TIMEOUT_DEFAULTS: DeliveryTimeouts = Object.freeze({
  connectMs: 30_000,
  greetingMs: 300_000,
  commandMs: 300_000,
  dataInitMs: 120_000,
  dataTransferMs: 180_000,
  dataDoneMs: 600_000,
});
