// Turns a schema-validated Config into the frozen runtime Model (domain/model.ts), checking the
// rules that span several keys. Returns every problem with its key path; load.ts adds file and line.
// Relative file paths (certificates, CA lists, spool dir) are resolved against process.cwd().
import { resolve } from 'node:path';
import type { DomainPattern, InboundConnector, Model, OutboundConnector, SectionModels } from '../domain/model.js';
import type { Config, InboundConfig, OutboundConfig } from './schema.js';
import { compilePipeline } from './sections/pipeline.js';
import { compileSender } from './sections/sender.js';
import { compileSigning } from './sections/signing.js';
import { compileContent } from './sections/content.js';
import { compileRules } from './sections/rules.js';
import { compileOperations } from './sections/operations.js';
import { compileCluster } from './sections/cluster.js';
import { buildAcceptedDomain, checkRecipientValidation, checkTreatAsInternal } from './recipient-validation.js';

export type KeyPath = readonly (string | number)[];
export interface PathIssue {
  readonly path: KeyPath;
  readonly message: string;
}
/** Warnings never stop a config from loading; they name a setting that works but is probably not meant. */
export type CompileResult = { ok: true; model: Model; warnings: PathIssue[] } | { ok: false; issues: PathIssue[] };

export type Report = (path: KeyPath, message: string) => void;

/** Names are compared case-insensitively, as EOP does; each list is its own namespace. */
function checkUniqueNames(list: readonly { name: string }[], key: string, report: Report): void {
  const seen = new Map<string, number>();
  list.forEach((c, i) => {
    const prior = seen.get(c.name.toLowerCase());
    if (prior === undefined) seen.set(c.name.toLowerCase(), i);
    else report([key, i, 'name'], `connector name "${c.name}" is already used by ${key}[${prior}]`);
  });
}

function checkAcceptedDomains(config: Config, report: Report): Set<string> {
  const seen = new Map<string, number>();
  config.acceptedDomains.forEach((d, i) => {
    const prior = seen.get(d.domain);
    if (prior === undefined) seen.set(d.domain, i);
    else report(['acceptedDomains', i, 'domain'], `"${d.domain}" is already listed at acceptedDomains[${prior}]`);
  });
  return new Set(seen.keys());
}

function checkInbound(c: InboundConfig, at: KeyPath, config: Config, accepted: Set<string>, report: Report): void {
  const byIp = c.senderIPAddresses.length > 0;
  const byCert = c.tlsSenderCertificateName !== null;
  if (!byIp && !byCert) {
    // A Partner connector may be identified by its sender domains alone (EOP's forced-TLS-from-partner
    // setup); an OnPremises connector grants relaying, so it must name the sending server.
    const namesDomain = c.senderDomains.some((p) => p.kind !== 'any');
    if (c.connectorType === 'OnPremises') {
      report(at, 'an OnPremises connector needs senderIPAddresses or tlsSenderCertificateName to identify the on-premises server');
    } else if (!namesDomain) {
      report(at, 'a Partner connector needs senderIPAddresses, tlsSenderCertificateName or senderDomains naming a domain');
    }
  }
  if (c.restrictDomainsToCertificate && !byCert) {
    report([...at, 'restrictDomainsToCertificate'], 'restrictDomainsToCertificate needs tlsSenderCertificateName');
  }
  if (c.restrictDomainsToIPAddresses && !byIp) {
    report([...at, 'restrictDomainsToIPAddresses'], 'restrictDomainsToIPAddresses needs senderIPAddresses');
  }
  if (byCert && config.server.tls.clientCa.length === 0) {
    report(
      [...at, 'tlsSenderCertificateName'],
      'certificate matching needs server.tls.clientCa: without a trust anchor no client certificate can be verified',
    );
  }
  c.associatedAcceptedDomains.forEach((d, k) => {
    if (!accepted.has(d)) report([...at, 'associatedAcceptedDomains', k], `"${d}" is not an accepted domain`);
  });
}

/** EOP's UseMxRecord defaults to $true when SmartHosts is absent; Sluice asks for the choice to be written. */
export const SMART_HOSTS_OR_MX =
  'an outbound connector needs smartHosts or useMxRecord: true. In EOP\'s words, SmartHosts "specifies the smart hosts ' +
  'the Outbound connector uses to route mail. This parameter is required if you set the UseMxRecord parameter to $false"; ' +
  'EOP turns UseMxRecord on by default when no smart hosts are given, Sluice does not guess: add useMxRecord: true to ' +
  'deliver by the recipient domain\'s MX records, or list smartHosts';

