// Table tests for the retry schedule: EOP's shape with the defaults (first retries within 15
// minutes, then at most hourly), other configured shapes, and the clamp to the expiry moment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextAttemptAt, retryDelayMs } from '../../src/queue/backoff.js';

const MIN_MS = 60_000;
const DEFAULTS = { initialMs: 5 * MIN_MS, maxMs: 60 * MIN_MS, lifetimeMs: 24 * 60 * MIN_MS };

const rows: { name: string; retry: typeof DEFAULTS; delaysMin: number[] }[] = [
  {
    name: 'the defaults back off 5, 10, 20, 40 minutes and then retry hourly',
    retry: DEFAULTS,
    delaysMin: [5, 10, 20, 40, 60, 60, 60],
  },
  {
    name: 'an initial of 1 minute with a 15 minute cap doubles until the cap',
    retry: { initialMs: MIN_MS, maxMs: 15 * MIN_MS, lifetimeMs: DEFAULTS.lifetimeMs },
    delaysMin: [1, 2, 4, 8, 15, 15],
  },
  {
    name: 'an initial equal to the cap retries at a fixed interval',
    retry: { initialMs: 30 * MIN_MS, maxMs: 30 * MIN_MS, lifetimeMs: DEFAULTS.lifetimeMs },
    delaysMin: [30, 30, 30],
  },
];

for (const row of rows) {
  test(row.name, () => {
    const got = row.delaysMin.map((_, i) => retryDelayMs(i + 1, row.retry) / MIN_MS);
    assert.deepEqual(got, row.delaysMin);
  });
}

test('the default schedule makes its first two retries within 15 minutes of the first failure', () => {
  assert.ok(retryDelayMs(1, DEFAULTS) + retryDelayMs(2, DEFAULTS) <= 15 * MIN_MS);
});

test('attempt counts below one and huge counts stay within initial and max', () => {
  assert.equal(retryDelayMs(0, DEFAULTS), DEFAULTS.initialMs);
  assert.equal(retryDelayMs(-3, DEFAULTS), DEFAULTS.initialMs);
  assert.equal(retryDelayMs(10_000, DEFAULTS), DEFAULTS.maxMs);
});

const t0 = Date.UTC(2024, 0, 1);
const clampRows = [
  { name: 'schedules the backoff when the message is young', attempts: 1, now: t0 + MIN_MS, expected: t0 + 6 * MIN_MS },
  {
    name: 'never schedules past the expiry moment, so an expiring message is tried and bounced on time',
    attempts: 9,
    now: t0 + DEFAULTS.lifetimeMs - 10 * MIN_MS,
    expected: t0 + DEFAULTS.lifetimeMs,
  },
];
for (const row of clampRows) {
  test(row.name, () => {
    assert.equal(nextAttemptAt(row.attempts, t0, row.now, DEFAULTS), row.expected);
  });
}
