// DNS blocklist lookups (RFC 5782): <reversed-ip>.<zone> A records through the configured
// dns.servers. Listed = an answer in 127.0.0.0/8; NXDOMAIN = not listed; a timeout, SERVFAIL or
// a zone's error answer (127.255.255.0/24, e.g. "query refused") = unavailable, which the
// connection filter treats as advisory. Queries run in parallel, bounded by the resolver timeout.
import type { Resolver } from 'node:dns/promises';
import { isIPv4 } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { DnsblAnswer } from './connection-verdict.js';

/** The query name: 4.3.2.1.zone for IPv4, 32 reversed nibbles for IPv6 (RFC 5782 §2.4). */
export function dnsblName(ip: string, zone: string): string {
  const addr = ipaddr.process(ip);
  if (addr.kind() === 'ipv4') return `${addr.toString().split('.').reverse().join('.')}.${zone}`;
  const hex = addr
    .toByteArray()
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('');
  return `${[...hex].reverse().join('.')}.${zone}`;
}

const NOT_LISTED = new Set(['ENOTFOUND', 'ENODATA']);

/** Pure: what one zone's answer (or error code) means. */
export function classifyDnsbl(zone: string, result: { addresses: readonly string[] } | { error: string }): DnsblAnswer {
  if ('error' in result) {
    return NOT_LISTED.has(result.error) ? { zone, kind: 'not-listed' } : { zone, kind: 'unavailable', error: result.error };
  }
  const v4 = result.addresses.filter((a) => isIPv4(a));
  const errorCode = v4.find((a) => a.startsWith('127.255.255.'));
  if (errorCode) return { zone, kind: 'unavailable', error: `error answer ${errorCode}` };
  const listed = v4.find((a) => a.startsWith('127.'));
  if (listed) return { zone, kind: 'listed', answer: listed };
  return v4.length ? { zone, kind: 'unavailable', error: `answer outside 127.0.0.0/8 (${v4[0]})` } : { zone, kind: 'not-listed' };
}

export async function queryDnsbls(resolver: Resolver, ip: string, zones: readonly string[]): Promise<DnsblAnswer[]> {
  return Promise.all(
    zones.map(async (zone) => {
      try {
        return classifyDnsbl(zone, { addresses: await resolver.resolve4(dnsblName(ip, zone)) });
      } catch (err) {
        return classifyDnsbl(zone, { error: (err as NodeJS.ErrnoException).code ?? 'EDNS' });
      }
    }),
  );
}
