// One case on the systems under test: start each system's sink (smtp-sink, or the Node STARTTLS
// sink for TLS cases) and relay, warm each up, then `runs` throughput runs per system, interleaved
// (each timed until the SINK has every message), and one latency run each; CPU and peak RSS of
// the relays' processes from /proc.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Case, Settings } from './cases.js';
import { busiestOtherThread, members, meter, threadCpuSeconds, type ProcSet } from './procs.js';
import { countSyscalls } from './syscalls.js';
import { runSmtpSource, startNodeSinkProcess, startSmtpSink, type Sink } from './tools.js';
import { runClient } from './smtp-client.js';
import { startPostfixRelay } from './postfix-relay.js';
import { startSluiceRelay } from './sluice-relay.js';
import { startFloorRelay } from './floor.js';
import type { FilterEngines } from './engines.js';
import { countScans, emptyTally, postfixMilterParams, scanNote, sluiceFilterConfig, type ScanTally } from './filtered.js';

/** `variant`: a second Sluice build (BENCH_SLUICE_VARIANT=DIR, a tree with bin/ and dist/) for A/B runs. */
export type System = 'ceiling' | 'postfix' | 'sluice' | 'variant' | 'floor' | 'floor-thread';
export const isSluice = (s: System): boolean => s === 'sluice' || s === 'variant';

export interface Figures {
  system: System;
  caseId: string;
  msgsPerS: number[];
  cpuMsPerMsg: number[];
  /** Sluice only: CPU ms per message of the main thread (what --cpu-prof sees) and of all other threads (libuv's pool: fs calls and fsync; V8's GC helpers). */
  /** Per run: main thread, all other threads, and the busiest one of those (the delivery thread). */
  threadCpu: { mainMs: number; otherMs: number; busiestMs: number }[];
  peakRssBytes: number;
  peakPssBytes: number;
  p50Ms: number;
  p99Ms: number;
  latencySamples: number;
  failures: number;
  note: string;
  /** BENCH_PROFILE: the relay's .cpuprofile (written when it exited). */
  profileFile?: string;
  /** BENCH_SYSCALLS: system calls per message by name (strace -c -f, one untimed run). */
  syscallsPerMsg?: Map<string, number>;
  /** The filtered case: the engines' scans during this relay's timed and latency runs. */
  scans?: ScanTally;
}

export interface Certs {
  cert: string;
  key: string;
}

interface Relay {
  port: number;
  procs: ProcSet | null;
  /** BENCH_PROFILE: where the relay writes its .cpuprofile when it exits. */
  profileDir?: string | null;
  stop(): Promise<void>;
  describe(): string;
}

async function startRelay(system: System, sink: Sink, c: Case, s: Settings, certs: Certs, engines: FilterEngines | null): Promise<Relay> {
  if (system === 'ceiling') return { port: sink.port, procs: null, stop: async () => undefined, describe: () => '' };
  if (c.filtered && !engines) throw new Error(`${c.id} needs the filter engines (bench/engines.ts)`);
  const filters = c.filtered && engines ? engines : null;
  if (system === 'postfix') {
    const pf = await startPostfixRelay(sink.port, c.tls ? { serverCert: certs.cert, serverKey: certs.key } : undefined, filters ? postfixMilterParams(filters) : undefined);
    return { port: pf.port, procs: { session: pf.masterPid }, stop: () => pf.stop(), describe: () => '' };
  }
  if (system === 'floor' || system === 'floor-thread') return startFloorRelay(sink.port, c, system === 'floor-thread');
  const profileDir = s.profile ? await mkdtemp(path.join(tmpdir(), 'sluice-bench-prof-')) : null;
  const nodeArgs = [...s.sluiceNodeArgs, ...(system === 'variant' ? s.variantNodeArgs : []), ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])];
  if (system === 'variant' && !s.variantRoot) throw new Error('system variant needs BENCH_SLUICE_VARIANT=DIR');
  const logLevel = system === 'variant' ? s.variantLogLevel : s.sluiceLogLevel;
  const sl = await startSluiceRelay({ sinkPort: sink.port, nodeArgs, logLevel, env: system === 'variant' ? s.variantEnv : s.sluiceEnv, greetingDelay: s.sluiceGreetingDelay, configPatch: { ...(filters ? sluiceFilterConfig(filters) : {}), ...(system === 'variant' ? s.variantConfig : s.sluiceConfig) }, ...(system === 'variant' ? { root: s.variantRoot! } : {}) });
  return {
    port: sl.port,
    procs: { pid: sl.pid },
    stop: () => sl.stop(),
    profileDir,
    describe: () => (sl.logLines() ? `${sl.logLines()} log lines (SLUICE_LOG_LEVEL=${logLevel}); last: ${sl.output().trim().split('\n').pop()?.slice(0, 200)}` : ''),
  };
}

