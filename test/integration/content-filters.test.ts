// The content filters in a real daemon over real SMTP, with the real engines: clamd (EICAR inline
// and as a base64 attachment, action Reject and Quarantine), the common attachment filter (.exe
// renamed .pdf, .exe inside a zip), rspamd (GTUBE under each of Reject, Quarantine, ModifySubject,
// AddXHeader and MoveToJmf, changed by hot reload), and both engines down → 4xx, nothing lost,
// accepted once they are back. Assertions are on the replies and on what the smart host received.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { runCli, startSluice, type SluiceProcess } from '../helpers/sluice.js';
import { message, send } from '../helpers/clients.js';
import { startClamd, EICAR, type Clamd } from '../helpers/clamd.js';
import { startRspamd, GTUBE, type Rspamd } from '../helpers/rspamd.js';
import { makeZip, messageWithAttachments, peExecutable } from '../helpers/attachments.js';

const FROM = 'ann@fabrikam.com';
const TO = 'bob@contoso.com';
const RELOAD_TIMEOUT_MS = 10_000;
const POLL_MS = 25;
let certs: CertSet;
let host: SmartHost;
let clamd: Clamd;
let rspamd: Rspamd;
let sluice: SluiceProcess;

before(async () => {
  certs = await makeCertSet();
  [clamd, rspamd, host] = await Promise.all([startClamd(), startRspamd(), startSmartHost()]);
  console.log(`# engines ready: clamd ${clamd.startMs} ms, rspamd ${rspamd.startMs} ms`);
  sluice = await startSluice({
    certs,
    patch: {
      outboundConnectors: [{ name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, cloudServicesMailEnabled: true, smartHosts: [`127.0.0.1:${host.port}`] }],
      filters: { timeout: '20s' },
      malwareFilter: { enabled: true, clamd: clamd.address, action: 'Reject', timeout: '5s', enableFileFilter: true, fileTypeAction: 'Reject' },
      spamFilter: { enabled: true, rspamd: { url: rspamd.url, timeout: '5s' }, highConfidenceSpamAction: 'Reject', addXHeaderValue: 'X-Spam-Flag: YES' },
    },
  });
});

after(async () => {
  await sluice?.stop();
  await Promise.all([host?.close(), clamd?.stop(), rspamd?.stop()]);
});

const sendRaw = (raw: string) => send({ port: sluice.port, from: FROM, to: [TO], raw, ignoreTLS: true });
const plain = (subject: string, body = 'Hello from the test.\r\n') => message({ from: FROM, to: TO, subject, body });
const subjectOf = (raw: Buffer) => /^Subject: ([^\r\n]*)/m.exec(raw.toString('latin1'))?.[1];

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return String((err as { response?: string }).response ?? (err as Error).message);
  }
  throw new Error('the message was accepted');
}

/** Sends a clean message and waits for it: whatever was sent before has had its chance to arrive. */
async function barrier(name: string): Promise<void> {
  const n = host.messages.length;
  await sendRaw(plain(name));
  await host.waitFor(n + 1);
}

const delivered = (subject: string) => host.messages.filter((m) => subjectOf(m.raw) === subject);

