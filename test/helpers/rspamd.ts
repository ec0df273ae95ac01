// A real rspamd (Debian's) for spam tests: foreground, a private top-level config that reuses
// the packaged rules (/etc/rspamd) but binds only the normal worker to 127.0.0.1:<free port>,
// logs to the console, points DNS at a dead port and disables every module that needs the
// network or redis, and turns on enable_test_patterns (GTUBE and its add-header / rewrite-subject
// variants). The hyperscan cache lives in a directory named after the config's hash, kept across
// runs: the first start compiles the public-suffix list (~10 s), later ones reuse it.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnEngine, waitReady, type EngineProcess } from './engine-process.js';
import { freePort } from './ports.js';

/** The first start compiles the regexp and suffix-list caches; a busy 2-core CI box needs room. */
const READY_TIMEOUT_MS = 120_000;

/** GTUBE (rspamd action reject) and rspamd's test-pattern variants. */
const GTUBE_TAIL = '*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';
export const GTUBE = `XJS${GTUBE_TAIL}`;
export const GTUBE_ADD_HEADER = `YJS${GTUBE_TAIL}`;
export const GTUBE_REWRITE_SUBJECT = `ZJS${GTUBE_TAIL}`;

/** Modules that would ask DNS, redis or the internet; a test engine must answer from the message alone. */
const NETWORK_MODULES = [
  'antivirus', 'arc', 'asn', 'aws_s3', 'bimi', 'clickhouse', 'dcc', 'dkim', 'dkim_signing', 'dmarc', 'elastic', 'emails',
  'external_services', 'fuzzy_check', 'greylist', 'hfilter', 'history_redis', 'metadata_exporter', 'metric_exporter',
  'mx_check', 'neural', 'p0f', 'phishing', 'ratelimit', 'rbl', 'replies', 'reputation', 'rspamd_update', 'spamtrap',
  'spf', 'surbl', 'url_redirector', 'whitelist',
];

export interface Rspamd {
  readonly port: number;
  /** For spamFilter.rspamd.url. */
  readonly url: string;
  readonly dir: string;
  /** ms from spawn to the first answer to /ping (the first start of a cache dir compiles it). */
  startMs: number;
  stop(): Promise<void>;
  /** Starts again on the same port (after stop). */
  start(): Promise<void>;
}

function topLevelConfig(port: number, extraWorkers: string): string {
  return `
.include "$CONFDIR/common.conf"
options {
  pidfile = "$RUNDIR/rspamd.pid";
  .include "$CONFDIR/options.inc"
  .include(try=true; priority=10) "$LOCAL_CONFDIR/override.d/options.inc"
}
logging {
  type = "console";
  level = "notice";
}
worker "normal" {
  bind_socket = "127.0.0.1:${port}";
  .include "$CONFDIR/worker-normal.inc"
  count = 1;
}
${extraWorkers}
`;
}

function optionsOverride(cacheDir: string): string {
  return `
enable_test_patterns = true;
dns { nameserver = ["127.0.0.1:9"]; timeout = 0.1s; retransmits = 0; }
hs_cache_dir = "${cacheDir}";
rrd = "";
history_file = "";
`;
}

const probe = (url: string) => async (): Promise<boolean> => {
  const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1_000) });
  return res.ok && (await res.text()).trim() === 'pong';
};

export interface RspamdOptions {
  /** More worker sections (the bench adds a controller and a milter-mode proxy), given the normal worker's port. */
  extraWorkers?: (normalPort: number) => string;
}

export async function startRspamd(opts: RspamdOptions = {}): Promise<Rspamd> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-rspamd-'));
  const port = await freePort();
  // The cache depends on the rules, not on the port or the temp dir: hash what shapes the rules.
  const hash = createHash('sha256').update(optionsOverride('')).update(NETWORK_MODULES.join(',')).digest('hex').slice(0, 16);
  const cacheDir = path.join(tmpdir(), `sluice-rspamd-hs-${hash}`);
  await mkdir(cacheDir, { recursive: true });
  for (const d of ['local.d', 'override.d', 'db']) await mkdir(path.join(dir, d));
  await writeFile(path.join(dir, 'rspamd.conf'), topLevelConfig(port, opts.extraWorkers?.(port) ?? ''));
  await writeFile(path.join(dir, 'override.d', 'options.inc'), optionsOverride(cacheDir));
  for (const m of NETWORK_MODULES) await writeFile(path.join(dir, 'local.d', `${m}.conf`), 'enabled = false;\n');
  const url = `http://127.0.0.1:${port}`;
  const asRoot = process.getuid?.() === 0 ? ['-u', 'root', '-g', 'root'] : [];
  const args = [
    '-f', ...asRoot, '-c', path.join(dir, 'rspamd.conf'),
    '--var', 'CONFDIR=/etc/rspamd', '--var', `LOCAL_CONFDIR=${dir}`, '--var', `DBDIR=${path.join(dir, 'db')}`,
    '--var', `RUNDIR=${dir}`, '--var', `LOGDIR=${dir}`,
  ];
  let engine: EngineProcess | null = null;
  const self: Rspamd = {
    port,
    url,
    dir,
    startMs: 0,
    async stop() {
      await engine?.stop();
      engine = null;
    },
    async start() {
      const t0 = Date.now();
      engine = spawnEngine('rspamd', args);
      await waitReady(engine, 'rspamd', probe(url), READY_TIMEOUT_MS);
      self.startMs = Date.now() - t0;
    },
  };
  await self.start();
  return self;
}