/** Sends `n` messages through `port` with the case's workload; resolves when the sink has them. */
async function drive(port: number, sink: Sink, c: Case, n: number, s: Settings): Promise<{ latencies: number[]; failures: number; err?: string }> {
  const target = sink.received() + n;
  const load = { port, sessions: c.sessions, messages: n, bodyBytes: c.bodyBytes, rcpts: c.rcpts, timeoutMs: s.runTimeoutMs };
  let latencies: number[] = [];
  let failures = 0;
  let err: string | undefined;
  if (c.tls) {
    // smtp-source has no STARTTLS: the Node client is the load for TLS cases.
    const r = await runClient({ ...load, starttls: true });
    latencies = r.latenciesMs;
    failures = r.failures;
    err = r.firstError;
  } else {
    const r = await runSmtpSource(load);
    if (r.code !== 0) err = `smtp-source exit ${r.code}: ${r.stderr.trim().slice(0, 200)}`;
  }
  const sourceDoneMs = performance.now();
  await sink.waitFor(target - failures, s.runTimeoutMs);
  if (process.env.BENCH_DEBUG) console.error(`    source done; sink had ${sink.received() - target + n}/${n}; sink done ${(performance.now() - sourceDoneMs).toFixed(0)} ms later`);
  return { latencies, failures, ...(err ? { err } : {}) };
}

