// Tables over the pure "apply outcomes to a record" module with time as an input: what an attempt
// does to each recipient, when the next retry comes (clamped to expiry), what expiry writes, and
// which DSN the new state owes (failure, NOTIFY=SUCCESS, the one delay warning, never for <>).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyOutcomes, expire, nextStep, owedNotices } from '../../src/queue/record-outcomes.js';
import type { RcptOutcome } from '../../src/delivery/deliver.js';
import type { RcptState, SpoolRecord } from '../../src/queue/record.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 1);
const delivery = { retry: { initialMs: 5 * MIN, maxMs: 60 * MIN, lifetimeMs: 24 * 60 * MIN }, delayWarningMs: null };

function rcpt(address: string, extra: Partial<RcptState> = {}): RcptState {
  return { address, route: { kind: 'connector', connector: 'To on-prem', rule: 'exact' }, status: 'pending', attempts: 0, lastError: null, lastHost: null, updatedAt: T0, ...extra };
}
function record(extra: Partial<SpoolRecord> = {}, rcpts = [rcpt('a@contoso.com')]): SpoolRecord {
  const base: SpoolRecord = { v: 1, id: 'ABC', receivedAt: T0, sessionId: 's', client: { ip: '', helo: '', tls: false, inbound: null, matchedBy: null }, mailFrom: 'sun@example.org', size: 1, status: 'active', attempts: 0, nextAttemptAt: T0, rcpts };
  return { ...base, ...extra };
}
const defer = (address: string): RcptOutcome => ({ address, connector: 'To on-prem', host: '10.0.0.1:25', outcome: { action: 'defer', rule: '4xx-at-RCPT TO', status: '4.2.0', diagnostic: '450 4.2.0 busy' } });
const deliver = (address: string): RcptOutcome => ({ address, connector: 'To on-prem', host: '10.0.0.1:25', outcome: { action: 'delivered', rule: 'accepted', status: '2.0.0', diagnostic: '250 2.0.0 Ok' } });
const bounce = (address: string): RcptOutcome => ({ address, connector: 'To on-prem', host: '10.0.0.1:25', outcome: { action: 'bounce', rule: '5xx-at-RCPT TO', status: '5.1.1', diagnostic: '550 5.1.1 unknown' } });

const retryRows = [
  { name: 'the first deferral is retried after retry.initial', attempts: 0, now: T0, at: T0 + 5 * MIN },
  { name: 'the fourth deferral waits 40 minutes', attempts: 3, now: T0 + 35 * MIN, at: T0 + 75 * MIN },
  { name: 'later deferrals wait retry.max', attempts: 9, now: T0 + 6 * 60 * MIN, at: T0 + 7 * 60 * MIN },
  { name: 'a deferral 10 minutes before expiry is retried at the expiry moment', attempts: 12, now: T0 + 24 * 60 * MIN - 10 * MIN, at: T0 + 24 * 60 * MIN },
];
for (const row of retryRows) {
  test(row.name, () => {
    const { record: r } = applyOutcomes(record({ attempts: row.attempts }), [defer('a@contoso.com')], row.now, true);
    assert.equal(r.attempts, row.attempts + 1);
    assert.equal(r.rcpts[0]!.lastError, '4.2.0 450 4.2.0 busy');
    assert.deepEqual(nextStep(r, row.now, delivery), { kind: 'retry', at: row.at });
  });
}

test('applying outcomes leaves the input record untouched', () => {
  const before = record();
  const copy = structuredClone(before);
  applyOutcomes(before, [deliver('a@contoso.com')], T0, true);
  assert.deepEqual(before, copy);
});

test('a second destination of the same round does not count another attempt', () => {
  const two = record({}, [rcpt('a@contoso.com'), rcpt('b@fabrikam.com')]);
  const first = applyOutcomes(two, [defer('a@contoso.com')], T0, true).record;
  const second = applyOutcomes(first, [defer('b@fabrikam.com')], T0, false).record;
  assert.equal(second.attempts, 1);
  assert.deepEqual(second.rcpts.map((r) => r.attempts), [1, 1]);
});

