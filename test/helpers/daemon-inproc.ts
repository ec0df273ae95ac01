// Runs the real daemon in the test's own process (startDaemon), so a test can hand it filters of
// its own (the test-only `filterFactories` hook) and still talk to it over real sockets: SMTP on
// loopback, the queue tools' control socket from a child `sluice` process. Logs are collected.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { stringify } from 'yaml';
import { startDaemon, type Daemon, type DaemonOptions } from '../../src/daemon.js';
import type { FilterFactory } from '../../src/filters/contract.js';
import type { CertSet } from './certs.js';
import { freePort } from './ports.js';
import { testConfig, type LogLine } from './sluice.js';

export interface InProcessSluice {
  dir: string;
  configPath: string;
  port: number;
  logs: LogLine[];
  daemon: Daemon;
  /** Resolves with the first log line matching `pred`, polling until `timeoutMs`. */
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  stop(): Promise<void>;
}

const POLL_MS = 20;

export async function startInProcess(opts: {
  certs: CertSet;
  patch?: Record<string, unknown>;
  filterFactories: readonly FilterFactory[];
  daemon?: Omit<DaemonOptions, 'filterFactories'>;
  dir?: string;
  port?: number;
}): Promise<InProcessSluice> {
  const dir = opts.dir ?? (await mkdtemp(path.join(tmpdir(), 'sluice-ip-')));
  const port = opts.port ?? (await freePort());
  const configPath = path.join(dir, 'sluice.yaml');
  await writeFile(configPath, stringify(testConfig({ port, dir, certs: opts.certs, ...(opts.patch ? { patch: opts.patch } : {}) })));
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        try {
          logs.push(JSON.parse(line) as LogLine);
        } catch {
          logs.push({ msg: line });
        }
      }
      cb();
    },
  });
  const log = pino({ level: 'debug', base: { svc: 'sluice' } }, sink);
  const daemon = await startDaemon(configPath, log, { ...opts.daemon, filterFactories: opts.filterFactories });
  const waitForLog = async (pred: (l: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = logs.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`no matching log line within ${timeoutMs} ms; last:\n${logs.slice(-6).map((l) => JSON.stringify(l)).join('\n')}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  };
  return { dir, configPath, port, logs, daemon, waitForLog, stop: () => daemon.stop() };
}
