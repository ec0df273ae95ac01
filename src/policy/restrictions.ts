// Connector restrictions (requireTls, restrictDomainsToCertificate, restrictDomainsToIPAddresses)
// checked per recipient. A session an OnPremises connector identified is judged by that connector
// alone; every other session by each Partner connector whose senderDomains claim the MAIL FROM
// domain. Pure; returns the 5.7.51 refusal or null. The wire text is EOP's generic one: which
// connector and which check stay in the reason (log line, `sluice route`), never in the reply.
import type { SessionFacts, Classification } from '../classify/classify-session.js';
import { ipMatches, matchCertificateName, matchDomain } from '../domain/match.js';
import type { InboundConnector, Model } from '../domain/model.js';
import { refuse, type Refuse } from '../domain/verdict.js';

export interface RestrictionInput {
  /** Normalised MAIL FROM domain; '' for the null sender (only a "*" senderDomains pattern claims it). */
  readonly senderDomain: string;
  /** Normalised recipient domain. */
  readonly recipientDomain: string;
  /** Whether the recipient domain is an accepted domain (false = a relay recipient). */
  readonly recipientAccepted: boolean;
}

/** The 5.7.51 texts on the wire; EOP's own for the restrict flags. */
export const PARTNER_RESTRICTED_TEXT =
  "TenantInboundAttribution; There is a partner connector configured that matched the message's recipient domain. " +
  'The connector had either the RestrictDomainsToIPAddresses or RestrictDomainsToCertificate set';
export const ON_PREMISES_RESTRICTED_TEXT =
  'TenantInboundAttribution; There is an on-premises connector configured that matched the sending server. ' +
  'The connector had either the RestrictDomainsToIPAddresses or RestrictDomainsToCertificate set';
export const TLS_REQUIRED_TEXT = 'TenantInboundAttribution; STARTTLS is required to send mail to this organization';
const TLS_UNMET = 'TLS required';

const hasRestrictions = (c: InboundConnector): boolean =>
  c.requireTls || c.restrictDomainsToCertificate || c.restrictDomainsToIPAddresses;

/** What the session fails to meet among the connector's set flags; [] = all met. */
export function unmetRequirements(connector: InboundConnector, facts: SessionFacts): string[] {
  const unmet: string[] = [];
  if (connector.requireTls && !facts.tls) unmet.push(TLS_UNMET);
  if (connector.restrictDomainsToCertificate) {
    const pattern = connector.tlsSenderCertificateName;
    // No pattern configured means no certificate can satisfy the flag: fail closed.
    const met = facts.tls && pattern !== null && facts.certNames.some((n) => matchCertificateName(pattern, n));
    if (!met) unmet.push(`certificate matching '${pattern?.raw ?? '(none configured)'}' required`);
  }
  if (connector.restrictDomainsToIPAddresses && !ipMatches(connector.senderIPAddresses, facts.ip)) {
    unmet.push(`sender IP ${facts.ip || '(unknown)'} not in senderIPAddresses`);
  }
  return unmet;
}

const associatedWith = (c: InboundConnector, recipientDomain: string): boolean =>
  c.associatedAcceptedDomains.length === 0 || c.associatedAcceptedDomains.includes(recipientDomain);

export function checkRestrictions(
  model: Model,
  facts: SessionFacts,
  cls: Classification,
  input: RestrictionInput,
): Refuse | null {
  // Our own servers are not partners: a lock-down Partner connector (senderDomains "*", restricted
  // to a filtering service's IPs) must not refuse the on-premises server's outbound relay.
  if (cls.connector?.connectorType === 'OnPremises') return checkOnPremises(facts, cls, input);
  return checkPartners(model, facts, input);
}

/** Extension of today's EOP (older EOP did this): the session's own on-prem connector's flags. */
function checkOnPremises(facts: SessionFacts, cls: Classification, input: RestrictionInput): Refuse | null {
  const c = cls.connector;
  if (!c || c.connectorType !== 'OnPremises' || !hasRestrictions(c)) return null;
  // associatedAcceptedDomains narrows accepted recipient domains only; a relay recipient is never
  // in that list, and exempting relays from requireTls would open a hole, so relays always check.
  if (input.recipientAccepted && !associatedWith(c, input.recipientDomain)) return null;
  const unmet = unmetRequirements(c, facts);
  return unmet.length === 0 ? null : rejected('on-premises', c, unmet);
}

function checkPartners(model: Model, facts: SessionFacts, input: RestrictionInput): Refuse | null {
  for (const c of model.inboundConnectors) {
    if (!c.enabled || c.connectorType !== 'Partner' || !hasRestrictions(c)) continue;
    if (!c.senderDomains.some((p) => matchDomain(p, input.senderDomain))) continue;
    if (!associatedWith(c, input.recipientDomain)) continue;
    const unmet = unmetRequirements(c, facts);
    if (unmet.length > 0) return rejected('partner', c, unmet);
  }
  return null;
}

function rejected(kind: 'partner' | 'on-premises', c: InboundConnector, unmet: readonly string[]): Refuse {
  // TLS first: it is the one thing a legitimate sender can fix on its own.
  const text = unmet.includes(TLS_UNMET) ? TLS_REQUIRED_TEXT : kind === 'partner' ? PARTNER_RESTRICTED_TEXT : ON_PREMISES_RESTRICTED_TEXT;
  return refuse(550, '5.7.51', text, `restriction: ${kind} connector '${c.name}': ${unmet.join(', ')}`);
}
