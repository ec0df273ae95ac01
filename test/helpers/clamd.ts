// A real clamd (Debian's clamav-daemon) for malware tests, on 127.0.0.1 and a free port, in the
// foreground, with a private signature database holding one EICAR body signature (no freshclam,
// nothing downloaded). Ready when it answers PING with PONG. stop() and start() again on the
// same port let a test take the engine away and bring it back.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ping } from '../../src/filters/clamd-client.js';
import { spawnEngine, waitReady, type EngineProcess } from './engine-process.js';
import { freePort } from './ports.js';

const READY_TIMEOUT_MS = 60_000;

/** Built from parts so this file itself is not an EICAR test file. */
export const EICAR = ['X5O!P%@AP[4\\PZX54(P^)7CC)7}$', 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'].join('');
export const EICAR_SIGNATURE = 'Eicar-Test-Signature';

export interface Clamd {
  readonly host: string;
  readonly port: number;
  /** For malwareFilter.clamd: "127.0.0.1:<port>". */
  readonly address: string;
  readonly dir: string;
  /** ms from spawn to the first PONG, for the report. */
  startMs: number;
  running(): boolean;
  stop(): Promise<void>;
  /** Starts again on the same port (after stop). */
  start(): Promise<void>;
}

export function clamdConfig(dir: string, port: number, streamMaxLength: string, logClean = false): string {
  return [
    'Foreground yes',
    `TCPSocket ${port}`,
    'TCPAddr 127.0.0.1',
    `DatabaseDirectory ${path.join(dir, 'db')}`,
    `LogFile ${path.join(dir, 'clamd.log')}`,
    `PidFile ${path.join(dir, 'clamd.pid')}`,
    `TemporaryDirectory ${dir}`,
    `StreamMaxLength ${streamMaxLength}`,
    'SelfCheck 0',
    'LogTime no',
    // One log line per clean scan: the bench counts them to prove every message was scanned.
    ...(logClean ? ['LogClean yes'] : []),
    '',
  ].join('\n');
}

export async function startClamd(opts: { streamMaxLength?: string; logClean?: boolean } = {}): Promise<Clamd> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-clamd-'));
  const port = await freePort();
  const { mkdir } = await import('node:fs/promises');
  await mkdir(path.join(dir, 'db'));
  const hex = Buffer.from(EICAR, 'latin1').toString('hex');
  await writeFile(path.join(dir, 'db', 'sluice-test.ndb'), `${EICAR_SIGNATURE}:0:*:${hex}\n`);
  const conf = path.join(dir, 'clamd.conf');
  await writeFile(conf, clamdConfig(dir, port, opts.streamMaxLength ?? '10M', opts.logClean));
  const address = { kind: 'tcp' as const, host: '127.0.0.1', port };
  let engine: EngineProcess | null = null;
  const self: Clamd = {
    host: '127.0.0.1',
    port,
    address: `127.0.0.1:${port}`,
    dir,
    startMs: 0,
    running: () => engine !== null && engine.proc.exitCode === null,
    async stop() {
      await engine?.stop();
      engine = null;
    },
    async start() {
      const t0 = Date.now();
      engine = spawnEngine('clamd', ['-c', conf]);
      await waitReady(engine, 'clamd', () => ping(address, 500), READY_TIMEOUT_MS);
      self.startMs = Date.now() - t0;
    },
  };
  await self.start();
  return self;
}
