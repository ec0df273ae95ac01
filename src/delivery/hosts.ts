// Where a route's mail goes, as concrete addresses: the connector's smart hosts (IP literals, or
// names resolved via A/AAAA and, for a name with only MX, via its MX hosts as EOP does) or the
// recipient domain's MX hosts by preference (A/AAAA fallback, RFC 7505 null MX). DNS queries go to
// dns.servers when set; without them, addresses come from the system resolver (so /etc/hosts works).
import { lookup, Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Model, OutboundConnector } from '../domain/model.js';
import type { PoolTarget } from './pools.js';

export type TargetHost = PoolTarget;

export type HostList =
  | { kind: 'hosts'; hosts: TargetHost[] }
  | { kind: 'null-mx' }
  | { kind: 'dns-error'; error: string; permanent: boolean; status: string };

/** Postfix tries at most 5 MX addresses (smtp_mx_address_limit); smart host lists are short anyway. */
export const MAX_ADDRESSES = 10;
const DNS_TIMEOUT_MS = 3_000;
const DNS_TRIES = 2;

export interface Dns {
  resolver: Resolver;
  /** false when dns.servers is set: every name is then resolved by those servers only. */
  systemAddresses: boolean;
}

export function makeResolver(model: Model): Resolver {
  const r = new Resolver({ timeout: DNS_TIMEOUT_MS, tries: DNS_TRIES });
  if (model.dns.servers.length) r.setServers([...model.dns.servers]);
  return r;
}

type Addresses = { ok: true; addresses: string[] } | { ok: false; code: string };

const NO_SUCH_NAME = new Set(['ENODATA', 'ENOTFOUND']);

/** A and AAAA of a name (IPv4 first: loopback and most relay networks are IPv4). */
async function addressesOf(dns: Dns, name: string): Promise<Addresses> {
  if (isIP(name)) return { ok: true, addresses: [name] };
  if (dns.systemAddresses) {
    try {
      const all = await lookup(name, { all: true });
      return { ok: true, addresses: all.sort((a, b) => a.family - b.family).map((a) => a.address) };
    } catch (err) {
      return { ok: false, code: (err as NodeJS.ErrnoException).code ?? 'EDNS' };
    }
  }
  const [v4, v6] = await Promise.allSettled([dns.resolver.resolve4(name), dns.resolver.resolve6(name)]);
  const addresses = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
  if (addresses.length) return { ok: true, addresses };
  const codes = [v4, v6].map((r) => (r.status === 'rejected' ? ((r.reason as NodeJS.ErrnoException).code ?? 'EDNS') : 'ENODATA'));
  return { ok: false, code: codes.find((c) => !NO_SUCH_NAME.has(c)) ?? codes[0] ?? 'ENODATA' };
}

/**
 * The connector's smart hosts in config order, starting at `start` (round-robin when all are up;
 * failover continues through the rest). Each name expands to its addresses.
 */
export async function smartHostTargets(dns: Dns, connector: OutboundConnector, defaultPort: number, start = 0): Promise<HostList> {
  const hosts = connector.smartHosts;
  const ordered = hosts.map((_, i) => hosts[(i + start) % hosts.length]!);
  const out: TargetHost[] = [];
  const errors: string[] = [];
  for (const h of ordered) {
    const port = h.port ?? defaultPort;
    const a = await addressesOf(dns, h.host);
    if (a.ok) {
      out.push(...a.addresses.map((host) => ({ host, port, name: h.host })));
      continue;
    }
    if (!NO_SUCH_NAME.has(a.code)) {
      errors.push(`${h.host}: address lookup failed (${a.code})`);
      continue;
    }
    // A smart host name with no address may still have MX records (EOP accepts such a name).
    const viaMx = await mxTargets(dns, h.host, port);
    if (viaMx.kind === 'hosts') out.push(...viaMx.hosts);
    else errors.push(viaMx.kind === 'null-mx' ? `${h.host}: null MX` : viaMx.error);
  }
  if (out.length) return { kind: 'hosts', hosts: out.slice(0, MAX_ADDRESSES) };
  // A smart host that does not resolve is a configuration or DNS problem, never the recipient's: defer.
  return { kind: 'dns-error', error: `no smart host address: ${errors.join('; ')}`, permanent: false, status: '4.4.3' };
}

/** Equal preferences are shuffled (RFC 5321 §5.1) so peers of the same rank share the load. */
function byPreference<T extends { priority: number }>(list: T[]): T[] {
  const shuffled = list.map((m) => ({ m, r: Math.random() }));
  return shuffled.sort((a, b) => a.m.priority - b.m.priority || a.r - b.r).map((x) => x.m);
}

export async function mxTargets(dns: Dns, domain: string, port: number): Promise<HostList> {
  if (isIP(domain)) return { kind: 'hosts', hosts: [{ host: domain, port, name: domain }] };
  let exchanges: string[];
  try {
    const mx = await dns.resolver.resolveMx(domain);
    // RFC 7505: a single MX with the root as exchange means "this domain takes no mail".
    if (mx.length === 1 && (mx[0]?.exchange === '' || mx[0]?.exchange === '.')) return { kind: 'null-mx' };
    exchanges = byPreference(mx.filter((m) => m.exchange && m.exchange !== '.')).map((m) => m.exchange);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTFOUND') return { kind: 'dns-error', error: `${domain}: domain not found (NXDOMAIN)`, permanent: true, status: '5.1.2' };
    if (code !== 'ENODATA') return { kind: 'dns-error', error: `${domain}: MX lookup failed (${code})`, permanent: false, status: '4.4.3' };
    exchanges = []; // NODATA: the name exists but has no MX (RFC 5321 §5.1: use its address)
  }
  const implicit = exchanges.length === 0;
  const out: TargetHost[] = [];
  const failures: string[] = [];
  for (const name of implicit ? [domain] : exchanges) {
    const a = await addressesOf(dns, name);
    if (a.ok) out.push(...a.addresses.map((host) => ({ host, port, name })));
    else failures.push(`${name}: ${a.code}`);
    if (out.length >= MAX_ADDRESSES) break;
  }
  if (out.length) return { kind: 'hosts', hosts: out.slice(0, MAX_ADDRESSES) };
  const temporary = failures.some((f) => !/ENODATA|ENOTFOUND/.test(f));
  if (implicit && !temporary) {
    return { kind: 'dns-error', error: `${domain}: no MX and no address record`, permanent: true, status: '5.4.4' };
  }
  // MX names that do not resolve: a DNS mistake that is usually fixed soon, so retry (until expiry).
  return { kind: 'dns-error', error: `${domain}: no address for its MX hosts (${failures.join(', ')})`, permanent: false, status: temporary ? '4.4.3' : '4.4.4' };
}
