// `node dist/bench/queue-list.js [N ...]`: how fast `sluice queue list` reads a large spool.
// Writes N synthetic messages (one-file format: small body + record; a third deferred with a last
// error and so a state file, some held) into a temp spool, then times the real CLI: wall time,
// time to the first output byte and peak RSS.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeTrailer } from '../src/queue/spool-format.js';
import type { SpoolRecord } from '../src/queue/record.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
const DEFAULT_SIZES = [5_000, 20_000];
const RUNS = 3;

function record(i: number, now: number): SpoolRecord {
  const id = (now - i * 1000).toString(16).toUpperCase().padStart(12, '0') + i.toString(16).toUpperCase().padStart(10, '0');
  const deferred = i % 3 === 0;
  const rcpt = (n: number) => ({
    address: `user${i}.${n}@contoso.com`,
    route: { kind: 'connector', connector: n === 0 ? 'To on-prem' : 'To internet', rule: 'exact:contoso.com' },
    status: 'pending' as const,
    attempts: deferred ? 2 : 0,
    lastError: deferred ? '4.4.0 450 4.2.0 <user@contoso.com>: mailbox busy, try again later' : null,
    lastHost: deferred ? '10.0.0.7:25' : null,
    updatedAt: now,
  });
  return {
    v: 2,
    id,
    receivedAt: now - i * 1000,
    sessionId: `s${i}`,
    client: { ip: '10.0.0.5', helo: 'onprem.contoso.com', tls: true, inbound: 'From on-prem', matchedBy: 'ip' },
    mailFrom: `sender${i}@contoso.com`,
    size: 2048,
    status: i % 50 === 0 ? ('hold' as const) : ('active' as const),
    attempts: deferred ? 2 : 0,
    nextAttemptAt: now + 600_000,
    rcpts: [rcpt(0), rcpt(1)],
  };
}

function makeSpool(n: number): { dir: string; config: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-qbench-'));
  const q = path.join(dir, 'spool', 'queue');
  mkdirSync(q, { recursive: true });
  const body = Buffer.from('Subject: bench\r\n\r\n' + 'x'.repeat(2030));
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    const r = record(i, now);
    writeFileSync(path.join(q, `${r.id}.msg`), Buffer.concat([body, encodeTrailer({ ...r, attempts: 0 }, body.length)]));
    // A message that was tried has a state file beside it, as in a real queue.
    if (r.attempts > 0 || r.status === 'hold') writeFileSync(path.join(q, `${r.id}.state`), JSON.stringify(r));
  }
  const config = path.join(dir, 'sluice.yaml');
  writeFileSync(
    config,
    [
      'server:',
      '  hostname: bench.sluice.test',
      '  listen: [{ host: 127.0.0.1, port: 2525 }]',
      '  tls: { cert: c.crt, key: c.key }',
      'spool:',
      `  dir: ${path.join(dir, 'spool')}`,
      '',
    ].join('\n'),
  );
  return { dir, config };
}

interface Timing {
  wallMs: number;
  firstByteMs: number;
  peakRssKb: number;
  bytes: number;
  code: number | null;
}

/** Runs the CLI under /usr/bin/time for its peak RSS; output is counted and discarded. */
function timeCli(args: string[]): Promise<Timing> {
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    const ms = () => Number(process.hrtime.bigint() - start) / 1e6;
    const p = spawn('/usr/bin/time', ['-f', 'RSS_KB=%M', process.execPath, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let firstByteMs = -1;
    let bytes = 0;
    let err = '';
    p.stdout.on('data', (c: Buffer) => {
      if (firstByteMs < 0) firstByteMs = ms();
      bytes += c.length;
    });
    p.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    p.on('close', (code) => {
      const rss = /RSS_KB=(\d+)/.exec(err);
      resolve({ wallMs: ms(), firstByteMs, peakRssKb: rss ? Number(rss[1]) : -1, bytes, code });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
  console.log(`queue list bench — node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log('| messages | command | wall ms (median of 3) | first byte ms | peak RSS MB | output |');
  console.log('|---:|---|---:|---:|---:|---:|');
  for (const n of sizes.length ? sizes : DEFAULT_SIZES) {
    const { dir, config } = makeSpool(n);
    const cases: [string, string[]][] = [
      ['check (startup baseline)', ['check', '--config', config]],
      ['queue list', ['queue', 'list', '--config', config]],
      ['queue list --json', ['queue', 'list', '--json', '--config', config]],
      ['queue list --status hold', ['queue', 'list', '--status', 'hold', '--config', config]],
    ];
    for (const [name, args] of cases) {
      const runs: Timing[] = [];
      for (let i = 0; i < RUNS; i++) runs.push(await timeCli(args));
      const bad = runs.find((r) => r.code !== 0);
      if (bad) throw new Error(`${name} exited ${bad.code}`);
      const mb = (kb: number) => (kb / 1024).toFixed(0);
      console.log(
        `| ${n} | \`${name}\` | ${median(runs.map((r) => r.wallMs)).toFixed(0)} | ${median(runs.map((r) => r.firstByteMs)).toFixed(0)} | ` +
          `${mb(median(runs.map((r) => r.peakRssKb)))} | ${(runs[0]!.bytes / 1024 / 1024).toFixed(1)} MB |`,
      );
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
