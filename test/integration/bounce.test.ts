// Bounces over real sockets: a smart host refuses a recipient with 550 and the sender's own
// domain's smart host (reached through Sluice's routing) receives an RFC 3464 report from <>.
// RFC 3461 parameters (NOTIFY, RET, ENVID, ORCPT) are sent by a byte-exact client.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { makeCertSet } from '../helpers/certs.js';
import { startSmartHost, type ReceivedMessage, type SmartHost } from '../helpers/smart-host.js';
import { startSluice, type SluiceProcess } from '../helpers/sluice.js';
import { RawSmtp } from '../helpers/raw-smtp.js';
import { message } from '../helpers/clients.js';
import { parseDsn, recipientGroup } from '../helpers/dsn-report.js';
import { spoolHas } from '../helpers/spool-files.js';

const ON_PREM_IP = '127.0.0.2';
const POLL_MS = 50;
let onprem: SmartHost; // contoso.com: where bounces to contoso.com senders go
let internet: SmartHost; // everything else
let sluice: SluiceProcess;

const unknownUser = (rcpt: string) => `550 5.1.1 <${rcpt}>: Recipient address rejected: User unknown in virtual mailbox table`;

before(async () => {
  const certs = await makeCertSet();
  onprem = await startSmartHost({ onRcpt: (r) => (/^(ghost|nobody)@/.test(r) ? unknownUser(r) : null) });
  internet = await startSmartHost({ onRcpt: (r) => (r.startsWith('bad') ? unknownUser(r) : null) });
  sluice = await startSluice({
    certs,
    patch: {
      inboundConnectors: [{ name: 'On-prem IP', connectorType: 'OnPremises', senderDomains: ['*'], senderIPAddresses: [ON_PREM_IP] }],
      outboundConnectors: [
        { name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${onprem.port}`] },
        { name: 'To internet', connectorType: 'Partner', recipientDomains: ['*'], smartHosts: [`127.0.0.1:${internet.port}`] },
      ],
    },
  });
});

after(async () => {
  await sluice?.stop();
  await onprem?.close();
  await internet?.close();
});

interface RawSend {
  from: string;
  mailParams?: string;
  rcpts: { to: string; params?: string }[];
  data: string;
  localAddress?: string;
}

/** One transaction with ESMTP parameters as written; resolves with the queue id from the 250 reply. */
async function sendRaw(o: RawSend): Promise<string> {
  const c = await RawSmtp.connect(sluice.port, { localAddress: o.localAddress ?? ON_PREM_IP });
  try {
    assert.match(await c.reply(), /^220/);
    assert.match(await c.cmd('EHLO client.contoso.com'), /^250/);
    assert.match(await c.cmd(`MAIL FROM:<${o.from}>${o.mailParams ? ` ${o.mailParams}` : ''}`), /^250 /);
    for (const r of o.rcpts) assert.match(await c.cmd(`RCPT TO:<${r.to}>${r.params ? ` ${r.params}` : ''}`), /^250 /);
    assert.match(await c.cmd('DATA'), /^354/);
    const reply = await c.cmd(`${o.data}.`);
    const id = /queued as ([0-9A-F]+)/.exec(reply)?.[1];
    assert.ok(id, reply);
    await c.cmd('QUIT').catch(() => '');
    return id;
  } finally {
    c.close();
  }
}

async function waitForMessage(host: SmartHost, pred: (m: ReceivedMessage) => boolean, timeoutMs = 10_000): Promise<ReceivedMessage> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = host.messages.find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`no matching message within ${timeoutMs} ms (${host.messages.length} received)`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

const dsnFor = (queueId: string) => (m: ReceivedMessage) => m.mailFrom === '' && m.raw.toString('latin1').includes(`X-Sluice-Queue-ID: ${queueId}`);
const dsnsFor = (queueId: string) => onprem.messages.filter(dsnFor(queueId));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('EHLO advertises DSN', async () => {
  const c = await RawSmtp.connect(sluice.port);
  await c.reply();
  const ehlo = await c.cmd('EHLO probe.example');
  c.close();
  assert.match(ehlo, /^250[- ]DSN\r?$/m);
});

describe('failure reports', () => {
  test('a 550 5.1.1 for one recipient bounces to the sender through its own domain, and the other is delivered', async () => {
    const data = message({ from: 'john@contoso.com', to: 'several', subject: 'Quarterly numbers', body: 'SECRET-BODY-1\r\n' });
    const id = await sendRaw({ from: 'john@contoso.com', rcpts: [{ to: 'good1@fabrikam.com' }, { to: 'bad1@fabrikam.com' }], data });

    const delivered = await waitForMessage(internet, (m) => m.rcptTo.includes('good1@fabrikam.com'));
    assert.deepEqual(delivered.rcptTo, ['good1@fabrikam.com']);
    const got = await waitForMessage(onprem, dsnFor(id));
    assert.equal(got.mailFrom, '', 'a DSN is sent from the null sender');
    assert.deepEqual(got.rcptTo, ['john@contoso.com']);

    const dsn = parseDsn(got.raw);
    assert.equal(dsn.headers['subject'], 'Undeliverable: Quarterly numbers');
    assert.equal(dsn.headers['auto-submitted'], 'auto-replied');
    assert.equal(dsn.perMessage['reporting-mta'], 'dns; gateway.sluice.test');
    assert.ok(!Number.isNaN(Date.parse(dsn.perMessage['arrival-date'] ?? '')), 'Arrival-Date is a date');
    assert.equal(dsn.recipients.length, 1, 'only the failed recipient is reported');
    const bad = recipientGroup(dsn, 'bad1@fabrikam.com');
    assert.ok(bad, JSON.stringify(dsn.recipients));
    assert.equal(bad['action'], 'failed');
    assert.equal(bad['status'], '5.1.1');
    assert.equal(bad['diagnostic-code'], `smtp; ${unknownUser('bad1@fabrikam.com')}`);
    assert.equal(bad['remote-mta'], 'dns; 127.0.0.1');
    assert.ok(!Number.isNaN(Date.parse(bad['last-attempt-date'] ?? '')), 'Last-Attempt-Date is a date');
    assert.equal(bad['original-recipient'], undefined, 'no ORCPT was given');
    assert.doesNotMatch(dsn.human, /good1@fabrikam\.com/);
    assert.match(dsn.human, /bad1@fabrikam\.com\r\nRemote server returned '550 5\.1\.1/);
    assert.equal(dsn.originalType, 'text/rfc822-headers', 'headers only by default');
    assert.match(dsn.original, /^Received: from client\.contoso\.com/);
    assert.match(dsn.original, /Subject: Quarterly numbers/);
    assert.doesNotMatch(dsn.original, /SECRET-BODY-1/);

    await sleep(300);
    assert.equal(dsnsFor(id).length, 1, 'exactly one DSN');
    assert.equal(internet.messages.filter((m) => m.rcptTo.includes('good1@fabrikam.com')).length, 1);
    assert.ok(await spoolHas(path.join(sluice.dir, 'spool'), id, 'failed'), 'the original is kept in failed/');
  });

  test('NOTIFY=NEVER suppresses the bounce and the message is kept in failed/', async () => {
    const data = message({ from: 'john@contoso.com', to: 'bad2@fabrikam.com', subject: 'never' });
    const id = await sendRaw({ from: 'john@contoso.com', rcpts: [{ to: 'bad2@fabrikam.com', params: 'NOTIFY=NEVER' }], data });
    await sluice.waitForLog((l) => l.queueId === id && l.msg === 'message failed; kept in failed/');
    await sleep(500);
    assert.equal(dsnsFor(id).length, 0, 'no DSN');
    assert.ok(await spoolHas(path.join(sluice.dir, 'spool'), id, 'failed'));
  });

  test('RET=FULL returns the whole message, with ENVID and ORCPT echoed', async () => {
    const data = message({ from: 'john@contoso.com', to: 'bad3@fabrikam.com', subject: 'full', body: 'FULL-BODY-MARKER\r\n' });
    const id = await sendRaw({
      from: 'john@contoso.com',
      mailParams: 'RET=FULL ENVID=QQ314159',
      rcpts: [{ to: 'bad3@fabrikam.com', params: 'NOTIFY=FAILURE ORCPT=rfc822;Bad3+2BX@Fabrikam.com' }],
      data,
    });
    const dsn = parseDsn((await waitForMessage(onprem, dsnFor(id))).raw);
    assert.equal(dsn.originalType, 'message/rfc822');
    assert.match(dsn.original, /\r\n\r\nFULL-BODY-MARKER/);
    assert.equal(dsn.perMessage['original-envelope-id'], 'QQ314159');
    const r = recipientGroup(dsn, 'bad3@fabrikam.com');
    assert.equal(r?.['original-recipient'], 'rfc822; Bad3+X@Fabrikam.com', 'ORCPT xtext is decoded');
  });

  test('RET=HDRS returns only the headers', async () => {
    const data = message({ from: 'john@contoso.com', to: 'bad4@fabrikam.com', subject: 'hdrs', body: 'HDRS-BODY-MARKER\r\n' });
    const id = await sendRaw({ from: 'john@contoso.com', mailParams: 'RET=HDRS', rcpts: [{ to: 'bad4@fabrikam.com' }], data });
    const dsn = parseDsn((await waitForMessage(onprem, dsnFor(id))).raw);
    assert.equal(dsn.originalType, 'text/rfc822-headers');
    assert.match(dsn.original, /Subject: hdrs/);
    assert.doesNotMatch(dsn.original, /HDRS-BODY-MARKER/);
  });
});

describe('success reports', () => {
  test('NOTIFY=SUCCESS gets a "relayed" report with the next hop reply, and no report for the silent recipient', async () => {
    const data = message({ from: 'john@contoso.com', to: 'ok5@fabrikam.com', subject: 'tell me' });
    const id = await sendRaw({
      from: 'john@contoso.com',
      rcpts: [{ to: 'ok5@fabrikam.com', params: 'NOTIFY=SUCCESS,FAILURE' }, { to: 'quiet5@fabrikam.com' }],
      data,
    });
    const dsn = parseDsn((await waitForMessage(onprem, dsnFor(id))).raw);
    assert.match(dsn.headers['subject'] ?? '', /^Relayed: tell me$/);
    assert.equal(dsn.recipients.length, 1);
    const r = recipientGroup(dsn, 'ok5@fabrikam.com');
    assert.equal(r?.['action'], 'relayed');
    assert.equal(r?.['status'], '2.0.0');
    assert.match(r?.['diagnostic-code'] ?? '', /^smtp; 250 /);
    assert.equal(internet.messages.filter((m) => m.rcptTo.includes('ok5@fabrikam.com')).length, 1);
  });
});

describe('never bounce a bounce', () => {
  test('a bounce whose own delivery fails permanently is kept in failed/ and not bounced again', async () => {
    const data = message({ from: 'ghost@contoso.com', to: 'bad6@fabrikam.com', subject: 'loop?' });
    const id = await sendRaw({ from: 'ghost@contoso.com', rcpts: [{ to: 'bad6@fabrikam.com' }], data });
    const queued = await sluice.waitForLog((l) => l.queueId === id && l.msg === 'DSN queued');
    const dsnId = String(queued.dsnId);
    await sluice.waitForLog((l) => l.queueId === dsnId && l.msg === 'delivery failed permanently' && l.rcpt === 'ghost@contoso.com');
    await sluice.waitForLog((l) => l.queueId === dsnId && l.msg === 'message failed; kept in failed/');
    await sleep(500);
    assert.equal(sluice.logs.filter((l) => l.msg === 'DSN queued' && l.queueId === dsnId).length, 0, 'no DSN about the DSN');
    assert.equal(onprem.messages.filter((m) => m.rcptTo.includes('ghost@contoso.com')).length, 0);
    assert.ok(await spoolHas(path.join(sluice.dir, 'spool'), dsnId, 'failed'), 'the failed DSN is kept in failed/');
  });

  test('a null-sender message that fails gets no DSN', async () => {
    const data = message({ from: 'MAILER-DAEMON@fabrikam.com', to: 'nobody@contoso.com', subject: 'a bounce from elsewhere' });
    const id = await sendRaw({ from: '', rcpts: [{ to: 'nobody@contoso.com' }], data, localAddress: '127.0.0.1' });
    await sluice.waitForLog((l) => l.queueId === id && l.msg === 'no DSN for a null-sender message (never bounce a bounce)');
    await sluice.waitForLog((l) => l.queueId === id && l.msg === 'message failed; kept in failed/');
    assert.equal(sluice.logs.filter((l) => l.msg === 'DSN queued' && l.queueId === id).length, 0);
  });
});
