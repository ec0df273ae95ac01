// What Sluice's own smtp-server classes (src/listener/connection.ts) put on the wire, byte for byte
// over raw loopback sockets: our enhanced status codes arrive once and unchanged (smtp-server alone
// would put its default code in front), the oversized-message refusal is ours, and the greeting
// waits server.limits.greetingDelay — none at 0 (an early talker is served), a positive one
// refuses an early talker with 421 and relays nothing. Each test fails if its override is lost.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { parse, stringify } from 'yaml';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { SluiceSmtpServer } from '../../src/listener/connection.js';
import { replyError } from '../../src/listener/replies.js';
import { RawSmtp } from '../helpers/raw-smtp.js';
import { openSession, startGateway, track, waitForToken, withToken, type Gateway } from '../helpers/security-fixtures.js';

const GREETING_DELAY_MS = 2_000;
/** Lower bound only: a timer never fires early, however loaded the machine is. */
const GREETING_DELAY_SLACK_MS = 100;

let gw0: Gateway; // server.limits.greetingDelay unset: the default, 0
let gw2: Gateway; // greetingDelay: 2s

before(async () => {
  [gw0, gw2] = await Promise.all([startGateway(), startGateway({ limits: { greetingDelay: `${GREETING_DELAY_MS}ms` } })]);
});

after(async () => {
  await Promise.all([gw0?.stop(), gw2?.stop()]);
});

const token = () => Math.random().toString(36).slice(2, 10);

/** Every reply until the server closes the connection (bounded by RawSmtp's reply timeout). */
async function repliesUntilClose(c: RawSmtp): Promise<string[]> {
  const all: string[] = [];
  for (let r = await c.reply(); r !== ''; r = await c.reply()) all.push(r);
  return all;
}

/** MAIL, RCPT and DATA for wire-<t>@contoso.com, each after the previous reply; the reply to `body`. */
async function dataReply(c: RawSmtp, t: string, body = 'hello\r\n'): Promise<string> {
  assert.match(await c.cmd('MAIL FROM:<sun@example.org>'), /^250 /);
  assert.match(await c.cmd(`RCPT TO:<wire-${t}@contoso.com>`), /^250 /);
  assert.match(await c.cmd('DATA'), /^354 /);
  return c.cmd(`Subject: wire ${t}\r\n\r\n${body}.`);
}

/** One accepted-domain transaction that must be queued. */
async function transaction(c: RawSmtp, t: string): Promise<void> {
  assert.match(await dataReply(c, t), /^250 2\.6\.0 Ok: queued as /);
}

describe('enhanced status codes reach the wire unchanged', () => {
  test('an on-prem server not allowed to relay gets exactly "550 5.7.64 TenantAttribution; Relay Access Denied"', async () => {
    const c = await openSession(gw0.sluice.port, { localAddress: '127.0.0.2' });
    assert.equal(await c.cmd('MAIL FROM:<x@gmail.example>'), '250 2.1.0 Accepted');
    assert.equal(await c.cmd('RCPT TO:<sun@fabrikam.com>'), '550 5.7.64 TenantAttribution; Relay Access Denied');
    c.close();
  });

  test('an anonymous sender to a foreign domain gets exactly "550 5.4.1 Relay Access Denied"', async () => {
    const c = await openSession(gw0.sluice.port);
    await c.cmd('MAIL FROM:<spam@example.org>');
    assert.equal(await c.cmd('RCPT TO:<victim@fabrikam.com>'), '550 5.4.1 Relay Access Denied');
    c.close();
  });

  test('a bare LF after DATA gets exactly our 554 5.6.11 line', async () => {
    const c = await openSession(gw0.sluice.port);
    assert.equal(await dataReply(c, token(), 'bare\nLF\r\n'), '554 5.6.11 Bare CR or LF characters are not allowed; use CRLF line endings');
    c.close();
  });

  test('a message over maxMessageSize gets exactly "552 5.3.4 Message size exceeds fixed maximum message size" and is relayed nowhere', async () => {
    const big = token();
    const c = await openSession(gw0.sluice.port);
    // 1.2 MB against the test config's 1MB.
    assert.equal(await dataReply(c, big, `${'b'.repeat(998)}\r\n`.repeat(1_200)), '552 5.3.4 Message size exceeds fixed maximum message size');
    // The session goes on; the next message of it is delivered, the refused one never was.
    const next = token();
    await transaction(c, next);
    c.close();
    await waitForToken(gw0.onprem, next);
    await gw0.sluice.waitForLog((l) => l.msg === 'message refused' && l.reason === 'too big');
    assert.equal(withToken(gw0.onprem, big).length + withToken(gw0.internet, big).length, 0);
  });
});

