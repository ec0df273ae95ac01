// The content-filter engines of the "filtered" case, started once and shared by both relays:
// one clamd (the test harness's, with its local EICAR database) and one rspamd (the test
// harness's private config) with two more workers — a controller, whose /stat counts scans,
// and the proxy in milter mode in front of the same normal worker, for Postfix — plus
// Debian's clamav-milter talking to the same clamd. scans() reads both engines' counters, so
// the bench can prove that every message of every relay went through both engines.
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startClamd, type Clamd } from '../test/helpers/clamd.js';
import { startRspamd, type Rspamd } from '../test/helpers/rspamd.js';
import { spawnEngine, waitReady, type EngineProcess } from '../test/helpers/engine-process.js';
import { freePort } from './tools.js';

const MILTER_READY_MS = 30_000;
const STAT_TIMEOUT_MS = 5_000;

export interface Scans {
  clamd: number;
  rspamd: number;
  /** CPU seconds so far of each engine's processes (rspamd: its main process and workers). */
  cpuS: { clamd: number; rspamd: number; clamavMilter: number };
}

export interface FilterEngines {
  /** For Sluice's malwareFilter.clamd: "127.0.0.1:<port>". */
  clamdAddress: string;
  /** For Sluice's spamFilter.rspamd.url: the normal worker. */
  rspamdUrl: string;
  /** For Postfix's smtpd_milters: clamav-milter's unix socket, then rspamd's proxy. */
  milters: string[];
  startMs: { clamd: number; rspamd: number };
  /** Scans so far: clamd's clean + infected log lines, rspamd's controller "scanned". */
  scans(): Promise<Scans>;
  stop(): Promise<void>;
}

function rspamdWorkers(controllerPort: number, milterPort: number): (normalPort: number) => string {
  // self_scan = no: the proxy hands every message to the normal worker Sluice also asks.
  return (normalPort) => `
worker "controller" {
  bind_socket = "127.0.0.1:${controllerPort}";
  count = 1;
  secure_ip = "127.0.0.1";
}
worker "rspamd_proxy" {
  bind_socket = "127.0.0.1:${milterPort}";
  milter = yes;
  timeout = 120s;
  count = 1;
  upstream "local" { default = yes; self_scan = no; hosts = "127.0.0.1:${normalPort}"; }
}
`;
}

function clamavMilterConfig(dir: string, socket: string, clamdAddress: string): string {
  return [
    `MilterSocket unix:${socket}`,
    'MilterSocketMode 666',
    'FixStaleSocket true',
    'Foreground true',
    `PidFile ${path.join(dir, 'clamav-milter.pid')}`,
    `ClamdSocket tcp:${clamdAddress}`,
    'OnClean Accept',
    'OnInfected Reject',
    'OnFail Defer',
    // X-Virus-Scanned / X-Virus-Status on every message, as a real setup has.
    'AddHeader Replace',
    'ReadTimeout 120',
    'MaxFileSize 25M',
    `TemporaryDirectory ${dir}`,
    `LogFile ${path.join(dir, 'clamav-milter.log')}`,
    'LogTime false',
    '',
  ].join('\n');
}

const connects = (socket: string) => (): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect(socket);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

async function rspamdScanned(controllerPort: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${controllerPort}/stat`, { signal: AbortSignal.timeout(STAT_TIMEOUT_MS) });
  if (!res.ok) throw new Error(`rspamd /stat: HTTP ${res.status}`);
  const stat = (await res.json()) as { scanned?: number };
  if (typeof stat.scanned !== 'number') throw new Error('rspamd /stat has no "scanned" counter');
  return stat.scanned;
}

async function clamdScans(clamd: Clamd): Promise<number> {
  const log = await readFile(path.join(clamd.dir, 'clamd.log'), 'utf8').catch(() => '');
  return (log.match(/: (?:OK|.+ FOUND)$/gm) ?? []).length;
}

const CLOCK_TICKS_PER_S = 100; // USER_HZ on Linux

/** utime+stime of `pid` and, with `children`, of its live child processes (rspamd's workers). */
function cpuOf(pid: number, children = false): number {
  const fields = (p: string) => {
    try {
      const t = readFileSync(`/proc/${p}/stat`, 'utf8');
      return t.slice(t.lastIndexOf(')') + 2).split(' ');
    } catch {
      return null; // exited
    }
  };
  const ticks = (f: string[]) => Number(f[11]) + Number(f[12]);
  const own = fields(String(pid));
  let sum = own ? ticks(own) : 0;
  if (children) {
    for (const p of readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      const f = fields(p);
      if (f && Number(f[1]) === pid) sum += ticks(f);
    }
  }
  return sum / CLOCK_TICKS_PER_S;
}

/** The bench's own child process whose command name starts with `comm` (the engines run in the foreground). */
function childNamed(comm: string): number {
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const t = readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(t.slice(t.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && readFileSync(`/proc/${p}/comm`, 'utf8').startsWith(comm)) return Number(p);
    } catch {
      /* exited */
    }
  }
  throw new Error(`no child process named ${comm}`);
}

export async function startFilterEngines(): Promise<FilterEngines> {
  const [controllerPort, milterPort] = [await freePort(), await freePort()];
  let clamd: Clamd | null = null;
  let rspamd: Rspamd | null = null;
  let milter: EngineProcess | null = null;
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-bench-milter-'));
  const stop = async () => {
    await milter?.stop();
    await rspamd?.stop();
    await clamd?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    [clamd, rspamd] = await Promise.all([startClamd({ logClean: true }), startRspamd({ extraWorkers: rspamdWorkers(controllerPort, milterPort) })]);
    // Postfix's smtpd runs as the postfix user: it must reach the socket in this directory.
    await chmod(dir, 0o755);
    const socket = path.join(dir, 'clamav-milter.sock');
    const conf = path.join(dir, 'clamav-milter.conf');
    await writeFile(conf, clamavMilterConfig(dir, socket, clamd.address));
    milter = spawnEngine('clamav-milter', ['-c', conf]);
    await waitReady(milter, 'clamav-milter', connects(socket), MILTER_READY_MS);
    await rspamdScanned(controllerPort);
    const c = clamd;
    const [clamdPid, rspamdPid, milterPid] = [childNamed('clamd'), childNamed('rspamd'), milter.proc.pid!];
    const cpuS = () => ({ clamd: cpuOf(clamdPid), rspamd: cpuOf(rspamdPid, true), clamavMilter: cpuOf(milterPid) });
    return {
      clamdAddress: c.address,
      rspamdUrl: rspamd.url,
      milters: [`unix:${socket}`, `inet:127.0.0.1:${milterPort}`],
      startMs: { clamd: c.startMs, rspamd: rspamd.startMs },
      scans: async () => ({ clamd: await clamdScans(c), rspamd: await rspamdScanned(controllerPort), cpuS: cpuS() }),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
