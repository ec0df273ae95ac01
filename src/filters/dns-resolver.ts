// The resolver the sender filters query: dns.servers when set (tests point it at dnsmasq), else
// the system's. One per filter build, so a config reload with new servers takes effect.
import { Resolver } from 'node:dns/promises';
import type { DNSResolver } from 'mailauth';
import type { Model } from '../domain/model.js';

/** Per query try; a blocklist or SPF lookup must not eat the pipeline's time budget. */
const FILTER_DNS_TIMEOUT_MS = 2_000;
/** Authentication retries once (a lost UDP packet must not fail SPF); an advisory DNSBL does not. */
export const AUTH_DNS_TRIES = 2;
export const DNSBL_DNS_TRIES = 1;

export function filterResolver(model: Model, tries = AUTH_DNS_TRIES): Resolver {
  const r = new Resolver({ timeout: FILTER_DNS_TIMEOUT_MS, tries });
  if (model.dns.servers.length) r.setServers([...model.dns.servers]);
  return r;
}

/** mailauth's resolver signature (dns.promises.resolve's): (name, rrtype) → records. */
export function mailauthResolver(r: Resolver): DNSResolver {
  return (name, rrtype) => r.resolve(name, rrtype) as Promise<string[][] | string[]>;
}
