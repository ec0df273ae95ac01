import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fallbackCap, idleToShed, liveReplicasSeen, mayTakeLocally, mayTakeShared } from '../../src/cluster/slot-caps.js';

const capCases = [
  { name: 'divides the cap between three replicas, rounding down', max: 10, live: 3, policy: 'share', expected: 3 },
  { name: 'gives a lone replica the whole cap', max: 10, live: 1, policy: 'share', expected: 10 },
  { name: 'never gives less than one connection, even with more replicas than slots', max: 2, live: 5, policy: 'share', expected: 1 },
  { name: 'treats zero replicas seen as one', max: 4, live: 0, policy: 'share', expected: 4 },
  { name: 'keeps the sum at or under the cap for an even split', max: 49, live: 2, policy: 'share', expected: 24 },
  { name: 'keeps the whole cap for a local count (inbound per-IP)', max: 5, live: 3, policy: 'local', expected: 5 },
  { name: 'never gives a local count a cap of zero', max: 0, live: 3, policy: 'local', expected: 1 },
] as const;

for (const c of capCases) {
  test(`fallbackCap ${c.name}`, () => {
    assert.equal(fallbackCap(c.max, c.live, c.policy), c.expected);
  });
}

test('fallback caps of every replica never add up to more than the cluster cap (when max >= replicas)', () => {
  for (let max = 1; max <= 60; max++) for (let live = 1; live <= max; live++) assert.ok(fallbackCap(max, live) * live <= max, `${max}/${live}`);
});

const localCases = [
  { name: 'takes a lease under the share', held: 2, max: 10, live: 3, ok: true, cap: 3 },
  { name: 'refuses a lease at the share', held: 3, max: 10, live: 3, ok: false, cap: 3 },
  { name: 'refuses above the share (registered during an outage)', held: 5, max: 10, live: 3, ok: false, cap: 3 },
  { name: 'takes the first lease when slots are fewer than replicas', held: 0, max: 2, live: 4, ok: true, cap: 1 },
] as const;

for (const c of localCases) {
  test(`mayTakeLocally ${c.name}`, () => {
    assert.deepEqual(mayTakeLocally({ held: c.held, max: c.max, liveReplicas: c.live, policy: 'share' }), { ok: c.ok, cap: c.cap });
  });
}

const shedCases = [
  { name: 'sheds nothing when the cluster is within its cap', held: 6, clusterHeld: 10, max: 10, live: 2, expected: 0 },
  { name: 'sheds down to the share when above it', held: 8, clusterHeld: 14, max: 10, live: 2, expected: 3 },
  { name: 'sheds no more than the excess', held: 8, clusterHeld: 11, max: 10, live: 2, expected: 1 },
  { name: 'sheds nothing at or under the share, even when the cluster is over', held: 5, clusterHeld: 14, max: 10, live: 2, expected: 0 },
  { name: 'sheds for a replica count that grew during the outage', held: 5, clusterHeld: 15, max: 10, live: 3, expected: 2 },
] as const;

for (const c of shedCases) {
  test(`idleToShed ${c.name}`, () => {
    assert.equal(idleToShed({ held: c.held, clusterHeld: c.clusterHeld, max: c.max, liveReplicas: c.live }), c.expected);
  });
}

test('liveReplicasSeen assumes this replica alone before any heartbeat was read', () => {
  assert.equal(liveReplicasSeen(null), 1);
  assert.equal(liveReplicasSeen(0), 1);
  assert.equal(liveReplicasSeen(3), 3);
});

const sharedCases = [
  { name: 'takes a lease under the cap when nobody else waits', clusterHeld: 3, mine: 3, max: 4, othersWaiting: 0, expected: true },
  { name: 'refuses at the cap', clusterHeld: 4, mine: 0, max: 4, othersWaiting: 0, expected: false },
  { name: 'leaves a free slot to a waiting replica when at its share', clusterHeld: 3, mine: 2, max: 4, othersWaiting: 1, expected: false },
  { name: 'takes a free slot under its share even while others wait', clusterHeld: 3, mine: 1, max: 4, othersWaiting: 1, expected: true },
  { name: 'counts a share of at least one slot with many waiting', clusterHeld: 1, mine: 0, max: 2, othersWaiting: 4, expected: true },
] as const;

for (const c of sharedCases) {
  test(`mayTakeShared ${c.name}`, () => {
    assert.equal(mayTakeShared({ clusterHeld: c.clusterHeld, mine: c.mine, max: c.max, othersWaiting: c.othersWaiting }), c.expected);
  });
}
