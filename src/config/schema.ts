// The YAML contract of issue 2 as a zod schema: shape, defaults, units and per-value checks
// (IP rules, domain patterns, smart hosts compiled here so each bad value is reported with its
// own key path). Cross-field rules live in compile.ts. Every object is strict: unknown keys fail.
import { z } from 'zod';
import { compileDomainPattern, compileIpRule, normaliseDomain } from '../domain/match.js';
import { canonicalIp, parseDnsServer, parseSmartHost } from './hosts.js';
import { parseDuration, parseSize } from './units.js';
import { pipelineKeys } from './sections/pipeline.js';
import { senderKeys } from './sections/sender.js';
import { signingKeys } from './sections/signing.js';
import { contentKeys } from './sections/content.js';
import { rulesKeys } from './sections/rules.js';
import { operationsKeys } from './sections/operations.js';

const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v);

/** A value parsed by `fn`; its thrown Error becomes the issue message at this key path. */
export function parsed<T>(fn: (v: string) => T, accept: 'string' | 'string-or-number' = 'string') {
  return z.unknown().transform((v, ctx): T => {
    const ok = typeof v === 'string' || (accept === 'string-or-number' && typeof v === 'number');
    if (!ok) {
      const expected = accept === 'string' ? 'a string' : 'a string or number';
      ctx.addIssue({ code: 'custom', message: v === undefined ? 'Required' : `expected ${expected}, got ${describe(v)}` });
      return z.NEVER;
    }
    try {
      return fn(v as string);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });
}

/** EOP spells enumerated values one way; we accept any case and normalise to that spelling. */
export function eopEnum<T extends string>(values: readonly [T, ...T[]]) {
  const byLower = new Map<string, T>(values.map((v) => [v.toLowerCase(), v]));
  const list = values.join(', ');
  return z.preprocess(
    (v) => (typeof v === 'string' ? (byLower.get(v.trim().toLowerCase()) ?? v) : v),
    z.enum(values as [T, ...T[]], {
      errorMap: (issue, ctx) => ({
        message: issue.code === 'invalid_enum_value' ? `"${String(issue.received)}" must be one of ${list}` : ctx.defaultError,
      }),
    }),
  );
}

export const domainName = (what: string) =>
  parsed((v) => {
    const d = normaliseDomain(v.trim());
    if (!d) throw new Error(`"${v}" is not a valid ${what} (no wildcards, no trailing dot)`);
    return d;
  });

/** A certificate or TLS name: "mail.contoso.com" or "*.contoso.com", but never a bare "*". */
export const certName = parsed((v) => {
  const p = compileDomainPattern(v);
  if (p.kind === 'any') throw new Error(`"${v}" is too broad: use a name or "*.domain"`);
  return p;
});

export const flag = (dflt: boolean) => z.boolean({ invalid_type_error: 'expected true or false' }).default(dflt);
export const count = (dflt: number) => z.number().int().positive().default(dflt);
export const filePath = z.string().trim().min(1, 'a file path must not be empty');
export const size = parsed(parseSize, 'string-or-number');
export const duration = parsed((v) => {
  const ms = parseDuration(v);
  if (ms <= 0) throw new Error(`"${v}" must be longer than zero`);
  return ms;
}, 'string-or-number');
/** A duration that may be 0 (off). */
export const durationOrZero = parsed(parseDuration, 'string-or-number');
export const port = (min: number) => z.number().int().min(min).max(65535);
/**
 * A config section whose every key has a default, so the whole section may be left out. Use this
 * instead of `.default({})` on objects: zod 3 and zod 4 differ there (zod 4 needs `.prefault`).
 */
export const section = <T extends z.ZodTypeAny>(schema: T) => schema.default({});

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
    }),
    port: port(0), // 0 = any free port, which tests use
    /** Every connection must open with a PROXY v1/v2 header from one of server.trustedProxies. */
    proxyProtocol: flag(false),
  })
  .strict();

const limitsSchema = z
  .object({
    maxMessageSize: size.default('35MB'),
    maxRecipients: count(500),
    maxConnections: count(1000),
    maxConnectionsPerIp: count(50),
    maxMessagesPerConnection: count(50),
    idleTimeout: duration.default('60s'),
    greetingDelay: durationOrZero.default(0), // must stay below idleTimeout: see compile.ts
  })
  .strict();

const serverSchema = z
  .object({
    hostname: domainName('host name'),
    listen: z.array(listenSchema).min(1, 'list at least one { host, port } to listen on'),
    /** Load balancers allowed to send PROXY headers to a `proxyProtocol: true` listener. */
    trustedProxies: z.array(parsed(compileIpRule)).default([]),
    tls: z
      .object({
        cert: filePath,
        key: filePath,
        clientCa: z.array(filePath).default([]),
        generateDevCertificates: flag(false),
      })
      .strict(),
    limits: limitsSchema.default({}),
  })
  .strict();

