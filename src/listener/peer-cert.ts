// Extracts the names a client certificate vouches for: subject CN and DNS SANs, and only when
// the chain verified against server.tls.clientCa (socket.authorized). An unverified, self-signed
// or expired certificate yields no names, so it can never identify a connector.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface PeerCertificateFacts {
  presented: boolean;
  verified: boolean;
  names: string[];
  subject: string | null;
  error: string | null;
}

export function peerCertificateFacts(socket: Socket | TLSSocket): PeerCertificateFacts {
  const tls = socket as TLSSocket;
  if (typeof tls.getPeerCertificate !== 'function') {
    return { presented: false, verified: false, names: [], subject: null, error: null };
  }
  const cert = tls.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) {
    return { presented: false, verified: false, names: [], subject: null, error: null };
  }
  const cnRaw = cert.subject?.CN as string | string[] | undefined;
  const cns = cnRaw === undefined ? [] : Array.isArray(cnRaw) ? cnRaw : [cnRaw];
  const sans = (cert.subjectaltname ?? '')
    .split(/,\s*/)
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
  const verified = tls.authorized === true;
  const err = tls.authorizationError;
  return {
    presented: true,
    verified,
    names: verified ? [...new Set([...cns, ...sans].map((n) => n.toLowerCase()))] : [],
    subject: cns[0] ?? null,
    error: verified ? null : err ? String(err) : 'unverified',
  };
}
