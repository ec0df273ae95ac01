// Per-run certificate factory for tests: a CA, a loopback server cert and the client certs the
// classification tests need (right CN, SAN only, wildcard, self-signed, foreign CA, expired, ...),
// written as PEM files into a directory. Generated once per process; each directory gets a copy.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, createCert, generateKeyPemAsync, type CertOptions, type Pem } from '../../src/certs/generate.js';

export interface CertFiles extends Pem {
  certPath: string;
  keyPath: string;
}

export const CLIENT_CERT_NAMES = [
  'goodCn',
  'sanOnly',
  'wildcard',
  'deepName',
  'selfSigned',
  'otherCa',
  'expired',
  'notYetValid',
  'wrongName',
] as const;
export type ClientCertName = (typeof CLIENT_CERT_NAMES)[number];

export interface CertSet {
  dir: string;
  /** The trust anchor: put ca.certPath in server.tls.clientCa / a client's `ca`. */
  ca: CertFiles;
  /** A second, unrelated CA; it issued clients.otherCa and must never be trusted. */
  otherCaRoot: CertFiles;
  /** CN localhost, SANs localhost + 127.0.0.1, signed by ca, serverAuth + clientAuth. */
  server: CertFiles;
  clients: Record<ClientCertName, CertFiles>;
}

interface PemSet {
  ca: Pem;
  otherCaRoot: Pem;
  server: Pem;
  clients: Record<ClientCertName, Pem>;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const KEY_FILE_MODE = 0o600;

let pems: Promise<PemSet> | undefined;
const written = new Map<string, Promise<CertSet>>();

/** Writes the process-wide certificate set into `dir` (a fresh temp dir when omitted). */
export function makeCertSet(dir?: string): Promise<CertSet> {
  const key = dir ?? '';
  let set = written.get(key);
  if (!set) {
    set = writeCertSet(dir);
    written.set(key, set);
    // A failed attempt must not be cached forever; the next caller retries.
    set.catch(() => written.delete(key));
  }
  return set;
}

async function writeCertSet(dir: string | undefined): Promise<CertSet> {
  const target = dir ?? (await mkdtemp(join(tmpdir(), 'sluice-certs-')));
  const all = await generatePems();
  const write = async (name: string, pem: Pem): Promise<CertFiles> => {
    const certPath = join(target, `${name}.crt`);
    const keyPath = join(target, `${name}.key`);
    await writeFile(certPath, pem.cert);
    await writeFile(keyPath, pem.key, { mode: KEY_FILE_MODE });
    return { ...pem, certPath, keyPath };
  };
  const clientEntries = await Promise.all(
    CLIENT_CERT_NAMES.map(async (name) => [name, await write(`client-${name}`, all.clients[name])] as const),
  );
  return {
    dir: target,
    ca: await write('ca', all.ca),
    otherCaRoot: await write('other-ca', all.otherCaRoot),
    server: await write('server', all.server),
    clients: Object.fromEntries(clientEntries) as Record<ClientCertName, CertFiles>,
  };
}

function generatePems(): Promise<PemSet> {
  pems ??= buildPems();
  return pems;
}

async function buildPems(): Promise<PemSet> {
  // Key generation dominates (50-400 ms per 2048-bit key), so: generated in parallel on the libuv pool,
  // and one key shared by every client cert. Chain and name checks depend on the issuer's key and the
  // subject, never on the leaf's own key, so sharing it changes no outcome. The CAs must differ.
  // 2048 bits because Debian's OpenSSL (SECLEVEL=2, and so Postfix in the e2e test) refuses smaller keys.
  const [caKey, otherCaKey, serverKey, clientKey] = await Promise.all([1, 2, 3, 4].map(() => generateKeyPemAsync()));
  const now = Date.now();
  const ca = createCa('Sluice Test CA', { key: caKey });
  const otherCaRoot = createCa('Sluice Other CA', { key: otherCaKey });
  const server = createCert({ ca, cn: 'localhost', sans: ['localhost', '127.0.0.1'], usage: 'both', key: serverKey });
  const client = (opts: CertOptions): Pem => createCert({ ca, usage: 'client', key: clientKey, ...opts });
  const clients: Record<ClientCertName, Pem> = {
    goodCn: client({ cn: 'mail.contoso.com' }),
    sanOnly: client({ cn: 'something-else', sans: ['mail.contoso.com'] }),
    wildcard: client({ cn: '*.contoso.com' }),
    deepName: client({ cn: 'a.b.contoso.com' }),
    selfSigned: client({ ca: undefined, cn: 'mail.contoso.com' }),
    otherCa: client({ ca: otherCaRoot, cn: 'mail.contoso.com' }),
    expired: client({ cn: 'mail.contoso.com', notBefore: new Date(now - 30 * DAY_MS), notAfter: new Date(now - DAY_MS) }),
    notYetValid: client({ cn: 'mail.contoso.com', notBefore: new Date(now + DAY_MS), notAfter: new Date(now + 30 * DAY_MS) }),
    wrongName: client({ cn: 'mail.fabrikam.com' }),
  };
  return { ca, otherCaRoot, server, clients };
}
