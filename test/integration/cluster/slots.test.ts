// Cluster-wide limits through a real redis-server (issue 13): three Sluice replicas (separate
// spools, nodeIds r1..r3) relay to one recording smart host that counts simultaneous
// connections. The connector's maxConnections holds at the host across all replicas, a SIGKILLed
// replica's slots come back within the lease TTL, Redis killed under load leaves the local
// fallback caps holding and every message arriving once, and maxConnectionsPerIp counts a client
// IP's sessions on every replica together.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { makeCertSet, type CertSet } from '../../helpers/certs.js';
import { startRedis, type RedisServer } from '../../helpers/redis.js';
import { startSmartHost, type SmartHost } from '../../helpers/smart-host.js';
import { peakConcurrency } from '../../helpers/concurrency.js';
import { runCli, startSluice, testConfig, type SluiceProcess } from '../../helpers/sluice.js';
import { send } from '../../helpers/clients.js';
import { deliveredCounts, loadMessage } from '../../helpers/load.js';
import { RawSmtp } from '../../helpers/raw-smtp.js';

const MAX_CONNECTIONS = 4;
const PER_IP = 3;
const LEASE_TTL_MS = 3_000;
const LEASE_RENEW_MS = 1_000;
const SLOT_KEY = 'sluice:slot:connector:To on-prem';
const SENDERS_PER_REPLICA = 3;
const ARRIVAL_TIMEOUT_MS = 25_000;
const POLL_MS = 50;

