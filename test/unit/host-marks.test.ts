import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostHealth, type HostMarksShare, type SharedMark } from '../../src/delivery/host-health.js';
import { marksFromReply } from '../../src/cluster/host-marks.js';

/** Another replica's marks as the last poll saw them, and what this replica published. */
function share(seen: Record<string, SharedMark> = {}) {
  const marks = new Map(Object.entries(seen));
  const published: string[] = [];
  const s: HostMarksShare = {
    get: (h) => marks.get(h),
    all: () => marks,
    down: (h, ms, reason) => published.push(`down ${h} ${ms} ${reason}`),
    up: (h) => {
      marks.delete(h);
      published.push(`up ${h}`);
    },
  };
  return { s, published };
}

const NOW = 1_000_000;

test('a host another replica marked down is down here too, until its mark expires', () => {
  const { s } = share({ '10.0.0.1:25': { until: NOW + 5_000, reason: '421 busy' } });
  const h = new HostHealth(() => 60_000, s);
  assert.equal(h.isDown('10.0.0.1:25', NOW), true);
  assert.equal(h.isDown('10.0.0.1:25', NOW + 5_000), false);
  assert.deepEqual(h.allDownUntil(['10.0.0.1:25'], NOW), { until: NOW + 5_000, reason: '421 busy' });
});

test('the later of the local and the shared mark decides', () => {
  const { s } = share({ a: { until: NOW + 90_000, reason: 'shared' } });
  const h = new HostHealth(() => 60_000, s);
  h.markDown('a', 'local', NOW);
  assert.deepEqual(h.marks(NOW), [{ host: 'a', until: NOW + 90_000, reason: 'shared' }]);
});

test('a local mark is published with its duration and reason', () => {
  const { s, published } = share();
  const h = new HostHealth(() => 30_000, s);
  assert.equal(h.markDown('b', 'ECONNREFUSED', NOW), true);
  assert.deepEqual(published, ['down b 30000 ECONNREFUSED']);
});

test('a reply from a host that was never marked costs nothing in Redis', () => {
  const { s, published } = share();
  new HostHealth(() => 30_000, s).markUp('c');
  assert.deepEqual(published, []);
});

test('a reply from a host another replica marked clears the shared mark', () => {
  const { s, published } = share({ d: { until: NOW + 5_000, reason: 'x' } });
  const h = new HostHealth(() => 30_000, s);
  h.markUp('d');
  assert.deepEqual(published, ['up d']);
  assert.equal(h.isDown('d', NOW), false);
});

test('without a share the dead-host memory is this replica\'s own, as before', () => {
  const h = new HostHealth(() => 1_000);
  h.markDown('e', 'r', NOW);
  assert.equal(h.isDown('e', NOW + 999), true);
  assert.equal(h.isDown('e', NOW + 1_000), false);
});

test('marksFromReply carries the time left on Redis\' clock over to this replica\'s', () => {
  const redisNow = 5_000_000;
  const m = marksFromReply([redisNow, '10.0.0.1:25', String(redisNow + 2_500), '421 busy', 'h2', redisNow + 100, ''], NOW);
  assert.deepEqual([...m], [
    ['10.0.0.1:25', { until: NOW + 2_500, reason: '421 busy' }],
    ['h2', { until: NOW + 100, reason: '' }],
  ]);
  assert.equal(marksFromReply([redisNow], NOW).size, 0);
});
