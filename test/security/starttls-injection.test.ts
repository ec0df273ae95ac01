// STARTTLS command injection (CVE-2011-0411 class), both directions. Inbound: commands a client
// pipelines after STARTTLS in the same packet arrived in plaintext and must be discarded, never run
// inside the TLS session (where a client certificate could lend them relay rights). Outbound: a smart
// host that pipelines a forged reply after its "220" must not desynchronise Sluice's delivery.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { Dialog, delay, openSession, startGateway, stillServing, upgrade, withToken, type Gateway } from '../helpers/security-fixtures.js';
import { makeCertSet } from '../helpers/certs.js';
import { startSluice, type SluiceProcess } from '../helpers/sluice.js';

let gw: Gateway;
const token = () => `tok${randomBytes(6).toString('hex')}`;

before(async () => {
  gw = await startGateway();
});

after(async () => {
  await gw?.stop();
});

/** EHLO after TLS: a multi-line 250 naming the gateway, not a reply meant for an injected command. */
const EHLO_REPLY = /^250-gateway\.sluice\.test/;

describe('commands pipelined after STARTTLS by a client', () => {
  test('MAIL FROM in the STARTTLS packet is discarded: the next reply answers the post-TLS EHLO', async () => {
    const c = await openSession(gw.sluice.port);
    c.write('STARTTLS\r\nMAIL FROM:<x@example.org>\r\n');
    assert.match(await c.reply(), /^220 /);
    const d = new Dialog(await upgrade(c));
    assert.match(await d.cmd('EHLO client.example'), EHLO_REPLY);
    // Had MAIL FROM run, RCPT would be accepted into that transaction instead of "503 need MAIL".
    assert.match(await d.cmd('RCPT TO:<john@contoso.com>'), /^503 /);
    assert.equal(d.pending(), '', 'no stray replies');
    d.close();
  });

  test('a whole injected transaction with a relay-capable client certificate delivers nothing', async () => {
    const t = token();
    const cert = gw.certs.clients.goodCn;
    const c = await openSession(gw.sluice.port);
    c.write(
      'STARTTLS\r\nMAIL FROM:<john@contoso.com>\r\nRCPT TO:<victim@fabrikam.com>\r\n' +
        `RCPT TO:<local-${t}@contoso.com>\r\nDATA\r\nSubject: injected ${t}\r\n\r\nx\r\n.\r\n`,
    );
    assert.match(await c.reply(), /^220 /);
    const d = new Dialog(await upgrade(c, { cert: cert.cert, key: cert.key }));
    assert.match(await d.cmd('EHLO client.example'), EHLO_REPLY);
    assert.match(await d.cmd('DATA'), /^503 /, 'no transaction is open');
    assert.match(await d.cmd('QUIT'), /^221 /);
    d.close();
    await delay(500);
    assert.equal(withToken(gw.internet, t).length + withToken(gw.onprem, t).length, 0);
  });

  test('plaintext pipelined as a separate packet after the 220 is discarded too', async () => {
    const c = await openSession(gw.sluice.port);
    assert.match(await c.cmd('STARTTLS'), /^220 /);
    // Written before the ClientHello: the server is reading a handshake now, not commands.
    c.write('MAIL FROM:<x@example.org>\r\n');
    // Sluice reads those bytes as a broken ClientHello and drops the connection: nothing runs.
    await assert.rejects(upgrade(c), /socket disconnected|ECONNRESET|wrong version|alert/i);
    assert.ok(await stillServing(gw.sluice), 'the daemon still serves');
  });

  test('commands pipelined before STARTTLS are answered in plaintext and leave no state in TLS', async () => {
    const c = await openSession(gw.sluice.port);
    c.write('MAIL FROM:<x@example.org>\r\nSTARTTLS\r\n');
    assert.match(await c.reply(), /^250 /);
    // RFC 3207: the session is reset by STARTTLS, so the plaintext transaction must not carry over.
    assert.match(await c.reply(), /^220 /);
    const d = new Dialog(await upgrade(c));
    assert.match(await d.cmd('EHLO client.example'), EHLO_REPLY);
    assert.match(await d.cmd('RCPT TO:<john@contoso.com>'), /^503 /, 'the plaintext MAIL FROM did not survive');
    d.close();
  });
});

