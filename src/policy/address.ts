// Parses one SMTP mailbox (the bare address inside MAIL FROM/RCPT TO brackets) into a local part
// and a normalised domain, or names the relay trick it carries. Pure; used by policy/relay.ts.
// Fails closed: anything a downstream MTA might re-route (%, !, quotes, source routes) is refused.
import { normaliseDomain } from '../domain/match.js';

export type ParsedAddress =
  | { ok: true; local: string; domain: string; address: string }
  | { ok: false; trick: string; detail: string };

const MAX_ADDRESS_OCTETS = 254; // RFC 5321 path limit (256) minus the angle brackets
const MAX_LOCAL_OCTETS = 64; // RFC 5321 §4.5.3.1.1

// RFC 5321 dot-atom characters, plus any non-ASCII for SMTPUTF8. % and ! are excluded
// because they are checked (and named) earlier.
const ATOM = /^[A-Za-z0-9#$&'*+\-/=?^_`{|}~\u0080-\u{10FFFF}]+$/u;
// C0, DEL and C1 controls, and the Unicode line/paragraph separators.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;
const WHITESPACE = /\s/u;

const fail = (trick: string, detail: string): ParsedAddress => ({ ok: false, trick, detail });
const octets = (s: string): number => Buffer.byteLength(s, 'utf8');

export function parseMailbox(raw: string): ParsedAddress {
  if (raw.length === 0) return fail('empty', 'empty address (the null sender is handled by the caller)');
  if (CONTROL.test(raw)) return fail('control-chars', 'address contains control characters');
  if (WHITESPACE.test(raw)) return fail('whitespace', 'address contains white space');
  if (octets(raw) > MAX_ADDRESS_OCTETS) return fail('too-long', `address longer than ${MAX_ADDRESS_OCTETS} octets`);
  // "@relay:user@final" (RFC 821 source route): some MTAs still honour it and forward to "final".
  if (raw.startsWith('@') && /[:,]/.test(raw)) return fail('source-route', 'source route (@host:user@domain)');
  const ats = raw.split('@').length - 1;
  // Quoted local parts are legal but never needed by a gateway, and a quoted "@" or "%" is the
  // classic way to smuggle a second destination past a naive splitter.
  if (raw.includes('"')) {
    return ats > 1 ? fail('quoted-at', 'quoted local part hides an "@"') : fail('quoted-local', 'quoted local part');
  }
  if (ats === 0) return fail('no-domain', 'no "@domain"');
  if (ats > 1) return fail('multiple-at', 'more than one "@"');
  const at = raw.indexOf('@');
  return parseParts(raw.slice(0, at), raw.slice(at + 1));
}

function parseParts(local: string, rawDomain: string): ParsedAddress {
  if (local.length === 0) return fail('no-local-part', 'empty local part');
  if (rawDomain.length === 0) return fail('no-domain', 'empty domain');
  const localTrick = checkLocal(local);
  if (localTrick) return localTrick;
  const domain = checkDomain(rawDomain);
  if (typeof domain !== 'string') return domain;
  return { ok: true, local, domain, address: `${local}@${domain}` };
}

function checkLocal(local: string): ParsedAddress | null {
  // NFKC folds look-alikes such as the full-width "％" and "＠" that a downstream MTA might fold too.
  const folded = local.normalize('NFKC');
  if (folded.includes('%')) return fail('percent-hack', 'percent hack (user%foreign@domain)');
  if (folded.includes('!')) return fail('bang-path', 'UUCP bang path (foreign!user@domain)');
  if (folded.includes('@')) return fail('multiple-at', 'local part contains a look-alike "@"');
  if (/[:,]/.test(folded)) return fail('source-route', 'local part contains ":" or ","');
  if (octets(local) > MAX_LOCAL_OCTETS) return fail('bad-local-part', `local part longer than ${MAX_LOCAL_OCTETS} octets`);
  if (!local.split('.').every((atom) => ATOM.test(atom))) {
    return fail('bad-local-part', 'local part is not a dot-atom');
  }
  return null;
}

/** The normalised domain, or the failure naming why it is not one. */
function checkDomain(raw: string): string | ParsedAddress {
  if (raw.startsWith('[')) return fail('address-literal', 'address literal (user@[1.2.3.4])');
  if (raw.endsWith('.')) return fail('trailing-dot', 'domain ends with "."');
  if (raw.includes('%')) return fail('percent-hack', 'percent sign in domain');
  if (raw.includes('!')) return fail('bang-path', 'bang path in domain');
  const domain = normaliseDomain(raw);
  if (!domain) return fail('bad-domain', `"${raw}" is not a valid domain`);
  // The URL host parser turns "1.2.3.4", "0x7f.1" and "2130706433" into dotted IPv4: a bare address.
  if (/^\d+$/.test(domain.slice(domain.lastIndexOf('.') + 1))) {
    return fail('address-literal', `"${raw}" is an IP address, not a domain`);
  }
  // A single label ("localhost") is never a mail domain we can accept or relay to.
  if (!domain.includes('.')) return fail('bad-domain', `"${raw}" has a single label`);
  return domain;
}
