// Outbound selection: recipient domain → outbound connector, MX delivery or nothing, with the rule
// that decided. Pure; called by policy at RCPT (to refuse unroutable recipients) and by the queue
// before delivery. Classes: exact > allAcceptedDomains > wildcard, reordered by routing.precedence.
import { matchDomain, normaliseDomain } from '../domain/match.js';
import type { AcceptedDomain, DomainPattern, Model, OutboundConnector, RouteClass } from '../domain/model.js';
import { ModelMemo } from '../domain/memo.js';

export type RouteDecision =
  | { kind: 'connector'; connector: OutboundConnector; rule: string }
  | { kind: 'mx'; domain: string; rule: string }
  | { kind: 'none'; rule: string };

type ConnectorRoute = Extract<RouteDecision, { kind: 'connector' }>;

export const DEFAULT_PRECEDENCE: readonly RouteClass[] = ['exact', 'allAcceptedDomains', 'wildcard'];

/** Exact match only: a subdomain of an accepted domain is not accepted unless it is listed itself. */
export function findAcceptedDomain(model: Model, domain: string): AcceptedDomain | null {
  const d = canonical(domain);
  return model.acceptedDomains.find((a) => a.domain === d) ?? null;
}

const routes = new ModelMemo<Model, RouteDecision>();

/** The route of a recipient domain on this model (memoised: the model is frozen, see memo.ts). */
export function selectRoute(model: Model, recipientDomain: string): RouteDecision {
  return routes.get(model, recipientDomain, (d) => selectRouteUncached(model, d));
}

function selectRouteUncached(model: Model, recipientDomain: string): RouteDecision {
  const domain = canonical(recipientDomain);
  const accepted = findAcceptedDomain(model, domain);
  const candidates = model.outboundConnectors.filter((c) => c.enabled && !c.isTransportRuleScoped);
  for (const cls of precedence(model)) {
    const route = matchClass(cls, candidates, domain, accepted !== null);
    if (route) return route;
  }
  // "*" is the catch-all, so it comes after every class whatever the precedence: otherwise
  // [exact, wildcard, allAcceptedDomains] would send every accepted domain to an internet smart host.
  const catchAll = candidates.find((c) => c.recipientDomains.some((p) => p.kind === 'any'));
  if (catchAll) return { kind: 'connector', connector: catchAll, rule: 'wildcard:*' };
  if (accepted?.type === 'Authoritative') return { kind: 'none', rule: `authoritative:${domain}` };
  // InternalRelay: some recipients live elsewhere, so mail without a connector goes to the internet.
  return { kind: 'mx', domain, rule: accepted ? `internalRelay:${domain}` : `mx:${domain}` };
}

/** The configured order, then any class it left out in default order: a partial list reorders, never disables. */
function precedence(model: Model): RouteClass[] {
  const order = [...model.routing.precedence];
  for (const cls of DEFAULT_PRECEDENCE) if (!order.includes(cls)) order.push(cls);
  return order;
}

function matchClass(
  cls: RouteClass,
  connectors: readonly OutboundConnector[],
  domain: string,
  accepted: boolean,
): ConnectorRoute | null {
  switch (cls) {
    case 'exact': {
      const hit = connectors.find((c) => c.recipientDomains.some((p) => p.kind === 'exact' && p.domain === domain));
      return hit ? { kind: 'connector', connector: hit, rule: `exact:${domain}` } : null;
    }
    case 'allAcceptedDomains': {
      const hit = accepted ? connectors.find((c) => c.allAcceptedDomains) : undefined;
      return hit ? { kind: 'connector', connector: hit, rule: 'allAcceptedDomains' } : null;
    }
    case 'wildcard':
      return matchWildcard(connectors, domain);
  }
}

/** Most specific "*.domain" first (longest parent domain); config order breaks ties. */
function matchWildcard(connectors: readonly OutboundConnector[], domain: string): ConnectorRoute | null {
  let best: { connector: OutboundConnector; pattern: DomainPattern } | null = null;
  for (const connector of connectors) {
    for (const pattern of connector.recipientDomains) {
      if (pattern.kind !== 'wildcard' || !matchDomain(pattern, domain)) continue;
      if (!best || pattern.domain.length > best.pattern.domain.length) best = { connector, pattern };
    }
  }
  return best ? { kind: 'connector', connector: best.connector, rule: `wildcard:*.${best.pattern.domain}` } : null;
}

/** Callers usually pass a domain parseMailbox already normalised; this also accepts raw input. */
function canonical(domain: string): string {
  return normaliseDomain(domain) ?? domain.toLowerCase();
}
