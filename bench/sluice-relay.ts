// Sluice as the relay under test: the real CLI (`bin/sluice.cjs start`) as a child process
// with a generated config — accepted domain contoso.com, one outbound connector
// (allAcceptedDomains) to the sink as smart host, the durable fsync spool, log level warn.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { freePort, stopChild } from './tools.js';
import { greets } from './smtp-client.js';
import { parseDuration } from '../src/config/units.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(REPO_ROOT, 'bin/sluice.cjs');
const START_TIMEOUT_MS = 20_000;

export interface SluiceRelay {
  port: number;
  pid: number;
  dir: string;
  certDir: string;
  /** Log lines written at warn and above (the bench runs at warn: these should be rare). */
  logLines(): number;
  output(): string;
  stop(): Promise<void>;
}

export interface SluiceOptions {
  sinkPort: number;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[];
  logLevel?: string;
  /** Extra environment of the relay (BENCH_SLUICE_ENV / BENCH_VARIANT_ENV). */
  env?: Record<string, string>;
  /** server.limits.greetingDelay, e.g. "100ms"; null or absent = the default (0, greet at once). */
  greetingDelay?: string | null;
  /** Another Sluice tree (bin/sluice.cjs + dist/) instead of this one: A/B runs of a change. */
  root?: string;
  /** Top-level config keys to replace (BENCH_SLUICE_CONFIG / BENCH_VARIANT_CONFIG): filters, trace …; null leaves a key out (an older build that lacks it). */
  configPatch?: Record<string, unknown>;
}

export async function startSluiceRelay(o: SluiceOptions): Promise<SluiceRelay> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-bench-'));
  const port = await freePort();
  const certDir = path.join(dir, 'certs');
  const config = {
    server: {
      hostname: 'sluice.bench.example',
      listen: [{ host: '127.0.0.1', port }],
      tls: { cert: path.join(certDir, 'server.crt'), key: path.join(certDir, 'server.key'), clientCa: [path.join(certDir, 'ca.crt')], generateDevCertificates: true },
      // Room for the idle-session and 100 MB cases; one message per connection as smtp-source sends.
      limits: {
        maxMessageSize: '200MB', maxRecipients: 100, maxConnections: 1500, maxConnectionsPerIp: 1500, maxMessagesPerConnection: 1000, idleTimeout: '120s',
        ...(o.greetingDelay ? { greetingDelay: o.greetingDelay } : {}),
      },
    },
    spool: { dir: path.join(dir, 'spool') },
    admin: { listen: '127.0.0.1:0' },
    delivery: { mxPort: 25, retry: { initial: '1s', max: '2s', lifetime: '1h' } },
    acceptedDomains: [{ domain: 'contoso.com', type: 'Authoritative' }],
    inboundConnectors: [],
    outboundConnectors: [
      { name: 'To sink', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${o.sinkPort}`], maxConnections: 20, maxMessagesPerConnection: 1000 },
    ],
  };
  const configPath = path.join(dir, 'sluice.yaml');
  const patched: Record<string, unknown> = { ...config, ...o.configPatch };
  for (const [k, v] of Object.entries(patched)) if (v === null) delete patched[k];
  await writeFile(configPath, stringify(patched));
  const cli = o.root ? path.resolve(o.root, 'bin/sluice.cjs') : CLI;
  const proc = spawn(process.execPath, [...(o.nodeArgs ?? []), cli, 'start', '--config', configPath], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SLUICE_LOG_LEVEL: o.logLevel ?? 'warn', ...o.env },
  });
  let lines = 0;
  let out = '';
  const take = (c: string) => {
    lines += c.split('\n').length - 1;
    out = (out + c).slice(-4_000);
  };
  proc.stdout!.setEncoding('utf8').on('data', take);
  proc.stderr!.setEncoding('utf8').on('data', take);
  const deadline = Date.now() + START_TIMEOUT_MS;
  // With a greeting delay the probe has to wait that long for its 220.
  const probeMs = 1_000 + (o.greetingDelay ? parseDuration(o.greetingDelay) : 0);
  while (!(await greets(port, probeMs))) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`sluice did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  lines = 0; // start-up warnings (dev certificates) are not traffic
  return {
    port,
    pid: proc.pid!,
    dir,
    certDir,
    logLines: () => lines,
    output: () => out,
    async stop() {
      await stopChild(proc, 10_000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
