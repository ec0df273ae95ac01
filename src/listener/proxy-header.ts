// Pure framing and validation of an HAProxy PROXY protocol header (v1 text, v2 binary) at the
// start of a connection: bytes in, `incomplete` | `invalid` (with a reason) | `ok` (the real
// client, or null for LOCAL/UNKNOWN, and how many bytes the header took). proxy-protocol-js
// decodes the fields; it parses whole buffers only, so the framing (where the header ends, the
// spec's length limits) and the address checks are ours. Spec:
// https://www.haproxy.org/download/2.0/doc/proxy-protocol.txt
import net from 'node:net';
import ipaddr from 'ipaddr.js';
import {
  Command,
  IPv4ProxyAddress,
  IPv6ProxyAddress,
  V1ProxyProtocol,
  V2ProxyProtocol,
  type V2ProxyProtocol as V2Header,
} from 'proxy-protocol-js';

/** v1: "PROXY" ... CRLF is at most 107 bytes (spec §2.1). */
export const V1_MAX_BYTES = 107;
/** v2: 12-byte signature, version/command, family/protocol, 2-byte length (spec §2.2). */
export const V2_FIXED_BYTES = 16;
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_SIGNATURE = Buffer.from('PROXY ');

export interface ProxiedPeer {
  ip: string;
  port: number;
}

export type ProxyHeaderResult =
  | { kind: 'incomplete' }
  | { kind: 'invalid'; reason: string }
  /** `source` null: a LOCAL (v2) or UNKNOWN (v1) header, e.g. the balancer's own health check. */
  | { kind: 'ok'; version: 1 | 2; source: ProxiedPeer | null; consumed: number };

const invalid = (reason: string): ProxyHeaderResult => ({ kind: 'invalid', reason });

/** A prefix of `sig` (more bytes may still come) or `sig` itself. */
const startsLike = (buf: Buffer, sig: Buffer): boolean => buf.subarray(0, sig.length).equals(sig.subarray(0, Math.min(buf.length, sig.length)));

function port(text: string): number | null {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text)) return null;
  const n = Number(text);
  return n <= 65535 ? n : null;
}

function parseV1(buf: Buffer): ProxyHeaderResult {
  const lf = buf.indexOf('\n');
  if (lf >= 0 && buf[lf - 1] !== 0x0d) return invalid('v1 header not ended by CRLF');
  const end = lf - 1;
  if (lf < 0) return buf.length >= V1_MAX_BYTES ? invalid('v1 header longer than 107 bytes') : { kind: 'incomplete' };
  if (end + 2 > V1_MAX_BYTES) return invalid('v1 header longer than 107 bytes');
  const line = buf.subarray(0, end).toString('latin1');
  const consumed = end + 2;
  // "PROXY UNKNOWN" may carry anything up to CRLF; the receiver uses the real endpoints (§2.1).
  if (/^PROXY UNKNOWN( |$)/.test(line)) return { kind: 'ok', version: 1, source: null, consumed };
  let h: V1ProxyProtocol;
  try {
    h = V1ProxyProtocol.parse(line + '\r\n');
  } catch {
    return invalid('malformed v1 header');
  }
  const family = h.inetProtocol === 'TCP4' ? 4 : 6;
  const [src, dst] = [h.source.ipAddress, h.destination.ipAddress];
  if (net.isIP(src) !== family || net.isIP(dst) !== family) return invalid(`v1 addresses are not ${h.inetProtocol} addresses`);
  // The library's regex takes any digit run; the spec allows 0..65535 without leading zeros.
  const [, , , , sport, dport] = line.split(' ');
  if (port(sport ?? '') === null || port(dport ?? '') === null) return invalid('v1 port out of range');
  return { kind: 'ok', version: 1, source: { ip: src, port: h.source.port }, consumed };
}

function v2Source(h: V2Header): ProxiedPeer | null | string {
  const a = h.proxyAddress;
  if (a instanceof IPv4ProxyAddress) return { ip: a.sourceAddress.address.join('.'), port: a.sourcePort };
  if (a instanceof IPv6ProxyAddress) {
    const ip = ipaddr.fromByteArray([...a.sourceAddress.address]).toString();
    return { ip, port: a.sourcePort };
  }
  return 'v2 PROXY command over an address family other than TCP/UDP over IPv4 or IPv6';
}

function parseV2(buf: Buffer): ProxyHeaderResult {
  if (buf.length < V2_FIXED_BYTES) return { kind: 'incomplete' };
  const length = buf.readUInt16BE(14);
  const consumed = V2_FIXED_BYTES + length;
  if (buf.length < consumed) return { kind: 'incomplete' };
  const verCmd = buf[12] ?? 0;
  if (verCmd >> 4 !== 2) return invalid('v2 header with a version other than 2');
  let h: V2Header;
  try {
    h = V2ProxyProtocol.parse(buf.subarray(0, consumed));
  } catch (err) {
    return invalid(`malformed v2 header: ${(err as Error).message}`);
  }
  // LOCAL: the proxy speaks for itself (health checks); the address block is to be ignored (§2.2).
  if (h.command === Command.LOCAL) return { kind: 'ok', version: 2, source: null, consumed };
  const source = v2Source(h);
  if (typeof source === 'string') return invalid(source);
  return { kind: 'ok', version: 2, source, consumed };
}

/** Reads a PROXY header at the start of `buf`, the bytes received so far on a new connection. */
export function parseProxyHeader(buf: Buffer): ProxyHeaderResult {
  if (buf.length === 0) return { kind: 'incomplete' };
  if (startsLike(buf, V2_SIGNATURE)) return buf.length < V2_SIGNATURE.length ? { kind: 'incomplete' } : parseV2(buf);
  if (startsLike(buf, V1_SIGNATURE)) return buf.length < V1_SIGNATURE.length ? { kind: 'incomplete' } : parseV1(buf);
  return invalid('no PROXY protocol header');
}
