// `sluice certs init` and `sluice certs show` as an admin uses them for a try-out: the files, the
// advice printed, no overwrite without --force, and the proof that matters — Sluice started on
// the generated server certificate and CA matches Postfix (and swaks) presenting a generated
// client certificate to a certificate-only OnPremises connector, and relays its mail.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { message, replies, swaks } from '../helpers/clients.js';
import { startPostfix, type PostfixInstance } from '../helpers/postfix.js';
import { CLI, startSluice, type SluiceProcess } from '../helpers/sluice.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';

const run = promisify(execFile);
const DAY_MS = 86_400_000;
const ONPREM_IP = '127.0.0.5';
const DELIVERY_WAIT_MS = 15_000;

async function sluiceCli(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

let work: string;
let certDir: string;
let initOut: string;
let internet: SmartHost | undefined;
let sluice: SluiceProcess | undefined;
let onprem: PostfixInstance | undefined;

const certsConfig = (port: number, dir: string) => ({
  server: {
    hostname: 'gateway.sluice.test',
    listen: [{ host: '127.0.0.1', port }],
    tls: { cert: join(certDir, 'server.crt'), key: join(certDir, 'server.key'), clientCa: [join(certDir, 'ca.crt')] },
  },
  spool: { dir: join(dir, 'spool') },
  delivery: { retry: { initial: '1s', max: '2s', lifetime: '1h' } },
  acceptedDomains: [{ domain: 'contoso.com' }],
  // No senderIPAddresses: only the certificate can identify the on-premises server.
  inboundConnectors: [{ name: 'From on-prem', connectorType: 'OnPremises', tlsSenderCertificateName: 'mail.contoso.com' }],
  outboundConnectors: [{ name: 'To internet', recipientDomains: ['*'], smartHosts: [`127.0.0.1:${internet!.port}`] }],
});

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'sluice-certs-'));
  certDir = join(work, 'certs');
  const r = await sluiceCli(['certs', 'init', '--dir', 'certs', '--hostname', 'gateway.sluice.test', '--client', 'mail.contoso.com', '--client', 'relay2.contoso.com', '--days', '30'], work);
  assert.equal(r.code, 0, r.stderr);
  initOut = r.stdout;
  internet = await startSmartHost();
});

after(async () => {
  await Promise.allSettled([onprem?.stop(), sluice?.stop(), internet?.close()]);
});

describe('sluice certs init', () => {
  test('writes a CA, the server pair and one pair per client, keys readable by the owner only', async () => {
    for (const f of ['ca.crt', 'server.crt', 'mail.contoso.com.crt', 'relay2.contoso.com.crt']) {
      assert.equal((await stat(join(certDir, f))).mode & 0o777, 0o644, f);
    }
    for (const f of ['ca.key', 'server.key', 'mail.contoso.com.key', 'relay2.contoso.com.key']) {
      assert.equal((await stat(join(certDir, f))).mode & 0o777, 0o600, f);
    }
    const ca = new X509Certificate(await readFile(join(certDir, 'ca.crt')));
    const client = new X509Certificate(await readFile(join(certDir, 'mail.contoso.com.crt')));
    const server = new X509Certificate(await readFile(join(certDir, 'server.crt')));
    assert.ok(client.verify(ca.publicKey) && server.verify(ca.publicKey), 'both are signed by the CA');
    assert.equal(client.subjectAltName, 'DNS:mail.contoso.com');
    assert.match(server.subjectAltName ?? '', /DNS:gateway\.sluice\.test/);
    const lifetimeDays = (Date.parse(client.validTo) - Date.now()) / DAY_MS;
    assert.ok(lifetimeDays > 29 && lifetimeDays < 31, `--days 30 gives ${lifetimeDays} days`);
    // openssl itself accepts the chain and the client purpose, as Postfix will.
    const { stdout } = await run('openssl', ['verify', '-purpose', 'sslclient', '-CAfile', join(certDir, 'ca.crt'), join(certDir, 'mail.contoso.com.crt')]);
    assert.match(stdout, /: OK/);
  });

  test('prints the server.tls block and the Postfix lines for each on-premises server', () => {
    assert.match(initOut, /testing only/);
    assert.match(initOut, /tls:\n\s+cert: certs\/server\.crt\n\s+key: certs\/server\.key\n\s+clientCa: \[certs\/ca\.crt\]/);
    assert.match(initOut, /tlsSenderCertificateName: mail\.contoso\.com/);
    assert.match(initOut, /smtp_tls_cert_file = \/etc\/postfix\/mail\.contoso\.com\.crt/);
    assert.match(initOut, /smtp_tls_key_file = \/etc\/postfix\/relay2\.contoso\.com\.key/);
    assert.match(initOut, /smtp_tls_security_level = secure/);
  });

  test('refuses to overwrite existing files without --force, and replaces them with it', async () => {
    const before = await readFile(join(certDir, 'ca.crt'), 'utf8');
    const refused = await sluiceCli(['certs', 'init', '--dir', 'certs', '--client', 'mail.contoso.com'], work);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /not overwriting existing files \(use --force to replace them\): certs\/ca\.crt/);
    assert.equal(await readFile(join(certDir, 'ca.crt'), 'utf8'), before, 'nothing was touched');

    const other = join(work, 'other');
    assert.equal((await sluiceCli(['certs', 'init', '--dir', 'other', '--client', 'mail.contoso.com'], work)).code, 0);
    const forced = await sluiceCli(['certs', 'init', '--dir', 'other', '--client', 'mail.contoso.com', '--force'], work);
    assert.equal(forced.code, 0, forced.stderr);
    assert.notEqual(await readFile(join(other, 'ca.crt'), 'utf8'), before);
  });

  test('rejects a bad --days or host name with a reason', async () => {
    const days = await sluiceCli(['certs', 'init', '--dir', 'x', '--days', 'soon'], work);
    assert.equal(days.code, 1);
    assert.match(days.stderr, /--days must be a whole number/);
    const name = await sluiceCli(['certs', 'init', '--dir', 'x', '--client', 'not a host'], work);
    assert.equal(name.code, 1);
    assert.match(name.stderr, /"not a host" is not a host name/);
  });
});