export function percentile(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function median(xs: number[]): number {
  return percentile(xs, 50);
}

const SETTLE_MS = 500;

/**
 * Flushes dirty pages before a timed run: otherwise the writeback of the previous run's (or the
 * previous system's) queue files lands in this run's fsyncs, and whichever relay runs second pays.
 */
async function settle(): Promise<void> {
  spawnSync('sync', { timeout: 60_000 });
  await new Promise((r) => setTimeout(r, SETTLE_MS));
}

/** One system of one case, started: its sink, its relay and the figures collected so far. */
export interface Subject {
  system: System;
  /** BENCH_PROFILE: the directory holding the relay's .cpuprofile once stopped. */
  profileDir: string | null;
  c: Case;
  sink: Sink;
  relay: Relay;
  f: Figures;
  notes: string[];
  /** The filtered case's engines (null otherwise, and for the ceiling, which filters nothing). */
  engines: FilterEngines | null;
}

/** Runs `run` and, in the filtered case, adds the engines' scans during it to the relay's tally. */
async function counted<T>(x: Subject, run: () => Promise<T>, delivered: (r: T) => number): Promise<T> {
  if (!x.engines || !x.f.scans) return run();
  let out: T | undefined;
  await countScans(x.engines, x.f.scans, async () => delivered((out = await run())));
  return out as T;
}

export async function startSubject(system: System, c: Case, s: Settings, certs: Certs, engines: FilterEngines | null = null): Promise<Subject> {
  const sink = c.tls ? await startNodeSinkProcess(certs.cert, certs.key) : await startSmtpSink();
  const relay = await startRelay(system, sink, c, s, certs, engines).catch(async (e) => {
    await sink.stop();
    throw e;
  });
  const f: Figures = { system, caseId: c.id, msgsPerS: [], cpuMsPerMsg: [], threadCpu: [], peakRssBytes: 0, peakPssBytes: 0, p50Ms: NaN, p99Ms: NaN, latencySamples: 0, failures: 0, note: '' };
  const filtering = c.filtered && system !== 'ceiling' ? engines : null;
  if (filtering) f.scans = emptyTally();
  return { system, c, sink, relay, f, notes: [], profileDir: relay.profileDir ?? null, engines: filtering };
}

/** Unmeasured messages first (JIT, pools, page cache). */
export async function warmUp(x: Subject, s: Settings): Promise<void> {
  if (s.warmup) await drive(x.relay.port, x.sink, x.c, s.warmup, s).catch((e: Error) => x.notes.push(e.message.slice(0, 300)));
}

/** Clock span of one timed run (CLOCK_MONOTONIC µs, the clock of V8's profile timestamps). */
export type RunWindow = readonly [number, number];
const monoUs = () => Number(process.hrtime.bigint() / 1000n);

/** One timed throughput run: after settle(), until the sink has every message; CPU from /proc. */
export async function timedRun(x: Subject, s: Settings): Promise<RunWindow> {
  const { c, f, relay } = x;
  await settle();
  const m = relay.procs ? meter(relay.procs) : null;
  const threads0 = relay.procs && 'pid' in relay.procs ? threadCpuSeconds(relay.procs.pid) : null;
  const w0 = monoUs();
  const t0 = performance.now();
  const n = c.tls ? s.tlsMessages : s.messages;
  try {
    const d = await counted(x, () => drive(relay.port, x.sink, c, n, s), (r) => n - r.failures);
    const secs = (performance.now() - t0) / 1000;
    const done = n - d.failures;
    f.msgsPerS.push(done / secs);
    f.failures += d.failures;
    if (d.err) x.notes.push(d.err);
    if (m) {
      const u = m.stop();
      f.cpuMsPerMsg.push((u.cpuS * 1000) / done);
      f.peakRssBytes = Math.max(f.peakRssBytes, u.peakRssBytes);
      f.peakPssBytes = Math.max(f.peakPssBytes, u.peakPssBytes);
    }
    if (threads0 && relay.procs && 'pid' in relay.procs) {
      const t1 = threadCpuSeconds(relay.procs.pid);
      f.threadCpu.push({
        mainMs: ((t1.main - threads0.main) / done) * 1000,
        otherMs: ((t1.other - threads0.other) / done) * 1000,
        busiestMs: (busiestOtherThread(threads0.byTid, t1.byTid) / done) * 1000,
      });
    }
  } catch (e) {
    m?.stop();
    x.notes.push((e as Error).message.slice(0, 300));
  }
  return [w0, monoUs()];
}

/** BENCH_SYSCALLS: one extra, untimed run with strace attached to every process of the relay. */
export async function syscallRun(x: Subject, s: Settings): Promise<void> {
  const { c, f, relay, sink } = x;
  if (!s.syscallMessages || !relay.procs) return;
  const n = s.syscallMessages;
  try {
    const counts = await countSyscalls(
      members(relay.procs).map((m) => m.pid),
      async () => void (await drive(relay.port, sink, c, n, s)),
    );
    f.syscallsPerMsg = new Map([...counts].map(([k, v]) => [k, v / n]));
  } catch (e) {
    x.notes.push(`strace: ${(e as Error).message.slice(0, 200)}`);
  }
}

/** The latency run: the bench's Node client, DATA-end → 250 per message. */
export async function latencyRun(x: Subject, s: Settings): Promise<void> {
  const { c, f, relay, sink } = x;
  if (!s.latencyMessages) return;
  const m = relay.procs ? meter(relay.procs) : null;
  try {
    const ln = c.tls ? Math.min(s.latencyMessages, s.tlsMessages) : s.latencyMessages;
    const target = sink.received() + ln;
    const r = await counted(
      x,
      async () => {
        const res = await runClient({ port: relay.port, sessions: c.sessions, messages: ln, bodyBytes: c.bodyBytes, rcpts: c.rcpts, starttls: c.tls, timeoutMs: s.runTimeoutMs });
        await sink.waitFor(target - res.failures, s.runTimeoutMs);
        return res;
      },
      (res) => ln - res.failures,
    );
    f.p50Ms = percentile(r.latenciesMs, 50);
    f.p99Ms = percentile(r.latenciesMs, 99);
    f.latencySamples = r.latenciesMs.length;
    f.failures += r.failures;
    if (r.firstError) x.notes.push(`latency client: ${r.firstError}`);
  } catch (e) {
    x.notes.push((e as Error).message.slice(0, 300));
  } finally {
    if (m) {
      const u = m.stop();
      f.peakRssBytes = Math.max(f.peakRssBytes, u.peakRssBytes);
      f.peakPssBytes = Math.max(f.peakPssBytes, u.peakPssBytes);
    }
  }
}

/** Stops relay and sink; the figures are final after this. */
export async function stopSubject(x: Subject): Promise<Figures> {
  const { c, f, relay, sink } = x;
  if (c.tls && sink.receivedTls) x.notes.push(`${sink.receivedTls()}/${sink.received()} reached the sink over TLS`);
  const extra = relay.describe();
  if (extra) x.notes.push(extra);
  if (f.scans) x.notes.push(scanNote(f.scans));
  await relay.stop();
  await sink.stop();
  if (x.profileDir) {
    const file = (await readdir(x.profileDir)).find((n) => n.endsWith('.cpuprofile'));
    if (file) f.profileFile = path.join(x.profileDir, file);
    else x.notes.push(`no .cpuprofile in ${x.profileDir}`);
  }
  f.note = [...new Set(x.notes)].join('; ');
  return f;
}

/**
 * One case on every system, interleaved: all relays are started and warmed up first, then the
 * timed runs go round robin (ceiling, postfix, sluice, ceiling, postfix, sluice, …), so a slow
 * minute of the shared disk or CPU falls on every system alike; then one latency run each.
 * `onRun` sees each timed run's clock window (the profiling mode cuts the profile to them).
 */
export async function measureCase(systems: System[], c: Case, s: Settings, certs: Certs, onRun?: (sys: System, w: RunWindow) => void, engines: FilterEngines | null = null): Promise<Figures[]> {
  const subjects: Subject[] = [];
  try {
    for (const sys of systems) subjects.push(await startSubject(sys, c, s, certs, engines));
    for (const x of subjects) await warmUp(x, s);
    for (let r = 0; r < s.runs; r++) {
      for (const x of subjects) onRun?.(x.system, await timedRun(x, s));
    }
    for (const x of subjects) await syscallRun(x, s);
    for (const x of subjects) await latencyRun(x, s);
  } finally {
    for (const x of subjects) await stopSubject(x);
  }
  return subjects.map((x) => x.f);
}
