// Relay policy as EOP has enforced it since November 2023: (session classification, MAIL FROM,
// RCPT TO) → Verdict + outbound route. Pure; called by the listener at MAIL and at each RCPT, after
// classify/ and before the filters. Reply texts and codes here are a public contract.
import type { Classification, SessionFacts } from '../classify/classify-session.js';
import type { Model } from '../domain/model.js';
import { accept, refuse, type Verdict } from '../domain/verdict.js';
import { findAcceptedDomain, selectRoute, type RouteDecision } from '../routing/select-connector.js';
import { coversDomain, matchDomain, normaliseDomain } from '../domain/match.js';
import { parseMailbox } from './address.js';
import { checkRestrictions } from './restrictions.js';
import { checkDirectSend } from './direct-send.js';

export interface RecipientDecision {
  verdict: Verdict;
  route: RouteDecision | null;
  /** The recipient with its domain normalised; null when it could not be parsed. */
  address: string | null;
}

type RelayCheck = { ok: true; reason: string } | { ok: false; reason: string };

const badSender = (trick: string): Verdict => refuse(501, '5.1.7', 'Bad sender address syntax', `trick:${trick}`);

/**
 * MAIL FROM: '' is the null sender <>; anything else must be a clean mailbox. Then, with
 * organization.rejectDirectSend, an anonymous session claiming an accepted domain is refused here
 * (5.7.68). Connector restrictions depend on the recipient, so they are checked at RCPT.
 */
export function decideSender(model: Model, facts: SessionFacts, cls: Classification, mailFrom: string): Verdict {
  if (mailFrom === '') return accept('sender: null sender <>');
  const sender = parseMailbox(mailFrom);
  if (!sender.ok) return badSender(sender.trick);
  const direct = checkDirectSend(model, cls, sender.domain);
  if (direct?.kind === 'accept') return accept(`sender: ${sender.address}; ${direct.reason}`);
  return direct ?? accept(`sender: ${sender.address}`);
}

export function decideRecipient(
  model: Model,
  facts: SessionFacts,
  cls: Classification,
  mailFrom: string,
  rcpt: string,
): RecipientDecision {
  const parsed = parseMailbox(rcpt);
  // A trick address is refused before anything else looks at it, whoever the session is.
  if (!parsed.ok) {
    return { verdict: refuse(550, '5.4.1', 'Relay Access Denied', `trick:${parsed.trick}`), route: null, address: null };
  }
  const address = parsed.address;
  const done = (verdict: Verdict, route: RouteDecision | null = null): RecipientDecision => ({ verdict, route, address });
  const sender = mailFrom === '' ? null : parseMailbox(mailFrom);
  // The listener refuses a bad MAIL FROM first; refusing again here keeps this function safe alone.
  if (sender && !sender.ok) return done(badSender(sender.trick));
  const senderDomain = sender?.domain ?? null;

  const accepted = findAcceptedDomain(model, parsed.domain);
  if (!accepted && !cls.connector) {
    return done(refuse(550, '5.4.1', 'Relay Access Denied', `anonymous: ${parsed.domain} is not an accepted domain`));
  }
  const restricted = checkRestrictions(model, facts, cls, {
    senderDomain: senderDomain ?? '',
    recipientDomain: parsed.domain,
    recipientAccepted: accepted !== null,
  });
  if (restricted) return done(restricted);

  if (accepted) {
    const route = selectRoute(model, parsed.domain);
    if (route.kind === 'none') {
      const why = `accepted domain ${accepted.domain} is Authoritative and no outbound connector serves it`;
      return done(refuse(550, '5.4.1', 'Recipient address rejected: Access denied', why));
    }
    return done(accept(`accepted domain ${accepted.domain} (${accepted.type}); route ${route.rule}`), route);
  }
  const relay = relayAllowed(model, cls, senderDomain);
  if (!relay.ok) return done(refuse(550, '5.7.64', 'TenantAttribution; Relay Access Denied', relay.reason));
  const route = selectRoute(model, parsed.domain);
  return done(accept(`${relay.reason}; route ${route.rule}`), route);
}

/** Relay to a non-accepted domain: the session's connector must vouch for the organisation. */
function relayAllowed(model: Model, cls: Classification, senderDomain: string | null): RelayCheck {
  const c = cls.connector;
  if (!c) return { ok: false, reason: 'relay: anonymous session' };
  if (c.connectorType !== 'OnPremises') {
    return { ok: false, reason: `relay: connector '${c.name}' is ${c.connectorType}; only OnPremises connectors relay` };
  }
  const certDomain = cls.matchedBy === 'certificate' && cls.certName ? acceptedParentOf(model, cls.certName) : null;
  const via = certDomain ? `certificate '${cls.certName}' (accepted domain ${certDomain})` : null;
  if (senderDomain === null) {
    // Bounces carry no sender domain to check, so only a certificate can vouch for them; they are
    // exempt from senderDomains because on-prem NDRs to internet senders must get out.
    return via
      ? { ok: true, reason: `relay: null sender over ${via} on connector '${c.name}'` }
      : { ok: false, reason: `relay: null sender relays only over a certificate-matched connector; '${c.name}' matched by ${cls.matchedBy}` };
  }
  const senderAccepted = findAcceptedDomain(model, senderDomain) !== null;
  if (!via && !senderAccepted) {
    return {
      ok: false,
      reason: `relay: connector '${c.name}' matched by ${cls.matchedBy}, no accepted certificate name, and MAIL FROM domain ${senderDomain} is not accepted`,
    };
  }
  if (!c.senderDomains.some((p) => matchDomain(p, senderDomain))) {
    return { ok: false, reason: `relay: MAIL FROM domain ${senderDomain} not in senderDomains of connector '${c.name}'` };
  }
  const why = via ?? `MAIL FROM domain ${senderDomain} is accepted`;
  return { ok: true, reason: `relay: on-premises connector '${c.name}', ${why}` };
}

/** The accepted domain a certificate name equals or sits under ("mail.contoso.com" → contoso.com). */
function acceptedParentOf(model: Model, certName: string): string | null {
  // A certificate may itself carry "*.contoso.com"; what it vouches for is the parent domain.
  const name = normaliseDomain(certName.replace(/^\*\./, '').replace(/\.$/, ''));
  if (!name) return null;
  const hit = model.acceptedDomains.find((a) => coversDomain(a.domain, name));
  return hit?.domain ?? null;
}
