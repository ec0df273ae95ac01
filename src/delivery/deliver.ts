// Delivers one spooled message's pending recipients: groups them by their current route
// (routing runs again on the live config), tries each route's hosts in order and returns one
// classified outcome per recipient. No spool writes here; the scheduler applies the outcomes.
import { createReadStream } from 'node:fs';
import type { Resolver } from 'node:dns/promises';
import type { Model, OutboundConnector } from '../domain/model.js';
import { selectRoute } from '../routing/select-connector.js';
import { normaliseDomain } from '../domain/match.js';
import type { SpoolRecord } from '../queue/record.js';
import { classifyOutcome, type Outcome, type AttemptResult } from './outcome.js';
import { mxTargets, smartHostTargets, type TargetHost } from './hosts.js';
import type { Pools } from './pools.js';

export interface RcptOutcome {
  address: string;
  outcome: Outcome;
  connector: string;
  host: string | null;
}

/** Internet delivery by MX uses an implicit connector with opportunistic TLS. */
const INTERNET: OutboundConnector = Object.freeze({
  name: 'Internet (MX)',
  enabled: true,
  connectorType: 'Partner',
  allAcceptedDomains: false,
  recipientDomains: [],
  smartHosts: [],
  useMxRecord: true,
  tlsSettings: null,
  tlsDomain: null,
  tlsCa: [],
  tlsCert: null,
  tlsKey: null,
  isTransportRuleScoped: false,
  cloudServicesMailEnabled: false,
  maxMessagesPerConnection: 50,
  maxConnections: 10,
  comment: '',
});

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
  constructor(
    private readonly pools: Pools,
    private readonly getModel: () => Model,
    private readonly resolver: () => Resolver,
  ) {}

  async deliver(record: SpoolRecord, bodyPath: string): Promise<RcptOutcome[]> {
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
      const key = connector.smartHosts.length && !connector.useMxRecord ? connector.name : `${connector.name}\u0000${domain}`;
      const g = groups.get(key) ?? { connector, domain, rcpts: [] };
      g.rcpts.push(r.address);
      groups.set(key, g);
    }
    const results = await Promise.all([...groups.values()].map((g) => this.deliverGroup(model, record, bodyPath, g)));
    return out.concat(...results);
  }

  private async targets(model: Model, g: Group): Promise<TargetHost[] | Outcome> {
    if (!g.connector.useMxRecord) return smartHostTargets(g.connector, 25);
    const list = await mxTargets(this.resolver(), g.domain, model.delivery.mxPort);
    if (list.kind === 'hosts') return list.hosts;
    if (list.kind === 'null-mx') {
      return { action: 'bounce', rule: 'null-mx', status: '5.1.10', diagnostic: `${g.domain} does not accept mail (null MX, RFC 7505)` };
    }
    return list.permanent
      ? { action: 'bounce', rule: 'dns:nxdomain', status: '5.1.2', diagnostic: list.error }
      : { action: 'defer', rule: 'dns:error', status: '4.4.3', diagnostic: list.error };
  }

  private async deliverGroup(model: Model, record: SpoolRecord, bodyPath: string, g: Group): Promise<RcptOutcome[]> {
    const targets = await this.targets(model, g);
    if (!Array.isArray(targets)) {
      return g.rcpts.map((address) => ({ address, outcome: targets, connector: g.connector.name, host: null }));
    }
    let remaining = g.rcpts;
    const done: RcptOutcome[] = [];
    for (let i = 0; i < targets.length && remaining.length; i++) {
      const target = targets[i]!;
      const lastHost = i === targets.length - 1;
      const results = await this.attempt(record, bodyPath, g.connector, target, remaining);
      const next: string[] = [];
      for (const [address, res] of results) {
        const outcome = classifyOutcome(res, { lastHost, softBounce: model.delivery.softBounce });
        if (outcome.action === 'next-host') next.push(address);
        else done.push({ address, outcome, connector: g.connector.name, host: `${target.host}:${target.port}` });
      }
      remaining = next;
    }
    return done;
  }

  /** One SMTP transaction through the pool; returns each recipient's raw result. */
  private async attempt(
    record: SpoolRecord,
    bodyPath: string,
    connector: OutboundConnector,
    target: TargetHost,
    rcpts: string[],
  ): Promise<Map<string, AttemptResult>> {
    const transport = this.pools.get(connector, target);
    const results = new Map<string, AttemptResult>();
    try {
      const info = (await transport.sendMail({
        envelope: { from: record.mailFrom, to: rcpts },
        raw: createReadStream(bodyPath),
      })) as { accepted?: unknown[]; rejectedErrors?: SmtpErr[]; response?: string };
      const rejected = new Map((info.rejectedErrors ?? []).map((e) => [String(e.recipient), e]));
      for (const a of rcpts) {
        const e = rejected.get(a);
        results.set(a, e ? fromError(e) : { accepted: true, response: info.response });
      }
    } catch (err) {
      const e = err as SmtpErr;
      const per = new Map((e.rejectedErrors ?? []).map((x) => [String(x.recipient), x]));
      for (const a of rcpts) results.set(a, fromError(per.get(a) ?? e));
    }
    return results;
  }
}

interface SmtpErr extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  recipient?: string;
  rejectedErrors?: SmtpErr[];
}

function fromError(e: SmtpErr): AttemptResult {
  return { responseCode: e.responseCode, response: e.response ?? e.message, errorCode: e.code, command: e.command };
}