const deliverySchema = z
  .object({
    mxPort: port(1).default(25),
    softBounce: flag(false),
    /** Warn the sender (DSN Action: delayed) once a message has waited this long; null = never. */
    delayWarning: duration.nullable().default(null),
    retry: z
      .object({ initial: duration.default('5m'), max: duration.default('60m'), lifetime: duration.default('24h') })
      .strict()
      .default({}),
    /** Per SMTP stage of an outbound session; Postfix's smtp_*_timeout defaults. */
    timeouts: z
      .object({
        connect: duration.default('30s'),
        greeting: duration.default('300s'),
        command: duration.default('300s'),
        dataInit: duration.default('120s'),
        dataTransfer: duration.default('180s'),
        dataDone: duration.default('600s'),
      })
      .strict()
      .default({}),
    /** Queue manager windows: per MX destination domain, and a process-wide ceiling. */
    concurrency: z.object({ perDomain: count(20), total: count(200) }).strict().default({}),
    /** How long a host that failed at the session level is skipped (and its destination deferred). */
    hostDownTime: duration.default('60s'),
  })
  .strict();

const precedenceSchema = z
  .array(eopEnum(ROUTE_CLASSES))
  .default([...ROUTE_CLASSES])
  .refine((list) => list.length === ROUTE_CLASSES.length && new Set(list).size === list.length, {
    message: `must list each of ${ROUTE_CLASSES.join(', ')} exactly once`,
  });

const acceptedDomainSchema = z
  .object({ domain: domainName('accepted domain'), type: eopEnum(ACCEPTED_DOMAIN_TYPES).default('Authoritative') })
  .strict();

const connectorCommon = {
  name: z.string().trim().min(1, 'a connector name must not be empty'),
  enabled: flag(true),
  // Left out = Partner, EOP's cmdlet default; compile.ts applies it, so it can tell the two apart.
  connectorType: eopEnum(CONNECTOR_TYPES).optional(),
  cloudServicesMailEnabled: flag(false),
  // `comment:` left empty is YAML null; treat it as no comment rather than a type error.
  comment: z
    .string()
    .nullable()
    .default('')
    .transform((v) => v ?? ''),
};

const inboundSchema = z
  .object({
    ...connectorCommon,
    senderDomains: z.array(parsed(compileDomainPattern)).default(['*']),
    senderIPAddresses: z.array(parsed(compileIpRule)).default([]),
    tlsSenderCertificateName: certName.nullable().default(null),
    requireTls: flag(false),
    restrictDomainsToIPAddresses: flag(false),
    restrictDomainsToCertificate: flag(false),
    associatedAcceptedDomains: z.array(domainName('accepted domain')).default([]),
  })
  .strict();

const outboundSchema = z
  .object({
    ...connectorCommon,
    allAcceptedDomains: flag(false),
    recipientDomains: z.array(parsed(compileDomainPattern)).default([]),
    smartHosts: z.array(parsed(parseSmartHost)).default([]),
    useMxRecord: flag(false),
    tlsSettings: eopEnum(TLS_SETTINGS).nullable().default(null),
    tlsDomain: certName.nullable().default(null),
    tlsCa: z.array(filePath).default([]),
    tlsCert: filePath.nullable().default(null),
    tlsKey: filePath.nullable().default(null),
    isTransportRuleScoped: flag(false),
    maxMessagesPerConnection: count(50),
    maxConnections: count(49),
  })
  .strict();

export const configSchema = z
  .object({
    server: serverSchema,
    spool: z.object({ dir: filePath.default('data/spool') }).strict().default({}),
    dns: z.object({ servers: z.array(parsed(parseDnsServer)).default([]) }).strict().default({}),
    delivery: deliverySchema.default({}),
    routing: z.object({ precedence: precedenceSchema }).strict().default({}),
    organization: z.object({ rejectDirectSend: flag(false) }).strict().default({}),
    acceptedDomains: z.array(acceptedDomainSchema).default([]),
    inboundConnectors: z.array(inboundSchema).default([]),
    outboundConnectors: z.array(outboundSchema).default([]),
    ...pipelineKeys,
    ...senderKeys,
    ...signingKeys,
    ...contentKeys,
    ...rulesKeys,
    ...operationsKeys,
  })
  .strict();

/** The validated config, values already in bytes, milliseconds and compiled patterns. */
export type Config = z.output<typeof configSchema>;
export type InboundConfig = Config['inboundConnectors'][number];
export type OutboundConfig = Config['outboundConnectors'][number];
