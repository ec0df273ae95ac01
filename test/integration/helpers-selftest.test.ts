// Self-test of the integration helpers: nodemailer talks to startSmartHost over real loopback sockets,
// plain and STARTTLS with the per-run CA, so later tests can trust what the smart host records
// (envelope, bytes, TLS, client certificate, counters) and the scripted replies it sends.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createTransport } from 'nodemailer';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { freePort } from '../helpers/ports.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';

const CLIENT_TIMEOUT_MS = 5_000;
const TEST_TIMEOUT_MS = 20_000;

let certs: CertSet;
const hosts: SmartHost[] = [];

before(async () => {
  certs = await makeCertSet();
});

after(async () => {
  await Promise.all(hosts.map((h) => h.close()));
});

async function smartHost(opts: Parameters<typeof startSmartHost>[0] = {}): Promise<SmartHost> {
  const host = await startSmartHost(opts);
  hosts.push(host);
  return host;
}

function plainTransport(host: SmartHost, extra: Record<string, unknown> = {}) {
  return createTransport({
    host: host.host,
    port: host.port,
    secure: false,
    ignoreTLS: true,
    connectionTimeout: CLIENT_TIMEOUT_MS,
    greetingTimeout: CLIENT_TIMEOUT_MS,
    socketTimeout: CLIENT_TIMEOUT_MS,
    ...extra,
  });
}

function tlsTransport(host: SmartHost, client?: { cert: string; key: string }) {
  return createTransport({
    host: host.host,
    port: host.port,
    secure: false,
    requireTLS: true,
    connectionTimeout: CLIENT_TIMEOUT_MS,
    greetingTimeout: CLIENT_TIMEOUT_MS,
    socketTimeout: CLIENT_TIMEOUT_MS,
    tls: { ca: certs.ca.cert, servername: 'localhost', ...(client ?? {}) },
  });
}

/** The first reply line a raw TCP client sees. */
async function greeting(host: SmartHost): Promise<string> {
  const socket = connect(host.port, host.host);
  socket.setTimeout(CLIENT_TIMEOUT_MS, () => socket.destroy(new Error('no greeting in time')));
  try {
    let buffered = '';
    for await (const chunk of socket) {
      buffered += String(chunk);
      const end = buffered.indexOf('\r\n');
      if (end >= 0) return buffered.slice(0, end);
    }
    throw new Error(`connection closed before a greeting: ${JSON.stringify(buffered)}`);
  } finally {
    socket.destroy();
  }
}

/** A message with a leading-dot line, 8-bit text and CRLF endings: what dot-stuffing must preserve. */
function rawMessage(subject: string): Buffer {
  return Buffer.from(
    [
      'From: alice@contoso.com',
      'To: bob@fabrikam.com',
      `Subject: ${subject}`,
      'Message-ID: <selftest-' + subject.replace(/\W/g, '') + '@contoso.com>',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      'Grüße aus Köln.',
      '.a line that starts with a dot',
      '..two dots',
      '',
    ].join('\r\n'),
    'utf8',
  );
}

