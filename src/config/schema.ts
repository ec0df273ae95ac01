// The YAML contract of issue 2 as a zod schema: shape, defaults, units and per-value checks
// (IP rules, domain patterns, smart hosts compiled here so each bad value is reported with its
// own key path). Cross-field rules live in compile.ts. Every object is strict: unknown keys fail.
import { z } from 'zod';
import { compileDomainPattern, compileIpRule, normaliseDomain } from '../domain/match.js';
import { canonicalIp, parseDnsServer, parseSmartHost } from './hosts.js';
import { parsed, eopEnum, domainName, certName, flag, count, filePath, size, duration, durationOrZero, port, section } from './schema-parts.js';
// Re-exported for the sections, which may import them from here or from schema-parts.ts.
export { parsed, eopEnum, domainName, certName, flag, count, filePath, size, duration, durationOrZero, port, section } from './schema-parts.js';
import { pipelineKeys } from './sections/pipeline.js';
import { senderKeys } from './sections/sender.js';
import { signingKeys } from './sections/signing.js';
import { contentKeys } from './sections/content.js';
import { rulesKeys } from './sections/rules.js';
import { operationsKeys } from './sections/operations.js';
import { clusterKeys } from './sections/cluster.js';

export const CONNECTOR_TYPES = ['OnPremises', 'Partner'] as const;
export const TLS_SETTINGS = ['EncryptionOnly', 'CertificateValidation', 'DomainValidation'] as const;
export const ACCEPTED_DOMAIN_TYPES = ['Authoritative', 'InternalRelay'] as const;
export const ROUTE_CLASSES = ['exact', 'allAcceptedDomains', 'wildcard'] as const;

const listenSchema = z
  .object({
    host: parsed((v) => {
      const host = canonicalIp(v.trim()) ?? normaliseDomain(v.trim());
      if (!host) throw new Error(`"${v}" is not an IP address or host name`);
      return host;
    }).describe('IP address or host name to listen on, e.g. 0.0.0.0 or 127.0.0.1.'),
    port: port(0).describe('TCP port to listen on (0 = any free port).'), // 0 is what tests use
    /** Every connection must open with a PROXY v1/v2 header from one of server.trustedProxies. */
    proxyProtocol: flag(false).describe('Every connection must open with a PROXY protocol v1/v2 header from one of server.trustedProxies.'),
  })
  .strict();

const limitsSchema = z
  .object({
    maxMessageSize: size.prefault('35MB').describe('Largest message accepted, e.g. 35MB (KB/MB/GB are binary, as Exchange counts them) or bytes.'),
    maxRecipients: count(500).describe('Most RCPT TO per message.'),
    maxConnections: count(1000).describe('Most concurrent SMTP sessions.'),
    maxConnectionsPerIp: count(50).describe('Most concurrent SMTP sessions from one IP address.'),
    maxMessagesPerConnection: count(50).describe('Most messages in one SMTP session.'),
    idleTimeout: duration.prefault('60s').describe('Close a session silent this long, e.g. 60s.'),
    greetingDelay: durationOrZero.default(0).describe('Wait this long before the 220 greeting (0 = off); must be shorter than idleTimeout.'), // see compile.ts
    // Deadlines for a whole request, however slowly it trickles in (Postfix smtpd_per_request_deadline).
    commandTimeout: duration.prefault('5m').describe('Longest one command may take to arrive, however slowly it trickles in; then 421 4.4.2.'),
    dataTimeout: duration.prefault('10m').describe('Longest the message data may take to arrive; then 421 4.4.2.'),
    maxSessionDuration: duration.prefault('30m').describe('Longest one SMTP session may last; then 421 4.4.2.'),
  })
  .strict();

