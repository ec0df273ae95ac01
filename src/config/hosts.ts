// Parses the host strings of the config: smart hosts ("mail.contoso.com", "10.0.0.5:2526",
// "[2001:db8::1]:2526") and DNS servers ("127.0.0.1:5353"). Pure; throws a plain Error with a
// human message that the schema reports with its key path and line.
import ipaddr from 'ipaddr.js';
import { normaliseDomain } from '../domain/match.js';
import type { SmartHost } from '../domain/model.js';

function parsePort(text: string, raw: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new Error(`"${raw}" has an invalid port (1-65535)`);
  return port;
}

/** Splits "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 address (which has no port). */
function splitHostPort(raw: string): { host: string; port: number | null } {
  const s = raw.trim();
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(s);
  if (bracketed) return { host: bracketed[1] ?? '', port: bracketed[2] === undefined ? null : parsePort(bracketed[2], raw) };
  const colons = s.split(':').length - 1;
  if (colons === 1) {
    const [host = '', port = ''] = s.split(':');
    return { host, port: parsePort(port, raw) };
  }
  return { host: s, port: null }; // no colon, or a bare IPv6 address
}

/** The canonical form of an IP address string, or null if it is not one. */
export function canonicalIp(host: string): string | null {
  // Four-part decimal only: ipaddr.js would also take "10" or "0x0a000001", which in a config is a typo.
  if (ipaddr.IPv4.isValidFourPartDecimal(host)) return ipaddr.IPv4.parse(host).toString();
  return ipaddr.IPv6.isValid(host) ? ipaddr.IPv6.parse(host).toString() : null;
}

/** "mail.contoso.com", "10.0.0.5", "10.0.0.5:2526", "[2001:db8::1]:2526" → { host, port | null }. */
export function parseSmartHost(raw: string): SmartHost {
  const { host, port } = splitHostPort(raw);
  const ip = canonicalIp(host);
  const name = ip ?? normaliseDomain(host);
  if (!name) throw new Error(`"${raw}" is not a host name or IP address with an optional :port`);
  return { host: name, port };
}

/** "10.0.0.1", "10.0.0.1:5353", "2001:db8::1", "[2001:db8::1]:5353": IP addresses only, as Node's resolver needs. */
export function parseDnsServer(raw: string): string {
  const { host, port } = splitHostPort(raw);
  const ip = canonicalIp(host);
  if (!ip) throw new Error(`"${raw}" is not an IP address with an optional :port`);
  if (port === null) return ip;
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
