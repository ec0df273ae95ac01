// Which MAIL FROM a delivery uses: the original sender, or its SRS0 form when sender rewriting is
// on and the delivery carries a recipient a rule added (redirect, blind copy, add-to) to a domain
// that is not ours, so SPF at the destination judges our domain rather than the original one.
import type { Model } from '../domain/model.js';
import type { SpoolRecord } from '../queue/record.js';
import { srsForward } from './srs.js';

export function envelopeSender(model: Model, record: SpoolRecord, domain: string, rcpts: readonly string[]): string {
  const srs = model.organization.senderRewriting;
  if (!srs.enabled || !srs.secret || !srs.domain || record.mailFrom === '') return record.mailFrom;
  if (model.acceptedDomains.some((d) => d.domain === domain.toLowerCase())) return record.mailFrom;
  const wanted = new Set(rcpts.map((r) => r.toLowerCase()));
  const expanded = record.rcpts.some((r) => r.expandedBy && wanted.has(r.address.toLowerCase()));
  return expanded ? srsForward(record.mailFrom, { secret: srs.secret, domain: srs.domain }) : record.mailFrom;
}
