// Certificates from src/certs/generate.ts and the test factory: chains, names, dates and extensions as
// node:crypto's X509Certificate sees them, a real loopback TLS handshake that OpenSSL accepts or refuses,
// and the dev-certificate bootstrap (creates once, never overwrites).
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import tls from 'node:tls';
import { devCaKeyPath, ensureDevCertificates } from '../../src/certs/dev-certs.js';
import { createCa, createCert } from '../../src/certs/generate.js';
import { makeCertSet, type CertSet, type ClientCertName } from '../helpers/certs.js';

const HANDSHAKE_TIMEOUT_MS = 5_000;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

let certs: CertSet;
const x509 = (pem: string): X509Certificate => new X509Certificate(pem);

before(async () => {
  certs = await makeCertSet();
});

describe('generated certificates', () => {
  it('makes a CA that is self-issued, self-verifying and marked as a CA', () => {
    const ca = x509(certs.ca.cert);
    assert.equal(ca.ca, true);
    assert.equal(ca.subject, 'CN=Sluice Test CA');
    assert.ok(ca.checkIssued(ca));
    assert.ok(ca.verify(ca.publicKey));
    assert.equal(ca.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  });

  it('makes a loopback server certificate signed by the CA with localhost and 127.0.0.1 SANs', () => {
    const ca = x509(certs.ca.cert);
    const server = x509(certs.server.cert);
    assert.equal(server.ca, false);
    assert.ok(server.checkIssued(ca));
    assert.ok(server.verify(ca.publicKey));
    assert.equal(server.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1');
    assert.equal(server.checkHost('localhost'), 'localhost');
    assert.equal(server.checkIP('127.0.0.1'), '127.0.0.1');
    assert.deepEqual(server.keyUsage, [SERVER_AUTH, CLIENT_AUTH]);
  });

  const table: { name: ClientCertName; subject: string; san: string | undefined; issuer: 'ca' | 'other' | 'self' }[] = [
    { name: 'goodCn', subject: 'CN=mail.contoso.com', san: undefined, issuer: 'ca' },
    { name: 'sanOnly', subject: 'CN=something-else', san: 'DNS:mail.contoso.com', issuer: 'ca' },
    { name: 'wildcard', subject: 'CN=*.contoso.com', san: undefined, issuer: 'ca' },
    { name: 'deepName', subject: 'CN=a.b.contoso.com', san: undefined, issuer: 'ca' },
    { name: 'selfSigned', subject: 'CN=mail.contoso.com', san: undefined, issuer: 'self' },
    { name: 'otherCa', subject: 'CN=mail.contoso.com', san: undefined, issuer: 'other' },
    { name: 'expired', subject: 'CN=mail.contoso.com', san: undefined, issuer: 'ca' },
    { name: 'notYetValid', subject: 'CN=mail.contoso.com', san: undefined, issuer: 'ca' },
    { name: 'wrongName', subject: 'CN=mail.fabrikam.com', san: undefined, issuer: 'ca' },
  ];
  for (const row of table) {
    it(`makes the ${row.name} client certificate with ${row.subject} issued by ${row.issuer}`, () => {
      const cert = x509(certs.clients[row.name].cert);
      const ca = x509(certs.ca.cert);
      const other = x509(certs.otherCaRoot.cert);
      assert.equal(cert.subject, row.subject);
      assert.equal(cert.subjectAltName, row.san);
      assert.equal(cert.ca, false);
      assert.deepEqual(cert.keyUsage, [CLIENT_AUTH]);
      assert.equal(cert.checkIssued(ca), row.issuer === 'ca');
      assert.equal(cert.verify(ca.publicKey), row.issuer === 'ca');
      assert.equal(cert.checkIssued(other), row.issuer === 'other');
      assert.equal(cert.verify(other.publicKey), row.issuer === 'other');
      // checkIssued(cert) would be false even for selfSigned: OpenSSL wants keyCertSign on an issuer.
      assert.equal(cert.issuer === cert.subject && cert.verify(cert.publicKey), row.issuer === 'self');
    });
  }

  it('makes the expired certificate end in the past and the not-yet-valid one start in the future', () => {
    const now = Date.now();
    const expired = x509(certs.clients.expired.cert);
    const future = x509(certs.clients.notYetValid.cert);
    assert.ok(new Date(expired.validTo).getTime() < now);
    assert.ok(new Date(future.validFrom).getTime() > now);
    const good = x509(certs.clients.goodCn.cert);
    assert.ok(new Date(good.validFrom).getTime() <= now && now < new Date(good.validTo).getTime());
  });

  it('gives every certificate a distinct positive serial number', () => {
    const all = [certs.ca, certs.otherCaRoot, certs.server, ...Object.values(certs.clients)];
    const serials = all.map((c) => x509(c.cert).serialNumber);
    assert.equal(new Set(serials).size, serials.length);
    for (const s of serials) assert.ok(Number.parseInt(s.slice(0, 2), 16) < 0x80, `serial ${s} is negative`);
  });

  it('honours explicit dates, the bits option and IPv6 SANs', () => {
    const notBefore = new Date('2030-01-01T00:00:00Z');
    const notAfter = new Date('2031-01-01T00:00:00Z');
    const ca = createCa('Bits CA', { bits: 1024 });
    const leaf = createCert({ ca, cn: 'v6.test', sans: ['v6.test', '::1'], notBefore, notAfter, bits: 1024 });
    const cert = x509(leaf.cert);
    assert.equal(cert.publicKey.asymmetricKeyDetails?.modulusLength, 1024);
    assert.equal(new Date(cert.validFrom).getTime(), notBefore.getTime());
    assert.equal(new Date(cert.validTo).getTime(), notAfter.getTime());
    assert.equal(cert.subjectAltName, 'DNS:v6.test, IP Address:0:0:0:0:0:0:0:1');
    assert.ok(cert.verify(x509(ca.cert).publicKey));
  });
});

interface HandshakeResult {
  authorized: boolean;
  authorizationError: string | undefined;
  peerCn: string | undefined;
}

/** One TLS session over loopback; the server requests a client cert and reports what OpenSSL decided. */
async function handshake(client: { cert: string; key: string } | undefined): Promise<HandshakeResult> {
  const server = tls.createServer({
    key: certs.server.key,
    cert: certs.server.cert,
    ca: certs.ca.cert,
    requestCert: true,
    rejectUnauthorized: false,
  });
  const result = new Promise<HandshakeResult>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no TLS handshake within ${HANDSHAKE_TIMEOUT_MS} ms`)), HANDSHAKE_TIMEOUT_MS);
    server.once('tlsClientError', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    server.once('secureConnection', (socket) => {
      clearTimeout(timer);
      const peer = socket.getPeerCertificate();
      const cn = peer?.subject?.CN;
      resolve({
        authorized: socket.authorized,
        authorizationError: socket.authorizationError ? String(socket.authorizationError) : undefined,
        peerCn: Array.isArray(cn) ? cn[0] : cn,
      });
      socket.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: certs.ca.cert,
    ...(client ?? {}),
  });
  socket.on('error', () => {
    // The server side reports the outcome; a reset after it ends the socket is expected.
  });
  try {
    return await result;
  } finally {
    socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('TLS handshakes with generated client certificates', () => {
  const table: { name: ClientCertName; authorized: boolean; error?: string }[] = [
    { name: 'goodCn', authorized: true },
    { name: 'sanOnly', authorized: true },
    { name: 'wildcard', authorized: true },
    { name: 'wrongName', authorized: true },
    { name: 'selfSigned', authorized: false, error: 'DEPTH_ZERO_SELF_SIGNED_CERT' },
    { name: 'otherCa', authorized: false, error: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' },
    { name: 'expired', authorized: false, error: 'CERT_HAS_EXPIRED' },
    { name: 'notYetValid', authorized: false, error: 'CERT_NOT_YET_VALID' },
  ];
  for (const row of table) {
    it(`${row.authorized ? 'accepts' : 'refuses'} the ${row.name} client certificate against the test CA`, async () => {
      const result = await handshake(certs.clients[row.name]);
      assert.equal(result.authorized, row.authorized);
      assert.equal(result.authorizationError, row.error);
      assert.ok(result.peerCn, 'the peer certificate is still readable for logging');
    });
  }

  it('reports an unauthorized session when the client presents no certificate', async () => {
    const result = await handshake(undefined);
    assert.equal(result.authorized, false);
    assert.equal(result.peerCn, undefined);
  });
});

describe('ensureDevCertificates', () => {
  it('creates a CA and a server certificate for the hostname, localhost and 127.0.0.1 with private keys', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-dev-certs-'));
    const paths = { cert: join(dir, 'certs/server.crt'), key: join(dir, 'certs/server.key'), ca: join(dir, 'certs/ca.crt') };
    assert.equal(await ensureDevCertificates(paths, 'gateway.contoso.test'), true);

    const ca = x509(await readFile(paths.ca, 'utf8'));
    const server = x509(await readFile(paths.cert, 'utf8'));
    assert.ok(server.checkIssued(ca) && server.verify(ca.publicKey));
    assert.equal(server.subjectAltName, 'DNS:gateway.contoso.test, DNS:localhost, IP Address:127.0.0.1');
    assert.ok(server.checkPrivateKey(createPrivateKey(await readFile(paths.key))));
    for (const key of [paths.key, devCaKeyPath(paths.ca)]) {
      assert.equal((await stat(key)).mode & 0o777, 0o600, `${key} is private`);
    }
  });

  it('returns false and leaves existing files untouched on a second run', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-dev-certs-'));
    const paths = { cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), ca: join(dir, 'ca.crt') };
    await ensureDevCertificates(paths, 'gw.test');
    const before = await Promise.all([paths.cert, paths.key, paths.ca].map((p) => readFile(p, 'utf8')));
    assert.equal(await ensureDevCertificates(paths, 'gw.test'), false);
    const after = await Promise.all([paths.cert, paths.key, paths.ca].map((p) => readFile(p, 'utf8')));
    assert.deepEqual(after, before);
  });

  it('signs a missing server pair with the existing dev CA', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-dev-certs-'));
    const paths = { cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), ca: join(dir, 'ca.crt') };
    await ensureDevCertificates(paths, 'gw.test');
    const caPem = await readFile(paths.ca, 'utf8');
    await unlink(paths.cert);
    await unlink(paths.key);
    assert.equal(await ensureDevCertificates(paths, 'gw.test'), true);
    assert.equal(await readFile(paths.ca, 'utf8'), caPem);
    assert.ok(x509(await readFile(paths.cert, 'utf8')).verify(x509(caPem).publicKey));
  });

  it('refuses to pair a new key with an existing certificate', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-dev-certs-'));
    const paths = { cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), ca: join(dir, 'ca.crt') };
    await writeFile(paths.cert, certs.server.cert);
    await assert.rejects(ensureDevCertificates(paths, 'gw.test'), /server\.key is missing but .*server\.crt exists/);
    assert.equal(await readFile(paths.cert, 'utf8'), certs.server.cert);
  });
});
