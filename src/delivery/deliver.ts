// Delivers one spooled message's pending recipients: groups them by their current route
// (routing runs again on the live config), resolves each route's hosts, tries them in order with
// failover and dead-host memory, and returns one classified outcome per recipient. No spool writes
// here; the scheduler applies the outcomes.
import type { Readable } from 'node:stream';
import type { Resolver } from 'node:dns/promises';
import type { Model, OutboundConnector } from '../domain/model.js';
import { OUTBOUND_DEFAULTS } from '../domain/connector-defaults.js';
import type { Logger } from '../observe/log.js';
import { selectRoute } from '../routing/select-connector.js';
import { normaliseDomain } from '../domain/match.js';
import type { SpoolRecord } from '../queue/record.js';
import { classifyOutcome, isHostFailure, permanentFailure, type AttemptResult, type Outcome } from './outcome.js';
import { mxTargets, smartHostTargets, type Dns, type TargetHost } from './hosts.js';
import { HostHealth } from './host-health.js';
import { targetKey, type Pools } from './pools.js';
import type { SmtpError } from './connection.js';

export interface RcptOutcome {
  address: string;
  outcome: Outcome;
  connector: string;
  /** "ip:port" of the last host tried, or null when none was. */
  host: string | null;
  /** Smart host / MX name of that host, when it has one (extension; the scheduler may ignore it). */
  hostName?: string | null;
}

/** Internet delivery by MX uses an implicit connector with opportunistic TLS. */
const INTERNET: OutboundConnector = Object.freeze({
  ...OUTBOUND_DEFAULTS,
  name: 'Internet (MX)',
  connectorType: 'Partner',
  recipientDomains: [],
  smartHosts: [],
  useMxRecord: true,
});

const SMART_HOST_DEFAULT_PORT = 25;

interface Group {
  connector: OutboundConnector;
  domain: string;
  rcpts: string[];
}

function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return normaliseDomain(address.slice(at + 1)) ?? address.slice(at + 1).toLowerCase();
}

export class Deliverer {
  private readonly health = new HostHealth();
  /** Round-robin start per connector: spreads load over smart hosts that are all up. */
  private readonly rotation = new Map<string, number>();

  constructor(
    private readonly pools: Pools,
    private readonly getModel: () => Model,
    private readonly resolver: () => Resolver,
    private readonly log?: Logger,
  ) {}

  async deliver(record: SpoolRecord, body: () => Readable): Promise<RcptOutcome[]> {
    const model = this.getModel();
    const groups = new Map<string, Group>();
    const out: RcptOutcome[] = [];
    for (const r of record.rcpts) {
      if (r.status !== 'pending') continue;
      const domain = domainOf(r.address);
      const route = selectRoute(model, domain);
      if (route.kind === 'none') {
        out.push({
          address: r.address,
          connector: '(none)',
          host: null,
          outcome: { action: 'defer', rule: 'no-outbound-connector', status: '4.4.0', diagnostic: `no outbound connector for ${domain}` },
        });
        continue;
      }
      const connector = route.kind === 'connector' ? route.connector : INTERNET;
      // MX-routed groups are per domain; smart-host groups share one transaction per connector.
      const key = connector.useMxRecord ? `${connector.name}\u0000${domain}` : connector.name;
      const g = groups.get(key) ?? { connector, domain, rcpts: [] };
      g.rcpts.push(r.address);
      groups.set(key, g);
    }
    const results = await Promise.all([...groups.values()].map((g) => this.deliverGroup(model, record, body, g)));
    return out.concat(...results);
  }

  private async targets(model: Model, g: Group): Promise<TargetHost[] | Outcome> {
    const dns: Dns = { resolver: this.resolver(), systemAddresses: model.dns.servers.length === 0 };
    let list;
    if (g.connector.useMxRecord) {
      list = await mxTargets(dns, g.domain, model.delivery.mxPort);
    } else {
      const start = this.rotation.get(g.connector.name) ?? 0;
      this.rotation.set(g.connector.name, (start + 1) % Math.max(1, g.connector.smartHosts.length));
      list = await smartHostTargets(dns, g.connector, SMART_HOST_DEFAULT_PORT, start);
    }
    if (list.kind === 'hosts') return this.health.usable(list.hosts, targetKey);
    if (list.kind === 'null-mx') {
      return permanentFailure('null-mx', '5.1.10', `${g.domain} does not accept mail (null MX, RFC 7505)`, model.delivery);
    }
    const rule = `dns:${list.permanent ? 'permanent' : 'temporary'}`;
    return list.permanent
      ? permanentFailure(rule, list.status, list.error, model.delivery)
      : { action: 'defer', rule, status: list.status, diagnostic: list.error };
  }

  private async deliverGroup(model: Model, record: SpoolRecord, body: () => Readable, g: Group): Promise<RcptOutcome[]> {
    const targets = await this.targets(model, g);
    if (!Array.isArray(targets)) {
      return g.rcpts.map((address) => ({ address, outcome: targets, connector: g.connector.name, host: null }));
    }
    let remaining = g.rcpts;
    const done: RcptOutcome[] = [];
    for (let i = 0; i < targets.length && remaining.length; i++) {
      const target = targets[i]!;
      const lastHost = i === targets.length - 1;
      const results = await this.attempt(record, body, g.connector, target, remaining);
      this.noteHealth(g.connector, target, results);
      const next: string[] = [];
      for (const [address, res] of results) {
        const outcome = classifyOutcome(res, { lastHost, softBounce: model.delivery.softBounce });
        if (outcome.action === 'next-host') next.push(address);
        else done.push({ address, outcome, connector: g.connector.name, host: targetKey(target), hostName: target.name });
      }
      remaining = next;
    }
    return done;
  }

  /** Marks a host down after a host-level failure (the same for every recipient), up after any reply. */
  private noteHealth(connector: OutboundConnector, target: TargetHost, results: Map<string, AttemptResult>): void {
    const first = results.values().next().value as AttemptResult | undefined;
    const key = targetKey(target);
    if (!first || !isHostFailure(first)) {
      this.health.markUp(key);
      return;
    }
    const reason = first.response ?? first.errorCode ?? 'failure';
    if (this.health.markDown(key, reason)) {
      this.log?.warn({ stage: 'deliver', connector: connector.name, host: key, name: target.name, reason, downForMs: this.health.downMs }, 'host marked down');
    }
  }

  /** One SMTP transaction through the connector's pool; returns each recipient's raw result. */
  private async attempt(
    record: SpoolRecord,
    body: () => Readable,
    connector: OutboundConnector,
    target: TargetHost,
    rcpts: string[],
  ): Promise<Map<string, AttemptResult>> {
    const results = new Map<string, AttemptResult>();
    try {
      const info = await this.pools.send(connector, target, { from: record.mailFrom, to: rcpts }, body);
      const rejected = new Map((info.rejectedErrors ?? []).map((e) => [String(e.recipient), e]));
      for (const a of rcpts) {
        const e = rejected.get(a);
        results.set(a, e ? fromError(e) : { accepted: true, response: info.response });
      }
    } catch (err) {
      const e = err as SmtpError;
      const per = new Map((e.rejectedErrors ?? []).map((x) => [String(x.recipient), x]));
      for (const a of rcpts) results.set(a, fromError(per.get(a) ?? e));
    }
    return results;
  }
}

function fromError(e: SmtpError): AttemptResult {
  return { responseCode: e.responseCode, response: e.response ?? e.message, errorCode: e.code, command: e.command };
}
