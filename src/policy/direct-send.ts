// EOP's "Reject Direct Send" switch (Set-OrganizationConfig -RejectDirectSend, 2025): (model,
// session classification, MAIL FROM domain) → 5.7.68 refusal or null. Pure; decideSender calls it
// at MAIL FROM, because both of EOP's conditions (no inbound connector matched, the MAIL FROM
// domain is an accepted domain) are known there, and every recipient such a session could still
// reach is one of ours anyway (anything else is 5.4.1).
import type { Classification } from '../classify/classify-session.js';
import { matchDomain } from '../domain/match.js';
import type { Model } from '../domain/model.js';
import { accept, refuse, type Verdict } from '../domain/verdict.js';
import { findAcceptedDomain } from '../routing/select-connector.js';

export const DIRECT_SEND_TEXT = 'TenantInboundAttribution; Direct Send not allowed for this organization from unauthorized sources';

/**
 * null when the rule does not apply (switch off, session identified by a connector, sender not in
 * an accepted domain); otherwise the refusal, or an accept naming the Partner connector that
 * exempts the sender.
 */
export function checkDirectSend(model: Model, cls: Classification, senderDomain: string): Verdict | null {
  if (!model.organization.rejectDirectSend || cls.connector) return null;
  const accepted = findAcceptedDomain(model, senderDomain);
  if (!accepted) return null;
  // A Partner connector whose senderDomains claim the domain takes the mail over, as in EOP: its
  // restrictions (5.7.51) are then checked per recipient like any partner's.
  const partner = model.inboundConnectors.find(
    (c) => c.enabled && c.connectorType === 'Partner' && c.senderDomains.some((p) => matchDomain(p, senderDomain)),
  );
  if (partner) return accept(`direct send allowed: partner connector '${partner.name}' claims ${senderDomain}`);
  return refuse(
    550,
    '5.7.68',
    DIRECT_SEND_TEXT,
    `direct send: anonymous session with MAIL FROM in accepted domain ${accepted.domain} (organization.rejectDirectSend: true)`,
  );
}
