// Matches an SMTP session to an inbound connector: (peer IP, TLS state, verified certificate
// names) → connector + how it matched + reason. Pure; runs once per session after STARTTLS/EHLO,
// before policy. The listener only passes names of a client certificate whose chain verified.
import { ipMatches, matchCertificateName } from '../domain/match.js';
import type { InboundConnector, Model } from '../domain/model.js';

export interface SessionFacts {
  ip: string;
  tls: boolean;
  /** Subject CN + DNS SANs of a client certificate whose chain verified against server.tls.clientCa; [] otherwise. */
  certNames: readonly string[];
}

export interface Classification {
  connector: InboundConnector | null;
  matchedBy: 'certificate' | 'ip' | null;
  certName: string | null;
  reason: string;
}

export const ANONYMOUS_REASON = 'anonymous: no connector matched certificate or IP';

export function classifySession(model: Model, facts: SessionFacts): Classification {
  const enabled = model.inboundConnectors.filter((c) => c.enabled);
  // Certificate beats IP across all connectors: a certificate proves identity, an IP only locates.
  return matchByCertificate(enabled, facts) ?? matchByIp(enabled, facts) ?? anonymous();
}

function matchByCertificate(connectors: readonly InboundConnector[], facts: SessionFacts): Classification | null {
  // Without TLS there is no verified certificate, whatever the caller passed.
  if (!facts.tls || facts.certNames.length === 0) return null;
  for (const connector of connectors) {
    const pattern = connector.tlsSenderCertificateName;
    if (!pattern) continue;
    const certName = facts.certNames.find((n) => matchCertificateName(pattern, n));
    if (certName === undefined) continue;
    return {
      connector,
      matchedBy: 'certificate',
      certName,
      reason: `certificate: '${certName}' matches tlsSenderCertificateName '${pattern.raw}' of connector '${connector.name}'`,
    };
  }
  return null;
}

function matchByIp(connectors: readonly InboundConnector[], facts: SessionFacts): Classification | null {
  for (const connector of connectors) {
    const rule = ipMatches(connector.senderIPAddresses, facts.ip);
    if (!rule) continue;
    return {
      connector,
      matchedBy: 'ip',
      certName: null,
      reason: `ip: ${facts.ip} is in senderIPAddresses '${rule.raw}' of connector '${connector.name}'`,
    };
  }
  return null;
}

function anonymous(): Classification {
  return { connector: null, matchedBy: null, certName: null, reason: ANONYMOUS_REASON };
}
