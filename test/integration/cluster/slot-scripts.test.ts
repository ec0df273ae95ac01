// The lease scripts on a real redis-server: the acquire script decides as slot-caps.ts'
// mayTakeShared does (row by row), leases expire by Redis' clock, renewal registers leases a
// restarted Redis lost, and host-down marks expire and keep the later expiry.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../../helpers/redis.js';
import { withLeaseScripts, type ScriptedRedis } from '../../../src/cluster/slot-scripts.js';
import { mayTakeShared } from '../../../src/cluster/slot-caps.js';
import { parseReplicasSeen, REPLICAS_SEEN_FILE, ReplicaHeartbeat } from '../../../src/cluster/slot-replicas.js';
import type { ClusterRedis } from '../../../src/cluster/redis.js';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

let redis: RedisServer;
let client: Redis;
let r: ScriptedRedis;

before(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  r = withLeaseScripts(client);
});
after(async () => {
  client?.disconnect();
  await redis?.stop();
});

const rows = [
  { clusterHeld: 3, mine: 3, max: 4, othersWaiting: 0 },
  { clusterHeld: 4, mine: 0, max: 4, othersWaiting: 0 },
  { clusterHeld: 3, mine: 2, max: 4, othersWaiting: 1 },
  { clusterHeld: 3, mine: 1, max: 4, othersWaiting: 1 },
  { clusterHeld: 1, mine: 0, max: 2, othersWaiting: 4 },
  { clusterHeld: 2, mine: 1, max: 6, othersWaiting: 2 },
  { clusterHeld: 4, mine: 2, max: 6, othersWaiting: 2 },
];

rows.forEach((row, i) => {
  test(`the acquire script agrees with mayTakeShared: ${JSON.stringify(row)}`, async () => {
    const key = `t:${i}`;
    const waiting = `${key}:waiting`;
    for (let n = 0; n < row.clusterHeld; n++) await client.zadd(key, Date.now() * 2, n < row.mine ? `me:${n}` : `other:${n}`);
    for (let n = 0; n < row.othersWaiting; n++) await client.zadd(waiting, Date.now() * 2, `w${n}`);
    const [taken, count] = await r.sluiceLeaseAcquire(key, waiting, 10_000, row.max, 'me:new', 'me', 500);
    const expected = mayTakeShared(row);
    assert.equal(taken === 1, expected);
    assert.equal(count, row.clusterHeld + (expected ? 1 : 0));
    // A refused replica is noted as waiting; one that took a lease is not.
    assert.equal((await client.zscore(waiting, 'me')) !== null, !expected);
  });
});

test('with waitMs 0 (inbound sessions) a refusal leaves no waiting note, so nobody holds a place back', async () => {
  await client.zadd('t:in', Date.now() * 2, 'a:1');
  assert.deepEqual(await r.sluiceLeaseAcquire('t:in', 't:in:w', 10_000, 1, 'b:1', 'b', 0), [0, 1]);
  assert.equal(await client.exists('t:in:w'), 0);
  await client.zrem('t:in', 'a:1');
  assert.deepEqual(await r.sluiceLeaseAcquire('t:in', 't:in:w', 10_000, 3, 'a:2', 'a', 0), [1, 1]);
});

test('expired leases are dropped by Redis\' clock before counting, and renewal registers lost ones', async () => {
  const [first] = await r.sluiceLeaseAcquire('t:ttl', 't:ttl:w', 200, 1, 'a:1', 'a', 500);
  assert.equal(first, 1);
  assert.deepEqual(await r.sluiceLeaseAcquire('t:ttl', 't:ttl:w', 200, 1, 'b:1', 'b', 500), [0, 1]);
  const deadline = Date.now() + 3_000;
  let got: [number, number] = [0, 0];
  while (Date.now() < deadline && got[0] !== 1) {
    await new Promise((res) => setTimeout(res, 50));
    got = await r.sluiceLeaseAcquire('t:ttl', 't:ttl:w', 10_000, 1, 'b:1', 'b', 500);
  }
  assert.deepEqual(got, [1, 1]);
  await client.del('t:ttl');
  // Redis lost the set (a restart): renewing registers the open connections again, whatever the cap.
  assert.equal(await r.sluiceLeaseRenew('t:ttl', 10_000, 'b:1', 'b:2'), 2);
});

test('host-down marks keep the later expiry and vanish when they expire', async () => {
  await r.sluiceMarkDown('t:marks', 't:reasons', 'h1', 10_000, 'long');
  await r.sluiceMarkDown('t:marks', 't:reasons', 'h1', 100, 'short');
  await r.sluiceMarkDown('t:marks', 't:reasons', 'h2', 100, 'gone soon');
  const now = (await r.sluiceReadMarks('t:marks', 't:reasons')).map(String);
  assert.deepEqual([now[1], now[3]], ['h2', 'gone soon']);
  assert.deepEqual([now[4], now[6]], ['h1', 'long']);
  await new Promise((res) => setTimeout(res, 250));
  const later = (await r.sluiceReadMarks('t:marks', 't:reasons')).map(String);
  assert.deepEqual([later.length, later[1], later[3]], [4, 'h1', 'long']);
  assert.equal(await client.hget('t:reasons', 'h2'), null);
});

test('the replicas seen last outlive a restart: a replica started while Redis is down divides by them, not by 1', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-seen-'));
  try {
    const up = { client, ready: true } as unknown as ClusterRedis;
    const beats = ['n1', 'n2', 'n3'].map((id) => new ReplicaHeartbeat(up, id, 30_000, path.join(dir, `${id}-${REPLICAS_SEEN_FILE}`)));
    for (const b of beats) await b.beat();
    await beats[0]!.beat();
    assert.equal(beats[0]!.live, 3);
    assert.equal(parseReplicasSeen(await readFile(path.join(dir, `n1-${REPLICAS_SEEN_FILE}`), 'utf8')), 3);
    // n1 restarts with Redis away: no heartbeat answers, the file does.
    const down = { client, ready: false } as unknown as ClusterRedis;
    const restarted = new ReplicaHeartbeat(down, 'n1', 30_000, path.join(dir, `n1-${REPLICAS_SEEN_FILE}`));
    assert.equal(restarted.live, 1, 'nothing restored yet');
    await restarted.restore();
    await restarted.beat();
    assert.equal(restarted.live, 3);
    const fresh = new ReplicaHeartbeat(down, 'n4', 30_000, path.join(dir, `n4-${REPLICAS_SEEN_FILE}`));
    await fresh.restore();
    assert.equal(fresh.live, 1, 'a replica that never saw Redis counts itself alone');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a replicas-seen file that is not a count is ignored', () => {
  for (const [text, want] of [['3\n', 3], ['', null], ['0', null], ['-2', null], ['2.5', null], ['abc', null], [null, null]] as const) {
    assert.equal(parseReplicasSeen(text), want, JSON.stringify(text));
  }
});
