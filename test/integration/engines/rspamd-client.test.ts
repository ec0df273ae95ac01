// The rspamd client against a real rspamd (test/helpers/rspamd.ts): GTUBE → action reject → SCL 9,
// the add-header and rewrite-subject test patterns → spam, a plain message → clean, list headers →
// bulk by BCL, and a stopped rspamd is a connect error until it is back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { startRspamd, GTUBE, GTUBE_ADD_HEADER, GTUBE_REWRITE_SUBJECT, type Rspamd } from '../../helpers/rspamd.js';
import { checkMessage, RspamdError } from '../../../src/filters/rspamd-client.js';
import { judgeRspamd } from '../../../src/filters/spam-verdict.js';
import { CONTENT_DEFAULTS } from '../../../src/config/sections/content.js';
import { spamFilter } from '../../../src/filters/spam.js';
import type { ContentContext } from '../../../src/filters/contract.js';

let rspamd: Rspamd;
const cfg = CONTENT_DEFAULTS.spamFilter;
const facts = { ip: '192.0.2.10', helo: 'mail.fabrikam.com', from: 'ann@fabrikam.com', rcpts: ['bob@contoso.com'], queueId: 'Q1' };
const TIMEOUT_MS = 10_000;

const mail = (body: string, extra: string[] = []) =>
  Readable.from([
    Buffer.from(
      [
        'From: ann@fabrikam.com',
        'To: bob@contoso.com',
        'Subject: hello',
        'Message-ID: <t1@fabrikam.com>',
        'Date: Tue, 01 Dec 2026 10:00:00 +0000',
        'MIME-Version: 1.0',
        'Content-Type: text/plain',
        ...extra,
        '',
        body,
        '',
      ].join('\r\n'),
    ),
  ]);

before(async () => {
  rspamd = await startRspamd();
  console.log(`# rspamd ready in ${rspamd.startMs} ms`);
});
after(async () => {
  await rspamd?.stop();
});

describe('rspamd client', () => {
  test('GTUBE gets rspamd action reject, which is high confidence spam (SCL 9)', async () => {
    const r = await checkMessage(rspamd.url, mail(GTUBE), facts, { timeoutMs: TIMEOUT_MS });
    assert.equal(r.action, 'reject');
    assert.ok('GTUBE' in r.symbols);
    assert.deepEqual([judgeRspamd(r, cfg).cls, judgeRspamd(r, cfg).scl], ['highConfidenceSpam', 9]);
  });

  test('the add-header test pattern is spam (SCL 6)', async () => {
    const r = await checkMessage(rspamd.url, mail(GTUBE_ADD_HEADER), facts, { timeoutMs: TIMEOUT_MS });
    assert.equal(r.action, 'add header');
    assert.deepEqual([judgeRspamd(r, cfg).cls, judgeRspamd(r, cfg).scl], ['spam', 6]);
  });

  test('the rewrite-subject test pattern is spam (SCL 5: rspamd says spam below the score threshold)', async () => {
    const r = await checkMessage(rspamd.url, mail(GTUBE_REWRITE_SUBJECT), facts, { timeoutMs: TIMEOUT_MS });
    assert.equal(r.action, 'rewrite subject');
    assert.deepEqual([judgeRspamd(r, cfg).cls, judgeRspamd(r, cfg).scl], ['spam', 5]);
  });

  test('a plain message is clean', async () => {
    const r = await checkMessage(rspamd.url, mail('Lunch at noon tomorrow?'), facts, { timeoutMs: TIMEOUT_MS });
    assert.equal(r.action, 'no action');
    assert.equal(judgeRspamd(r, cfg).cls, 'clean');
  });

  test('a newsletter with Precedence: bulk and list headers is bulk (BCL over bulkThreshold)', async () => {
    const extra = ['Precedence: bulk', 'List-Id: deals <deals.fabrikam.com>', 'List-Unsubscribe: <mailto:unsub@fabrikam.com>'];
    const r = await checkMessage(rspamd.url, mail('This week only: deals.', extra), facts, { timeoutMs: TIMEOUT_MS });
    const j = judgeRspamd(r, cfg);
    assert.equal(j.cls, 'bulk', JSON.stringify(Object.keys(r.symbols)));
    assert.ok(j.bcl >= cfg.bulkThreshold);
  });

  test('a stopped rspamd is a connect error, and it answers again once restarted', async () => {
    await rspamd.stop();
    await assert.rejects(
      checkMessage(rspamd.url, mail('hi'), facts, { timeoutMs: TIMEOUT_MS }),
      (e: unknown) => e instanceof RspamdError && e.code === 'E_RSPAMD_CONNECT',
    );
    await rspamd.start();
    console.log(`# rspamd restarted in ${rspamd.startMs} ms`);
    const r = await checkMessage(rspamd.url, mail(GTUBE), facts, { timeoutMs: TIMEOUT_MS });
    assert.equal(r.action, 'reject');
  });

  test('a peer that never answers is a timeout', async () => {
    const http = await import('node:http');
    const silent = http.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    await assert.rejects(
      checkMessage(`http://127.0.0.1:${port}`, mail('hi'), facts, { timeoutMs: 300 }),
      (e: unknown) => e instanceof RspamdError && e.code === 'E_RSPAMD_TIMEOUT',
    );
    silent.closeAllConnections();
    silent.close();
  });

  test('markAsSpamSpfRecordHardFail: a clean message whose SPF hard-failed is spam (SCL 6) with X-CustomSpam', async () => {
    const ctx = (spf: string) =>
      ({
        session: { clientIp: '192.0.2.10', helo: 'mail.fabrikam.com', inbound: null },
        envelope: { mailFrom: 'ann@fabrikam.com', rcpts: [{ address: 'bob@contoso.com', route: null }] },
        facts: { ipAllowed: false, scl: null, bcl: null, auth: { spf, dkim: 'none', dmarc: 'none', arc: 'none', dmarcPolicy: null, fromDomain: 'fabrikam.com' }, skip: new Set() },
        message: { queueId: 'Q2', headers: [{ name: 'Subject', value: 'hello', line: '' }], open: () => mail('Lunch at noon tomorrow?') },
        signal: new AbortController().signal,
      }) as unknown as ContentContext;
    const f = spamFilter({ ...cfg, rspamd: { url: rspamd.url, timeout: TIMEOUT_MS }, markAsSpamSpfRecordHardFail: true });
    const failed = await f.content!(ctx('fail'));
    assert.equal(failed.scl, 6);
    assert.ok(failed.headerEdits?.some((e) => e.op === 'add' && e.name === 'X-CustomSpam' && e.value === 'SPF Record Fail'));
    const soft = await f.content!(ctx('softfail'));
    assert.equal(soft.scl, 1, 'only a hard fail counts');
  });
});
