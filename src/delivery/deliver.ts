// Delivers one destination's recipients of a spooled message (destinations.ts decides which, on
// the live config): resolves the destination's hosts, tries them in order with failover and
// dead-host memory, and returns one classified outcome per recipient. No spool writes here; the
// queue manager applies the outcomes and asks downUntil() before it dispatches to a destination.
import type { Readable } from 'node:stream';
import { applyBodyTransforms } from '../rules/disclaimer.js';
import { envelopeSender } from '../rules/srs-envelope.js';
import type { Resolver } from 'node:dns/promises';
import type { Model, OutboundConnector } from '../domain/model.js';
import type { Logger } from '../observe/log.js';
import type { SpoolRecord } from '../queue/record.js';
import { classifyOutcome, isHostFailure, permanentFailure, type AttemptResult, type Outcome } from './outcome.js';
import { mxTargets, smartHostTargets, type Dns, type TargetHost } from './hosts.js';
import { HostHealth, type HostMarksShare } from './host-health.js';
import { targetKey, type Pools } from './pools.js';
import type { SmtpError } from './connection.js';
import { windowOf, type DestinationGroup } from './destinations.js';
import { OutgoingMessages } from './outgoing/outgoing.js';

export interface RcptOutcome {
  address: string;
  outcome: Outcome;
  connector: string;
  /** "ip:port" of the last host tried, or null when none was. */
  host: string | null;
  /** Smart host / MX name of that host, when it has one (extension; the scheduler may ignore it). */
  hostName?: string | null;
  /** Whether the session that gave the outcome ran TLS, when one was made (metrics: TLS share out). */
  tls?: boolean;
}

const SMART_HOST_DEFAULT_PORT = 25;
/** How often idle per-domain pools and stale dead-destination memory are dropped. */
const SWEEP_EVERY_DELIVERIES = 1_000;

interface Group {
  connector: OutboundConnector;
  domain: string;
  /** Destination key: the pool and the dead-destination memory are per destination. */
  key: string;
  window: number;
  rcpts: string[];
}

export class Deliverer {
  private readonly health: HostHealth;
  /** Round-robin start per connector: spreads load over smart hosts that are all up. */
  private readonly rotation = new Map<string, number>();
  /** Destination key → the host keys its last attempt resolved to, kept while any of them failed. */
  private readonly lastTargets = new Map<string, string[]>();
  private deliveries = 0;
  /** Header boundary, line limits and DKIM signing of what leaves (outgoing/). */
  private readonly outgoing: OutgoingMessages;

  constructor(
    private readonly pools: Pools,
    private readonly getModel: () => Model,
    private readonly resolver: () => Resolver,
    private readonly log?: Logger,
    /** Host-down marks shared with the other replicas (cluster mode with Redis). */
    hostMarks: HostMarksShare | null = null,
  ) {
    this.health = new HostHealth(() => this.getModel().delivery.hostDownMs, hostMarks);
    this.outgoing = new OutgoingMessages(log);
  }

  /**
   * When every host the destination last resolved to is marked down: until when (the first mark's
   * expiry) and why. The queue manager then defers the destination's mail without connecting.
   */
  downUntil(key: string, now = Date.now()): { until: number; reason: string } | null {
    const keys = this.lastTargets.get(key);
    if (!keys) return null;
    const down = this.health.allDownUntil(keys, now);
    if (!down) this.lastTargets.delete(key);
    return down;
  }

  /** Hosts marked down now (the dead-host cache) and the destinations that last used them, for `sluice connectors`. */
  hostDownMarks(now = Date.now()): { host: string; until: number; reason: string; destinations: string[] }[] {
    return this.health.marks(now).map((m) => ({
      ...m,
      destinations: [...this.lastTargets].filter(([, keys]) => keys.includes(m.host)).map(([dest]) => dest),
    }));
  }

  /** One destination's recipients of one message: resolve, try the hosts in order, classify. */
  async deliverGroup(record: SpoolRecord, body: () => Readable, group: DestinationGroup): Promise<RcptOutcome[]> {
    if (++this.deliveries % SWEEP_EVERY_DELIVERIES === 0) this.sweep();
    const d = group.destination;
    if (d.kind === 'none') return group.rcpts.map((address) => ({ address, connector: '(none)', host: null, outcome: d.outcome }));
    return this.deliverTo(this.getModel(), record, body, { connector: d.connector, domain: d.domain, key: d.key, window: windowOf(this.getModel(), d), rcpts: group.rcpts });
  }

