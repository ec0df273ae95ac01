// One case on one system: start the sink (smtp-sink, or the Node STARTTLS sink for TLS cases) and
// the relay, warm up, then `runs` throughput runs (each timed until the SINK has every message)
// and one latency run; CPU and peak RSS of the relay's processes from /proc.
import { spawnSync } from 'node:child_process';
import type { Case, Settings } from './cases.js';
import { meter, type ProcSet } from './procs.js';
import { runSmtpSource, startNodeSinkProcess, startSmtpSink, type Sink } from './tools.js';
import { runClient } from './smtp-client.js';
import { startPostfixRelay } from './postfix-relay.js';
import { startSluiceRelay } from './sluice-relay.js';

export type System = 'ceiling' | 'postfix' | 'sluice';

export interface Figures {
  system: System;
  caseId: string;
  msgsPerS: number[];
  cpuSPer1k: number[];
  peakRssBytes: number;
  peakPssBytes: number;
  p50Ms: number;
  p99Ms: number;
  latencySamples: number;
  failures: number;
  note: string;
}

export interface Certs {
  cert: string;
  key: string;
}

interface Relay {
  port: number;
  procs: ProcSet | null;
  stop(): Promise<void>;
  describe(): string;
}

async function startRelay(system: System, sink: Sink, c: Case, s: Settings, certs: Certs): Promise<Relay> {
  if (system === 'ceiling') return { port: sink.port, procs: null, stop: async () => undefined, describe: () => '' };
  if (system === 'postfix') {
    const pf = await startPostfixRelay(sink.port, c.tls ? { serverCert: certs.cert, serverKey: certs.key } : undefined);
    return { port: pf.port, procs: { session: pf.masterPid }, stop: () => pf.stop(), describe: () => '' };
  }
  const sl = await startSluiceRelay({ sinkPort: sink.port, nodeArgs: s.sluiceNodeArgs, greetingDelay: s.sluiceGreetingDelay });
  return {
    port: sl.port,
    procs: { pid: sl.pid },
    stop: () => sl.stop(),
    describe: () => (sl.logLines() ? `${sl.logLines()} log lines at warn+; last: ${sl.output().trim().split('\n').pop()?.slice(0, 200)}` : ''),
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

export async function measure(system: System, c: Case, s: Settings, certs: Certs): Promise<Figures> {
  const sink = c.tls ? await startNodeSinkProcess(certs.cert, certs.key) : await startSmtpSink();
  const relay = await startRelay(system, sink, c, s, certs).catch(async (e) => {
    await sink.stop();
    throw e;
  });
  const f: Figures = { system, caseId: c.id, msgsPerS: [], cpuSPer1k: [], peakRssBytes: 0, peakPssBytes: 0, p50Ms: NaN, p99Ms: NaN, latencySamples: 0, failures: 0, note: '' };
  const notes: string[] = [];
  try {
    if (s.warmup) await drive(relay.port, sink, c, s.warmup, s);
    for (let r = 0; r < s.runs; r++) {
      await settle();
      const m = relay.procs ? meter(relay.procs) : null;
      const t0 = performance.now();
      const n = c.tls ? s.tlsMessages : s.messages;
      const d = await drive(relay.port, sink, c, n, s);
      const secs = (performance.now() - t0) / 1000;
      const done = n - d.failures;
      f.msgsPerS.push(done / secs);
      f.failures += d.failures;
      if (d.err) notes.push(d.err);
      if (m) {
        const u = m.stop();
        f.cpuSPer1k.push((u.cpuS / done) * 1000);
        f.peakRssBytes = Math.max(f.peakRssBytes, u.peakRssBytes);
        f.peakPssBytes = Math.max(f.peakPssBytes, u.peakPssBytes);
      }
    }
    if (s.latencyMessages) {
      const m = relay.procs ? meter(relay.procs) : null;
      const ln = c.tls ? Math.min(s.latencyMessages, s.tlsMessages) : s.latencyMessages;
      const target = sink.received() + ln;
      const r = await runClient({ port: relay.port, sessions: c.sessions, messages: ln, bodyBytes: c.bodyBytes, rcpts: c.rcpts, starttls: c.tls, timeoutMs: s.runTimeoutMs });
      await sink.waitFor(target - r.failures, s.runTimeoutMs);
      if (m) {
        const u = m.stop();
        f.peakRssBytes = Math.max(f.peakRssBytes, u.peakRssBytes);
        f.peakPssBytes = Math.max(f.peakPssBytes, u.peakPssBytes);
      }
      f.p50Ms = percentile(r.latenciesMs, 50);
      f.p99Ms = percentile(r.latenciesMs, 99);
      f.latencySamples = r.latenciesMs.length;
      f.failures += r.failures;
      if (r.firstError) notes.push(`latency client: ${r.firstError}`);
    }
    if (c.tls && sink.receivedTls) notes.push(`${sink.receivedTls()}/${sink.received()} reached the sink over TLS`);
  } catch (e) {
    notes.push((e as Error).message.slice(0, 300));
  } finally {
    const extra = relay.describe();
    if (extra) notes.push(extra);
    await relay.stop();
    await sink.stop();
  }
  f.note = [...new Set(notes)].join('; ');
  return f;
}
