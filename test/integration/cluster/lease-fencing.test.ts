// SpoolLeases in-process against a real PostgreSQL, for what child-process daemons on one host
// cannot show (there the local spool lock already keeps a live owner's spool from being adopted):
// a running owner fenced by a newer epoch stops delivering from its spool, and after a database
// restart that outlasted the TTL the owner renews before the adopter may take its spool.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import pino from 'pino';
import { startPostgres, type PostgresServer } from '../../helpers/postgres.js';
import { openPg } from '../../../src/cluster/pg.js';
import { SpoolLeases } from '../../../src/cluster/spool-lease.js';
import type { SluiceError } from '../../../src/domain/errors.js';
import type { FileSpool } from '../../../src/queue/file-spool.js';

const TTL_MS = 3_000;
const RENEW_MS = 500;
let postgres: PostgresServer;
const pools: pg.Pool[] = [];
const leases: SpoolLeases[] = [];

before(async () => {
  postgres = await startPostgres();
});
after(async () => {
  for (const l of leases) await l.stop().catch(() => undefined);
  for (const p of pools) await p.end().catch(() => undefined);
  await postgres?.destroy();
});

type Line = Record<string, unknown> & { msg: string };

function capture(): { log: pino.Logger; lines: Line[] } {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Line);
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

async function until<T>(what: string, fn: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function replica(nodeId: string, spoolDir: string, adoptSpools: string[] = [], renewMs = RENEW_MS) {
  const { log, lines } = capture();
  const pool = openPg({ url: postgres.url, nodeId, log });
  pools.push(pool);
  const adopted: FileSpool[] = [];
  let lost: SluiceError | null = null;
  const l = new SpoolLeases({
    pool,
    nodeId,
    ttlMs: TTL_MS,
    renewMs,
    spoolDir,
    adoptSpools,
    log,
    async adopt(spool) {
      adopted.push(spool);
      return { size: () => 0, depth: () => [], stop: async () => undefined };
    },
    beat: () => ({ queueDepth: 0, connections: {} }),
    onLost: (err) => (lost = err),
  });
  leases.push(l);
  await l.precheck();
  await l.claimHome();
  l.start();
  return { leases: l, lines, adopted, lost: () => lost };
}

const tmpSpool = async () => path.join(await mkdtemp(path.join(tmpdir(), 'sluice-lease-')), 'spool');

async function sql<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: postgres.url });
  await c.connect();
  try {
    return (await c.query<T>(text, values)).rows;
  } finally {
    await c.end();
  }
}

test('a running owner whose lease went to a newer epoch is fenced: it hears E_SPOOL_ADOPTED naming the holder', async () => {
  const dir = await tmpSpool();
  const a = await replica('fenced-a', dir);
  const [row] = await sql<{ epoch: string; owner_node: string }>('SELECT epoch, owner_node FROM spool_leases WHERE spool_path = $1', [dir]);
  assert.equal(row?.owner_node, 'fenced-a');
  // Another replica won the row meanwhile (as an adopter would, with the epoch bumped).
  await sql(`UPDATE spool_leases SET owner_node = 'fenced-b', owner_instance = 'other', epoch = epoch + 1 WHERE spool_path = $1`, [dir]);
  const err = await until('the fence', () => a.lost(), RENEW_MS * 6);
  assert.equal(err.code, 'E_SPOOL_ADOPTED');
  assert.match(err.message, /fenced-b/);
  assert.ok(a.lines.some((l) => l.msg === 'spool lease lost: delivery from this spool stops'));
});

test('after a PostgreSQL restart that outlasted the TTL, the owner renews before the adopter may take its spool', async () => {
  const dirA = await tmpSpool();
  // A renews slowly (still well inside the TTL), B looks often: without the outage rule B's first
  // round after the restart would find A's lease expired and take it before A's next renewal.
  const a = await replica('outage-a', dirA, [], 2_000);
  const b = await replica('outage-b', await tmpSpool(), [dirA], 250);
  // B sees A's lease held before the outage: the adoption is armed.
  await until('B to see the lease held', () => b.lines.some((l) => l.msg === 'not adopting spool' && /lease held by outage-a/.test(String(l.reason))));
  await postgres.stop();
  const stoppedAt = Date.now();
  // The lease must be past its expiry when the database returns: that is the case under test.
  await until('a full TTL of outage', () => Date.now() - stoppedAt > TTL_MS + RENEW_MS, TTL_MS * 3);
  b.lines.length = 0;
  await postgres.start();
  const restartedAt = Date.now();
  // A renews within a round or two of the database's return …
  await until('A to renew after the restart', async () => {
    const [r] = await sql<{ ok: boolean }>('SELECT expires_at > now() AS ok FROM spool_leases WHERE spool_path = $1', [dirA]);
    return r?.ok === true;
  });
  // … while B, which also reached the database again, held back: it said why, then saw A's lease.
  await until('B to see the renewed lease (or to adopt)', () => b.adopted.length > 0 || b.lines.some((l) => l.msg === 'not adopting spool' && /lease held by outage-a/.test(String(l.reason))), TTL_MS * 3);
  const reasons = b.lines.filter((l) => l.msg === 'not adopting spool').map((l) => String(l.reason));
  assert.ok(reasons.every((r) => !/^handed|no lease/.test(r)), reasons.join(' | '));
  assert.equal(b.adopted.length, 0, `B adopted A's live spool ${Date.now() - restartedAt} ms after the restart`);
  const [row] = await sql<{ epoch: string; owner_node: string }>('SELECT epoch, owner_node FROM spool_leases WHERE spool_path = $1', [dirA]);
  assert.deepEqual([row?.owner_node, Number(row?.epoch)], ['outage-a', 1]);
  assert.equal(a.lost(), null);
});

test('a replica started while PostgreSQL is down runs on its last lease, then takes it and registers when the database returns', async () => {
  const dir = await tmpSpool();
  await postgres.stop();
  let late: Awaited<ReturnType<typeof replica>>;
  try {
    late = await replica('late', dir);
    assert.ok(late.lines.some((l) => l.code === 'E_POSTGRES_DOWN'), 'the outage is logged');
  } finally {
    await postgres.start();
  }
  const row = await until('the lease row', async () => (await sql<{ owner_node: string; epoch: string }>('SELECT owner_node, epoch FROM spool_leases WHERE spool_path = $1', [dir]))[0]);
  assert.deepEqual([row.owner_node, Number(row.epoch)], ['late', 1]);
  const node = await until('the registry row', async () => (await sql<{ state: string }>(`SELECT state FROM cluster_nodes WHERE node_id = 'late'`))[0]);
  assert.equal(node.state, 'running');
  await until('the log line of the outage end', () => late.lines.find((l) => l.msg === 'postgres reachable again'));
  assert.equal(late.lines.filter((l) => l.code === 'E_POSTGRES_DOWN').length, 1, 'one line per outage');
});
