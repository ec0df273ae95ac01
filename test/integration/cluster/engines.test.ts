// The cluster harness itself: a real redis-server and a throw-away PostgreSQL answer the client
// libraries Sluice uses, and come back on the same address after a stop (the outage tests rely on it).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { startRedis, type RedisServer } from '../../helpers/redis.js';
import { startPostgres, type PostgresServer } from '../../helpers/postgres.js';

let redis: RedisServer;
let postgres: PostgresServer;

before(async () => {
  [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
});
after(async () => {
  await Promise.all([redis?.stop(), postgres?.destroy()]);
});

test('redis-server answers ioredis, and answers again on the same port after stop/start', async () => {
  const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  await client.connect();
  await client.set('k', 'v');
  assert.equal(await client.get('k'), 'v');
  client.disconnect();
  await redis.stop();
  await redis.start();
  const again = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await again.connect();
  // No persistence: a restarted Redis starts empty, as the design assumes.
  assert.equal(await again.get('k'), null);
  again.disconnect();
});

test('PostgreSQL answers pg over its unix socket, and keeps its data across stop/start', async () => {
  const client = new pg.Client({ connectionString: postgres.url });
  await client.connect();
  await client.query('CREATE TABLE t (v text)');
  await client.query("INSERT INTO t VALUES ('kept')");
  await client.end();
  await postgres.stop();
  await assert.rejects(async () => {
    const c = new pg.Client({ connectionString: postgres.url, connectionTimeoutMillis: 2_000 });
    await c.connect();
  });
  await postgres.start();
  const again = new pg.Client({ connectionString: postgres.url });
  await again.connect();
  const r = await again.query('SELECT v FROM t');
  assert.deepEqual(r.rows, [{ v: 'kept' }]);
  await again.end();
});
