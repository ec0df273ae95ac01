// Request deadlines (server.limits.commandTimeout, dataTimeout, maxSessionDuration): a client that
// trickles a command or the message a byte at a time keeps smtp-server's idle timer alive forever;
// past the deadline it gets 421 4.4.2 and is disconnected, and a trickled message is not queued.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCertSet } from '../helpers/certs.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { startSluice, testConfig, type SluiceProcess } from '../helpers/sluice.js';
import { RawSmtp } from '../helpers/raw-smtp.js';

let sluice: SluiceProcess;
let sink: SmartHost;
const TRICKLE_MS = 150; // well under idleTimeout, so only the deadline can end the session
const COMMAND_MS = 1_000;
const DATA_MS = 1_500;
const SESSION_MS = 4_000;

before(async () => {
  const certs = await makeCertSet();
  sink = await startSmartHost();
  sluice = await startSluice({
    certs,
    config: (port, dir) => {
      const c = testConfig({
        port,
        dir,
        certs,
        patch: {
          outboundConnectors: [{ name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${sink.port}`] }],
        },
      });
      const limits = (c.server as { limits: Record<string, unknown> }).limits;
      Object.assign(limits, { idleTimeout: '3s', commandTimeout: `${COMMAND_MS}ms`, dataTimeout: `${DATA_MS}ms`, maxSessionDuration: `${SESSION_MS}ms` });
      return c;
    },
  });
});

after(async () => {
  await sluice?.stop();
  await sink?.close();
});

/** Writes `text` one byte per TRICKLE_MS until done or the peer closed; returns the bytes written. */
async function trickle(c: RawSmtp, text: string): Promise<number> {
  let i = 0;
  for (; i < text.length && !c.closed; i++) {
    c.write(text[i]!);
    await new Promise((r) => setTimeout(r, TRICKLE_MS));
  }
  return i;
}

test('a command trickled a byte at a time gets 421 4.4.2 once commandTimeout has passed', async () => {
  const c = await RawSmtp.connect(sluice.port);
  assert.match(await c.reply(), /^220 /);
  const started = Date.now();
  const line = 'EHLO a-very-slow-client.example.org\r\n'; // 37 bytes: 5.5 s at this pace
  const written = await trickle(c, line);
  assert.ok(written < line.length, 'the server cut the client off before the command was complete');
  assert.match(await c.reply(1_000), /^421 4\.4\.2 gateway\.sluice\.test Error: timeout exceeded/);
  assert.equal(await c.reply(1_000), '', 'the connection is closed');
  const took = Date.now() - started;
  assert.ok(took >= COMMAND_MS && took < COMMAND_MS + 2_000, `dropped after ${took} ms`);
  await sluice.waitForLog((l) => l.msg === 'deadline exceeded, connection dropped' && l.kind === 'command');
});

test('a message trickled a byte at a time gets 421 4.4.2 after dataTimeout and nothing is delivered', async () => {
  const c = await RawSmtp.connect(sluice.port);
  await c.reply();
  await c.cmd('EHLO client.example');
  assert.match(await c.cmd('MAIL FROM:<sun@example.org>'), /^250 /);
  assert.match(await c.cmd('RCPT TO:<john@contoso.com>'), /^250 /);
  assert.match(await c.cmd('DATA'), /^354 /);
  const body = 'Subject: trickled\r\n\r\n' + 'x'.repeat(40) + '\r\n.\r\n';
  const written = await trickle(c, body);
  assert.ok(written < body.length, 'cut off before the final dot');
  assert.match(await c.reply(1_000), /^421 4\.4\.2 .* Error: timeout exceeded/);
  assert.equal(await c.reply(1_000), '', 'the connection is closed');
  await sluice.waitForLog((l) => l.msg === 'deadline exceeded, connection dropped' && l.kind === 'data');
  await sluice.waitForLog((l) => l.msg === 'message abandoned');
  assert.equal(sink.messages.length, 0, 'no message reached the smart host');
});

test('a client that keeps a session busy with complete commands is dropped after maxSessionDuration', async () => {
  const c = await RawSmtp.connect(sluice.port);
  await c.reply();
  const started = Date.now();
  let last = '';
  for (let i = 0; i < 40 && !c.closed; i++) {
    last = await c.cmd('NOOP', 2_000);
    if (!last.startsWith('250')) break;
    await new Promise((r) => setTimeout(r, 300));
  }
  // The 421 may arrive between two NOOPs, while the client waits.
  if (last.startsWith('250')) last = await c.reply(1_000);
  assert.match(last, /^421 4\.4\.2 /);
  const took = Date.now() - started;
  assert.ok(took >= SESSION_MS - 200 && took < SESSION_MS + 2_000, `dropped after ${took} ms`);
});

test('a prompt client is served normally under the same deadlines', async () => {
  const c = await RawSmtp.connect(sluice.port);
  await c.reply();
  await c.cmd('EHLO client.example');
  assert.match(await c.cmd('MAIL FROM:<sun@example.org>'), /^250 /);
  assert.match(await c.cmd('RCPT TO:<john@contoso.com>'), /^250 /);
  assert.match(await c.cmd('DATA'), /^354 /);
  c.write('Subject: prompt\r\n\r\nhello\r\n.\r\n');
  assert.match(await c.reply(), /^250 /);
  await c.cmd('QUIT');
  const [m] = await sink.waitFor(1);
  assert.match(m!.raw.toString('latin1'), /Subject: prompt/);
});
