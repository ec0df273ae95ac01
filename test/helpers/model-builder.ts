// Builds a complete, frozen runtime Model for unit tests from a few fields: connectors are given
// with raw strings for domains and IPs and compiled with the same matchers config/compile.ts uses.
// Independent of the YAML loader on purpose, so the pure core can be tested on its own.
import { DELIVERY_TIMEOUT_DEFAULTS, OUTBOUND_DEFAULTS } from '../../src/domain/connector-defaults.js';
import { compileDomainPattern, compileIpRule } from '../../src/domain/match.js';
import type {
  AcceptedDomain,
  AcceptedDomainType,
  InboundConnector,
  Model,
  OutboundConnector,
  RouteClass,
  SectionModels,
  SmartHost,
} from '../../src/domain/model.js';
import { PIPELINE_DEFAULTS } from '../../src/config/sections/pipeline.js';
import { SENDER_DEFAULTS } from '../../src/config/sections/sender.js';
import { SIGNING_DEFAULTS } from '../../src/config/sections/signing.js';
import { CONTENT_DEFAULTS } from '../../src/config/sections/content.js';
import { RULES_DEFAULTS } from '../../src/config/sections/rules.js';
import { OPERATIONS_DEFAULTS } from '../../src/config/sections/operations.js';
import { CLUSTER_DEFAULTS } from '../../src/config/sections/cluster.js';

/** Everything optional except the name; compiled fields are given as raw config strings. */
type Spec<T, Compiled extends keyof T> = Partial<Omit<T, 'name' | Compiled>> & { name: string };

export type InboundSpec = Spec<InboundConnector, 'senderDomains' | 'senderIPAddresses' | 'tlsSenderCertificateName' | 'efSkipIPs'> & {
  efSkipIPs?: readonly string[];
  senderDomains?: readonly string[];
  senderIPAddresses?: readonly string[];
  tlsSenderCertificateName?: string | null;
};

export type OutboundSpec = Spec<OutboundConnector, 'recipientDomains' | 'smartHosts'> & {
  recipientDomains?: readonly string[];
  /** "host" or "host:port". */
  smartHosts?: readonly string[];
};

export interface ModelSpec {
  /** "contoso.com" (Authoritative) or { domain, type }. */
  acceptedDomains?: ReadonlyArray<string | { domain: string; type: AcceptedDomainType }>;
  inboundConnectors?: readonly InboundSpec[];
  outboundConnectors?: readonly OutboundSpec[];
  precedence?: readonly RouteClass[];
  rejectDirectSend?: boolean;
  /** Replaces delivery settings (retry, delayWarningMs, concurrency …). */
  delivery?: Partial<Model['delivery']>;
  /** Replaces feature sections (filters, quarantine, connectionFilter …) wholesale. */
  sections?: Partial<SectionModels>;
}

export function inbound(spec: InboundSpec): InboundConnector {
  const { senderDomains, senderIPAddresses, tlsSenderCertificateName, efSkipIPs, ...rest } = spec;
  return {
    enabled: true,
    efSkipLastIP: false,
    efUsers: [],
    connectorType: 'OnPremises',
    requireTls: false,
    restrictDomainsToIPAddresses: false,
    restrictDomainsToCertificate: false,
    cloudServicesMailEnabled: false,
    comment: '',
    ...rest,
    associatedAcceptedDomains: (spec.associatedAcceptedDomains ?? []).map((d) => d.toLowerCase()),
    senderDomains: (senderDomains ?? ['*']).map(compileDomainPattern),
    senderIPAddresses: (senderIPAddresses ?? []).map(compileIpRule),
    tlsSenderCertificateName: tlsSenderCertificateName ? compileDomainPattern(tlsSenderCertificateName) : null,
    efSkipIPs: (efSkipIPs ?? []).map(compileIpRule),
  };
}

function smartHost(raw: string): SmartHost {
  const m = /^(.*):(\d+)$/.exec(raw);
  return m ? { host: m[1] ?? raw, port: Number(m[2]) } : { host: raw, port: null };
}

export function outbound(spec: OutboundSpec): OutboundConnector {
  const { recipientDomains, smartHosts, ...rest } = spec;
  return {
    ...OUTBOUND_DEFAULTS,
    connectorType: 'OnPremises',
    ...rest,
    recipientDomains: (recipientDomains ?? []).map(compileDomainPattern),
    smartHosts: (smartHosts ?? ['mail.contoso.com']).map(smartHost),
  };
}

const accepted = (d: string | { domain: string; type: AcceptedDomainType }): AcceptedDomain =>
  typeof d === 'string' ? { domain: d.toLowerCase(), type: 'Authoritative' } : { ...d, domain: d.domain.toLowerCase() };

export function buildModel(spec: ModelSpec = {}): Model {
  return deepFreeze({
    source: '/test/model-builder',
    server: {
      hostname: 'gateway.contoso.test',
      listen: [{ host: '127.0.0.1', port: 0, proxyProtocol: false }],
      trustedProxies: [],
      tls: { cert: 'certs/server.crt', key: 'certs/server.key', clientCa: [], generateDevCertificates: false },
      limits: {
        maxMessageSize: 35 * 1024 * 1024,
        maxRecipients: 500,
        maxConnections: 1000,
        maxConnectionsPerIp: 50,
        maxMessagesPerConnection: 50,
        idleTimeoutMs: 60_000,
        greetingDelayMs: 0,
        commandTimeoutMs: 300_000,
        dataTimeoutMs: 600_000,
        maxSessionDurationMs: 1_800_000,
      },
      drainTimeoutMs: 30_000,
    },
    spool: { dir: 'data/spool', journal: true },
    dns: { servers: [] },
    delivery: { mxPort: 25, softBounce: false, delayWarningMs: null, retry: { initialMs: 300_000, maxMs: 3_600_000, lifetimeMs: 86_400_000 },
      timeouts: DELIVERY_TIMEOUT_DEFAULTS,
      concurrency: { perDomain: 20, total: 200 },
      hostDownMs: 60_000,
      ...spec.delivery,
    },
    routing: { precedence: spec.precedence ?? ['exact', 'allAcceptedDomains', 'wildcard'] },
    organization: { rejectDirectSend: spec.rejectDirectSend ?? false, senderRewriting: { enabled: false, secret: null, domain: null } },
    acceptedDomains: (spec.acceptedDomains ?? ['contoso.com']).map(accepted),
    inboundConnectors: (spec.inboundConnectors ?? []).map(inbound),
    outboundConnectors: (spec.outboundConnectors ?? []).map(outbound),
    ...PIPELINE_DEFAULTS,
    ...SENDER_DEFAULTS,
    ...SIGNING_DEFAULTS,
    ...CONTENT_DEFAULTS,
    ...RULES_DEFAULTS,
    ...OPERATIONS_DEFAULTS,
    ...CLUSTER_DEFAULTS,
    ...spec.sections,
  });
}

/** Frozen like the real model, so a decision that mutates it fails the test instead of leaking. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
