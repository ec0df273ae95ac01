// Recipient validation at RCPT (EOP's Directory-Based Edge Blocking): unknown recipients get
// 550 5.4.1 and nothing is queued for them. List mode against a file that is edited while the
// daemon runs; Callout mode against a real Postfix that refuses unknown users at RCPT, and
// against a dead host (accepted unverified, not cached).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makeCertSet } from '../helpers/certs.js';
import { startSmartHost, arrivedFor, type SmartHost } from '../helpers/smart-host.js';
import { startSluice, testConfig, type SluiceProcess } from '../helpers/sluice.js';
import { startPostfix, type PostfixInstance } from '../helpers/postfix.js';
import { RawSmtp } from '../helpers/raw-smtp.js';
import { freePort } from '../helpers/ports.js';

let sluice: SluiceProcess;
let sink: SmartHost;
let postfix: PostfixInstance;
let listFile: string;

before(async () => {
  const certs = await makeCertSet();
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-rcptlist-'));
  listFile = path.join(dir, 'valid.txt');
  await writeFile(listFile, 'john@contoso.com\nsales@contoso.com\n*@fabrikam.com\n');
  sink = await startSmartHost();
  postfix = await startPostfix({ domain: 'northwind.com', users: ['john', 'bob'] });
  const deadPort = await freePort(); // nothing listens here
  const list = { mode: 'List', list: listFile };
  sluice = await startSluice({
    certs,
    config: (port, d) =>
      testConfig({
        port,
        dir: d,
        certs,
        patch: {
          acceptedDomains: [
            { domain: 'contoso.com', recipientValidation: list },
            { domain: 'fabrikam.com', recipientValidation: list },
            { domain: 'northwind.com', recipientValidation: { mode: 'Callout', cache: '1h' } },
            { domain: 'tailspin.com', recipientValidation: { mode: 'Callout' } },
            { domain: 'unchecked.com' },
          ],
          outboundConnectors: [
            { name: 'To sink', connectorType: 'OnPremises', recipientDomains: ['contoso.com', 'fabrikam.com', 'unchecked.com'], smartHosts: [`127.0.0.1:${sink.port}`] },
            { name: 'To Postfix', connectorType: 'OnPremises', recipientDomains: ['northwind.com'], smartHosts: [`127.0.0.1:${postfix.port}`] },
            { name: 'To dead host', connectorType: 'OnPremises', recipientDomains: ['tailspin.com'], smartHosts: [`127.0.0.1:${deadPort}`] },
          ],
        },
      }),
  });
});

after(async () => {
  await sluice?.stop();
  await sink?.close();
  await postfix?.stop();
});

async function session(): Promise<RawSmtp> {
  const c = await RawSmtp.connect(sluice.port);
  await c.reply();
  await c.cmd('EHLO client.example');
  assert.match(await c.cmd('MAIL FROM:<sun@example.org>'), /^250 /);
  return c;
}

const rcpt = (c: RawSmtp, a: string): Promise<string> => c.cmd(`RCPT TO:<${a}>`, 20_000);
const REFUSED = /^550 5\.4\.1 Recipient address rejected: Access denied$/;

test('List: listed, plus-addressed and catch-all recipients are accepted, unknown ones refused and never queued', async () => {
  const c = await session();
  assert.match(await rcpt(c, 'john@contoso.com'), /^250 /);
  assert.match(await rcpt(c, 'john+reports@contoso.com'), /^250 /);
  assert.match(await rcpt(c, 'anyone@fabrikam.com'), /^250 /);
  assert.match(await rcpt(c, 'mallory@contoso.com'), REFUSED);
  assert.match(await rcpt(c, 'whoever@unchecked.com'), /^250 /, 'a domain without validation accepts all');
  assert.match(await c.cmd('DATA'), /^354 /);
  c.write('Subject: list\r\n\r\nhi\r\n.\r\n');
  assert.match(await c.reply(), /^250 /);
  await c.cmd('QUIT');
  const m = await arrivedFor(sink, 'john@contoso.com');
  await sink.waitFor(1);
  const all = sink.messages.flatMap((x) => x.rcptTo);
  assert.ok(!all.includes('mallory@contoso.com'), `nothing was delivered to the unknown recipient (${all.join(', ')})`);
  assert.ok(m.rcptTo.includes('john+reports@contoso.com'));
});

test('List: an edited file is picked up without a reload', async () => {
  const before = await session();
  assert.match(await rcpt(before, 'newhire@contoso.com'), REFUSED);
  before.close();
  await writeFile(listFile, 'john@contoso.com\nsales@contoso.com\nnewhire@contoso.com\n*@fabrikam.com\n');
  const deadline = Date.now() + 10_000;
  let reply = '';
  for (let i = 0; i < 50 && Date.now() < deadline; i++) {
    const c = await session();
    reply = await rcpt(c, 'newhire@contoso.com');
    c.close();
    if (reply.startsWith('250')) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.match(reply, /^250 /);
});

test('Callout: Postfix decides, known users accepted, unknown refused, and the answer is cached', async () => {
  const c = await session();
  assert.match(await rcpt(c, 'john@northwind.com'), /^250 /);
  assert.match(await rcpt(c, 'ghost@northwind.com'), REFUSED);
  assert.match(await rcpt(c, 'ghost@northwind.com'), REFUSED);
  c.close();
  await sluice.waitForLog((l) => l.msg === 'recipient unknown' && /callout \(cached\)/.test(String(l.reason)));
  await postfix.waitForLog(/ghost@northwind\.com/); // Postfix was asked (its log is written asynchronously)
  const log = await postfix.log();
  assert.equal((log.match(/RCPT from [^\n]*ghost@northwind\.com/g) ?? []).length, 1, 'only the first RCPT reached Postfix');
});

test('Callout: a dead smart host cannot decide, so the recipient is accepted and the answer is not cached', async () => {
  const c = await session();
  assert.match(await rcpt(c, 'anyone@tailspin.com'), /^250 /);
  assert.match(await rcpt(c, 'anyone@tailspin.com'), /^250 /);
  c.close();
  // Log lines come through the daemon's stdout pipe: poll for them, bounded.
  const inconclusive = () => sluice.logs.filter((l) => l.msg === 'callout inconclusive; recipient accepted' && l.rcpt === 'anyone@tailspin.com');
  const deadline = Date.now() + 5_000;
  while (inconclusive().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(inconclusive().length, 2, 'each RCPT probed again: nothing was cached');
});

test('Callout: a session refused by the relay policy never causes a probe', async () => {
  const c = await session();
  assert.match(await rcpt(c, 'someone@not-ours.example'), /^550 5\.4\.1 Relay Access Denied/);
  c.close();
  await sluice.waitForLog((l) => l.msg === 'recipient refused' && l.rcpt === 'someone@not-ours.example');
  assert.ok(!sluice.logs.some((l) => String(l.rcpt) === 'someone@not-ours.example' && /callout/.test(String(l.msg ?? ''))));
});
