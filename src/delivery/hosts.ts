// Where a route's mail goes: the connector's smart hosts in order, or the recipient domain's MX
// hosts by preference (A/AAAA fallback, RFC 7505 null MX). DNS goes to dns.servers when set.
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Model, OutboundConnector } from '../domain/model.js';

export interface TargetHost {
  /** Name or address to connect to. */
  host: string;
  port: number;
  /** Name the TLS certificate is checked against by DomainValidation (the smart host / MX name). */
  name: string;
}

export type HostList = { kind: 'hosts'; hosts: TargetHost[] } | { kind: 'null-mx' } | { kind: 'dns-error'; error: string; permanent: boolean };

export function makeResolver(model: Model): Resolver {
  const r = new Resolver({ timeout: 3000, tries: 2 });
  if (model.dns.servers.length) r.setServers([...model.dns.servers]);
  return r;
}

export function smartHostTargets(connector: OutboundConnector, defaultPort = 25): TargetHost[] {
  return connector.smartHosts.map((h) => ({ host: h.host, port: h.port ?? defaultPort, name: h.host }));
}

export async function mxTargets(resolver: Resolver, domain: string, port: number): Promise<HostList> {
  if (isIP(domain)) return { kind: 'hosts', hosts: [{ host: domain, port, name: domain }] };
  try {
    const mx = await resolver.resolveMx(domain);
    if (mx.length === 1 && (mx[0]?.exchange === '' || mx[0]?.exchange === '.')) return { kind: 'null-mx' };
    const sorted = mx.filter((m) => m.exchange && m.exchange !== '.').sort((a, b) => a.priority - b.priority);
    if (sorted.length) return { kind: 'hosts', hosts: sorted.map((m) => ({ host: m.exchange, port, name: m.exchange })) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // NODATA: the name exists but has no MX, so fall back to its address (RFC 5321 §5.1).
    if (code === 'ENOTFOUND') return { kind: 'dns-error', error: `${domain}: domain not found (NXDOMAIN)`, permanent: true };
    if (code !== 'ENODATA') return { kind: 'dns-error', error: `${domain}: MX lookup failed (${code})`, permanent: false };
  }
  return { kind: 'hosts', hosts: [{ host: domain, port, name: domain }] };
}