function checkOutbound(c: OutboundConfig, at: KeyPath, report: Report, warn: Report): void {
  if (c.smartHosts.length === 0 && !c.useMxRecord) {
    report(at, SMART_HOSTS_OR_MX);
  } else if (c.smartHosts.length > 0 && c.useMxRecord) {
    report([...at, 'useMxRecord'], 'useMxRecord: true and smartHosts are mutually exclusive; choose one');
  }
  if (!c.allAcceptedDomains && c.recipientDomains.length === 0 && !c.isTransportRuleScoped) {
    report(at, 'an outbound connector needs allAcceptedDomains: true, recipientDomains or isTransportRuleScoped: true');
  }
  if (c.tlsDomain !== null && c.tlsSettings !== 'DomainValidation') {
    report([...at, 'tlsDomain'], 'tlsDomain is only used with tlsSettings: DomainValidation');
  }
  if (c.allAcceptedDomains && c.connectorType === 'Partner') {
    report([...at, 'allAcceptedDomains'], 'allAcceptedDomains: true is only valid on an OnPremises outbound connector (as in EOP); set connectorType: OnPremises or list recipientDomains');
  } else if (c.allAcceptedDomains && c.connectorType === undefined) {
    // EOP's default type is Partner, where this is invalid; configs written before the rule still load.
    warn([...at, 'allAcceptedDomains'], 'allAcceptedDomains: true on a connector without connectorType, which defaults to Partner as in EOP, where it is invalid; add connectorType: OnPremises');
  }
  if (c.tlsCert !== null && c.tlsKey === null) report([...at, 'tlsCert'], 'tlsCert needs tlsKey');
  if (c.tlsKey !== null && c.tlsCert === null) report([...at, 'tlsKey'], 'tlsKey needs tlsCert');
}

function checkProxies(config: Config, report: Report): void {
  const { listen, trustedProxies } = config.server;
  const i = listen.findIndex((l) => l.proxyProtocol);
  if (i >= 0 && trustedProxies.length === 0) {
    report(['server', 'listen', i, 'proxyProtocol'], 'proxyProtocol: true needs server.trustedProxies: the load balancers allowed to send PROXY headers');
  }
}

function checkLimits(config: Config, report: Report): void {
  const { greetingDelay, idleTimeout } = config.server.limits;
  // The idle timer runs from the connect, and a polite client is silent until the 220.
  if (greetingDelay >= idleTimeout) {
    report(['server', 'limits', 'greetingDelay'], 'greetingDelay must be shorter than idleTimeout, or every client that waits for the greeting is dropped');
  }
}

/** A Partner connector claiming every sender domain without a restriction exempts all Direct Send. */
function checkDirectSend(config: Config, warn: Report): void {
  if (!config.organization.rejectDirectSend) return;
  const open = config.inboundConnectors.find(
    (c) =>
      c.enabled &&
      (c.connectorType ?? 'Partner') === 'Partner' &&
      c.senderDomains.some((p) => p.kind === 'any') &&
      !c.restrictDomainsToIPAddresses &&
      !c.restrictDomainsToCertificate,
  );
  if (open) {
    warn(
      ['organization', 'rejectDirectSend'],
      `Partner connector "${open.name}" claims every sender domain ("*") without restrictDomainsToIPAddresses or ` +
        'restrictDomainsToCertificate, so it exempts every Direct Send sender; narrow its senderDomains or restrict it',
    );
  }
}

function checkDelivery(config: Config, report: Report): void {
  const { initial, max } = config.delivery.retry;
  if (initial > max) report(['delivery', 'retry', 'initial'], 'the initial retry interval is longer than retry.max');
}

/** Relative paths are relative to the working directory (like `--config`), not to the config file. */
const abs = (p: string): string => resolve(process.cwd(), p);
const patternName = (p: DomainPattern): string => (p.kind === 'wildcard' ? `*.${p.domain}` : p.domain);

function buildInbound(c: InboundConfig): InboundConnector {
  return { ...c, connectorType: c.connectorType ?? 'Partner' };
}