  private async targets(model: Model, g: Group): Promise<{ hosts: TargetHost[]; keys: string[] } | Outcome> {
    const dns: Dns = { resolver: this.resolver(), systemAddresses: model.dns.servers.length === 0 };
    let list;
    if (g.connector.useMxRecord) {
      list = await mxTargets(dns, g.domain, model.delivery.mxPort);
    } else {
      const start = this.rotation.get(g.connector.name) ?? 0;
      this.rotation.set(g.connector.name, (start + 1) % Math.max(1, g.connector.smartHosts.length));
      list = await smartHostTargets(dns, g.connector, SMART_HOST_DEFAULT_PORT, start);
    }
    if (list.kind === 'hosts') {
      const keys = list.hosts.map(targetKey);
      // Every host down (another delivery just found out): defer without connecting.
      const down = this.health.allDownUntil(keys);
      if (down) {
        const diagnostic = `all hosts of ${g.connector.useMxRecord ? g.domain : g.connector.name} are marked down until ${new Date(down.until).toISOString()} (${down.reason})`;
        return { action: 'defer', rule: 'all-hosts-down', status: '4.4.1', diagnostic };
      }
      return { hosts: this.health.usable(list.hosts, targetKey), keys };
    }
    if (list.kind === 'null-mx') {
      return permanentFailure('null-mx', '5.1.10', `${g.domain} does not accept mail (null MX, RFC 7505)`, model.delivery);
    }
    const rule = `dns:${list.permanent ? 'permanent' : 'temporary'}`;
    return list.permanent
      ? permanentFailure(rule, list.status, list.error, model.delivery)
      : { action: 'defer', rule, status: list.status, diagnostic: list.error };
  }

  private async deliverTo(model: Model, record: SpoolRecord, spoolBody: () => Readable, g: Group): Promise<RcptOutcome[]> {
    const resolved = await this.targets(model, g);
    // A mail-flow rule's disclaimer is applied to what leaves; the spool keeps the message as received.
    const transforms = record.transforms;
    const body = transforms?.length ? () => applyBodyTransforms(spoolBody(), transforms) : spoolBody;
    if (!('hosts' in resolved)) {
      return g.rcpts.map((address) => ({ address, outcome: resolved, connector: g.connector.name, host: null }));
    }
    const targets = resolved.hosts;
    const outgoing = this.outgoing.body(model, record, g.connector, body);
    let remaining = g.rcpts;
    let anyDown = false;
    const done: RcptOutcome[] = [];
    for (let i = 0; i < targets.length && remaining.length; i++) {
      const target = targets[i]!;
      const lastHost = i === targets.length - 1;
      let tls: boolean | undefined;
      const results = await this.attempt(record, outgoing, g, target, remaining, (secure) => (tls = secure));
      anyDown = this.noteHealth(g.connector, target, results) || anyDown;
      const next: string[] = [];
      for (const [address, res] of results) {
        const outcome = classifyOutcome(res, { lastHost, softBounce: model.delivery.softBounce });
        if (outcome.action === 'next-host') next.push(address);
        else done.push({ address, outcome, connector: g.connector.name, host: targetKey(target), hostName: target.name, ...(tls === undefined ? {} : { tls }) });
      }
      remaining = next;
    }
    // Remembered only while something failed, so healthy destinations cost nothing here.
    if (anyDown) this.lastTargets.set(g.key, resolved.keys);
    else this.lastTargets.delete(g.key);
    return done;
  }

  /** MX destinations come and go: forget idle pools and destinations that are no longer dead. */
  private sweep(): void {
    this.pools.sweep();
    for (const key of [...this.lastTargets.keys()]) this.downUntil(key);
  }

  /** Marks a host down after a host-level failure (the same for every recipient), up after any reply. True: marked down. */
  private noteHealth(connector: OutboundConnector, target: TargetHost, results: Map<string, AttemptResult>): boolean {
    const first = results.values().next().value as AttemptResult | undefined;
    const key = targetKey(target);
    if (!first || !isHostFailure(first)) {
      this.health.markUp(key);
      return false;
    }
    const reason = first.response ?? first.errorCode ?? 'failure';
    if (this.health.markDown(key, reason)) {
      this.log?.warn({ stage: 'deliver', connector: connector.name, host: key, name: target.name, reason, downForMs: this.health.downMs }, 'host marked down');
    }
    return true;
  }

  /** One SMTP transaction through the connector's pool; returns each recipient's raw result. */
  private async attempt(
    record: SpoolRecord,
    body: () => Readable,
    g: Group,
    target: TargetHost,
    rcpts: string[],
    onSent?: (secure: boolean) => void,
  ): Promise<Map<string, AttemptResult>> {
    const results = new Map<string, AttemptResult>();
    try {
      const pool = { key: g.key, connector: g.connector, maxConnections: g.window };
      const from = envelopeSender(this.getModel(), record, g.domain, rcpts);
      const info = await this.pools.send(pool, target, { from, to: rcpts }, body, record.size);
      if (info.secure !== undefined) onSent?.(info.secure);
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