describe('sluice certs show', () => {
  test('prints subject, SANs, issuer, validity and the connector the certificate would be matched to', async () => {
    const config = join(work, 'show.yaml');
    await writeFile(config, stringify(certsConfig(2525, work)));
    const r = await sluiceCli(['certs', 'show', 'certs/mail.contoso.com.crt', '--config', config], work);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^subject: +CN=mail\.contoso\.com$/m);
    assert.match(r.stdout, /^SANs: +DNS:mail\.contoso\.com$/m);
    assert.match(r.stdout, /^issuer: +CN=Sluice Development CA \(testing only\)$/m);
    assert.match(r.stdout, /^valid: +\d{4}-\d\d-\d\dT.* to \d{4}-/m);
    assert.match(r.stdout, /^trusted: +issued by server\.tls\.clientCa .*ca\.crt$/m);
    assert.match(r.stdout, /From on-prem: 'mail\.contoso\.com' matches tlsSenderCertificateName 'mail\.contoso\.com' \(selected\)/);

    const relay2 = await sluiceCli(['certs', 'show', 'certs/relay2.contoso.com.crt', '--config', config], work);
    assert.match(relay2.stdout, /^connectors: none in /m);
    // A certificate from another CA may carry the right name but identifies nothing.
    const foreign = await sluiceCli(['certs', 'show', 'other/mail.contoso.com.crt', '--config', config], work);
    assert.match(foreign.stdout, /^trusted: +no: not issued by any server\.tls\.clientCa/m);
    assert.match(foreign.stdout, /by name only; the certificate would not verify/);
    assert.doesNotMatch(foreign.stdout, /\(selected\)/);
  });

  test('without a config it prints the certificate alone; a non-certificate is an error', async () => {
    const bare = await sluiceCli(['certs', 'show', join(certDir, 'ca.crt')], tmpdir());
    assert.equal(bare.code, 0, bare.stderr);
    assert.match(bare.stdout, /\(self-signed\)/);
    assert.doesNotMatch(bare.stdout, /connectors/);
    const bad = await sluiceCli(['certs', 'show', join(certDir, 'ca.key')], work);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /cannot read a PEM certificate/);
  });
});

describe('the generated certificates in use', () => {
  before(async () => {
    // startSluice waits for "sluice started"; `certs` is only used by its default config.
    sluice = await startSluice({ certs: undefined as never, config: certsConfig });
    onprem = await startPostfix({
      host: ONPREM_IP,
      hostname: 'mail.contoso.com',
      relayhost: { host: '127.0.0.1', port: sluice.port },
      ca: join(certDir, 'ca.crt'),
      clientCert: { cert: join(certDir, 'mail.contoso.com.crt'), key: join(certDir, 'mail.contoso.com.key') },
    });
  });

  test('Postfix with its generated client certificate is matched by the certificate connector and relays', async () => {
    const raw = message({ from: 'john@contoso.com', to: 'sun@fabrikam.com', subject: 'via generated certs' });
    await onprem!.submit('john@contoso.com', 'sun@fabrikam.com', raw);
    const [got] = await internet!.waitFor(1, DELIVERY_WAIT_MS);
    assert.deepEqual(got!.rcptTo, ['sun@fabrikam.com']);
    assert.match(got!.raw.toString('latin1'), /\(inbound connector "From on-prem" by certificate\)/);
  });

  test('swaks with the generated client certificate relays; without it the same relay is refused', async () => {
    const withCert = await swaks([
      '--server', `127.0.0.1:${sluice!.port}`, '--tls',
      '--tls-cert', join(certDir, 'mail.contoso.com.crt'), '--tls-key', join(certDir, 'mail.contoso.com.key'),
      '--from', 'bob@contoso.com', '--to', 'ann@fabrikam.com',
    ]);
    assert.ok(replies(withCert).some((l) => /^250 2\.6\.0 /.test(l)), withCert.output);
    const without = await swaks(['--server', `127.0.0.1:${sluice!.port}`, '--tls', '--from', 'bob@contoso.com', '--to', 'ann@fabrikam.com']);
    assert.ok(replies(without).some((l) => /^550 5\.4\.1 /.test(l)), without.output);
  });
});
