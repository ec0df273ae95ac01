// Where each pending recipient goes now, pure: its destination (the queue manager's unit of
// isolation, Postfix's per-destination queue) and how many deliveries that destination may run at
// once. An explicit route (a mail-flow rule's "route via connector") is honoured as given, even to
// an isTransportRuleScoped connector; any other route is recomputed on the live config, so fixing a
// connector fixes its queue. Keys: "connector:<name>" (smart hosts), "connector:<name>/<domain>"
// (a connector with useMxRecord), "mx:<domain>" (internet mail without a connector), "none".
import type { Model, OutboundConnector } from '../domain/model.js';
import { OUTBOUND_DEFAULTS } from '../domain/connector-defaults.js';
import { normaliseDomain } from '../domain/match.js';
import { selectRoute } from '../routing/select-connector.js';
import { ModelMemo } from '../domain/memo.js';
import type { RcptState } from '../queue/record.js';
import type { Outcome } from './outcome.js';

/** Internet delivery by MX uses an implicit connector with opportunistic TLS. */
export const INTERNET: OutboundConnector = Object.freeze({
  ...OUTBOUND_DEFAULTS,
  name: 'Internet (MX)',
  connectorType: 'Partner',
  recipientDomains: [],
  smartHosts: [],
  useMxRecord: true,
});

export const NO_ROUTE_KEY = 'none';
/** Marks the destination key of mail a rule requires TLS for on a connector without a TLS policy. */
export const REQUIRE_TLS_SUFFIX = '#requireTls';

export type Destination =
  | { kind: 'deliver'; key: string; connector: OutboundConnector; domain: string; rule: string }
  | { kind: 'none'; key: typeof NO_ROUTE_KEY; domain: string; outcome: Outcome };

export interface DestinationGroup {
  destination: Destination;
  rcpts: string[];
}

export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return normaliseDomain(address.slice(at + 1)) ?? address.slice(at + 1).toLowerCase();
}

const noRoute = (domain: string, rule: string, diagnostic: string): Destination => ({
  kind: 'none',
  key: NO_ROUTE_KEY,
  domain,
  outcome: { action: 'defer', rule, status: '4.4.0', diagnostic },
});

function viaConnector(connector: OutboundConnector, domain: string, rule: string): Extract<Destination, { kind: 'deliver' }> {
  // MX-routed mail is isolated per recipient domain; smart-host mail shares the connector's queue.
  const key = connector.useMxRecord ? `connector:${connector.name}/${domain}` : `connector:${connector.name}`;
  return { kind: 'deliver', key, connector, domain, rule };
}

export function destinationOf(model: Model, rcpt: Pick<RcptState, 'address' | 'route'>): Destination {
  const domain = domainOf(rcpt.address);
  const given = rcpt.route;
  if (given?.explicit && given.connector) {
    const c = model.outboundConnectors.find((x) => x.name === given.connector);
    if (!c || !c.enabled) {
      return noRoute(domain, 'explicit-route:unknown-connector', `explicit route to connector ${given.connector}, which is ${c ? 'disabled' : 'not configured'}`);
    }
    // routeMessageOutboundRequireTls: a connector without its own TLS policy is held to
    // EncryptionOnly for this mail, in a queue (and pool) of its own.
    if (given.requireTls && !c.tlsSettings) {
      const d = viaConnector({ ...c, tlsSettings: 'EncryptionOnly' }, domain, `explicit:${given.rule}`);
      return { ...d, key: `${d.key}${REQUIRE_TLS_SUFFIX}` };
    }
    return viaConnector(c, domain, `explicit:${given.rule}`);
  }
  return routed.get(model, domain, () => routedDestination(model, domain));
}

/** Destinations of routes not set explicitly, per model and domain: at enqueue and every attempt. */
const routed = new ModelMemo<Model, Destination>();

function routedDestination(model: Model, domain: string): Destination {
  const route = selectRoute(model, domain);
  if (route.kind === 'none') return noRoute(domain, 'no-outbound-connector', `no outbound connector for ${domain}`);
  if (route.kind === 'connector') return viaConnector(route.connector, domain, route.rule);
  return { kind: 'deliver', key: `mx:${domain}`, connector: INTERNET, domain, rule: route.rule };
}

/** The pending recipients by destination, in first-seen order. */
export function groupByDestination(model: Model, rcpts: readonly RcptState[]): Map<string, DestinationGroup> {
  const groups = new Map<string, DestinationGroup>();
  for (const r of rcpts) {
    if (r.status !== 'pending') continue;
    const destination = destinationOf(model, r);
    const g = groups.get(destination.key);
    if (g) g.rcpts.push(r.address);
    else groups.set(destination.key, { destination, rcpts: [r.address] });
  }
  return groups;
}

/**
 * Deliveries a destination may run at once: a smart-host connector's maxConnections; per MX
 * domain delivery.concurrency.perDomain (and never above the connector's own cap). No route: no
 * connection at all, only the global ceiling applies.
 */
export function windowOf(model: Model, destination: Destination): number {
  if (destination.kind === 'none') return model.delivery.concurrency.total;
  const c = destination.connector;
  return c.useMxRecord ? Math.min(model.delivery.concurrency.perDomain, c.maxConnections) : c.maxConnections;
}

/** The window of a destination known only by its key, on the live config (a removed connector: 1). */
export function windowForKey(model: Model, key: string): number {
  const { perDomain, total } = model.delivery.concurrency;
  if (key.startsWith('mx:')) return Math.min(perDomain, INTERNET.maxConnections);
  if (!key.startsWith('connector:')) return total;
  const rest = key.slice('connector:'.length).replace(/#requireTls$/, '');
  const slash = rest.lastIndexOf('/');
  const byName = (name: string) => model.outboundConnectors.find((c) => c.name === name);
  // A connector name may contain "/": the whole rest is a smart-host connector's name first.
  const whole = byName(rest);
  if (whole && !whole.useMxRecord) return whole.maxConnections;
  const c = slash >= 0 ? byName(rest.slice(0, slash)) : undefined;
  if (c) return Math.min(perDomain, c.maxConnections);
  return whole?.maxConnections ?? 1;
}

/** Destinations that connect somewhere (and so can be dead); "none" and the finish-only key cannot. */
export function connects(key: string): boolean {
  return key.startsWith('mx:') || key.startsWith('connector:');
}
