// Runs the real daemon for integration tests: writes a YAML config into a temp dir, starts
// `node bin/sluice.cjs start` as a child process on a free loopback port, collects its
// JSON log lines, and can stop it with SIGTERM or kill it with SIGKILL and start it again.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { CertSet } from './certs.js';
import { freePort } from './ports.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const CLI = path.join(REPO_ROOT, 'bin/sluice.cjs');
const START_TIMEOUT_MS = 15_000;

export type LogLine = Record<string, unknown> & { msg?: string; stage?: string };

export interface SluiceProcess {
  dir: string;
  configPath: string;
  port: number;
  host: string;
  /** The admin HTTP listener's port, from its `admin listening` log line. */
  adminPort: number | null;
  logs: LogLine[];
  stderr: string;
  proc: ChildProcess;
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: no cleanup at all, as a crash. */
  kill(): Promise<void>;
  /** Start again on the same dir, config and port (after stop or kill). */
  restart(): Promise<SluiceProcess>;
}

/** A config with sensible test defaults; `patch` keys replace top-level sections. */
export function testConfig(opts: { port: number; dir: string; certs: CertSet; patch?: Record<string, unknown> }): Record<string, unknown> {
  return {
    server: {
      hostname: 'gateway.sluice.test',
      listen: [{ host: '127.0.0.1', port: opts.port }],
      tls: { cert: opts.certs.server.certPath, key: opts.certs.server.keyPath, clientCa: [opts.certs.ca.certPath] },
      limits: { maxMessageSize: '1MB', maxRecipients: 20, maxConnectionsPerIp: 10, idleTimeout: '20s' },
    },
    spool: { dir: path.join(opts.dir, 'spool') },
    delivery: { mxPort: 25, retry: { initial: '1s', max: '2s', lifetime: '1h' } },
    acceptedDomains: [{ domain: 'contoso.com', type: 'Authoritative' }],
    inboundConnectors: [],
    outboundConnectors: [],
    // Any free port: several daemons (and several checkouts' test runs) share this machine.
    admin: { listen: '127.0.0.1:0' },
    ...opts.patch,
  };
}

export async function startSluice(opts: {
  certs: CertSet;
  patch?: Record<string, unknown>;
  config?: (port: number, dir: string) => Record<string, unknown>;
}): Promise<SluiceProcess> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-it-'));
  const configPath = path.join(dir, 'sluice.yaml');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const config = opts.config ? opts.config(port, dir) : testConfig({ port, dir, certs: opts.certs, ...(opts.patch ? { patch: opts.patch } : {}) });
    await writeFile(configPath, stringify(config));
    try {
      return await launch(dir, configPath, port);
    } catch (err) {
      // freePort's race: between its close and the daemon's bind, another process started in
      // parallel (a replica's admin listener on port 0, an outbound socket) took the port.
      if (attempt >= START_ATTEMPTS || !/EADDRINUSE/.test((err as Error).message)) throw err;
    }
  }
}

/** Launches retried when the chosen port was taken before the daemon bound it. */
const START_ATTEMPTS = 3;

export async function launch(dir: string, configPath: string, port: number): Promise<SluiceProcess> {
  const proc = spawn(process.execPath, [CLI, 'start', '--config', configPath], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SLUICE_LOG_LEVEL: 'debug' },
  });
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  let buf = '';
  const self: SluiceProcess = {
    dir,
    configPath,
    port,
    host: '127.0.0.1',
    adminPort: null,
    logs,
    stderr: '',
    proc,
    waitForLog(pred, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = logs.find(pred);
          if (hit) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(hit);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`sluice: no matching log line within ${timeoutMs} ms; last lines:\n${logs.slice(-8).map((l) => JSON.stringify(l)).join('\n')}\nstderr: ${self.stderr}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async stop() {
      if (proc.exitCode !== null) return proc.exitCode;
      const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
      proc.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGKILL');
      await exited;
    },
    restart: () => launch(dir, configPath, port),
  };
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        logs.push({ msg: line });
      }
    }
    for (const w of [...waiters]) w();
  });
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (self.stderr += c));
  const started = self.waitForLog((l) => l.msg === 'sluice started', START_TIMEOUT_MS);
  const exited = new Promise<never>((_, reject) =>
    proc.once('exit', (code) => reject(new Error(`sluice exited with ${code} before starting: ${self.stderr}`))),
  );
  await Promise.race([started, exited]);
  const admin = logs.find((l) => l.msg === 'admin listening');
  self.adminPort = typeof admin?.port === 'number' ? admin.port : null;
  return self;
}

/**
 * Runs the CLI to completion (check, route, …) and returns its exit code and output.
 * `withoutPermissionOverride` drops root's capabilities to bypass file modes (setpriv, when the
 * tests run as root), so a mode-000 file is unreadable to it, for permission tests.
 */
export function runCli(
  args: string[],
  cwd = REPO_ROOT,
  opts: { withoutPermissionOverride?: boolean } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [cmd, argv] =
    opts.withoutPermissionOverride && process.getuid?.() === 0
      ? ['setpriv', ['--bounding-set=-dac_override,-dac_read_search', process.execPath, CLI, ...args]]
      : [process.execPath, [CLI, ...args]];
  return new Promise((resolve) => {
    const p = spawn(cmd, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Writes a config for `dir` (its spool prepared by the test) with all mail to one smart host, and starts the daemon. */
export async function launchToSmartHost(dir: string, certs: CertSet, hostPort: number): Promise<SluiceProcess> {
  const port = await freePort();
  const config = {
    ...testConfig({ port, dir, certs }),
    outboundConnectors: [{ name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${hostPort}`] }],
  };
  const configPath = path.join(dir, 'sluice.yaml');
  await writeFile(configPath, stringify(config));
  return launch(dir, configPath, port);
}
