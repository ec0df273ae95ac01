// server.limits.maxMessagesPerConnection: after N messages in one session the next MAIL gets
// 421 4.7.0 and the connection closes, so a busy sender spreads over fresh connections (EOP's 50).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCertSet } from '../helpers/certs.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { startSluice, testConfig, type SluiceProcess } from '../helpers/sluice.js';
import { RawSmtp } from '../helpers/raw-smtp.js';

let sluice: SluiceProcess;
let sink: SmartHost;

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
      const server = c.server as { limits: Record<string, unknown> };
      server.limits.maxMessagesPerConnection = 2;
      return c;
    },
  });
});

after(async () => {
  await sluice?.stop();
  await sink?.close();
});

test('the message past maxMessagesPerConnection gets 421 4.7.0 and the session is closed', async () => {
  const c = await RawSmtp.connect(sluice.port);
  await c.reply();
  await c.cmd('EHLO client.example');
  for (let i = 1; i <= 2; i++) {
    assert.match(await c.cmd('MAIL FROM:<sun@example.org>'), /^250 /);
    assert.match(await c.cmd('RCPT TO:<john@contoso.com>'), /^250 /);
    assert.match(await c.cmd('DATA'), /^354 /);
    c.write(`Subject: number ${i}\r\n\r\nbody ${i}\r\n.\r\n`);
    assert.match(await c.reply(), /^250 2\.6\.0 /);
  }
  assert.match(await c.cmd('MAIL FROM:<sun@example.org>'), /^421 4\.7\.0 Too many messages in this connection/);
  assert.equal(await c.reply(2_000), '', 'the server closed the connection');
  const got = await sink.waitFor(2);
  assert.deepEqual(
    got.map((m) => /Subject: (number \d)/.exec(m.raw.toString('latin1'))?.[1]).sort(),
    ['number 1', 'number 2'],
  );
  const again = await RawSmtp.connect(sluice.port);
  assert.match(await again.reply(), /^220 /, 'a fresh connection is served');
  again.close();
});