describe('greetingDelay 0 (the default): greet at once', () => {
  test('a pipelining client that writes EHLO right after connecting is greeted, served and its message delivered', async () => {
    const t = token();
    const c = track(await RawSmtp.connect(gw0.sluice.port));
    c.write('EHLO early.example\r\n'); // before any byte from the server: no wait for the 220
    assert.match(await c.reply(), /^220 gateway\.sluice\.test ESMTP/);
    assert.match(await c.reply(), /^250-gateway\.sluice\.test /);
    await transaction(c, t);
    c.close();
    await waitForToken(gw0.onprem, t);
    assert.equal(gw0.sluice.logs.filter((l) => l.msg === 'early talker refused before the greeting').length, 0);
  });
});

describe(`greetingDelay ${GREETING_DELAY_MS} ms: early talkers are refused`, () => {
  test('a client that talks before the greeting gets 421, never a 220, and its pipelined message is relayed nowhere', async () => {
    const early = token();
    const c = track(await RawSmtp.connect(gw2.sluice.port));
    c.write(
      'EHLO early.example\r\nMAIL FROM:<sun@example.org>\r\n' +
        `RCPT TO:<wire-${early}@contoso.com>\r\nDATA\r\nSubject: early ${early}\r\n\r\nhi\r\n.\r\nQUIT\r\n`,
    );
    const got = await repliesUntilClose(c);
    assert.equal(got[0], '421 gateway.sluice.test You talk too soon');
    assert.deepEqual(got.filter((r) => !r.startsWith('421 ')), [], 'nothing but 421 before the close');
    const logged = await gw2.sluice.waitForLog((l) => l.msg === 'early talker refused before the greeting');
    assert.deepEqual([logged.ip, logged.command, logged.greetingDelayMs], ['127.0.0.1', 'EHLO', GREETING_DELAY_MS]);
    // A polite client afterwards is delivered; the early one never was (it got no 250).
    const polite = token();
    const p = await openSession(gw2.sluice.port);
    await transaction(p, polite);
    p.close();
    await waitForToken(gw2.onprem, polite);
    assert.equal(withToken(gw2.onprem, early).length + withToken(gw2.internet, early).length, 0);
  });

  test('a client that waits for the greeting gets it after the delay and is served', async () => {
    const t = token();
    const started = Date.now();
    const c = track(await RawSmtp.connect(gw2.sluice.port));
    assert.match(await c.reply(GREETING_DELAY_MS + 10_000), /^220 gateway\.sluice\.test ESMTP/);
    assert.ok(Date.now() - started >= GREETING_DELAY_MS - GREETING_DELAY_SLACK_MS, `220 after ${Date.now() - started} ms`);
    assert.match(await c.cmd('EHLO polite.example'), /^250-/);
    await transaction(c, t);
    c.close();
    await waitForToken(gw2.onprem, t);
  });

  test('after a reload to greetingDelay 0 a new session is greeted at once and an early talker is served', async () => {
    const config = parse(await readFile(gw2.sluice.configPath, 'utf8')) as { server: { limits: Record<string, unknown> } };
    config.server.limits.greetingDelay = 0;
    await writeFile(gw2.sluice.configPath, stringify(config));
    await gw2.sluice.waitForLog((l) => l.msg === 'configuration reloaded');
    const t = token();
    const c = track(await RawSmtp.connect(gw2.sluice.port));
    c.write('EHLO early.example\r\n');
    assert.match(await c.reply(), /^220 /);
    assert.match(await c.reply(), /^250-/);
    await transaction(c, t);
    c.close();
    await waitForToken(gw2.onprem, t);
  });
});

describe('the overrides belong to Sluice\'s classes, not to smtp-server', () => {
  test('a plain SMTPServer in the same process still prefixes its own code; SluiceSmtpServer does not', async () => {
    const options: SMTPServerOptions = {
      disabledCommands: ['AUTH', 'STARTTLS'],
      hideENHANCEDSTATUSCODES: false, // as the Listener sets it (smtp-server hides them by default)
      logger: false,
      onRcptTo: (_a, _s, cb) => cb(replyError(550, '5.7.64', 'TenantAttribution; Relay Access Denied')),
    };
    const rcptReply = async (server: SMTPServer): Promise<string> => {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      const port = (server.server.address() as { port: number }).port;
      const c = await RawSmtp.connect(port);
      try {
        await c.reply();
        await c.cmd('EHLO x.example');
        await c.cmd('MAIL FROM:<a@example.org>');
        return await c.cmd('RCPT TO:<b@fabrikam.com>');
      } finally {
        c.close();
        await new Promise<void>((r) => server.close(() => r()));
      }
    };
    assert.equal(await rcptReply(new SluiceSmtpServer(options, { greetingDelayMs: () => 0 })), '550 5.7.64 TenantAttribution; Relay Access Denied');
    assert.equal(await rcptReply(new SMTPServer(options)), '550 5.1.1 5.7.64 TenantAttribution; Relay Access Denied');
  });
});
