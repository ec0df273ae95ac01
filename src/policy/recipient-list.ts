// Recipient validation against a list (acceptedDomains[].recipientValidation mode List): EOP's
// Directory-Based Edge Blocking with the directory as a file. Pure: text → index, address → answer.
// File format, one entry a line, case-insensitive, '#' starts a comment:
//   john@contoso.com     a valid address
//   *@fabrikam.com       every address of that domain is valid (catch-all)
// Plus addressing: user+tag@domain is valid when user+tag@domain or user@domain is listed.
import { accept, refuse, type Verdict } from '../domain/verdict.js';

export interface RecipientList {
  readonly addresses: ReadonlySet<string>;
  readonly catchAll: ReadonlySet<string>;
}

export interface ListProblem {
  readonly line: number;
  readonly text: string;
}

export function parseRecipientList(text: string): { list: RecipientList; problems: ListProblem[] } {
  const addresses = new Set<string>();
  const catchAll = new Set<string>();
  const problems: ListProblem[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const entry = raw.replace(/#.*$/, '').trim().toLowerCase();
    if (!entry) return;
    const at = entry.lastIndexOf('@');
    if (at <= 0 || at === entry.length - 1 || /\s/.test(entry)) return void problems.push({ line: i + 1, text: raw.trim() });
    const local = entry.slice(0, at);
    const domain = entry.slice(at + 1).replace(/\.$/, '');
    if (local === '*') catchAll.add(domain);
    else addresses.add(`${local}@${domain}`);
  });
  return { list: { addresses, catchAll }, problems };
}

/** EOP's reply for a recipient its directory does not know. */
export const unknownRecipient = (reason: string): Verdict => refuse(550, '5.4.1', 'Recipient address rejected: Access denied', reason);

/** `address` is a parsed mailbox (domain already normalised). */
export function checkListed(list: RecipientList, address: string): Verdict {
  const a = address.toLowerCase();
  const at = a.lastIndexOf('@');
  const local = a.slice(0, at);
  const domain = a.slice(at + 1);
  if (list.addresses.has(a)) return accept(`recipient list: ${a} listed`);
  if (list.catchAll.has(domain)) return accept(`recipient list: *@${domain}`);
  const plus = local.indexOf('+');
  if (plus > 0 && list.addresses.has(`${local.slice(0, plus)}@${domain}`)) return accept(`recipient list: ${local.slice(0, plus)}@${domain} (plus address)`);
  return unknownRecipient(`recipient list: ${a} not listed`);
}
