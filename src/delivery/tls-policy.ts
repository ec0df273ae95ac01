// Turns a connector's tlsSettings into nodemailer/Node TLS options. null = opportunistic
// STARTTLS with any certificate; EncryptionOnly = TLS required, any certificate;
// CertificateValidation = chain verified (system CAs + tlsCa); DomainValidation = also the name.
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { OutboundConnector } from '../domain/model.js';
import { compileDomainPattern, matchCertificateName } from '../domain/match.js';

export interface TransportTlsOptions {
  requireTLS: boolean;
  opportunisticTLS: boolean;
  tls: tls.ConnectionOptions;
}

export function tlsOptionsFor(c: OutboundConnector, targetName: string): TransportTlsOptions {
  const clientCert = c.tlsCert && c.tlsKey ? { cert: readFileSync(c.tlsCert), key: readFileSync(c.tlsKey) } : {};
  const base: tls.ConnectionOptions = { ...clientCert, minVersion: 'TLSv1.2' };
  switch (c.tlsSettings) {
    case null:
      return { requireTLS: false, opportunisticTLS: true, tls: { ...base, rejectUnauthorized: false } };
    case 'EncryptionOnly':
      return { requireTLS: true, opportunisticTLS: false, tls: { ...base, rejectUnauthorized: false } };
    case 'CertificateValidation':
    case 'DomainValidation': {
      const ca = [...tls.rootCertificates, ...c.tlsCa.map((f) => readFileSync(f, 'utf8'))];
      const opts: tls.ConnectionOptions = { ...base, rejectUnauthorized: true, ca };
      if (c.tlsSettings === 'CertificateValidation') {
        opts.checkServerIdentity = () => undefined;
      } else {
        const expected = compileDomainPattern(c.tlsDomain ?? targetName);
        opts.checkServerIdentity = (_host, cert) => {
          const names = [
            ...(cert.subject?.CN ? [String(cert.subject.CN)] : []),
            ...(cert.subjectaltname ?? '').split(/,\s*/).filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4)),
          ];
          if (names.some((n) => matchCertificateName(expected, n))) return undefined;
          const err = new Error(`SubjectMismatch Expected Subject: ${expected.raw} Presented Subject: ${names.join(',') || '(none)'}`);
          (err as NodeJS.ErrnoException).code = 'ERR_TLS_CERT_ALTNAME_INVALID';
          return err;
        };
      }
      return { requireTLS: true, opportunisticTLS: false, tls: opts };
    }
  }
}
