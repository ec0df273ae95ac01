// X.509 certificate factory (node-forge): CAs and CA-signed or self-signed leaf certificates as PEM.
// Used by the daemon for development certificates and by the tests for per-run client/server certs.
// forge builds the DER; node:crypto (native OpenSSL) generates the RSA keys and signs, far faster than forge's JS.
import { createPublicKey, generateKeyPair, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import forge from 'node-forge';

const { pki } = forge;

export interface Pem {
  cert: string;
  key: string;
}

export type CertUsage = 'server' | 'client' | 'both';

/** 2048 bits: the smallest size OpenSSL's security level 2 (Debian's default for Postfix) accepts. */
export const DEFAULT_RSA_BITS = 2048;
const CLOCK_SKEW_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
const CA_LIFETIME_MS = 10 * 365 * DAY_MS;
const LEAF_LIFETIME_MS = 2 * 365 * DAY_MS;
const SERIAL_BYTES = 16;

interface KeyOptions {
  /** RSA modulus size for a freshly generated key; ignored when `key` is given. */
  bits?: number;
  /** An existing PEM private key (RSA) to certify instead of generating one. */
  key?: string;
}

export interface CaOptions extends KeyOptions {
  notBefore?: Date;
  notAfter?: Date;
}

export interface CertOptions extends KeyOptions {
  /** Issuing CA; undefined makes the certificate self-signed. */
  ca?: Pem;
  cn?: string;
  /** DNS names; entries that parse as IPv4/IPv6 addresses become IP SANs. */
  sans?: string[];
  notBefore?: Date;
  notAfter?: Date;
  usage?: CertUsage;
}

/** Synchronous RSA key generation in PKCS#8 PEM (~200 ms at 2048 bits). */
export function generateKeyPem(bits: number = DEFAULT_RSA_BITS): string {
  return generateKeyPairSync('rsa', {
    modulusLength: bits,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  }).privateKey;
}

const generateKeyPairAsync = promisify(generateKeyPair);

/** Same as generateKeyPem but on the libuv pool, so several keys are generated in parallel. */
export async function generateKeyPemAsync(bits: number = DEFAULT_RSA_BITS): Promise<string> {
  const pair = await generateKeyPairAsync('rsa', {
    modulusLength: bits,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return pair.privateKey;
}

export function createCa(cn: string, opts: CaOptions = {}): Pem {
  const keyPem = opts.key ?? generateKeyPem(opts.bits);
  const cert = baseCertificate(keyPem, cn, opts.notBefore, opts.notAfter, CA_LIFETIME_MS);
  cert.setIssuer(cert.subject.attributes);
  const ski = cert.generateSubjectKeyIdentifier().getBytes();
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier', subjectKeyIdentifier: forge.util.bytesToHex(ski) },
    { name: 'authorityKeyIdentifier', keyIdentifier: ski },
  ]);
  signWithNode(cert, keyPem);
  return { cert: pki.certificateToPem(cert), key: keyPem };
}

export function createCert(opts: CertOptions): Pem {
  const keyPem = opts.key ?? generateKeyPem(opts.bits);
  const cn = opts.cn ?? opts.sans?.[0] ?? 'localhost';
  const cert = baseCertificate(keyPem, cn, opts.notBefore, opts.notAfter, LEAF_LIFETIME_MS);

  // Self-signed: the certificate is its own issuer and signs with its own key.
  let signingKey = keyPem;
  let authorityKeyId = cert.generateSubjectKeyIdentifier().getBytes();
  if (opts.ca) {
    const caCert = pki.certificateFromPem(opts.ca.cert);
    signingKey = opts.ca.key;
    cert.setIssuer(caCert.subject.attributes);
    authorityKeyId = subjectKeyIdOf(caCert);
  } else {
    cert.setIssuer(cert.subject.attributes);
  }

  const usage = opts.usage ?? 'server';
  const sans = opts.sans ?? [];
  const extensions: object[] = [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    {
      name: 'extKeyUsage',
      serverAuth: usage === 'server' || usage === 'both',
      clientAuth: usage === 'client' || usage === 'both',
    },
    {
      name: 'subjectKeyIdentifier',
      subjectKeyIdentifier: forge.util.bytesToHex(cert.generateSubjectKeyIdentifier().getBytes()),
    },
    { name: 'authorityKeyIdentifier', keyIdentifier: authorityKeyId },
  ];
  if (sans.length > 0) extensions.push({ name: 'subjectAltName', altNames: sans.map(toAltName) });
  cert.setExtensions(extensions);
  signWithNode(cert, signingKey);
  return { cert: pki.certificateToPem(cert), key: keyPem };
}

function baseCertificate(
  keyPem: string,
  cn: string,
  notBefore: Date | undefined,
  notAfter: Date | undefined,
  lifetimeMs: number,
): forge.pki.Certificate {
  const cert = pki.createCertificate();
  const spki = createPublicKey(keyPem).export({ type: 'spki', format: 'pem' }).toString();
  cert.publicKey = pki.publicKeyFromPem(spki);
  cert.serialNumber = randomSerialHex();
  // Backdated by an hour so a peer whose clock lags a little still accepts a fresh cert.
  const from = notBefore ?? new Date(Date.now() - CLOCK_SKEW_MS);
  cert.validity.notBefore = from;
  cert.validity.notAfter = notAfter ?? new Date(from.getTime() + lifetimeMs);
  cert.setSubject([{ name: 'commonName', value: cn }]);
  return cert;
}

/**
 * What forge's cert.sign() does (sha256WithRSAEncryption over the DER TBSCertificate), with the RSA
 * operation done by OpenSSL instead of forge's JavaScript big integers.
 */
function signWithNode(cert: forge.pki.Certificate, signingKeyPem: string): void {
  cert.signatureOid = pki.oids.sha256WithRSAEncryption ?? '1.2.840.113549.1.1.11';
  cert.siginfo.algorithmOid = cert.signatureOid;
  // getTBSCertificate is public in forge but missing from @types/node-forge.
  const tbs = (pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate(cert);
  // certificateToPem reuses this cached TBS, so the signed bytes are exactly the bytes emitted.
  (cert as forge.pki.Certificate & { tbsCertificate: forge.asn1.Asn1 }).tbsCertificate = tbs;
  const der = Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary');
  cert.signature = sign('sha256', der, signingKeyPem).toString('binary');
}

/** A positive, non-zero-leading 128-bit serial (RFC 5280 §4.1.2.2 wants positive, ≤ 20 bytes). */
function randomSerialHex(): string {
  const bytes = randomBytes(SERIAL_BYTES);
  // Clear the sign bit and avoid a leading zero byte, which DER would have to strip.
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString('hex');
}

/** The CA's own SKI when it carries one (it may come from openssl), else computed the same way forge does. */
function subjectKeyIdOf(caCert: forge.pki.Certificate): string {
  const ext = caCert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | undefined;
  if (ext?.subjectKeyIdentifier) return forge.util.hexToBytes(ext.subjectKeyIdentifier);
  return caCert.generateSubjectKeyIdentifier().getBytes();
}

function toAltName(name: string): { type: number; value?: string; ip?: string } {
  // GeneralName tags from RFC 5280: 2 = dNSName, 7 = iPAddress.
  return isIP(name) !== 0 ? { type: 7, ip: name } : { type: 2, value: name };
}
