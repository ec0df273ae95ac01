// Live reload of everything, over real sockets: renewed certificate files are presented by the
// next STARTTLS handshake without a restart; maxMessageSize applies to the next session while a
// session in flight keeps its own; a changed server.listen opens the new port and closes the old
// one once its session ends; a broken edit changes nothing, and `sluice reload` prints its errors
// with file, line and key path; a restart-only key is reported as pending.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { createCert } from '../../src/certs/generate.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { runCli, startSluice, type SluiceProcess } from '../helpers/sluice.js';
import { RawSmtp } from '../helpers/raw-smtp.js';
import { freePort } from '../helpers/ports.js';

let certs: CertSet;
let sink: SmartHost;
let partner: SmartHost;
let sluice: SluiceProcess;
const open: RawSmtp[] = [];

before(async () => {
  // A private copy: these tests replace the server certificate files.
  certs = await makeCertSet(await mkdtemp(path.join(tmpdir(), 'sluice-reload-certs-')));
  sink = await startSmartHost();
  // Records the client certificate Sluice presents (the connector's tlsCert).
  partner = await startSmartHost({ tls: { cert: certs.server.cert, key: certs.server.key }, clientCa: certs.ca.cert });
  sluice = await startSluice({
    certs,
    patch: {
      inboundConnectors: [{ name: 'Loopback', connectorType: 'OnPremises', senderIPAddresses: ['127.0.0.1'] }],
      outboundConnectors: [
        { name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${sink.port}`] },
        {
          name: 'To partner',
          recipientDomains: ['partner.test'],
          smartHosts: [`127.0.0.1:${partner.port}`],
          tlsSettings: 'CertificateValidation',
          tlsCa: [certs.ca.certPath],
          tlsCert: certs.clients.goodCn.certPath,
          tlsKey: certs.clients.goodCn.keyPath,
        },
      ],
    },
  });
});

after(async () => {
  for (const c of open) c.close();
  await sluice?.stop();
  await sink?.close();
  await partner?.close();
});

async function editConfig(change: (c: Record<string, any>) => void): Promise<void> {
  const config = parse(await readFile(sluice.configPath, 'utf8')) as Record<string, any>;
  change(config);
  await writeFile(sluice.configPath, stringify(config));
}

/** Waits for the next log line with `msg` after `from` lines. */
async function nextLog(from: number, msg: string, timeoutMs = 10_000) {
  return sluice.waitForLog((l) => sluice.logs.indexOf(l) >= from && l.msg === msg, timeoutMs);
}

/** Waits for the reload after `from` lines that changed a model path starting with `key`. */
async function changedLog(from: number, key: string, timeoutMs = 10_000) {
  const changed = (l: Record<string, unknown>) => ((l.changed as string[] | undefined) ?? []).some((p) => p.startsWith(key));
  return sluice.waitForLog((l) => sluice.logs.indexOf(l) >= from && l.msg === 'configuration reloaded' && changed(l), timeoutMs);
}

async function session(port = sluice.port): Promise<RawSmtp> {
  const c = await RawSmtp.connect(port);
  open.push(c);
  assert.match(await c.reply(), /^220 /);
  return c;
}

const sizeOf = (ehlo: string): number | null => {
  const m = /^250[- ]SIZE (\d+)/m.exec(ehlo);
  return m ? Number(m[1]) : null;
};

/** The CN of the certificate the listener presents after STARTTLS. */
async function presentedCn(): Promise<string> {
  const c = await session();
  await c.cmd('EHLO client.example');
  assert.match(await c.cmd('STARTTLS'), /^220 /);
  const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({ socket: c.socket as net.Socket, rejectUnauthorized: false, servername: 'localhost' }, () => resolve(s));
    s.once('error', reject);
  });
  const cn = String(secure.getPeerCertificate().subject.CN);
  secure.destroy();
  return cn;
}

describe('live reload', () => {
  test('a renewed server certificate (files replaced by rename) is presented by the next STARTTLS without a restart', async () => {
    assert.equal(await presentedCn(), 'localhost');
    const renewed = createCert({ ca: certs.ca, cn: 'renewed.sluice.test', sans: ['localhost', '127.0.0.1'], usage: 'both' });
    const from = sluice.logs.length;
    // As certbot and cert-manager do: write next to the file, then rename over it.
    await writeFile(`${certs.server.keyPath}.new`, renewed.key, { mode: 0o600 });
    await writeFile(`${certs.server.certPath}.new`, renewed.cert);
    await rename(`${certs.server.keyPath}.new`, certs.server.keyPath);
    await rename(`${certs.server.certPath}.new`, certs.server.certPath);
    await nextLog(from, 'certificate files reloaded');
    assert.equal(await presentedCn(), 'renewed.sluice.test');
    assert.equal(sluice.logs.filter((l) => l.msg === 'sluice started').length, 1, 'no restart');
  });

  test('a renewed outbound client certificate (tlsCert/tlsKey) is presented at the next delivery without a restart', async () => {
    const deliver = async (n: number) => {
      const c = await session();
      await c.cmd('EHLO client.example');
      assert.match(await c.cmd('MAIL FROM:<sun@contoso.com>'), /^250 /);
      assert.match(await c.cmd(`RCPT TO:<p${n}@partner.test>`), /^250 /);
      assert.match(await c.cmd('DATA'), /^354 /);
      assert.match(await c.cmd(`Subject: renewal ${n}\r\n\r\nbody\r\n.`), /^250 /);
      c.close();
      await partner.waitFor(n);
      return partner.connections.at(-1)!.peerCertificate?.cn;
    };
    assert.equal(await deliver(1), 'mail.contoso.com');
    const renewed = createCert({ ca: certs.ca, cn: 'renewed-client.contoso.com', usage: 'client' });
    const from = sluice.logs.length;
    await writeFile(`${certs.clients.goodCn.keyPath}.new`, renewed.key, { mode: 0o600 });
    await writeFile(`${certs.clients.goodCn.certPath}.new`, renewed.cert);
    await rename(`${certs.clients.goodCn.keyPath}.new`, certs.clients.goodCn.keyPath);
    await rename(`${certs.clients.goodCn.certPath}.new`, certs.clients.goodCn.certPath);
    await nextLog(from, 'certificate files reloaded');
    assert.equal(await deliver(2), 'renewed-client.contoso.com');
  });

  test('maxMessageSize applies to the next session; a session in flight keeps the limit it started with', async () => {
    const before = await session();
    assert.equal(sizeOf(await before.cmd('EHLO before.example')), 1024 * 1024);
    const from = sluice.logs.length;
    await editConfig((c) => (c.server.limits.maxMessageSize = '2MB'));
    const line = await nextLog(from, 'configuration reloaded');
    assert.ok((line.changed as string[]).includes('server.limits.maxMessageSize'));
    const next = await session();
    assert.equal(sizeOf(await next.cmd('EHLO next.example')), 2 * 1024 * 1024);
    assert.equal(sizeOf(await before.cmd('EHLO before.example')), 1024 * 1024, 'the session in flight keeps its limit');
    // The new limit is enforced, not only advertised: 1.5 MB passes in the new session.
    assert.match(await next.cmd('MAIL FROM:<sun@example.org> SIZE=1500000'), /^250 /);
    assert.match(await before.cmd('MAIL FROM:<sun@example.org> SIZE=1500000'), /^552 /);
  });

  test('a broken edit changes nothing; `sluice reload` prints the error with file, line and key path and exits 1', async () => {
    const from = sluice.logs.length;
    await editConfig((c) => (c.server.limits.maxMessageSize = 'lots'));
    await nextLog(from, 'configuration rejected; keeping the running one');
    const r = await runCli(['reload', '--config', sluice.configPath]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /configuration rejected/);
    assert.match(r.stderr, /sluice\.yaml:\d+:\d+/);
    assert.match(r.stderr, /server\.limits\.maxMessageSize/);
    const c = await session();
    assert.equal(sizeOf(await c.cmd('EHLO after.example')), 2 * 1024 * 1024, 'still the last good config');
    // Fixed again: `sluice reload` applies it and says so.
    await editConfig((cfg) => (cfg.server.limits.maxMessageSize = '3MB'));
    const ok = await runCli(['reload', '--config', sluice.configPath]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /configuration reloaded/);
  });

  test('idleTimeout applies to the next session; a session in flight keeps the timeout it started with', async () => {
    const before = await session();
    assert.match(await before.cmd('EHLO before.example'), /^250/);
    const from = sluice.logs.length;
    await editConfig((c) => (c.server.limits.idleTimeout = '1s'));
    // The reload that carries this edit (a late line of an earlier edit's reload must not count).
    await changedLog(from, 'server.limits.idleTimeout');
    const next = await session();
    const started = Date.now();
    assert.match(await next.reply(5_000), /^421 /, 'the new session is closed after 1 s idle');
    assert.ok(Date.now() - started < 4_000);
    // The older session (20 s) is still served after the new one timed out.
    assert.match(await before.cmd('NOOP'), /^250 /);
    const mid = sluice.logs.length;
    await editConfig((c) => (c.server.limits.idleTimeout = '20s'));
    await changedLog(mid, 'server.limits.idleTimeout');
  });

  test('a restart-only key (spool.dir) is named as pending a restart, and everything else still applies', async () => {
    await editConfig((c) => {
      c.spool.dir = path.join(sluice.dir, 'other-spool');
      c.server.limits.maxRecipients = 7;
    });
    // The edit moved spool.dir, so the CLI reaches the daemon through the old one: use the watch's log.
    const line = await sluice.waitForLog((l) => l.msg === 'configuration reloaded' && (l.pendingRestart as string[]).includes('spool.dir'));
    assert.ok((line.changed as string[]).includes('server.limits.maxRecipients'));
    assert.ok(sluice.logs.some((l) => /apply at the next restart: spool\.dir/.test(String(l.msg))));
    await editConfig((c) => (c.spool.dir = path.join(sluice.dir, 'spool')));
    await sluice.waitForLog((l) => l.msg === 'configuration reloaded' && (l.pendingRestart as string[]).length === 0);
  });

  test('a changed server.listen opens the new port at once and closes the old one after its session ends', async () => {
    for (const c of open.splice(0)) c.close(); // earlier tests' sessions would hold the old port open
    const oldPort = sluice.port;
    const newPort = await freePort();
    const inFlight = await session(oldPort);
    assert.match(await inFlight.cmd('EHLO inflight.example'), /^250/);
    const from = sluice.logs.length;
    await editConfig((c) => (c.server.listen = [{ host: '127.0.0.1', port: newPort }]));
    const line = await nextLog(from, 'configuration reloaded');
    assert.deepEqual((line.listen as { opened: { port: number }[] }).opened.map((a) => a.port), [newPort]);
    const fresh = await session(newPort);
    assert.match(await fresh.cmd('EHLO fresh.example'), /^250/);
    await assert.rejects(RawSmtp.connect(oldPort), /ECONNREFUSED/, 'the old port accepts nothing new');
    // The session that started on the old port finishes its message there.
    assert.match(await inFlight.cmd('MAIL FROM:<sun@example.org>'), /^250 /);
    assert.match(await inFlight.cmd('RCPT TO:<inflight@contoso.com>'), /^250 /);
    assert.match(await inFlight.cmd('DATA'), /^354 /);
    assert.match(await inFlight.cmd('Subject: in flight\r\n\r\nbody\r\n.'), /^250 /);
    assert.match(await inFlight.cmd('QUIT'), /^221 /);
    await sluice.waitForLog((l) => l.msg === 'stopped listening on a removed address');
    sluice.port = newPort;
  });
});