const finalRows: { name: string; outcomes: RcptOutcome[]; step: string; rcpts: string[] }[] = [
  { name: 'a delivered recipient stays delivered while the other is retried', outcomes: [deliver('a@contoso.com'), defer('b@contoso.com')], step: 'retry', rcpts: ['delivered', 'pending'] },
  { name: 'all delivered: the message is done', outcomes: [deliver('a@contoso.com'), deliver('b@contoso.com')], step: 'done', rcpts: ['delivered', 'delivered'] },
  { name: 'one bounce and one delivery: the message goes to failed/', outcomes: [deliver('a@contoso.com'), bounce('b@contoso.com')], step: 'failed', rcpts: ['delivered', 'failed'] },
];
for (const row of finalRows) {
  test(row.name, () => {
    const r = applyOutcomes(record({}, [rcpt('a@contoso.com'), rcpt('b@contoso.com')]), row.outcomes, T0, true).record;
    assert.deepEqual(r.rcpts.map((x) => x.status), row.rcpts);
    assert.equal(nextStep(r, T0, delivery).kind, row.step);
  });
}

const expiryRows = [
  { name: 'a minute before its lifetime a message does not expire', now: T0 + 24 * 60 * MIN - MIN, expired: false },
  { name: 'at its lifetime every pending recipient fails with 4.4.7 and the last error', now: T0 + 24 * 60 * MIN, expired: true },
];
for (const row of expiryRows) {
  test(row.name, () => {
    const deferred = applyOutcomes(record(), [defer('a@contoso.com')], row.now, true).record;
    const { record: r, events } = expire(deferred, row.now, delivery);
    assert.equal(r.rcpts[0]!.status, row.expired ? 'failed' : 'pending');
    assert.equal(events.length, row.expired ? 1 : 0);
    if (row.expired) {
      assert.match(r.rcpts[0]!.lastError!, /^4\.4\.7 550 4\.4\.7 QUEUE\.Expired; message expired \[LED=450 4\.2\.0 busy\];\[LastAttemptedServerName=10\.0\.0\.1\]/);
      assert.equal(nextStep(r, row.now, delivery).kind, 'failed');
    }
  });
}

const dsnRows: { name: string; rec: SpoolRecord; outcomes: RcptOutcome[]; now: number; warn?: number; actions: string[]; suppressed?: number }[] = [
  { name: 'a bounce owes a failure DSN', rec: record(), outcomes: [bounce('a@contoso.com')], now: T0, actions: ['failed'] },
  { name: 'a null sender is owed none (never bounce a bounce)', rec: record({ mailFrom: '' }), outcomes: [bounce('a@contoso.com')], now: T0, actions: [], suppressed: 1 },
  { name: 'a delivery owes nothing without NOTIFY=SUCCESS', rec: record(), outcomes: [deliver('a@contoso.com')], now: T0, actions: [] },
  { name: 'NOTIFY=SUCCESS owes a "relayed" DSN', rec: record({}, [rcpt('a@contoso.com', { notify: ['SUCCESS'] })]), outcomes: [deliver('a@contoso.com')], now: T0, actions: ['relayed'] },
  { name: 'a deferral before delayWarning owes nothing', rec: record(), outcomes: [defer('a@contoso.com')], now: T0 + 3 * 60 * MIN, warn: 4 * 60 * MIN, actions: [] },
  { name: 'a deferral past delayWarning owes one "delayed" DSN', rec: record(), outcomes: [defer('a@contoso.com')], now: T0 + 4 * 60 * MIN, warn: 4 * 60 * MIN, actions: ['delayed'] },
  { name: 'the delay warning goes out once', rec: record({ delayWarnedAt: T0 + 4 * 60 * MIN }), outcomes: [defer('a@contoso.com')], now: T0 + 5 * 60 * MIN, warn: 4 * 60 * MIN, actions: [] },
  { name: 'a recipient already notified is not notified again', rec: record({}, [rcpt('a@contoso.com', { status: 'failed', notified: true })]), outcomes: [], now: T0, actions: [] },
];
for (const row of dsnRows) {
  test(row.name, () => {
    const applied = applyOutcomes(row.rec, row.outcomes, row.now, true);
    const n = owedNotices(applied.record, row.now, { ...delivery, delayWarningMs: row.warn ?? null }, applied.replies);
    assert.deepEqual(n.entries.map((e) => e.action), row.actions);
    assert.equal(n.suppressed.length, row.suppressed ?? 0);
    assert.ok(n.record.rcpts.every((r) => r.status === 'pending' || r.notified), 'final recipients are marked notified');
    if (row.actions.includes('delayed')) assert.equal(n.record.delayWarnedAt, row.now);
  });
}
