// Compiles and matches the two kinds of pattern the config is made of: domain patterns
// ("*", "contoso.com", "*.contoso.com") and IP rules (address, CIDR, first-last range).
// Pure; compile* throw a plain Error with a human message that config/compile.ts wraps
// with the file, key path and line.
import { domainToASCII } from 'node:url';
import ipaddr from 'ipaddr.js';
import type { DomainPattern, IpRule } from './model.js';

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** Lower-case ASCII form of a domain, or null if it is not a valid DNS host name. */
export function normaliseDomain(input: string): string | null {
  if (input.length === 0 || input.length > 253 || input.endsWith('.')) return null;
  const ascii = domainToASCII(input.toLowerCase());
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

/** Does `domain` (already normalised) match? Wildcards match subdomains at any depth, not the parent. */
export function matchDomain(pattern: DomainPattern, domain: string): boolean {
  switch (pattern.kind) {
    case 'any':
      return true;
    case 'exact':
      return domain === pattern.domain;
    case 'wildcard':
      return domain.endsWith('.' + pattern.domain);
  }
}

/**
 * Certificate-name matching (RFC 6125 style): a "*.contoso.com" pattern matches exactly one
 * extra label; a certificate that itself carries a wildcard name matches only that literal pattern.
 */
export function matchCertificateName(pattern: DomainPattern, certName: string): boolean {
  const name = certName.toLowerCase().replace(/\.$/, '');
  if (pattern.kind === 'exact') return name === pattern.domain;
  if (pattern.kind === 'wildcard') {
    if (name === '*.' + pattern.domain) return true;
    if (!name.endsWith('.' + pattern.domain)) return false;
    const head = name.slice(0, -(pattern.domain.length + 1));
    return head.length > 0 && !head.includes('.') && !head.includes('*');
  }
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
