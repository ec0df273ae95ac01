// `sluice certs show`: what a PEM certificate says (subject, SANs, issuer, validity) and which
// inbound connectors it would identify under a config. Pure over the parsed certificate and the
// Model: the names are matched as the listener does (CN + DNS SANs, verified chain only).
import { X509Certificate } from 'node:crypto';
import { matchCertificateName } from '../domain/match.js';
import type { Model } from '../domain/model.js';

export interface CertificateFacts {
  subject: string;
  issuer: string;
  /** Subject CN and DNS SANs, lower-case: what classification compares. */
  names: string[];
  sans: string[];
  validFrom: Date;
  validTo: Date;
  selfSigned: boolean;
}

export interface ConnectorMatch {
  connector: string;
  name: string;
  pattern: string;
}

export interface CertificateReport {
  facts: CertificateFacts;
  expired: boolean;
  notYetValid: boolean;
  /** The server.tls.clientCa file of the CA that issued it; null when none did. */
  issuedByClientCa: string | null;
  matches: ConnectorMatch[];
}

export function certificateFacts(cert: X509Certificate): CertificateFacts {
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
  const sans = (cert.subjectAltName ?? '').split(/,\s*/).filter((s) => s.length > 0);
  const dns = sans.filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4));
  return {
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    names: [...new Set([...(cn === undefined ? [] : [cn]), ...dns].map((n) => n.toLowerCase()))],
    sans,
    validFrom: new Date(cert.validFrom),
    validTo: new Date(cert.validTo),
    selfSigned: cert.checkIssued(cert),
  };
}

/** `cas` are the config's clientCa files, already read: [path, certificate]. */
export function reportCertificate(cert: X509Certificate, model: Model | null, cas: readonly [string, X509Certificate][], now: Date): CertificateReport {
  const facts = certificateFacts(cert);
  const issuer = cas.find(([, ca]) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
  const matches: ConnectorMatch[] = [];
  for (const c of model?.inboundConnectors ?? []) {
    const pattern = c.tlsSenderCertificateName;
    if (!c.enabled || !pattern) continue;
    const name = facts.names.find((n) => matchCertificateName(pattern, n));
    if (name !== undefined) matches.push({ connector: c.name, name, pattern: pattern.raw });
  }
  return {
    facts,
    expired: now > facts.validTo,
    notYetValid: now < facts.validFrom,
    issuedByClientCa: issuer ? issuer[0] : null,
    matches,
  };
}

export function formatReport(r: CertificateReport, configFile: string | null): string {
  const { facts } = r;
  const validity = r.expired ? ' (EXPIRED)' : r.notYetValid ? ' (NOT YET VALID)' : '';
  const lines = [
    `subject:   ${facts.subject}`,
    `SANs:      ${facts.sans.length > 0 ? facts.sans.join(', ') : '(none)'}`,
    `issuer:    ${facts.issuer}${facts.selfSigned ? ' (self-signed)' : ''}`,
    `valid:     ${facts.validFrom.toISOString()} to ${facts.validTo.toISOString()}${validity}`,
  ];
  if (configFile === null) return lines.join('\n') + '\n';
  lines.push(`trusted:   ${r.issuedByClientCa ? `issued by server.tls.clientCa ${r.issuedByClientCa}` : 'no: not issued by any server.tls.clientCa of the config, so it identifies no connector'}`);
  const usable = r.issuedByClientCa !== null && !r.expired && !r.notYetValid;
  if (r.matches.length === 0) {
    lines.push(`connectors: none in ${configFile} (no enabled inbound connector's tlsSenderCertificateName covers ${facts.names.join(', ') || 'its names'})`);
  } else {
    lines.push(`connectors${usable ? '' : ' (by name only; the certificate would not verify)'}:`);
    // The first one is the one classification picks: connectors are tried in config order.
    r.matches.forEach((m, i) => lines.push(`  ${m.connector}: '${m.name}' matches tlsSenderCertificateName '${m.pattern}'${i === 0 && usable ? ' (selected)' : ''}`));
  }
  return lines.join('\n') + '\n';
}
