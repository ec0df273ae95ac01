// The trace store and its pure views: the SQLite store's queries, the retention prune run by the
// real worker thread on its timer, Message-ID/Subject from the first header bytes, and EOP's
// statuses derived from a message's events.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SqliteTraceStore } from '../../src/observe/sqlite-trace-store.js';
import { TraceSink } from '../../src/observe/trace-sink.js';
import { createLogger } from '../../src/observe/log.js';
import { headerFields, traceFieldsOf } from '../../src/observe/header-fields.js';
import { HeaderBlockCollector, parseHeaderBlock } from '../../src/filters/header-block.js';
import { summarise, eopFailureDetail } from '../../src/observe/trace-format.js';
import type { TimedEvent, TraceRow } from '../../src/observe/trace-store.js';

const T0 = Date.UTC(2026, 11, 1, 10, 0, 0);
const tmp = () => mkdtemp(path.join(tmpdir(), 'sluice-trace-'));
const ev = (e: Partial<TimedEvent> & Pick<TimedEvent, 'kind'>): TimedEvent => ({ queueId: 'Q1', sender: 'bob@fabrikam.com', recipients: ['a@contoso.com'], time: T0, ...e });

describe('SqliteTraceStore', () => {
  test('finds a message by recipient, sender and Message-ID and returns all of its events', async () => {
    const store = new SqliteTraceStore(path.join(await tmp(), 'trace.db'));
    await store.write([
      ev({ kind: 'RECEIVE', recipients: ['a@contoso.com', 'b@contoso.com'], messageId: 'm1@x', subject: 'Hi' }),
      ev({ kind: 'DELIVER', time: T0 + 1, outbound: 'To on-prem' }),
      ev({ kind: 'DEFER', time: T0 + 2, recipients: ['b@contoso.com'], reply: '450 4.2.1 busy' }),
      ev({ kind: 'RECEIVE', queueId: 'Q2', sender: 'eve@example.org', time: T0 + 5 }),
    ]);
    const byRcpt = await store.query({ recipient: 'B@CONTOSO.COM' });
    assert.deepEqual(byRcpt.map((r) => [r.kind, r.recipient]), [['RECEIVE', 'a@contoso.com'], ['RECEIVE', 'b@contoso.com'], ['DELIVER', 'a@contoso.com'], ['DEFER', 'b@contoso.com']]);
    assert.deepEqual([...new Set((await store.query({ sender: 'eve@example.org' })).map((r) => r.queueId))], ['Q2']);
    assert.equal((await store.query({ messageId: '<m1@x>' })).length, 4);
    assert.equal((await store.query({ since: T0 + 3 })).length, 1, 'only Q2 has an event since T0+3');
    assert.equal((await store.details('Q1')).length, 4);
    await store.close();
  });

  test('a refusal at RCPT (no queue id) is found by its session, without the rest of the session', async () => {
    const store = new SqliteTraceStore(path.join(await tmp(), 'trace.db'));
    await store.write([
      ev({ kind: 'REJECT', queueId: null, sessionId: 's1', recipients: ['x@fabrikam.test'], reply: '550 5.4.1 Relay Access Denied' }),
      ev({ kind: 'REJECT', queueId: null, sessionId: 's1', recipients: ['y@fabrikam.test'], reply: '550 5.4.1 Relay Access Denied' }),
    ]);
    const rows = await store.query({ recipient: 'x@fabrikam.test' });
    assert.deepEqual(rows.map((r) => r.recipient), ['x@fabrikam.test']);
    await store.close();
  });

  test('the worker prunes events older than the retention on its timer; newer ones stay', async () => {
    const file = path.join(await tmp(), 'trace.db');
    const now = Date.now();
    const sink = await TraceSink.open({ path: file, includeSubject: false, retentionMs: 2_000, log: createLogger('silent') });
    sink.sink(ev({ kind: 'RECEIVE', queueId: 'OLD', time: now - 60_000, subject: 'secret' }));
    sink.sink(ev({ kind: 'RECEIVE', queueId: 'NEW', time: now + 60_000, subject: 'secret' }));
    await sink.settled();
    const reader = new SqliteTraceStore(file, { readonly: true });
    assert.equal((await reader.details('NEW'))[0]?.subject, null, 'includeSubject: false keeps no subject');
    const deadline = Date.now() + 5_000;
    while ((await reader.details('OLD')).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal((await reader.details('OLD')).length, 0, 'pruned within the prune interval (retention / 4, at least 1 s)');
    assert.equal((await reader.details('NEW')).length, 1);
    await reader.close();
    await sink.close();
  });
});

describe('Message-ID and Subject from the first header bytes', () => {
  const cases = [
    { name: 'plain fields', text: 'Subject: Hello\r\nMessage-ID: <a@b>\r\n\r\nbody', expected: { messageId: 'a@b', subject: 'Hello' } },
    { name: 'a folded, encoded subject', text: 'Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n  aus Bern\r\nMessage-Id: <x@y>\r\n\r\n', expected: { messageId: 'x@y', subject: 'Grüße aus Bern' } },
    { name: 'fields in the body are not headers', text: 'From: a@b\r\n\r\nSubject: no\r\nMessage-ID: <no@no>\r\n', expected: { messageId: null, subject: null } },
    { name: 'raw UTF-8 in the subject', text: Buffer.from('Subject: café\n\n').toString('latin1'), expected: { messageId: null, subject: 'café' } },
  ];
  for (const c of cases) test(c.name, () => assert.deepEqual(headerFields(c.text), c.expected));
  for (const c of cases) {
    test(`${c.name}, from the parsed header block`, () => assert.deepEqual(traceFieldsOf(parseHeaderBlock(Buffer.from(c.text, 'latin1')).fields), c.expected));
  }

  test('a header split across DATA chunks: the fields of the block collected from them', () => {
    const block = new HeaderBlockCollector(1024 * 1024);
    block.push(Buffer.from('Subject: Split he'));
    block.push(Buffer.from('re\r\nMessage-ID: <s@t>\r\n\r\n'));
    block.push(Buffer.from('Subject: body\r\n'));
    assert.deepEqual(traceFieldsOf(block.block().fields), { messageId: 's@t', subject: 'Split here' });
  });
});

describe("EOP's statuses from a message's events", () => {
  const row = (r: Partial<TraceRow> & Pick<TraceRow, 'kind'>): TraceRow => ({
    time: T0, queueId: 'Q', sessionId: 's', messageId: null, sender: 'bob@fabrikam.com', recipient: 'a@contoso.com', subject: null, size: null,
    clientIp: null, inbound: null, outbound: null, rule: null, remoteHost: null, remoteIp: null, reply: null, reason: null, extra: null, ...r,
  });
  const spam = { name: 'rspamd', stage: 'content', verdict: 'spam' };
  const cases: { name: string; rows: TraceRow[]; status: string }[] = [
    { name: 'received only: Pending', rows: [row({ kind: 'RECEIVE' })], status: 'Pending' },
    { name: 'deferred: Pending', rows: [row({ kind: 'RECEIVE' }), row({ kind: 'DEFER' })], status: 'Pending' },
    { name: 'deferred then delivered: Delivered', rows: [row({ kind: 'RECEIVE' }), row({ kind: 'DEFER' }), row({ kind: 'DELIVER' })], status: 'Delivered' },
    { name: 'refused at RCPT: Failed', rows: [row({ kind: 'REJECT', queueId: null })], status: 'Failed' },
    { name: 'bounced: Failed, the DSN changes nothing', rows: [row({ kind: 'RECEIVE' }), row({ kind: 'FAIL' }), row({ kind: 'DSN' })], status: 'Failed' },
    { name: 'expired: Failed', rows: [row({ kind: 'RECEIVE' }), row({ kind: 'EXPIRE' })], status: 'Failed' },
    { name: 'quarantined: Quarantined', rows: [row({ kind: 'RECEIVE' }), row({ kind: 'QUARANTINE' })], status: 'Quarantined' },
    { name: 'released and delivered: Delivered', rows: [row({ kind: 'QUARANTINE' }), row({ kind: 'RELEASE' }), row({ kind: 'DELIVER' })], status: 'Delivered' },
    { name: 'spam delivered to junk: FilteredAsSpam', rows: [row({ kind: 'FILTER', extra: { filter: spam } }), row({ kind: 'DELIVER' })], status: 'FilteredAsSpam' },
    { name: 'a clean filter verdict changes nothing', rows: [row({ kind: 'FILTER', extra: { filter: { ...spam, verdict: 'clean' } } }), row({ kind: 'DELIVER' })], status: 'Delivered' },
    { name: 'redirected: Expanded', rows: [row({ kind: 'RECEIVE' }), row({ kind: 'REDIRECT' })], status: 'Expanded' },
  ];
  for (const c of cases) test(c.name, () => assert.equal(summarise(c.rows)[0]?.status, c.status));

  test('one row per recipient, and a failure detail in EOP form', () => {
    const rows = [row({ kind: 'RECEIVE' }), row({ kind: 'RECEIVE', recipient: 'b@contoso.com' }), row({ kind: 'DELIVER', outbound: 'To on-prem' })];
    assert.deepEqual(summarise(rows).map((s) => [s.recipient, s.status, s.connector]), [['a@contoso.com', 'Delivered', 'To on-prem'], ['b@contoso.com', 'Pending', null]]);
    const fail = row({ kind: 'FAIL', reply: '550 5.1.1 User unknown', reason: null, remoteHost: 'mx.contoso.com', remoteIp: '10.0.0.5:25', extra: { detail: { status: '5.1.1' } } });
    assert.equal(eopFailureDetail(fail), '[{LED=550 5.1.1 User unknown};{MSG=5.1.1};{FQDN=mx.contoso.com};{IP=10.0.0.5};{LRT=2026-12-01 10:00:00Z}]');
  });
});