const serverSchema = z
  .object({
    hostname: domainName('host name').describe("This gateway's host name: the 220 greeting, HELO and Received: headers."),
    listen: z.array(listenSchema).min(1, 'list at least one { host, port } to listen on').describe('Addresses to accept SMTP on: a list of { host, port }.'),
    trustedProxies: z.array(parsed(compileIpRule)).default([]).describe('Load balancers allowed to send PROXY headers to a proxyProtocol listener (IPs, CIDR, ranges).'),
    tls: z
      .object({
        cert: filePath.describe('PEM certificate Sluice presents for STARTTLS.'),
        key: filePath.describe('PEM private key of that certificate.'),
        clientCa: z.array(filePath).default([]).describe("PEM CA files that client certificates must chain to before a connector's tlsSenderCertificateName can match."),
        generateDevCertificates: flag(false).describe('Create a development CA and server certificate at the paths above if missing (try-outs only).'),
      })
      .strict()
      .describe('STARTTLS certificate and the CAs client certificates are verified against.'),
    limits: limitsSchema.prefault({}).describe('Per-session and per-message limits.'),
    drainTimeout: duration.prefault('30s').describe('SIGTERM: how long sessions in flight may run on before they are closed with 421 4.3.2.'),
  })
  .strict();

const deliverySchema = z
  .object({
    mxPort: port(1).default(25).describe('Port for delivery by MX record.'),
    softBounce: flag(false).describe('Turn every permanent (5xx) delivery failure into a temporary one while testing.'),
    /** Warn the sender (DSN Action: delayed) once a message has waited this long; null = never. */
    delayWarning: duration.nullable().default(null).describe('Warn the sender (DSN Action: delayed) once a message has waited this long; null = never.'),
    retry: z
      .object({
        initial: duration.prefault('5m').describe('First retry interval after a temporary failure.'),
        max: duration.prefault('60m').describe('Longest retry interval (the interval doubles up to this).'),
        lifetime: duration.prefault('24h').describe('Bounce a message still undelivered after this long.'),
      })
      .strict()
      .prefault({})
      .describe('Retry schedule for temporary delivery failures.'),
    /** Per SMTP stage of an outbound session; Postfix's smtp_*_timeout defaults. */
    timeouts: z
      .object({
        connect: duration.prefault('30s').describe('Timeout for TCP connect.'),
        greeting: duration.prefault('300s').describe('Timeout for the 220 greeting.'),
        command: duration.prefault('300s').describe('Timeout for each command reply.'),
        dataInit: duration.prefault('120s').describe('Timeout for the 354 after DATA.'),
        dataTransfer: duration.prefault('180s').describe('Timeout for each write of the message.'),
        dataDone: duration.prefault('600s').describe('Timeout for the reply after the final dot.'),
      })
      .strict()
      .prefault({})
      .describe("Per SMTP stage of an outbound session (Postfix's smtp_*_timeout defaults)."),
    /** Queue manager windows: per MX destination domain, and a process-wide ceiling. */
    concurrency: z.object({ perDomain: count(20).describe('Sessions per MX destination domain.'), total: count(200).describe('Sessions in all.') }).strict().prefault({}).describe('Queue manager windows: per MX destination domain (perDomain) and a process-wide ceiling (total).'),
    /** How long a host that failed at the session level is skipped (and its destination deferred). */
    hostDownTime: duration.prefault('60s').describe('How long a host that failed at the session level is skipped.'),
  })
  .strict();

const precedenceSchema = z
  .array(eopEnum(ROUTE_CLASSES))
  .default([...ROUTE_CLASSES])
  .refine((list) => list.length === ROUTE_CLASSES.length && new Set(list).size === list.length, {
    message: `must list each of ${ROUTE_CLASSES.join(', ')} exactly once`,
  })
  .describe('Order of the route classes exact, allAcceptedDomains and wildcard, each listed once.');

export const RECIPIENT_VALIDATION_MODES = ['None', 'List', 'Callout'] as const;

/** EOP's Directory-Based Edge Blocking: unknown recipients refused at RCPT (config/recipient-validation.ts checks it). */
const recipientValidationSchema = section(
  z
    .object({
      mode: eopEnum(RECIPIENT_VALIDATION_MODES).default('None'),
      list: filePath.nullable().default(null),
      cache: duration.prefault('1h'),
    })
    .strict(),
);

