// Retries, expiry and delay warnings over real sockets, on a daemon with a tiny queue lifetime:
// per-recipient state (a delivered recipient is never sent again), the delay warning, the
// 4.4.7 QUEUE.Expired bounce carrying the last error, and softBounce keeping a 550 queued.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { startSmartHost, type ReceivedMessage, type SmartHost } from '../helpers/smart-host.js';
import { startSluice, type SluiceProcess } from '../helpers/sluice.js';
import { RawSmtp } from '../helpers/raw-smtp.js';
import { message } from '../helpers/clients.js';
import { parseDsn, recipientGroup } from '../helpers/dsn-report.js';
import { readSpoolRecord } from '../helpers/spool-files.js';

const ON_PREM_IP = '127.0.0.2';
const LIFETIME_MS = 4_000;
const POLL_MS = 50;
let certs: CertSet;
let onprem: SmartHost; // contoso.com: receives the DSNs
let fabrikam: SmartHost;
let northwind: SmartHost;
let sluice: SluiceProcess;
const northwindRefusals = new Map<string, number>();

function routes(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    inboundConnectors: [{ name: 'On-prem IP', connectorType: 'OnPremises', senderDomains: ['*'], senderIPAddresses: [ON_PREM_IP] }],
    outboundConnectors: [
      { name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${onprem.port}`] },
      { name: 'To Fabrikam', connectorType: 'Partner', recipientDomains: ['fabrikam.com'], smartHosts: [`127.0.0.1:${fabrikam.port}`] },
      { name: 'To Northwind', connectorType: 'Partner', recipientDomains: ['northwind.com'], smartHosts: [`127.0.0.1:${northwind.port}`] },
    ],
    ...extra,
  };
}

before(async () => {
  certs = await makeCertSet();
  onprem = await startSmartHost();
  fabrikam = await startSmartHost({
    onRcpt: (r) => (r.startsWith('busy') ? '450 4.2.1 <' + r + '>: mailbox busy, try later' : r.startsWith('bad') ? `550 5.1.1 <${r}>: User unknown` : null),
  });
  // Northwind refuses each "flaky" recipient once with 450, then accepts it.
  northwind = await startSmartHost({
    onRcpt: (r) => {
      const n = northwindRefusals.get(r) ?? 0;
      northwindRefusals.set(r, n + 1);
      return r.startsWith('flaky') && n === 0 ? '450 4.7.1 greylisted, come back later' : null;
    },
  });
  sluice = await startSluice({
    certs,
    patch: {
      ...routes(),
      delivery: { mxPort: 25, delayWarning: '2500ms', retry: { initial: '1s', max: '2s', lifetime: `${LIFETIME_MS}ms` } },
    },
  });
});

after(async () => {
  await sluice?.stop();
  await Promise.all([onprem?.close(), fabrikam?.close(), northwind?.close()]);
});

async function sendRaw(port: number, from: string, rcpts: { to: string; params?: string }[], data: string): Promise<string> {
  const c = await RawSmtp.connect(port, { localAddress: ON_PREM_IP });
  try {
    assert.match(await c.reply(), /^220/);
    assert.match(await c.cmd('EHLO client.contoso.com'), /^250/);
    assert.match(await c.cmd(`MAIL FROM:<${from}>`), /^250 /);
    for (const r of rcpts) assert.match(await c.cmd(`RCPT TO:<${r.to}>${r.params ? ` ${r.params}` : ''}`), /^250 /);
    assert.match(await c.cmd('DATA'), /^354/);
    const reply = await c.cmd(`${data}.`);
    const id = /queued as ([0-9A-F]+)/.exec(reply)?.[1];
    assert.ok(id, reply);
    return id;
  } finally {
    c.close();
  }
}

async function waitUntil<T>(what: string, fn: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

const dsnsFor = (queueId: string): ReceivedMessage[] =>
  onprem.messages.filter((m) => m.mailFrom === '' && m.raw.toString('latin1').includes(`X-Sluice-Queue-ID: ${queueId}`));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('per-recipient state', () => {
  test('a recipient delivered on the first attempt is never sent again while another is retried', async () => {
    const data = message({ from: 'john@contoso.com', to: 'two', subject: 'per rcpt' });
    const id = await sendRaw(sluice.port, 'john@contoso.com', [{ to: 'once@fabrikam.com' }, { to: 'flaky1@northwind.com' }], data);
    const late = await waitUntil('the deferred recipient', () => northwind.messages.find((m) => m.rcptTo.includes('flaky1@northwind.com')), 10_000);
    assert.ok(northwindRefusals.get('flaky1@northwind.com')! >= 2, 'it was refused with 450 first');
    await sluice.waitForLog((l) => l.queueId === id && l.msg === 'message done');
    await sleep(1_500); // longer than the retry interval: a resend would have happened by now
    assert.equal(fabrikam.messages.filter((m) => m.rcptTo.includes('once@fabrikam.com')).length, 1, 'received exactly once');
    assert.equal(northwind.messages.filter((m) => m.rcptTo.includes('flaky1@northwind.com')).length, 1);
    assert.deepEqual(late.rcptTo, ['flaky1@northwind.com']);
    assert.equal(dsnsFor(id).length, 0, 'a retried success sends no DSN');
  });
});

describe('delay warning and expiry', () => {
  test('a recipient deferred past delayWarning gets one "delayed" DSN, then a 4.4.7 QUEUE.Expired bounce with the last error', async () => {
    const data = message({ from: 'john@contoso.com', to: 'busy1@fabrikam.com', subject: 'slow', body: 'EXPIRY-BODY\r\n' });
    const id = await sendRaw(
      sluice.port,
      'john@contoso.com',
      [{ to: 'busy1@fabrikam.com' }, { to: 'busy2@fabrikam.com', params: 'NOTIFY=FAILURE' }],
      data,
    );
    const both = await waitUntil('two DSNs', () => (dsnsFor(id).length >= 2 ? dsnsFor(id) : undefined), LIFETIME_MS + 6_000);
    const [warning, bounce] = both.map((m) => parseDsn(m.raw));

    assert.match(warning!.headers['subject'] ?? '', /^Delivery delayed: slow$/);
    assert.equal(warning!.recipients.length, 1, 'NOTIFY=FAILURE opts out of the delay warning');
    const w = recipientGroup(warning!, 'busy1@fabrikam.com');
    assert.equal(w?.['action'], 'delayed');
    assert.equal(w?.['status'], '4.2.1');
    assert.match(w?.['diagnostic-code'] ?? '', /^smtp; 450 4\.2\.1 <busy1@fabrikam\.com>: mailbox busy/);
    assert.ok(Date.parse(w?.['will-retry-until'] ?? '') > Date.parse(warning!.perMessage['arrival-date'] ?? ''));

    assert.match(bounce!.headers['subject'] ?? '', /^Undeliverable: slow$/);
    assert.equal(bounce!.recipients.length, 2);
    for (const rcpt of ['busy1@fabrikam.com', 'busy2@fabrikam.com']) {
      const r = recipientGroup(bounce!, rcpt);
      assert.equal(r?.['action'], 'failed', rcpt);
      assert.equal(r?.['status'], '4.4.7');
      const diag = r?.['diagnostic-code'] ?? '';
      assert.match(diag, /^smtp; 550 4\.4\.7 QUEUE\.Expired; message expired/);
      assert.ok(diag.includes(`[LED=450 4.2.1 <${rcpt}>: mailbox busy, try later]`), diag);
      assert.ok(diag.includes(`[LastAttemptedServerName=127.0.0.1];[LastAttemptedIP=127.0.0.1:${fabrikam.port}]`), diag);
    }
    assert.doesNotMatch(bounce!.original, /EXPIRY-BODY/);
    const expiredAt = sluice.logs.find((l) => l.queueId === id && l.msg === 'message expired');
    const receivedAt = sluice.logs.find((l) => l.queueId === id && l.msg === 'message queued');
    const ageMs = Date.parse(String(expiredAt?.time)) - Date.parse(String(receivedAt?.time));
    // The receipt log line follows the fsync that receivedAt precedes, hence the small allowance.
    assert.ok(ageMs >= LIFETIME_MS - 250 && ageMs < LIFETIME_MS + 1_500, `expired on time (${ageMs} ms after receipt)`);
    await sleep(500);
    assert.equal(dsnsFor(id).length, 2, 'one warning, one bounce');
  });
});

describe('softBounce', () => {
  test('with softBounce on, a 550 from the smart host leaves the message queued and deferred, not bounced', async () => {
    const soft = await startSluice({
      certs,
      patch: { ...routes(), delivery: { softBounce: true, retry: { initial: '1s', max: '1s', lifetime: '1h' } } },
    });
    try {
      const data = message({ from: 'john@contoso.com', to: 'bad9@fabrikam.com', subject: 'soft' });
      const id = await sendRaw(soft.port, 'john@contoso.com', [{ to: 'bad9@fabrikam.com' }], data);
      // Two deferrals: the 550 was retried, not just deferred once.
      await waitUntil('two deferrals', () => (soft.logs.filter((l) => l.queueId === id && l.msg === 'delivery deferred').length >= 2 ? true : undefined), 8_000);
      const deferred = soft.logs.find((l) => l.queueId === id && l.msg === 'delivery deferred')!;
      assert.match(String(deferred.rule), /^softBounce:5xx-at-RCPT/);
      const rec = (await readSpoolRecord(path.join(soft.dir, 'spool'), id))!;
      assert.equal(rec.status, 'active');
      assert.equal(rec.rcpts[0]!.status, 'pending');
      assert.match(rec.rcpts[0]!.lastError ?? "", /550 5\.1\.1 <bad9@fabrikam\.com>: User unknown/);
      assert.equal(dsnsFor(id).length, 0, 'no bounce');
      assert.equal(soft.logs.filter((l) => l.queueId === id && /failed/.test(String(l.msg))).length, 0);
    } finally {
      await soft.stop();
    }
  });
});