let certs: CertSet;
let redis: RedisServer;
let host: SmartHost;
let probe: Redis;
const replicas: SluiceProcess[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, timeoutMs: number, check: () => T | null | false | Promise<T | null | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

function replicaConfig(nodeId: string) {
  return (port: number, dir: string) => {
    const base = testConfig({ port, dir, certs }) as { server: { limits: Record<string, unknown> } };
    base.server.limits.maxConnectionsPerIp = PER_IP;
    return {
      ...base,
      cluster: { enabled: true, nodeId, redis: { url: redis.url }, leases: { connectionTtl: '3s', connectionRenew: '1s' } },
      outboundConnectors: [
        {
          name: 'To on-prem',
          connectorType: 'OnPremises',
          allAcceptedDomains: true,
          smartHosts: [`127.0.0.1:${host.port}`],
          maxConnections: MAX_CONNECTIONS,
          maxMessagesPerConnection: 5,
        },
      ],
    };
  };
}

before(async () => {
  certs = await makeCertSet();
  redis = await startRedis();
  host = await startSmartHost({ delayMs: 80 });
  probe = new Redis(redis.url, { maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: () => 200 });
  probe.on('error', () => undefined);
  await probe.connect();
  replicas.push(...(await Promise.all(['r1', 'r2', 'r3'].map((id) => startSluice({ certs, config: replicaConfig(id) })))));
});

after(async () => {
  probe?.disconnect();
  await Promise.all(replicas.map((r) => r.stop()));
  await host?.close();
  await redis?.stop();
});

/** Submits messages seqs[] spread over `targets`, SENDERS_PER_REPLICA senders each, every sender from its own loopback IP. */
async function submit(targets: SluiceProcess[], seqs: number[]): Promise<void> {
  let next = 0;
  const worker = async (r: SluiceProcess, ip: string) => {
    while (next < seqs.length) {
      const seq = seqs[next++]!;
      const raw = loadMessage(seq, { from: `sender${seq % 5}@example.org`, to: 'john@contoso.com' });
      await send({ port: r.port, localAddress: ip, from: `sender${seq % 5}@example.org`, to: ['john@contoso.com'], raw });
    }
  };
  await Promise.all(targets.flatMap((r, i) => Array.from({ length: SENDERS_PER_REPLICA }, (_, j) => worker(r, `127.0.1.${i * 10 + j + 1}`))));
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

/** Live (unexpired, by Redis' clock) slot leases per node id. */
async function liveLeases(): Promise<Map<string, number>> {
  const [[sec, usec], rows] = await Promise.all([probe.call('TIME') as Promise<[string, string]>, probe.call('ZRANGE', SLOT_KEY, '0', '-1', 'WITHSCORES') as Promise<unknown[]>]);
  const now = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
  const out = new Map<string, number>();
  // RESP3 (ioredis 6) answers [member, score] pairs, RESP2 a flat list.
  const flat = rows.flat().map(String);
  for (let i = 0; i + 1 < flat.length; i += 2) {
    if (Number(flat[i + 1]) <= now) continue;
    const node = flat[i]!.split(':')[0]!;
    out.set(node, (out.get(node) ?? 0) + 1);
  }
  return out;
}

const arrivedOnce = (seqs: number[]) => {
  const counts = deliveredCounts([host]);
  return seqs.every((s) => counts.get(s) === 1);
};

test('three replicas never open more than the connector maxConnections to the host together', async () => {
  const seqs = range(0, 60);
  await submit(replicas, seqs);
  await until('every message at the host', ARRIVAL_TIMEOUT_MS, () => arrivedOnce(seqs));
  assert.ok(host.maxConcurrentConnections <= MAX_CONNECTIONS, `peak ${host.maxConcurrentConnections} connections at the host, cap ${MAX_CONNECTIONS}`);
  // The load was enough to reach the cap, so the assertion above could have failed.
  assert.equal(host.maxConcurrentConnections, MAX_CONNECTIONS);
  const counts = deliveredCounts([host]);
  assert.deepEqual(seqs.filter((s) => counts.get(s) !== 1), [], 'every message arrived exactly once');
});

test('a SIGKILLed replica\'s slots come back within the lease TTL, and its queued mail is delivered after restart', async () => {
  host.setBehaviour({ delayMs: 6_000 });
  const seqs = range(1_000, MAX_CONNECTIONS);
  await submit([replicas[2]!], seqs);
  await until('r3 holding every slot', 10_000, async () => ((await liveLeases()).get('r3') ?? 0) >= MAX_CONNECTIONS);
  await replicas[2]!.kill();
  const killedAt = Date.now();
  await until('r3 leases expired', LEASE_TTL_MS + 3_000, async () => !(await liveLeases()).has('r3'));
  const back = Date.now() - killedAt;
  console.log(`# slots of the killed replica back after ${back} ms (lease TTL ${LEASE_TTL_MS} ms, renew ${LEASE_RENEW_MS} ms)`);
  assert.ok(back <= LEASE_TTL_MS + LEASE_RENEW_MS, `slots back after ${back} ms`);
  // The survivors get every slot: they deliver at the cap again.
  host.setBehaviour({ delayMs: 80 });
  const conns = host.connections.length;
  const more = range(1_100, 24);
  await submit(replicas.slice(0, 2), more);
  await until('survivors deliver', ARRIVAL_TIMEOUT_MS, () => arrivedOnce(more));
  assert.ok(peakConcurrency(host.connections.slice(conns)) <= MAX_CONNECTIONS);
  replicas[2] = await replicas[2]!.restart();
  // A message cut mid-DATA may arrive twice (at least once, as after any crash); none is lost.
  await until('r3 queue delivered', ARRIVAL_TIMEOUT_MS, () => {
    const counts = deliveredCounts([host]);
    return seqs.every((s) => (counts.get(s) ?? 0) >= 1);
  });
  assert.ok(host.maxConcurrentConnections <= MAX_CONNECTIONS, `peak ${host.maxConcurrentConnections}`);
});

test('Redis killed under load: local fallback caps hold at the host, /readyz stays 200 and names it, and every message arrives once', async () => {
  const seqs = range(2_000, 90);
  const load = submit(replicas, seqs);
  const arrived = () => {
    const counts = deliveredCounts([host]);
    return seqs.filter((s) => counts.has(s)).length;
  };
  await until('some deliveries before the outage', ARRIVAL_TIMEOUT_MS, () => arrived() >= 15);
  await redis.kill();
  const killedAt = Date.now();
  const firstConn = host.connections.length;
  for (const r of replicas) await r.waitForLog((l) => l.stage === 'cluster' && l.engine === 'redis' && l.code === 'E_REDIS_DOWN');
  const ready = (await (await fetch(`http://127.0.0.1:${replicas[0]!.adminPort}/readyz?json`)).json()) as { ready: boolean; checks: { name: string; detail: string }[] };
  assert.equal(ready.ready, true);
  assert.match(ready.checks.find((c) => c.name === 'cluster')?.detail ?? '', /redis unreachable/);
  const metrics = await (await fetch(`http://127.0.0.1:${replicas[0]!.adminPort}/metrics`)).text();
  assert.match(metrics, /sluice_cluster_lease_fallback\{kind="slot"\} 1/);
  assert.match(metrics, /sluice_cluster_engine_up\{engine="redis"\} 0/);
  // Let the outage carry traffic, then bring Redis back (empty: it keeps nothing) on the same port.
  await until('deliveries during the outage', ARRIVAL_TIMEOUT_MS, () => host.connections.length - firstConn >= 6);
  await sleep(1_500);
  const outage = host.connections.slice(firstConn).filter((c) => c.opened >= killedAt + 200);
  await redis.start();
  const restartedAt = Date.now();
  await load;
  await until('every message at the host', ARRIVAL_TIMEOUT_MS, () => arrivedOnce(seqs));
  const counts = deliveredCounts([host]);
  assert.deepEqual(seqs.filter((s) => counts.get(s) !== 1), [], 'every message arrived exactly once');
  // Connections opened during the outage: each replica its floor(4 / 3) = 1, so 3 together at most.
  const during = outage.filter((c) => c.opened < restartedAt);
  console.log(`# redis outage: ${during.length} connections opened, peak ${peakConcurrency(during)} at once (fallback caps sum ${3 * Math.floor(MAX_CONNECTIONS / 3)}), overall peak ${host.maxConcurrentConnections}`);
  assert.ok(peakConcurrency(during) <= 3 * Math.floor(MAX_CONNECTIONS / 3), `peak during the outage ${peakConcurrency(during)}`);
  assert.ok(host.maxConcurrentConnections <= MAX_CONNECTIONS, `peak ${host.maxConcurrentConnections}`);
  for (const r of replicas) await r.waitForLog((l) => l.stage === 'cluster' && l.engine === 'redis' && l.msg === 'redis reachable again');
  await until('leases registered again in the fresh Redis', 5_000, async () => (await probe.exists('sluice:replicas')) === 1);
});

test('maxConnectionsPerIp counts one client IP across replicas: the (N+1)th session gets 421 4.7.0', async () => {
  const ip = '127.0.2.1';
  const open: RawSmtp[] = [];
  const greet = async (r: SluiceProcess) => {
    const c = await RawSmtp.connect(r.port, { localAddress: ip });
    const reply = await c.reply(5_000);
    return { c, reply };
  };
  try {
    for (let i = 0; i < PER_IP; i++) {
      const { c, reply } = await greet(replicas[i % 2]!);
      open.push(c);
      assert.match(reply, /^220 /, `session ${i + 1} of ${PER_IP}`);
    }
    for (const r of [replicas[1]!, replicas[0]!]) {
      const { c, reply } = await greet(r);
      c.close();
      assert.match(reply, /^421 4\.7\.0 /);
    }
    // One session ends: its place is free again on the other replica.
    open.shift()!.close();
    await until('a free place for the IP', 5_000, async () => {
      const { c, reply } = await greet(replicas[1]!);
      if (reply.startsWith('220')) return open.push(c);
      c.close();
      return false;
    });
  } finally {
    for (const c of open) c.close();
  }
});

test('a host one replica found down is skipped by the others without connecting', async () => {
  // No cached connection may carry the next message past the refusal.
  await until('every connection to the host closed', 10_000, () => host.connections.every((c) => c.closed !== null));
  host.setBehaviour({ onConnect: () => '421 4.3.2 Service not available' });
  const hostKey = `127.0.0.1:${host.port}`;
  try {
    const raw = loadMessage(3_000, { from: 'sender@example.org', to: 'john@contoso.com' });
    await send({ port: replicas[0]!.port, localAddress: '127.0.3.1', from: 'sender@example.org', to: ['john@contoso.com'], raw });
    await replicas[0]!.waitForLog((l) => l.msg === 'host marked down' && l.host === hostKey, 15_000);
    // r2 learns the mark from Redis (its connectors view shows it) before it tries the host itself.
    await until('r2 sees the shared mark', 5_000, async () => {
      const r = await runCli(['connectors', '--json', '--config', replicas[1]!.configPath], replicas[1]!.dir);
      const v = JSON.parse(r.stdout) as { outbound: { name: string; hostsDown: { host: string }[] | null }[] };
      return v.outbound.find((c) => c.name === 'To on-prem')?.hostsDown?.some((h) => h.host === hostKey);
    });
    const conns = host.connections.length;
    await send({ port: replicas[1]!.port, localAddress: '127.0.3.2', from: 'sender@example.org', to: ['john@contoso.com'], raw: loadMessage(3_001, { from: 'sender@example.org', to: 'john@contoso.com' }) });
    await replicas[1]!.waitForLog((l) => l.msg === 'delivery deferred' && l.rule === 'all-hosts-down' && l.messageId === 'load-3001@fault.test', 15_000);
    assert.equal(host.connections.length, conns, 'r2 did not connect to the host r1 marked down');
  } finally {
    host.setBehaviour({ onConnect: () => null });
  }
});
