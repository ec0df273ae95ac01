// Compiles and matches the two kinds of pattern the config is made of: domain patterns
// ("*", "contoso.com", "*.contoso.com") and IP rules (address, CIDR, first-last range).
// Pure; compile* throw a plain Error with a human message that config/compile.ts wraps
// with the file, key path and line.
import { domainToASCII } from 'node:url';
import ipaddr from 'ipaddr.js';
import type { DomainPattern, IpRule } from './model.js';
import { KeyMemo } from './memo.js';

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
/** Already lower-case ASCII letters, digits, hyphens and dots: nothing for domainToASCII to do. */
const PLAIN_ASCII = /^[a-z0-9.-]+$/;

const normalised = new KeyMemo<string | null>();

/**
 * Lower-case ASCII form of a domain, or null if it is not a valid DNS host name. Every address
 * passes here at MAIL/RCPT and again at enqueue and each delivery, mostly the same few domains.
 */
export function normaliseDomain(input: string): string | null {
  // Too long to be a host name: refused without taking a place in the memo.
  if (input.length > 253) return null;
  return normalised.get(input, normaliseUncached);
}

function normaliseUncached(input: string): string | null {
  if (input.length === 0 || input.length > 253 || input.endsWith('.')) return null;
  const lower = input.toLowerCase();
  const ascii = PLAIN_ASCII.test(lower) && !lower.includes('xn--') ? lower : domainToASCII(lower);
  if (!ascii) return null;
  const labels = ascii.split('.');
  return labels.every((l) => LABEL.test(l)) ? ascii : null;
}

export function compileDomainPattern(raw: string): DomainPattern {
  const s = raw.trim();
  if (s === '*') return { raw, kind: 'any', domain: '' };
  const wildcard = s.startsWith('*.');
  const domain = normaliseDomain(wildcard ? s.slice(2) : s);
  if (!domain || domain.includes('*')) throw new Error(`"${raw}" is not a domain, "*.domain" or "*"`);
  return { raw, kind: wildcard ? 'wildcard' : 'exact', domain };
}

/**
 * Is `domain` the parent itself or under it at any depth? The one rule behind every "*.domain"
 * pattern (Exchange's SmtpDomainWithSubdomains): "*.contoso.com" covers contoso.com, a.contoso.com
 * and a.b.contoso.com, never evilcontoso.com. Both sides must already be normalised.
 */
export function coversDomain(parent: string, domain: string): boolean {
  return domain === parent || domain.endsWith('.' + parent);
}

/** Does `domain` (already normalised) match? "*.contoso.com" covers contoso.com and every subdomain. */
export function matchDomain(pattern: DomainPattern, domain: string): boolean {
  switch (pattern.kind) {
    case 'any':
      return true;
    case 'exact':
      return domain === pattern.domain;
    case 'wildcard':
      return coversDomain(pattern.domain, domain);
  }
}

/**
 * A connector's certificate-name pattern against a name from a chain-verified certificate.
 * "*.contoso.com" covers a certificate named contoso.com or any name under it, at any depth, as
 * for domains. A certificate that itself carries a wildcard name ("*.contoso.com" in its SAN)
 * proves no particular host, so it matches only the identical pattern, literally.
 */
export function matchCertificateName(pattern: DomainPattern, certName: string): boolean {
  const lower = certName.toLowerCase().replace(/\.$/, '');
  if (lower.startsWith('*.')) return pattern.kind === 'wildcard' && lower === '*.' + pattern.domain;
  if (lower.includes('*')) return false;
  // Certificates carry A-labels; a U-label name (or upper case) is folded the same way patterns are.
  const name = normaliseDomain(lower);
  if (!name) return false;
  if (pattern.kind === 'exact') return name === pattern.domain;
  if (pattern.kind === 'wildcard') return coversDomain(pattern.domain, name);
  return false;
}

function toBigInt(addr: ipaddr.IPv4 | ipaddr.IPv6): bigint {
  return addr.toByteArray().reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
}

/** Parses an address, folding IPv4-mapped IPv6 (::ffff:10.0.0.5) into IPv4. */
export function parseIp(ip: string): { family: 4 | 6; value: bigint } | null {
  const bare = ip.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (!ipaddr.isValid(bare)) return null;
  const addr = ipaddr.process(bare);
  return { family: addr.kind() === 'ipv4' ? 4 : 6, value: toBigInt(addr) };
}

export function compileIpRule(raw: string): IpRule {
  const s = String(raw).trim();
  const fail = (): never => {
    throw new Error(`"${raw}" is not an IP address, CIDR (10.0.0.0/24) or range (10.0.0.1-10.0.0.9)`);
  };
  if (s.includes('/')) {
    let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
    try {
      parsed = ipaddr.parseCIDR(s);
    } catch {
      return fail();
    }
    let [addr, bits] = parsed;
    if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
      addr = (addr as ipaddr.IPv6).toIPv4Address();
      bits -= 96;
    }
    const width = addr.kind() === 'ipv4' ? 32 : 128;
    const host = (1n << BigInt(width - bits)) - 1n;
    const first = toBigInt(addr) & ~host;
    return { raw, family: width === 32 ? 4 : 6, first, last: first | host };
  }
  const [a, b, extra] = s.split('-');
  if (extra !== undefined || a === undefined) return fail();
  const from = parseIp(a.trim());
  const to = b === undefined ? from : parseIp(b.trim());
  if (!from || !to || from.family !== to.family || from.value > to.value) return fail();
  return { raw, family: from.family, first: from.value, last: to.value };
}

export function ipMatches(rules: readonly IpRule[], ip: string): IpRule | null {
  const p = parseIp(ip);
  if (!p) return null;
  return rules.find((r) => r.family === p.family && p.value >= r.first && p.value <= r.last) ?? null;
}
