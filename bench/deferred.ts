// 100,000 deferred messages: builds a spool of N deferred messages through the Spool interface
// (FileSpool: create, write, commit), then starts the daemon's queue manager recovery on it in a
// fresh process and reports the recovery time, the RSS before and after, and the heap. Uses only
// the Spool interface and QueueManager.recover(), so it runs unchanged on another spool format.
//
//   node dist/bench/deferred.js [--count 100000] [--dir DIR] [--keep]
//   node dist/bench/deferred.js --recover DIR      (the measuring child; used by the line above)
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLogger } from '../src/observe/log.js';
import { loadConfigText } from '../src/config/load.js';
import { FileSpool } from '../src/queue/file-spool.js';
import { QueueManager, type DestinationDeliverer } from '../src/queue/scheduler.js';
import type { SpoolRecord } from '../src/queue/record.js';

const DEFAULT_COUNT = 100_000;
/** Commits in flight while building the spool (each one fsyncs; the directory fsync is shared). */
const CREATE_CONCURRENCY = 64;
/** Records read back one by one to price a readRecord() per dispatch. */
const READ_SAMPLE = 2_000;
const BODY = Buffer.from(
  'Received: from client.example.org (127.0.0.2) by gateway.contoso.test\r\n' +
    'From: john@contoso.test\r\nTo: someone@fabrikam.test\r\nSubject: deferred\r\nMessage-ID: <x@contoso.test>\r\n\r\n' +
    'body line\r\n'.repeat(90),
);
const CONFIG = `
server:
  hostname: gateway.contoso.test
  listen: [{ host: 127.0.0.1, port: 0 }]
  tls: { cert: certs/none.crt, key: certs/none.key }
acceptedDomains: [{ domain: contoso.test }]
outboundConnectors:
  - { name: To on-prem, recipientDomains: [contoso.test], smartHosts: ["127.0.0.1:9"] }
`;

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

function deferredRecord(id: string, now: number, i: number): SpoolRecord {
  return {
    v: 1,
    id,
    receivedAt: now - 60_000,
    sessionId: `bench-${i}`,
    client: { ip: '127.0.0.2', helo: 'client.example.org', tls: false, inbound: 'From on-prem', matchedBy: 'ip' },
    mailFrom: 'john@contoso.test',
    size: BODY.length,
    status: 'active',
    attempts: 1,
    // Spread over the next 12 hours: a queue that is deferred, not due.
    nextAttemptAt: now + 3_600_000 + (i % 43_200) * 1_000,
    rcpts: [
      {
        address: `user${i}@contoso.test`,
        route: { kind: 'connector', connector: 'To on-prem', rule: 'exact:contoso.test' },
        status: 'pending',
        attempts: 1,
        lastError: '4.4.1 connect ECONNREFUSED 127.0.0.1:9',
        lastHost: '127.0.0.1:9',
        updatedAt: now - 60_000,
      },
    ],
  };
}

async function build(dir: string, count: number): Promise<number> {
  const spool = new FileSpool(dir, createLogger('silent'));
  await spool.open();
  const started = Date.now();
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const id = spool.newId();
      const w = await spool.create(id);
      await w.write(BODY);
      await w.commit(deferredRecord(id, started, i));
    }
  };
  await Promise.all(Array.from({ length: CREATE_CONCURRENCY }, worker));
  await spool.close();
  return Date.now() - started;
}

/** What a dispatch would pay to load a record it did not keep: µs per readRecord(), over a sample. */
async function readCost(spool: FileSpool): Promise<number> {
  const ids: string[] = [];
  for await (const r of spool.list('queue')) if (ids.push(r.id) >= READ_SAMPLE) break;
  const t0 = process.hrtime.bigint();
  for (const id of ids) await spool.readRecord(id);
  return Math.round(Number(process.hrtime.bigint() - t0) / 1e3 / Math.max(1, ids.length));
}

/** The child: recover the spool into a queue manager and measure. Prints one JSON line. */
async function measure(dir: string): Promise<void> {
  const model = loadConfigText(CONFIG, 'bench/deferred.yaml');
  const spool = new FileSpool(dir, createLogger('silent'));
  await spool.open();
  let deliveries = 0;
  const never: DestinationDeliverer = {
    deliverGroup: async () => (deliveries++, []),
    downUntil: () => null,
  };
  const q = new QueueManager(spool, never, () => model, createLogger('silent'));
  global.gc?.();
  const before = process.memoryUsage();
  const t0 = process.hrtime.bigint();
  const recovered = await q.recover();
  const recoveryMs = Number(process.hrtime.bigint() - t0) / 1e6;
  global.gc?.();
  const after = process.memoryUsage();
  await q.stop();
  const readRecordUs = await readCost(spool);
  // The same recovery without the queue manager: what the spool's own scan costs.
  const t1 = process.hrtime.bigint();
  for await (const rec of spool.recover()) void rec;
  const spoolRecoverMs = Math.round(Number(process.hrtime.bigint() - t1) / 1e6);
  await spool.close();
  const out = {
    recovered,
    recoveryMs: Math.round(recoveryMs),
    rssBeforeMb: mb(before.rss),
    rssAfterMb: mb(after.rss),
    heapUsedBeforeMb: mb(before.heapUsed),
    heapUsedAfterMb: mb(after.heapUsed),
    heapBytesPerMessage: Math.round((after.heapUsed - before.heapUsed) / Math.max(1, recovered)),
    deliveriesStarted: deliveries,
    readRecordUs,
    spoolRecoverMs,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: String(DEFAULT_COUNT) },
      dir: { type: 'string' },
      recover: { type: 'string' },
      keep: { type: 'boolean', default: false },
    },
  });
  if (values.recover) return measure(values.recover);
  const count = Number(values.count);
  const dir = values.dir ?? (await mkdtemp(path.join(tmpdir(), 'sluice-deferred-')));
  process.stderr.write(`building ${count} deferred messages in ${dir} …\n`);
  const buildMs = await build(dir, count);
  process.stderr.write(`built in ${(buildMs / 1000).toFixed(1)} s; recovering in a fresh process …\n`);
  const self = fileURLToPath(import.meta.url);
  const child = spawnSync(process.execPath, ['--expose-gc', self, '--recover', dir], { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`recovery child failed: ${child.stderr}`);
  const figures = JSON.parse(child.stdout.trim()) as Record<string, number>;
  process.stdout.write(JSON.stringify({ count, buildMs, ...figures }) + '\n');
  if (!values.keep && !values.dir) await rm(dir, { recursive: true, force: true });
}

main().catch((err: Error) => {
  process.stderr.write(`deferred: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
