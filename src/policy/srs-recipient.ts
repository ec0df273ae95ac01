// RCPT to an address in the sender-rewriting domain: a bounce (or reply) to mail a rule
// redirected with SRS. A valid SRS0 address is accepted and delivered to the original sender
// whoever the session is (its HMAC and day stamp are the authorisation, as in postsrsd); an
// invalid, forged or expired one is refused, so the SRS domain never becomes an open relay.
import type { Model } from '../domain/model.js';
import { accept, refuse } from '../domain/verdict.js';
import { selectRoute } from '../routing/select-connector.js';
import { srsReverse } from '../rules/srs.js';
import type { RecipientDecision } from './relay.js';

/** null: not an SRS address of ours, decide as usual. */
export function decideSrsRecipient(model: Model, rcpt: string, now = Date.now()): (RecipientDecision & { deliverTo?: string }) | null {
  const srs = model.organization.senderRewriting;
  if (!srs.enabled || !srs.secret || !srs.domain) return null;
  const at = rcpt.lastIndexOf('@');
  if (at < 1 || rcpt.slice(at + 1).toLowerCase() !== srs.domain || !/^SRS0[=+-]/i.test(rcpt)) return null;
  const original = srsReverse(rcpt, { secret: srs.secret, domain: srs.domain }, now);
  if (!original) {
    return { verdict: refuse(550, '5.1.1', 'Recipient address rejected: invalid or expired forwarding address', `srs: ${rcpt} does not verify`), route: null, address: null };
  }
  const route = selectRoute(model, original.slice(original.lastIndexOf('@') + 1));
  return { verdict: accept(`srs: bounce for ${original}`), route, address: original, deliverTo: original };
}