interface FakeHostLog {
  commands: string[];
  mailFromLine: string | null;
  body: string | null;
}

/**
 * A hand-written smart host: plaintext EHLO offers STARTTLS; its "220 Ready" is followed in the same
 * write by a forged EHLO reply advertising "SIZE 10". The genuine post-TLS EHLO advertises no SIZE,
 * so a MAIL FROM carrying SIZE= would prove the client believed the plaintext injection.
 */
async function startInjectingHost(cert: string, key: string): Promise<{ port: number; log: FakeHostLog; close(): void }> {
  const log: FakeHostLog = { commands: [], mailFromLine: null, body: null };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((raw) => {
    sockets.add(raw);
    let stream: net.Socket | tls.TLSSocket = raw;
    let buf = '';
    let inData = false;
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end === -1) return;
          log.body = buf.slice(0, end + 2);
          buf = buf.slice(end + 5);
          inData = false;
          stream.write('250 2.0.0 stored\r\n');
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl === -1) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const verb = line.split(/[ :]/)[0]!.toUpperCase();
        log.commands.push(verb);
        if (verb === 'EHLO') stream.write(stream === raw ? '250-fake.test\r\n250 STARTTLS\r\n' : '250-fake.test\r\n250 8BITMIME\r\n');
        else if (verb === 'STARTTLS') {
          raw.removeListener('data', onData);
          raw.write('220 2.0.0 Ready\r\n250-fake.test\r\n250 SIZE 10\r\n');
          buf = '';
          stream = new tls.TLSSocket(raw, { isServer: true, cert, key });
          stream.on('data', onData);
          stream.on('error', () => undefined);
        } else if (verb === 'MAIL') (log.mailFromLine = line), stream.write('250 2.1.0 ok\r\n');
        else if (verb === 'RCPT') stream.write('250 2.1.5 ok\r\n');
        else if (verb === 'DATA') (inData = true), stream.write('354 go\r\n');
        else if (verb === 'QUIT') stream.end('221 bye\r\n');
        else stream.write('250 ok\r\n');
      }
    };
    raw.on('data', onData);
    raw.on('error', () => undefined);
    raw.on('close', () => sockets.delete(raw));
    raw.write('220 fake.test ESMTP\r\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    log,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

describe('a smart host injecting a reply after its STARTTLS 220', () => {
  let fake: Awaited<ReturnType<typeof startInjectingHost>>;
  let sluice: SluiceProcess;

  before(async () => {
    const certs = await makeCertSet();
    fake = await startInjectingHost(certs.server.cert, certs.server.key);
    sluice = await startSluice({
      certs,
      patch: {
        outboundConnectors: [
          { name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${fake.port}`] },
        ],
      },
    });
  });

  after(async () => {
    await sluice?.stop();
    fake?.close();
  });

  test('does not desynchronise delivery: the message arrives once, intact, over TLS, without the forged SIZE', async () => {
    const t = token();
    const c = await openSession(sluice.port);
    await c.cmd('MAIL FROM:<sender@example.org>');
    assert.match(await c.cmd('RCPT TO:<john@contoso.com>'), /^250 /);
    await c.cmd('DATA');
    const body = `Subject: reverse injection ${t}\r\n\r\nhello\r\n`;
    c.write(body + '.\r\n');
    assert.match(await c.reply(), /^250 /);
    c.close();
    const delivered = await sluice.waitForLog((l) => l.msg === 'delivered' || l.msg === 'delivery deferred' || l.msg === 'delivery failed permanently', 15_000);
    assert.equal(delivered.msg, 'delivered', JSON.stringify(delivered));
    assert.ok(fake.log.body?.endsWith(body), `body as received: ${JSON.stringify(fake.log.body?.slice(-80))}`);
    assert.deepEqual(fake.log.commands.slice(0, 6), ['EHLO', 'STARTTLS', 'EHLO', 'MAIL', 'RCPT', 'DATA']);
    assert.doesNotMatch(fake.log.mailFromLine ?? '', /SIZE=/i, 'the forged plaintext capability was not believed');
  });
});
