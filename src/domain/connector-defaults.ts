// The values an outbound connector has when the config leaves them out (EOP's defaults: 50
// messages per connection, fewer than 50 connections, opportunistic TLS). Shared by the implicit
// internet connector of MX delivery and by tests that build connectors by hand.
import type { OutboundConnector } from './model.js';

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
  comment: '',
} satisfies Partial<OutboundConnector>);
