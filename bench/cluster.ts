// `npm run bench:cluster`: cluster mode's cost and what a second replica buys on this machine
// (issue 13). One smtp-sink as the smart host; side by side in one call: Postfix, one Sluice on
// its embedded defaults, one Sluice replica in cluster mode, and two replicas sharing one
// redis-server and one PostgreSQL (trace, quarantine and leases there). The load is smtp-source's,
// 10 KB, 1 recipient, one message per connection; with two replicas it is split evenly (two
// smtp-source processes, half the sessions and half the messages each) and timed until the sink
// has every message. Everything shares the machine's cores: on 2 cores two replicas compete with
// their own load, engines and sink, so the figure is the honest "second replica on the same box".
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { startPostfixRelay } from './postfix-relay.js';
import { startSluiceRelay, type SluiceRelay } from './sluice-relay.js';
import { runSmtpSource, startSmtpSink, type Sink } from './tools.js';
import { meter, type ProcSet } from './procs.js';
import { median } from './measure.js';
import { startRedis } from '../test/helpers/redis.js';
import { startPostgres } from '../test/helpers/postgres.js';

const num = (name: string, dflt: number): number => {
  const n = Number(process.env[name] ?? dflt);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number`);
  return n;
};
const MESSAGES = num('BENCH_MESSAGES', 3_000);
const RUNS = num('BENCH_RUNS', 3);
const SESSIONS = num('BENCH_SESSIONS', 20);
const WARMUP = num('BENCH_WARMUP', 500);
const BODY = 10 * 1024;
const RUN_TIMEOUT_MS = num('BENCH_RUN_TIMEOUT_S', 180) * 1000;

interface Relay {
  name: string;
  ports: number[];
  procs: ProcSet[];
  stop(): Promise<void>;
}

interface Row {
  name: string;
  msgsPerS: number[];
  cpuMsPerMsg: number[];
  failures: number;
}

/** One run: `n` messages split over the relay's ports; resolves when the sink has all of them. */
async function drive(relay: Relay, sink: Sink, n: number): Promise<{ seconds: number; failures: number }> {
  const target = sink.received() + n;
  const k = relay.ports.length;
  const t0 = performance.now();
  const runs = await Promise.all(
    relay.ports.map((port, i) => {
      const messages = Math.floor(n / k) + (i < n % k ? 1 : 0);
      return runSmtpSource({ port, sessions: Math.max(1, Math.round(SESSIONS / k)), messages, bodyBytes: BODY, rcpts: 1, timeoutMs: RUN_TIMEOUT_MS });
    }),
  );
  const failures = runs.filter((r) => r.code !== 0).length;
  await sink.waitFor(target, RUN_TIMEOUT_MS);
  return { seconds: (performance.now() - t0) / 1000, failures };
}

function sluiceRelay(name: string, replicas: SluiceRelay[], stopEngines: () => Promise<void> = async () => undefined): Relay {
  return {
    name,
    ports: replicas.map((r) => r.port),
    procs: replicas.map((r) => ({ pid: r.pid })),
    async stop() {
      await Promise.all(replicas.map((r) => r.stop()));
      await stopEngines();
    },
  };
}

async function startSystem(which: string, sinkPort: number): Promise<Relay> {
  if (which === 'postfix') {
    const pf = await startPostfixRelay(sinkPort);
    return { name: 'postfix', ports: [pf.port], procs: [{ session: pf.masterPid }], stop: () => pf.stop() };
  }
  if (which === 'sluice') return sluiceRelay('sluice (single node)', [await startSluiceRelay({ sinkPort })]);
  const count = which === 'cluster-2' ? 2 : 1;
  const [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
  const replicas: SluiceRelay[] = [];
  for (let i = 0; i < count; i++) {
    const cluster = { enabled: true, nodeId: `bench-${i + 1}`, redis: { url: redis.url }, postgres: { url: postgres.url } };
    replicas.push(await startSluiceRelay({ sinkPort, configPatch: { cluster } }));
  }
  return sluiceRelay(`sluice cluster, ${count} replica${count > 1 ? 's' : ''}`, replicas, async () => {
    await redis.stop();
    await postgres.destroy();
  });
}

async function measure(which: string): Promise<Row> {
  const sink = await startSmtpSink();
  const relay = await startSystem(which, sink.port);
  const row: Row = { name: relay.name, msgsPerS: [], cpuMsPerMsg: [], failures: 0 };
  try {
    await drive(relay, sink, WARMUP);
    for (let r = 0; r < RUNS; r++) {
      const meters = relay.procs.map((p) => meter(p));
      const { seconds, failures } = await drive(relay, sink, MESSAGES);
      const cpuS = meters.map((m) => m.stop().cpuS).reduce((a, b) => a + b, 0);
      row.msgsPerS.push(MESSAGES / seconds);
      row.cpuMsPerMsg.push((cpuS * 1000) / MESSAGES);
      row.failures += failures;
    }
  } finally {
    await relay.stop();
    await sink.stop();
  }
  return row;
}

const fmt = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '–');

async function main(): Promise<void> {
  const systems = (process.env.BENCH_SYSTEMS ?? 'postfix,sluice,cluster-1,cluster-2').split(',').map((s) => s.trim());
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '?';
  console.log(`# Cluster bench — ${new Date().toISOString()}`);
  console.log(`- machine: ${os.cpus().length} CPUs (${cpu}); load average at start ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`- ${RUNS} runs × ${MESSAGES} messages of 10 KB, 1 recipient, ${SESSIONS} sessions in all, one message per connection, fsync on; warm-up ${WARMUP}`);
  const rows: Row[] = [];
  for (const s of systems) {
    console.error(`bench:cluster: ${s}…`);
    rows.push(await measure(s));
  }
  const base = (name: string) => median(rows.find((r) => r.name.startsWith(name))?.msgsPerS ?? []);
  console.log('\n| system | msg/s (median) | runs | ×Postfix | ×single node | CPU ms/msg (all replicas) | failed runs |');
  console.log('|---|---:|---|---:|---:|---:|---:|');
  for (const r of rows) {
    const m = median(r.msgsPerS);
    console.log(`| ${r.name} | ${fmt(m)} | ${r.msgsPerS.map((x) => fmt(x)).join(' / ')} | ${fmt(m / base('postfix'), 2)} | ${fmt(m / base('sluice (single'), 2)} | ${fmt(median(r.cpuMsPerMsg), 2)} | ${r.failures} |`);
  }
  const one = base('sluice cluster, 1');
  const two = base('sluice cluster, 2');
  if (Number.isFinite(one) && Number.isFinite(two)) console.log(`\n- 2 replicas ÷ 1 replica (cluster mode, same machine): ${fmt(two / one, 2)}×`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