describe('the recording smart host', { timeout: TEST_TIMEOUT_MS }, () => {
  it('records envelope and exact bytes of a plain-text delivery from nodemailer', async () => {
    const host = await smartHost();
    const raw = rawMessage('plain');
    const transport = plainTransport(host);
    const info = await transport.sendMail({
      envelope: { from: 'alice@contoso.com', to: ['bob@fabrikam.com', 'carol@fabrikam.com'] },
      raw,
    });
    transport.close();
    assert.deepEqual(info.accepted, ['bob@fabrikam.com', 'carol@fabrikam.com']);

    const [msg] = await host.waitFor(1);
    assert.ok(msg);
    assert.equal(msg.mailFrom, 'alice@contoso.com');
    assert.deepEqual(msg.rcptTo, ['bob@fabrikam.com', 'carol@fabrikam.com']);
    assert.ok(msg.raw.equals(raw), `received bytes differ:\n${msg.raw.toString('utf8')}`);
    assert.equal(msg.secure, false);
    assert.equal(msg.remoteAddress, '127.0.0.1');
    assert.equal(msg.messageIndexInConnection, 1);
    assert.equal(host.connections.length, 1);
    assert.equal(host.connections[0]?.messages, 1);
    assert.equal(host.connections[0]?.secure, false);
  });

  it('delivers over STARTTLS with the test CA and records the verified client certificate', async () => {
    const host = await smartHost({ tls: certs.server, requireTls: true, clientCa: certs.ca.cert });
    const raw = rawMessage('starttls');
    const transport = tlsTransport(host, certs.clients.goodCn);
    await transport.sendMail({ envelope: { from: 'alice@contoso.com', to: ['bob@fabrikam.com'] }, raw });
    transport.close();

    const [msg] = await host.waitFor(1);
    assert.ok(msg?.raw.equals(raw));
    assert.equal(msg?.secure, true);
    assert.deepEqual(host.connections[0]?.peerCertificate, { cn: 'mail.contoso.com', sans: [], authorized: true });
  });

  it('records a self-signed client certificate as presented but not authorized', async () => {
    const host = await smartHost({ tls: certs.server, clientCa: certs.ca.cert });
    const transport = tlsTransport(host, certs.clients.selfSigned);
    await transport.sendMail({ envelope: { from: 'a@contoso.com', to: ['b@fabrikam.com'] }, raw: rawMessage('self') });
    transport.close();
    await host.waitFor(1);
    const peer = host.connections[0]?.peerCertificate;
    assert.equal(peer?.cn, 'mail.contoso.com');
    assert.equal(peer?.authorized, false);
    assert.equal(peer?.authorizationError, 'DEPTH_ZERO_SELF_SIGNED_CERT');
  });

  it('refuses plain-text mail with 530 when TLS is required', async () => {
    const host = await smartHost({ tls: certs.server, requireTls: true });
    const transport = plainTransport(host);
    await assert.rejects(
      transport.sendMail({ envelope: { from: 'a@contoso.com', to: ['b@fabrikam.com'] }, raw: rawMessage('notls') }),
      (err: { responseCode?: number; response?: string }) => {
        assert.equal(err.responseCode, 530);
        assert.equal(err.response, '530 5.7.0 Must issue a STARTTLS command first');
        return true;
      },
    );
    transport.close();
    assert.equal(host.messages.length, 0);
  });

  it('answers RCPT with the scripted 450 reply exactly as written', async () => {
    const host = await smartHost({ onRcpt: (rcpt) => (rcpt.startsWith('busy@') ? '450 4.2.0 try later' : null) });
    const transport = plainTransport(host);
    await assert.rejects(
      transport.sendMail({ envelope: { from: 'a@contoso.com', to: ['busy@fabrikam.com'] }, raw: rawMessage('busy') }),
      (err: { responseCode?: number; response?: string }) => {
        assert.equal(err.responseCode, 450);
        assert.equal(err.response, '450 4.2.0 try later');
        return true;
      },
    );
    // A mixed transaction: the refused recipient is reported, the other one still gets the message.
    const info = await transport.sendMail({
      envelope: { from: 'a@contoso.com', to: ['busy@fabrikam.com', 'ok@fabrikam.com'] },
      raw: rawMessage('mixed'),
    });
    transport.close();
    assert.deepEqual(info.accepted, ['ok@fabrikam.com']);
    assert.deepEqual(info.rejected, ['busy@fabrikam.com']);
    const [msg] = await host.waitFor(1);
    assert.deepEqual(msg?.rcptTo, ['ok@fabrikam.com']);
  });

  it('answers DATA with a scripted 550 and keeps the refused message out of messages', async () => {
    const host = await smartHost({ onData: () => '550 5.7.1 content refused' });
    const transport = plainTransport(host);
    await assert.rejects(
      transport.sendMail({ envelope: { from: 'a@contoso.com', to: ['b@fabrikam.com'] }, raw: rawMessage('refused') }),
      (err: { responseCode?: number; response?: string }) => {
        assert.equal(err.responseCode, 550);
        assert.equal(err.response, '550 5.7.1 content refused');
        return true;
      },
    );
    transport.close();
    assert.equal(host.messages.length, 0);
    assert.equal(host.rejected.length, 1);
    assert.equal(host.connections[0]?.messages, 1);
  });

  it('switches behaviour live with setBehaviour', async () => {
    const host = await smartHost({ onRcpt: () => '451 4.3.0 not yet' });
    const transport = plainTransport(host);
    const send = () =>
      transport.sendMail({ envelope: { from: 'a@contoso.com', to: ['b@fabrikam.com'] }, raw: rawMessage('live') });
    await assert.rejects(send(), { responseCode: 451 });
    host.setBehaviour({ onRcpt: undefined });
    await send();
    transport.close();
    assert.equal((await host.waitFor(1)).length, 1);
    assert.throws(() => host.setBehaviour({ port: 1 }), /cannot change after start/);
  });

  it('counts pooled connections, concurrency and messages per connection', async () => {
    const host = await smartHost({ delayMs: 50 });
    const transport = createTransport({
      pool: true,
      host: host.host,
      port: host.port,
      secure: false,
      ignoreTLS: true,
      maxConnections: 2,
      maxMessages: 3,
      connectionTimeout: CLIENT_TIMEOUT_MS,
      socketTimeout: CLIENT_TIMEOUT_MS,
    });
    const total = 7;
    await Promise.all(
      Array.from({ length: total }, (_, i) =>
        transport.sendMail({ envelope: { from: 'a@contoso.com', to: [`r${i}@fabrikam.com`] }, raw: rawMessage(`pool ${i}`) }),
      ),
    );
    transport.close();
    const messages = await host.waitFor(total);
    assert.equal(messages.length, total);
    assert.equal(host.maxConcurrentConnections, 2);
    assert.ok(host.connections.length >= Math.ceil(total / 3), `${host.connections.length} connections`);
    assert.equal(
      host.connections.reduce((sum, c) => sum + c.messages, 0),
      total,
    );
    for (const c of host.connections) assert.ok(c.messages <= 3, `connection ${c.id} carried ${c.messages}`);
    assert.ok(messages.every((m) => m.messageIndexInConnection >= 1 && m.messageIndexInConnection <= 3));
  });

  it('marks connections closed once the client quits', async () => {
    const host = await smartHost();
    const transport = plainTransport(host);
    await transport.sendMail({ envelope: { from: 'a@contoso.com', to: ['b@fabrikam.com'] }, raw: rawMessage('quit') });
    transport.close();
    const deadline = Date.now() + CLIENT_TIMEOUT_MS;
    while (host.connections[0]?.closed === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.ok(host.connections[0]?.closed, 'connection closed');
    assert.ok((host.connections[0]?.closed ?? 0) >= (host.connections[0]?.opened ?? Infinity));
  });

  it('rejects waitFor with a count of what arrived when the timeout passes', async () => {
    const host = await smartHost();
    await assert.rejects(host.waitFor(2, 100), /waited 100 ms for 2 message\(s\), 0 arrived/);
  });

  it('listens on a port chosen by freePort and greets with the configured banner', async () => {
    const port = await freePort();
    const host = await smartHost({ port, banner: 'selftest' });
    assert.equal(host.port, port);
    assert.equal(await greeting(host), '220 smarthost.test ESMTP selftest');
    host.setBehaviour({ banner: 'changed' });
    assert.equal(await greeting(host), '220 smarthost.test ESMTP changed');
  });

  it('refuses a connection with the scripted onConnect reply', async () => {
    const host = await smartHost({ onConnect: () => '421 4.3.2 busy, come back later' });
    assert.equal(await greeting(host), '421 4.3.2 busy, come back later');
    const transport = plainTransport(host);
    await assert.rejects(
      transport.sendMail({ envelope: { from: 'a@contoso.com', to: ['b@fabrikam.com'] }, raw: rawMessage('busy') }),
      { responseCode: 421 },
    );
    transport.close();
    assert.equal(host.messages.length, 0);
  });
});
