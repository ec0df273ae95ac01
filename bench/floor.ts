// Starts bench/floor-relay.ts (the library floor under Sluice) as the bench's system `floor`.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { greets } from './smtp-client.js';
import { freePort, stopChild } from './tools.js';
import type { Case } from './cases.js';

const START_TIMEOUT_MS = 20_000;

/** `sendThread`: nodemailer on a worker thread (system `floor-thread`), as Sluice's delivery thread. */
export async function startFloorRelay(sinkPort: number, c: Case, sendThread = false): Promise<{ port: number; procs: { pid: number }; stop(): Promise<void>; describe(): string }> {
  if (c.tls || c.filtered) throw new Error(`the floor relay has no TLS and no filters (case ${c.id})`);
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-bench-floor-'));
  const port = await freePort();
  const main = new URL('./floor-relay.js', import.meta.url).pathname;
  const proc = spawn(process.execPath, [main, String(port), String(sinkPort), path.join(dir, 'spool')], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, BENCH_FLOOR_SEND_THREAD: sendThread ? '1' : '0' },
  });
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-2_000)));
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await greets(port, 1_000))) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`floor relay did not start: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    procs: { pid: proc.pid! },
    async stop() {
      await stopChild(proc, 10_000);
      await rm(dir, { recursive: true, force: true });
    },
    describe: () => (err ? `stderr: ${err.trim().split('\n').pop()?.slice(0, 200)}` : ''),
  };
}