/** Edits the running daemon's YAML and waits for its hot reload to apply it. */
async function reconfigure(change: (c: Record<string, Record<string, unknown>>) => void): Promise<void> {
  const count = () => sluice.logs.filter((l) => l.msg === 'configuration reloaded').length;
  const before = count();
  const config = parse(await readFile(sluice.configPath, 'utf8')) as Record<string, Record<string, unknown>>;
  change(config);
  await writeFile(sluice.configPath, stringify(config));
  const deadline = Date.now() + RELOAD_TIMEOUT_MS;
  while (count() === before) {
    if (Date.now() > deadline) throw new Error('the config change was not reloaded in time');
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

const heldFiles = () => readdirSync(path.join(sluice.dir, 'spool', 'held')).filter((f) => !f.endsWith('.tmp'));

describe('malware filter (clamd)', () => {
  test('EICAR in the body is refused with 550 5.7.1 naming the signature, and nothing is delivered', async () => {
    const reply = await refusal(sendRaw(plain('eicar inline', `${EICAR}\r\n`)));
    assert.match(reply, /^550 5\.7\.1 Message rejected: malware detected \(Eicar-Test-Signature[^)]*\)/);
    await barrier('after eicar inline');
    assert.equal(delivered('eicar inline').length, 0);
  });

  test('EICAR as a base64 attachment is refused too', async () => {
    const raw = messageWithAttachments({ from: FROM, to: TO, subject: 'eicar attached', files: [{ name: 'readme.txt', type: 'text/plain', content: Buffer.from(EICAR, 'latin1') }] });
    const reply = await refusal(sendRaw(raw));
    assert.match(reply, /^550 5\.7\.1 Message rejected: malware detected/);
    await barrier('after eicar attached');
    assert.equal(delivered('eicar attached').length, 0);
  });

  test('with action: Quarantine, EICAR is held as type Malware, not delivered; released, it is delivered once', async () => {
    await reconfigure((c) => (c.malwareFilter!.action = 'Quarantine'));
    try {
      const before = heldFiles().length;
      const r = await sendRaw(plain('eicar quarantined', `${EICAR}\r\n`));
      assert.match(r.response, /^250 /);
      const id = /queued as (\w+)/.exec(r.response)?.[1];
      assert.ok(id, r.response);
      const line = await sluice.waitForLog((l) => l.msg === 'message quarantined' && l.type === 'Malware');
      assert.equal(line.filter, 'malware');
      assert.match(String(line.reason), /malware detected \(Eicar-Test-Signature/);
      assert.ok(heldFiles().length > before, 'a record in the quarantine area');
      await barrier('after eicar quarantined');
      assert.equal(delivered('eicar quarantined').length, 0);

      const n = host.messages.length;
      const rel = await runCli(['quarantine', 'release', id, '--config', sluice.configPath]);
      assert.equal(rel.code, 0, rel.stderr);
      await host.waitFor(n + 1);
      const again = await runCli(['quarantine', 'release', id, '--config', sluice.configPath]);
      assert.equal(again.code, 1, 'a second release finds nothing');
      await barrier('after eicar released');
      assert.equal(delivered('eicar quarantined').length, 1, 'delivered exactly once, not scanned again');
    } finally {
      await reconfigure((c) => (c.malwareFilter!.action = 'Reject'));
    }
  });
});

describe('common attachment filter', () => {
  test('an .exe renamed .pdf is refused by its content', async () => {
    const raw = messageWithAttachments({ from: FROM, to: TO, subject: 'fake pdf', files: [{ name: 'invoice.pdf', type: 'application/pdf', content: peExecutable() }] });
    assert.match(await refusal(sendRaw(raw)), /^550 5\.7\.1 Message rejected: file type blocked \(exe\)/);
  });

  test('an .exe inside a zip is refused', async () => {
    const zip = makeZip([{ name: 'readme.txt', content: Buffer.from('hello') }, { name: 'setup.exe', content: peExecutable() }]);
    const raw = messageWithAttachments({ from: FROM, to: TO, subject: 'zipped exe', files: [{ name: 'files.zip', type: 'application/zip', content: zip }] });
    assert.match(await refusal(sendRaw(raw)), /^550 5\.7\.1 Message rejected: file type blocked \(exe\)/);
  });

  test('a harmless zip and a real pdf are delivered, stamped SCL 1 by the spam filter', async () => {
    const zip = makeZip([{ name: 'notes.txt', content: Buffer.from('hello') }]);
    const pdf = Buffer.from('%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n');
    const n = host.messages.length;
    const raw = messageWithAttachments({
      from: FROM,
      to: TO,
      subject: 'harmless files',
      files: [
        { name: 'notes.zip', type: 'application/zip', content: zip },
        { name: 'report.pdf', type: 'application/pdf', content: pdf },
      ],
    });
    await sendRaw(raw);
    const [got] = (await host.waitFor(n + 1)).slice(n);
    const text = got!.raw.toString('latin1');
    assert.match(text, /^X-MS-Exchange-CrossPremises-SCL: 1\r$/m);
    assert.ok(text.includes(zip.toString('base64').slice(0, 40)), 'the attachment arrived intact');
  });
});

describe('spam filter (rspamd), GTUBE under each action', () => {
  const setHcs = (action: string) => reconfigure((c) => (c.spamFilter!.highConfidenceSpamAction = action));
  const gtube = (subject: string) => plain(subject, `${GTUBE}\r\n`);

  test('Reject: 550 5.7.1 Message rejected as spam, nothing delivered', async () => {
    const reply = await refusal(sendRaw(gtube('gtube reject')));
    assert.match(reply, /^550 5\.7\.1 Message rejected as spam/);
    await barrier('after gtube reject');
    assert.equal(delivered('gtube reject').length, 0);
  });

  test('Quarantine: 250, held as HighConfidenceSpam, not delivered', async () => {
    await setHcs('Quarantine');
    const r = await sendRaw(gtube('gtube quarantine'));
    assert.match(r.response, /^250 /);
    const line = await sluice.waitForLog((l) => l.msg === 'message quarantined' && l.type === 'HighConfidenceSpam');
    assert.equal(line.filter, 'spam');
    await barrier('after gtube quarantine');
    assert.equal(delivered('gtube quarantine').length, 0);
  });

  test('ModifySubject: delivered with the prefix in front of the subject', async () => {
    await setHcs('ModifySubject');
    const n = host.messages.length;
    await sendRaw(gtube('gtube subject'));
    const [got] = (await host.waitFor(n + 1)).slice(n);
    assert.equal(subjectOf(got!.raw), '[SPAM] gtube subject');
    assert.equal((got!.raw.toString('latin1').match(/^Subject:/gm) ?? []).length, 1, 'one Subject field');
  });

  test('AddXHeader: delivered with the configured header', async () => {
    await setHcs('AddXHeader');
    const n = host.messages.length;
    await sendRaw(gtube('gtube xheader'));
    const [got] = (await host.waitFor(n + 1)).slice(n);
    assert.match(got!.raw.toString('latin1'), /^X-Spam-Flag: YES\r$/m);
    assert.equal(subjectOf(got!.raw), 'gtube xheader');
  });

  test('MoveToJmf: delivered with the SCL 9 (X-MS-Exchange-CrossPremises-SCL to the on-prem server) for the mailbox to file as junk', async () => {
    await setHcs('MoveToJmf');
    const n = host.messages.length;
    await sendRaw(gtube('gtube jmf'));
    const [got] = (await host.waitFor(n + 1)).slice(n);
    const text = got!.raw.toString('latin1');
    assert.match(text, /^X-MS-Exchange-CrossPremises-SCL: 9\r$/m);
    assert.doesNotMatch(text, /X-Spam-Flag/);
  });

  test('Redirect: delivered to redirectToRecipients instead of the recipient', async () => {
    await reconfigure((c) => {
      c.spamFilter!.redirectToRecipients = ['junk@contoso.com'];
      c.spamFilter!.highConfidenceSpamAction = 'Redirect';
    });
    const n = host.messages.length;
    await sendRaw(gtube('gtube redirect'));
    const [got] = (await host.waitFor(n + 1)).slice(n);
    assert.deepEqual(got!.rcptTo, ['junk@contoso.com']);
    assert.equal(subjectOf(got!.raw), 'gtube redirect');
  });

  test('Delete: 250 and nothing delivered', async () => {
    await setHcs('Delete');
    const r = await sendRaw(gtube('gtube delete'));
    assert.match(r.response, /^250 /);
    await sluice.waitForLog((l) => l.msg === 'message dropped');
    await barrier('after gtube delete');
    assert.equal(delivered('gtube delete').length, 0);
  });

  test('bulk mail (BCL over bulkThreshold) gets bulkSpamAction: Quarantine as type Bulk', async () => {
    await reconfigure((c) => (c.spamFilter!.bulkSpamAction = 'Quarantine'));
    try {
      const raw = plain('weekly deals', 'This week only: deals.\r\n').replace(
        'Subject: weekly deals\r\n',
        'Subject: weekly deals\r\nPrecedence: bulk\r\nList-Id: deals <deals.fabrikam.com>\r\nList-Unsubscribe: <mailto:unsub@fabrikam.com>\r\n',
      );
      assert.match((await sendRaw(raw)).response, /^250 /);
      await sluice.waitForLog((l) => l.msg === 'message quarantined' && l.type === 'Bulk');
      await barrier('after bulk');
      assert.equal(delivered('weekly deals').length, 0);
    } finally {
      await reconfigure((c) => (c.spamFilter!.bulkSpamAction = 'MoveToJmf'));
    }
  });

  test('an allowed sender skips spam filtering (SCL -1), but EICAR from it is still refused', async () => {
    await reconfigure((c) => (c.spamFilter!.allowedSenders = [FROM]));
    try {
      const n = host.messages.length;
      await sendRaw(gtube('gtube allowed'));
      const [got] = (await host.waitFor(n + 1)).slice(n);
      assert.match(got!.raw.toString('latin1'), /^X-MS-Exchange-CrossPremises-SCL: -1\r$/m);
      assert.match(await refusal(sendRaw(plain('eicar allowed', `${EICAR}\r\n`))), /^550 5\.7\.1 Message rejected: malware detected/);
    } finally {
      await reconfigure((c) => {
        c.spamFilter!.allowedSenders = [];
        c.spamFilter!.highConfidenceSpamAction = 'Reject';
      });
    }
  });
});

describe('engines down', () => {
  test('clamd down: 451 4.7.500 naming the malware stage, nothing delivered; accepted once clamd is back', async () => {
    await clamd.stop();
    let restarted = false;
    try {
      const reply = await refusal(sendRaw(plain('while clamd down')));
      assert.match(reply, /^451 4\.7\.500 Message could not be scanned \(malware\)/);
      assert.doesNotMatch(reply, /127\.0\.0\.1|3310|clamd/i);
      await clamd.start();
      restarted = true;
      const n = host.messages.length;
      await sendRaw(plain('while clamd down'));
      await host.waitFor(n + 1);
      await barrier('after clamd back');
      assert.equal(delivered('while clamd down').length, 1, 'delivered exactly once');
    } finally {
      if (!restarted) await clamd.start();
    }
  });

  test('rspamd down: 451 4.7.500 naming the spam stage; accepted once rspamd is back', async () => {
    await rspamd.stop();
    let restarted = false;
    try {
      const reply = await refusal(sendRaw(plain('while rspamd down')));
      assert.match(reply, /^451 4\.7\.500 Message could not be scanned \(spam\)/);
      assert.doesNotMatch(reply, /127\.0\.0\.1|rspamd/i);
      await rspamd.start();
      restarted = true;
      const n = host.messages.length;
      await sendRaw(plain('while rspamd down'));
      await host.waitFor(n + 1);
      await barrier('after rspamd back');
      assert.equal(delivered('while rspamd down').length, 1, 'delivered exactly once');
    } finally {
      if (!restarted) await rspamd.start();
    }
  });

  test('with onError: Accept, rspamd down lets mail through unfiltered', async () => {
    await reconfigure((c) => (c.spamFilter!.onError = 'Accept'));
    await rspamd.stop();
    try {
      const n = host.messages.length;
      const r = await sendRaw(plain('rspamd down accepted'));
      assert.match(r.response, /^250 /);
      const [got] = (await host.waitFor(n + 1)).slice(n);
      assert.doesNotMatch(got!.raw.toString('latin1'), /X-MS-Exchange-CrossPremises-SCL/);
    } finally {
      await rspamd.start();
      await reconfigure((c) => (c.spamFilter!.onError = 'Tempfail'));
    }
  });
});
