// Table tests for the outbound TLS policy: tlsSettings × what the handshake showed → may the
// session carry mail, and if not, EOP's [Message=…] text; plus certificate-name matching with
// wildcards on either side (tlsDomain and the presented certificate).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TlsSettings } from '../../src/domain/model.js';
import { certificateCovers, evaluateTls, policyReply, type TlsFacts } from '../../src/delivery/tls-policy.js';

const plaintext: TlsFacts = { secure: false, authorized: false, authorizationError: null, subjectCn: null, dnsNames: [], ipAddresses: [] };
const trusted = (cn: string, dnsNames: string[] = [cn], ipAddresses: string[] = []): TlsFacts => ({
  secure: true,
  authorized: true,
  authorizationError: null,
  subjectCn: cn,
  dnsNames,
  ipAddresses,
});
const untrusted = (code: string): TlsFacts => ({ ...trusted('mail.contoso.com'), authorized: false, authorizationError: code });

interface Row {
  name: string;
  settings: TlsSettings;
  expected: string;
  facts: TlsFacts;
  /** Message in [Message=…], or null when the session may carry mail. */
  refusal: string | null;
}

const rows: Row[] = [
  { name: 'opportunistic TLS accepts a plaintext session', settings: null, expected: 'x', facts: plaintext, refusal: null },
  { name: 'opportunistic TLS accepts a self-signed certificate', settings: null, expected: 'x', facts: untrusted('DEPTH_ZERO_SELF_SIGNED_CERT'), refusal: null },
  { name: 'EncryptionOnly refuses a host without STARTTLS', settings: 'EncryptionOnly', expected: 'x', facts: plaintext, refusal: '451 5.7.3 STARTTLS is required to send mail' },
  { name: 'EncryptionOnly accepts any certificate', settings: 'EncryptionOnly', expected: 'x', facts: untrusted('SELF_SIGNED_CERT_IN_CHAIN'), refusal: null },
  { name: 'CertificateValidation refuses plaintext', settings: 'CertificateValidation', expected: 'x', facts: plaintext, refusal: '451 5.7.3 STARTTLS is required to send mail' },
  { name: 'CertificateValidation refuses a self-signed certificate as UntrustedRoot', settings: 'CertificateValidation', expected: 'x', facts: untrusted('DEPTH_ZERO_SELF_SIGNED_CERT'), refusal: 'UntrustedRoot' },
  { name: 'CertificateValidation refuses an unknown issuer as UntrustedRoot', settings: 'CertificateValidation', expected: 'x', facts: untrusted('UNABLE_TO_GET_ISSUER_CERT_LOCALLY'), refusal: 'UntrustedRoot' },
  { name: 'CertificateValidation refuses an expired certificate as NotTimeValid', settings: 'CertificateValidation', expected: 'x', facts: untrusted('CERT_HAS_EXPIRED'), refusal: 'NotTimeValid' },
  { name: 'CertificateValidation accepts a trusted chain whatever the name', settings: 'CertificateValidation', expected: 'mail.contoso.com', facts: trusted('other.example'), refusal: null },
  { name: 'DomainValidation accepts a SAN that matches', settings: 'DomainValidation', expected: 'mail.contoso.com', facts: trusted('x', ['mail.contoso.com']), refusal: null },
  { name: 'DomainValidation still needs a trusted chain', settings: 'DomainValidation', expected: 'mail.contoso.com', facts: untrusted('SELF_SIGNED_CERT_IN_CHAIN'), refusal: 'UntrustedRoot' },
  { name: 'DomainValidation accepts a wildcard certificate for one label', settings: 'DomainValidation', expected: 'mail.contoso.com', facts: trusted('*.contoso.com'), refusal: null },
  { name: 'DomainValidation with tlsDomain *.contoso.com accepts mail.contoso.com', settings: 'DomainValidation', expected: '*.contoso.com', facts: trusted('mail.contoso.com'), refusal: null },
  {
    name: 'DomainValidation refuses another name with EOP SubjectMismatch text',
    settings: 'DomainValidation',
    expected: 'mail.contoso.com',
    facts: trusted('localhost', ['localhost'], ['127.0.0.1']),
    refusal: 'SubjectMismatch Expected Subject: mail.contoso.com Presented Subject: CN=localhost SAN=localhost,127.0.0.1',
  },
  {
    name: 'DomainValidation ignores the CN when the certificate has SANs',
    settings: 'DomainValidation',
    expected: 'mail.contoso.com',
    facts: trusted('mail.contoso.com', ['other.contoso.com']),
    refusal: 'SubjectMismatch Expected Subject: mail.contoso.com Presented Subject: CN=mail.contoso.com SAN=other.contoso.com',
  },
  { name: 'DomainValidation uses the CN when there is no SAN', settings: 'DomainValidation', expected: 'mail.contoso.com', facts: trusted('mail.contoso.com', []), refusal: null },
  { name: 'DomainValidation matches an IP smart host against an IP SAN', settings: 'DomainValidation', expected: '127.0.0.1', facts: trusted('localhost', ['localhost'], ['127.0.0.1']), refusal: null },
];

for (const row of rows) {
  test(row.name, () => {
    const v = evaluateTls(row.settings, row.expected, row.facts);
    assert.deepEqual(v, row.refusal === null ? { ok: true } : { ok: false, message: row.refusal });
  });
}

const names: Array<[expected: string, presented: string, covers: boolean]> = [
  ['mail.contoso.com', 'mail.contoso.com', true],
  ['MAIL.contoso.com', 'mail.contoso.com.', true],
  ['mail.contoso.com', '*.contoso.com', true],
  ['a.b.contoso.com', '*.contoso.com', false],
  ['contoso.com', '*.contoso.com', false],
  ['*.contoso.com', 'mail.contoso.com', true],
  ['*.contoso.com', '*.contoso.com', true],
  // tlsDomain "*.contoso.com" is a domain pattern: the domain itself and any depth below it.
  ['*.contoso.com', 'contoso.com', true],
  ['*.contoso.com', 'a.b.contoso.com', true],
  ['*.contoso.com', 'evilcontoso.com', false],
  ['*.contoso.com', 'contoso.com.evil.example', false],
  ['*.contoso.com', 'mail.contoso.com.', true],
  // A wildcard certificate keeps the literal rule against a pattern.
  ['*.contoso.com', '*.sub.contoso.com', false],
  ['*.sub.contoso.com', '*.contoso.com', false],
  ['*.com', 'contoso.com', false],
  ['*.xn--bcher-kva.example', 'mail.xn--bcher-kva.example', true],
  ['mail.com', '*.com', false],
  ['127.0.0.1', '127.0.0.1', true],
  ['127.0.0.1', 'localhost', false],
  ['mail.contoso.com', 'mail.fabrikam.com', false],
];
for (const [expected, presented, covers] of names) {
  test(`certificate name ${presented} ${covers ? 'covers' : 'does not cover'} ${expected}`, () => {
    assert.equal(certificateCovers(expected, presented), covers);
  });
}

test('a policy refusal has EOP reply shape', () => {
  assert.equal(policyReply('UntrustedRoot'), '450 4.4.317 Cannot connect to remote server [Message=UntrustedRoot]');
});