const acceptedDomainSchema = z
  .object({
    domain: domainName('accepted domain').describe('The domain, exactly (no wildcards): subdomains are accepted only if listed.'),
    type: eopEnum(ACCEPTED_DOMAIN_TYPES)
      .default('Authoritative')
      .describe('Authoritative (all recipients are here) or InternalRelay (unknown recipients go on by MX).'),
    recipientValidation: recipientValidationSchema,
  })
  .strict();

const connectorCommon = {
  name: z.string().trim().min(1, 'a connector name must not be empty').describe("The connector's name (unique per list, compared case-insensitively, as in EOP)."),
  enabled: flag(true).describe('A disabled connector never matches.'),
  // Left out = Partner, EOP's cmdlet default; compile.ts applies it, so it can tell the two apart.
  connectorType: eopEnum(CONNECTOR_TYPES).optional().describe("OnPremises (your own servers) or Partner (EOP's default)."),
  cloudServicesMailEnabled: flag(false).describe("EOP's CloudServicesMailEnabled (hybrid header preservation)."),
  // `comment:` left empty is YAML null; treat it as no comment rather than a type error.
  comment: z
    .string()
    .nullable()
    .default('')
    .transform((v) => v ?? '')
    .describe('Free text, as in EOP.'),
};

const recipientAddress = (v: string): string => {
  const a = v.trim().toLowerCase();
  if (!/^[^@\s]+@[^@\s]+$/.test(a)) throw new Error(`"${v}" is not an email address`);
  return a;
};

const inboundSchema = z
  .object({
    ...connectorCommon,
    senderDomains: z.array(parsed(compileDomainPattern)).prefault(['*']).describe('Sender domains this connector covers: contoso.com, *.contoso.com (and subdomains) or *.'),
    senderIPAddresses: z.array(parsed(compileIpRule)).default([]).describe('IP addresses, CIDR ranges or first-last ranges of the sending servers.'),
    tlsSenderCertificateName: certName.nullable().default(null).describe("Name (CN or DNS SAN) of the sending server's TLS client certificate: mail.contoso.com or *.contoso.com."),
    requireTls: flag(false).describe("Refuse mail from this connector's senders without STARTTLS."),
    restrictDomainsToIPAddresses: flag(false).describe('Only accept the sender domains from senderIPAddresses.'),
    restrictDomainsToCertificate: flag(false).describe('Only accept the sender domains over a certificate matching tlsSenderCertificateName.'),
    associatedAcceptedDomains: z.array(domainName('accepted domain')).default([]).describe('Limit the connector to these accepted domains (recipients).'),
    // Enhanced filtering for connectors (EOP's skip listing): see filters/enhanced-filtering.ts.
    efSkipLastIP: flag(false).describe('Enhanced filtering: judge the IP before the last hop in the Received: chain.'),
    efSkipIPs: z.array(parsed(compileIpRule)).default([]).describe('Enhanced filtering: hops to skip in the Received: chain (IPs, CIDR, ranges).'),
    efUsers: z.array(parsed(recipientAddress)).default([]).describe('Enhanced filtering applies only to these recipients (empty = all).'),
    /** OnPremises only: its mail is Internal / Originating at the header trust boundary. */
    treatMessagesAsInternal: flag(false).describe('OnPremises only: mark its mail Internal / Originating at the header trust boundary.'),
  })
  .strict();

