// Outbound TLS policy per connector (tlsSettings). The shell connects with STARTTLS whenever the
// smart host offers it and never lets Node reject a certificate; evaluateTls() then decides, from
// the facts of the finished handshake, whether the session may carry mail. A refusal becomes EOP's
// temporary reply `450 4.4.317 Cannot connect to remote server [Message=…]`.
//
// Rules: null = opportunistic (plaintext, any certificate; a failed handshake is retried once in
// plaintext, see pools.ts); EncryptionOnly = TLS required, any certificate; CertificateValidation =
// chain verified against the system CAs plus tlsCa; DomainValidation = also CN/SAN must match
// tlsDomain (or, unset, the smart host / MX name): a wildcard certificate covers one label of a host
// name; a "*.domain" tlsDomain covers the domain and every name under it.
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { isIP } from 'node:net';
import type { OutboundConnector, TlsSettings } from '../domain/model.js';
import { coversDomain } from '../domain/match.js';

/** What the client saw of the TLS session, taken from the socket after EHLO. */
export interface TlsFacts {
  secure: boolean;
  /** Chain verified against the CAs we passed (Node's `socket.authorized`). */
  authorized: boolean;
  /** Node/OpenSSL verify code, e.g. SELF_SIGNED_CERT_IN_CHAIN, CERT_HAS_EXPIRED. */
  authorizationError: string | null;
  subjectCn: string | null;
  dnsNames: string[];
  ipAddresses: string[];
}

export type TlsVerdict = { ok: true } | { ok: false; message: string };

const STARTTLS_REQUIRED = '451 5.7.3 STARTTLS is required to send mail';
const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);
const NOT_TIME_VALID = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

/** Pure: may this session carry mail under the connector's tlsSettings? */
export function evaluateTls(settings: TlsSettings, expectedName: string, facts: TlsFacts): TlsVerdict {
  if (settings === null) return { ok: true };
  if (!facts.secure) return { ok: false, message: STARTTLS_REQUIRED };
  if (settings === 'EncryptionOnly') return { ok: true };
  if (!facts.authorized) return { ok: false, message: chainMessage(facts.authorizationError) };
  if (settings === 'CertificateValidation') return { ok: true };
  const presented = [...facts.dnsNames, ...facts.ipAddresses, ...(facts.subjectCn ? [facts.subjectCn] : [])];
  // RFC 6125 §6.4.4: the CN counts only when the certificate has no DNS SANs.
  const names = facts.dnsNames.length || facts.ipAddresses.length ? [...facts.dnsNames, ...facts.ipAddresses] : presented;
  if (names.some((n) => certificateCovers(expectedName, n))) return { ok: true };
  return { ok: false, message: `SubjectMismatch Expected Subject: ${expectedName} Presented Subject: ${describeSubject(facts)}` };
}

/** EOP names chain failures after .NET's X509ChainStatusFlags. */
function chainMessage(code: string | null): string {
  if (code && UNTRUSTED.has(code)) return 'UntrustedRoot';
  if (code && NOT_TIME_VALID.has(code)) return 'NotTimeValid';
  if (code === 'CERT_REVOKED') return 'Revoked';
  return `CertificateValidationFailed ${code ?? 'unknown'}`;
}

function describeSubject(f: TlsFacts): string {
  const sans = [...f.dnsNames, ...f.ipAddresses];
  return `CN=${f.subjectCn ?? '(none)'}${sans.length ? ` SAN=${sans.join(',')}` : ''}`;
}

/**
 * Does a presented certificate name cover the expected one? A wildcard certificate covers exactly
 * one left-most label of a host name (RFC 6125). tlsDomain "*.contoso.com" is a domain pattern, as
 * everywhere in the config: it covers a certificate named contoso.com or any name under it at any
 * depth; a wildcard certificate matches it only literally. IP addresses compare as addresses.
 */
export function certificateCovers(expected: string, presented: string): boolean {
  const e = expected.toLowerCase().replace(/\.$/, '');
  const p = presented.toLowerCase().replace(/\.$/, '');
  if (isIP(e) || isIP(p)) return isIP(e) !== 0 && isIP(p) !== 0 && sameIp(e, p);
  if (e === p) return true;
  if (p.startsWith('*.') && !e.startsWith('*.')) return oneLabelUnder(e, p.slice(2));
  if (e.startsWith('*.') && !p.includes('*')) {
    const parent = e.slice(2);
    return parent.includes('.') && coversDomain(parent, p); // "*.com" covers nothing
  }
  return false;
}

function oneLabelUnder(name: string, parent: string): boolean {
  if (!parent.includes('.') || !name.endsWith('.' + parent)) return false; // "*.com" covers nothing
  const head = name.slice(0, -(parent.length + 1));
  return head.length > 0 && !head.includes('.') && !head.includes('*');
}

function sameIp(a: string, b: string): boolean {
  const norm = (s: string) => (s.includes(':') ? s.replace(/^::ffff:/, '') : s);
  return norm(a) === norm(b);
}

export function policyReply(message: string): string {
  return `450 4.4.317 Cannot connect to remote server [Message=${message}]`;
}

/** The certificate facts of a connected TLS socket (getPeerCertificate is the shell's job). */
export function factsFromSocket(socket: tls.TLSSocket | null): TlsFacts {
  if (!socket || !(socket instanceof tls.TLSSocket) || !socket.encrypted) {
    return { secure: false, authorized: false, authorizationError: null, subjectCn: null, dnsNames: [], ipAddresses: [] };
  }
  const cert = socket.getPeerCertificate();
  const cnRaw = cert?.subject?.CN as string | string[] | undefined;
  const sans = (cert?.subjectaltname ?? '').split(/,\s*/).filter(Boolean);
  return {
    secure: true,
    authorized: socket.authorized,
    authorizationError: socket.authorizationError ? String(socket.authorizationError) : null,
    subjectCn: (Array.isArray(cnRaw) ? cnRaw[0] : cnRaw) ?? null,
    dnsNames: sans.filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4)),
    ipAddresses: sans.filter((s) => s.startsWith('IP Address:')).map((s) => s.slice(11)),
  };
}

/**
 * Node TLS options for a connector, built once per pool. Node never rejects a certificate here
 * (rejectUnauthorized: false, no identity check): it only verifies the chain and reports the result
 * in socket.authorized, which evaluateTls() judges. Nothing but EHLO is sent before that judgement.
 */
export function tlsConnectOptions(c: OutboundConnector): tls.ConnectionOptions {
  const opts: tls.ConnectionOptions = {
    minVersion: 'TLSv1.2',
    rejectUnauthorized: false,
    checkServerIdentity: () => undefined,
  };
  if (c.tlsCert && c.tlsKey) {
    opts.cert = readFileSync(c.tlsCert);
    opts.key = readFileSync(c.tlsKey);
  }
  // Passing `ca` replaces Node's bundled roots, so keep them and add the connector's private CAs.
  if (c.tlsCa.length) opts.ca = [...tls.rootCertificates, ...c.tlsCa.map((f) => readFileSync(f, 'utf8'))];
  return opts;
}