function buildOutbound(c: OutboundConfig): OutboundConnector {
  return {
    ...c,
    connectorType: c.connectorType ?? 'Partner',
    tlsDomain: c.tlsDomain === null ? null : patternName(c.tlsDomain),
    tlsCa: c.tlsCa.map(abs),
    tlsCert: c.tlsCert === null ? null : abs(c.tlsCert),
    tlsKey: c.tlsKey === null ? null : abs(c.tlsKey),
  };
}

function build(config: Config, source: string, sections: SectionModels): Model {
  const { server, delivery } = config;
  const { idleTimeout, greetingDelay, commandTimeout, dataTimeout, maxSessionDuration, ...limits } = server.limits;
  return {
    source,
    server: {
      hostname: server.hostname,
      listen: server.listen,
      trustedProxies: server.trustedProxies,
      tls: {
        cert: abs(server.tls.cert),
        key: abs(server.tls.key),
        clientCa: server.tls.clientCa.map(abs),
        generateDevCertificates: server.tls.generateDevCertificates,
      },
      limits: {
        ...limits,
        idleTimeoutMs: idleTimeout,
        greetingDelayMs: greetingDelay,
        commandTimeoutMs: commandTimeout,
        dataTimeoutMs: dataTimeout,
        maxSessionDurationMs: maxSessionDuration,
      },
      drainTimeoutMs: server.drainTimeout,
    },
    spool: { dir: abs(config.spool.dir), journal: config.spool.journal },
    dns: config.dns,
    delivery: {
      mxPort: delivery.mxPort,
      softBounce: delivery.softBounce,
      delayWarningMs: delivery.delayWarning,
      retry: { initialMs: delivery.retry.initial, maxMs: delivery.retry.max, lifetimeMs: delivery.retry.lifetime },
      timeouts: {
        connectMs: delivery.timeouts.connect,
        greetingMs: delivery.timeouts.greeting,
        commandMs: delivery.timeouts.command,
        dataInitMs: delivery.timeouts.dataInit,
        dataTransferMs: delivery.timeouts.dataTransfer,
        dataDoneMs: delivery.timeouts.dataDone,
      },
      concurrency: delivery.concurrency,
      hostDownMs: delivery.hostDownTime,
    },
    routing: config.routing,
    organization: config.organization,
    acceptedDomains: config.acceptedDomains.map(buildAcceptedDomain),
    inboundConnectors: config.inboundConnectors.map(buildInbound),
    outboundConnectors: config.outboundConnectors.map(buildOutbound),
    ...sections,
  };
}

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Checks the cross-field rules and builds the frozen Model; `source` is the config's absolute path. */
export function compileConfig(config: Config, source: string): CompileResult {
  const issues: PathIssue[] = [];
  const warnings: PathIssue[] = [];
  const report: Report = (path, message) => void issues.push({ path, message });
  const warn: Report = (path, message) => void warnings.push({ path, message });
  const accepted = checkAcceptedDomains(config, report);
  checkUniqueNames(config.inboundConnectors, 'inboundConnectors', report);
  checkUniqueNames(config.outboundConnectors, 'outboundConnectors', report);
  config.inboundConnectors.forEach((c, i) => checkInbound(c, ['inboundConnectors', i], config, accepted, report));
  config.outboundConnectors.forEach((c, i) => checkOutbound(c, ['outboundConnectors', i], report, warn));
  checkLimits(config, report);
  checkProxies(config, report);
  checkDelivery(config, report);
  checkDirectSend(config, warn);
  checkRecipientValidation(config, report, warn);
  checkTreatAsInternal(config, report);
  const srs = config.organization.senderRewriting;
  if (srs.enabled && !srs.secret) report(['organization', 'senderRewriting', 'secret'], 'sender rewriting needs a secret (at least 16 characters)');
  if (srs.enabled && !srs.domain) report(['organization', 'senderRewriting', 'domain'], 'sender rewriting needs the domain rewritten senders are in');
  // Each feature section checks and compiles its own keys (config/sections/).
  const sections: SectionModels = {
    ...compilePipeline(config, report, warn),
    ...compileSender(config, report, warn),
    ...compileSigning(config, report, warn),
    ...compileContent(config, report, warn),
    ...compileRules(config, report, warn),
    ...compileOperations(config, report, warn),
    ...compileCluster(config, report, warn),
  };
  if (issues.length > 0) return { ok: false, issues };
  // structuredClone: the Model must share nothing with the parse result the caller may still hold.
  return { ok: true, model: deepFreeze(structuredClone(build(config, source, sections))), warnings };
}