const outboundSchema = z
  .object({
    ...connectorCommon,
    allAcceptedDomains: flag(false).describe('Route every accepted domain through this (OnPremises) connector.'),
    recipientDomains: z.array(parsed(compileDomainPattern)).default([]).describe('Recipient domains routed through this connector: contoso.com, *.contoso.com or *.'),
    smartHosts: z.array(parsed(parseSmartHost)).default([]).describe('Hosts to deliver to, host[:port] or [IP]:port, tried in order.'),
    useMxRecord: flag(false).describe("Deliver by the recipient domain's MX records instead of smart hosts."),
    tlsSettings: eopEnum(TLS_SETTINGS).nullable().default(null).describe('TLS required towards the destination; null = opportunistic STARTTLS.'),
    tlsDomain: certName.nullable().default(null).describe("With DomainValidation: the name the destination's certificate must carry."),
    tlsCa: z.array(filePath).default([]).describe("PEM CA files to verify the destination's certificate against (default: the system's)."),
    tlsCert: filePath.nullable().default(null).describe('PEM client certificate Sluice presents to the destination.'),
    tlsKey: filePath.nullable().default(null).describe('PEM private key of tlsCert.'),
    isTransportRuleScoped: flag(false).describe('Used only when a transport rule routes to it, never by recipient domain.'),
    maxMessagesPerConnection: count(50).describe('Messages per outbound SMTP session before it is closed.'),
    maxConnections: count(49).describe('Most concurrent outbound sessions through this connector.'),
    validationRecipients: z.array(parsed(recipientAddress)).default([]).describe("EOP's ValidationRecipients: where `sluice validate` sends its test message."),
  })
  .strict();

export const configSchema = z
  .object({
    server: serverSchema.describe('SMTP listener: host name, listen addresses, TLS and limits.'),
    spool: z
      .object({
        dir: filePath.default('data/spool').describe('Spool directory (relative to the working directory).'),
        journal: z
          .boolean()
          .default(true)
          .describe('Appends each fresh message of up to 64 KB to one log in journal/ with one fsync for every message written before it (group commit) instead of a file per message; a message keeps its entry until its first attempt ends, then it is delivered or gets a file of its own. A crash is replayed at start, also after the key is turned off. On by default; false: one file per message from the start.'),
      })
      .strict().prefault({}).describe('The durable message queue.'),
    dns: z.object({ servers: z.array(parsed(parseDnsServer)).default([]).describe('Resolver addresses, IP or IP:port.') }).strict().prefault({}).describe("DNS servers for MX lookups (default: the system's resolvers)."),
    delivery: deliverySchema.prefault({}).describe('Outbound delivery: retries, timeouts, concurrency.'),
    routing: z.object({ precedence: precedenceSchema }).strict().prefault({}).describe('How a recipient picks an outbound connector.'),
    organization: z
      .object({
        rejectDirectSend: flag(false).describe("EOP's RejectDirectSend: refuse anonymous mail from an accepted domain's sender."),
        senderRewriting: section(
          z
            .object({
              enabled: flag(false).describe('Rewrite the sender (SRS0) of mail a rule redirects or blind-copies to another domain.'),
              secret: z.string().min(16, 'use a secret of at least 16 characters').nullable().default(null).describe('HMAC secret for SRS addresses (at least 16 characters).'),
              domain: domainName('domain').nullable().default(null).describe('The domain rewritten senders are in (its MX must point at Sluice).'),
            })
            .strict(),
        ).describe('Sender Rewriting Scheme for redirected mail, as EOP rewrites forwarded mail.'),
      })
      .strict()
      .prefault({})
      .describe("Organization-wide switches (EOP's Set-OrganizationConfig)."),
    acceptedDomains: z.array(acceptedDomainSchema).default([]).describe('Domains this organization receives mail for.'),
    inboundConnectors: z.array(inboundSchema).default([]).describe('Who may send: matched by TLS client certificate, then IP address.'),
    outboundConnectors: z.array(outboundSchema).default([]).describe('Where mail goes: per recipient domain, to smart hosts or by MX.'),
    ...pipelineKeys,
    ...senderKeys,
    ...signingKeys,
    ...contentKeys,
    ...rulesKeys,
    ...operationsKeys,
    ...clusterKeys,
  })
  .strict();

/** The validated config, values already in bytes, milliseconds and compiled patterns. */
export type Config = z.output<typeof configSchema>;
export type InboundConfig = Config['inboundConnectors'][number];
export type OutboundConfig = Config['outboundConnectors'][number];
