// Summarises a V8 `.cpuprofile` (node --cpu-prof) into the frames that cost the most: by self time
// and by inclusive time (each frame counted once per sample, so recursion is not double-counted),
// aggregated by function + script, plus the share per package. Optionally only the samples inside
// given time windows (CLOCK_MONOTONIC µs, the clock of the profile's timestamps and of
// process.hrtime), so start-up and warm-up stay out. Pure apart from `readProfile`.
//
// CLI: node dist/bench/profile-summary.js FILE.cpuprofile [--top N] [--windows FILE.windows.json]
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

export interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** [from, to] in µs of CLOCK_MONOTONIC, as the profile's startTime. */
export type Window = readonly [number, number];

export interface FrameRow {
  key: string;
  samples: number;
  /** Share of the busy samples (everything but "(idle)"). */
  pct: number;
}

export interface Summary {
  samples: number;
  idle: number;
  busy: number;
  /** Median sampling interval, µs. */
  intervalUs: number;
  self: FrameRow[];
  inclusive: FrameRow[];
  /** Inclusive time of Sluice's and packages' own frames only (Node's stream plumbing left out). */
  inclusiveOwn: FrameRow[];
  /**
   * Each sample given to the nearest frame on its stack that is Sluice's or a package's own code
   * (not Node's internals, not a native binding): who caused the time, e.g. the socket write of
   * a reply lands on smtp-server's `send`.
   */
  owners: FrameRow[];
  /** The owner frames grouped by stage of the flow (receive, spool, deliver, log, runtime). */
  stages: FrameRow[];
  packages: FrameRow[];
  /**
   * Self samples of smtp-server's own frames plus the socket writes of its replies: the same work
   * per message in every Sluice build, so busy ÷ yardstick compares builds (and Sluice with the
   * floor relay) on a machine whose speed drifts between runs.
   */
  yardstick: number;
}

/** The leaf frames of the yardstick (Summary.yardstick). */
export function isYardstick(leaf: CallFrame): boolean {
  return leaf.functionName === 'writeUtf8String' || packageOf(leaf) === 'smtp-server';
}

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const META = new Set(['(root)', '(program)', '(idle)', '(garbage collector)']);

export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}

/** Short, stable location: a package name and file inside node_modules, a repo path, or node:… */
export function shortUrl(url: string): string {
  if (!url) return '';
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) return u.slice(nm + '/node_modules/'.length);
  if (u.startsWith(REPO_ROOT + '/')) return u.slice(REPO_ROOT.length + 1);
  // Another Sluice tree (BENCH_SLUICE_VARIANT): its own code reads as this tree's.
  const dist = u.lastIndexOf('/dist/src/');
  if (dist >= 0) return u.slice(dist + 1);
  return u;
}

/** Where a frame's time goes: a package, Sluice's own code, Node's internals, or V8's buckets. */
export function packageOf(frame: CallFrame): string {
  if (META.has(frame.functionName) && !frame.url) return frame.functionName;
  const u = shortUrl(frame.url);
  if (!u) return '(native)';
  if (u.startsWith('node:')) {
    const parts = u.slice(5).split('/'); // node:internal/streams/readable → node:internal/streams
    return `node:${parts.slice(0, Math.min(2, parts.length)).join('/')}`;
  }
  if (u.startsWith('dist/src/')) return `sluice ${u.slice('dist/src/'.length).split('/')[0]}`;
  if (u.startsWith('dist/')) return 'sluice (other)';
  if (!u.includes('/') || u.startsWith('/')) return u;
  const parts = u.split('/');
  return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/** Sluice's or a package's code (what a change in this repo or a library option can touch). */
export function isOwnerFrame(frame: CallFrame): boolean {
  const u = shortUrl(frame.url);
  return u !== '' && !u.startsWith('node:') && !u.startsWith('/');
}

/** Stage of the flow an owner frame belongs to, by its script. */
export function stageOf(owner: CallFrame | null): string {
  if (!owner) return 'Node internals without a package frame (socket accept/close, promise and stream plumbing)';
  const u = shortUrl(owner.url);
  if (u.startsWith('smtp-server/')) return 'receive: smtp-server (parser, replies = socket writes)';
  if (/^dist\/src\/(listener|policy|classify)\//.test(u)) return 'receive: Sluice listener/policy';
  if (u.startsWith('dist/src/queue/')) return 'spool + queue manager (fs calls, fsync dispatch, record JSON)';
  if (u.startsWith('nodemailer/')) return 'deliver: nodemailer (commands, dot-stuffing, socket writes)';
  if (/^dist\/src\/(delivery|routing|domain|bounce)\//.test(u)) return 'deliver: Sluice delivery/routing';
  if (u.startsWith('pino') || u.startsWith('sonic-boom') || u.startsWith('dist/src/observe/')) return 'log (pino)';
  return `other: ${packageOf(owner)}`;
}

export function frameKey(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  const u = shortUrl(frame.url);
  return u ? `${name} ${u}:${frame.lineNumber + 1}` : name;
}

/** Sample indexes inside any window (all of them when no window is given). */
export function samplesIn(p: CpuProfile, windows: readonly Window[]): number[] {
  const out: number[] = [];
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (!windows.length || windows.some(([a, b]) => t >= a && t <= b)) out.push(i);
  }
  return out;
}

function rows(counts: Map<string, number>, busy: number, top: number): FrameRow[] {
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, samples]) => ({ key, samples, pct: busy ? (100 * samples) / busy : 0 }));
}

export function summarise(p: CpuProfile, windows: readonly Window[] = [], top = 10): Summary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  const inclOwn = new Map<string, number>();
  const pkgs = new Map<string, number>();
  const owners = new Map<string, number>();
  const stages = new Map<string, number>();
  const add = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  const picked = samplesIn(p, windows);
  let idle = 0;
  let yardstick = 0;
  for (const i of picked) {
    const leaf = byId.get(p.samples[i]!);
    if (!leaf) continue;
    if (leaf.callFrame.functionName === '(idle)') {
      idle++;
      continue;
    }
    add(self, frameKey(leaf.callFrame));
    add(pkgs, packageOf(leaf.callFrame));
    if (isYardstick(leaf.callFrame)) yardstick++;
    const seen = new Set<string>();
    let owner: string | null = null;
    let ownerFrame: CallFrame | null = null;
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      if (f.functionName === '(root)') continue;
      const k = frameKey(f);
      if (!seen.has(k)) {
        seen.add(k);
        add(incl, k);
        if (isOwnerFrame(f)) add(inclOwn, k);
      }
      if (owner === null && isOwnerFrame(f)) (owner = k), (ownerFrame = f);
    }
    const meta = META.has(leaf.callFrame.functionName) ? leaf.callFrame.functionName : null;
    add(owners, owner ?? meta ?? '(node internals, no package frame)');
    add(stages, ownerFrame || !meta ? stageOf(ownerFrame) : `runtime: ${meta}`);
  }
  const busy = picked.length - idle;
  const deltas = picked.map((i) => p.timeDeltas[i] ?? 0).sort((a, b) => a - b);
  return {
    samples: picked.length,
    idle,
    busy,
    intervalUs: deltas[Math.floor(deltas.length / 2)] ?? 0,
    self: rows(self, busy, top),
    inclusive: rows(incl, busy, top),
    inclusiveOwn: rows(inclOwn, busy, top),
    owners: rows(owners, busy, top),
    stages: rows(stages, busy, top),
    packages: rows(pkgs, busy, top),
    yardstick,
  };
}

/** Markdown: two top-N tables (self, inclusive) and the per-package shares of self time. */
export function formatSummary(s: Summary, perMessageMs?: number): string {
  const ms = (n: number) => (perMessageMs === undefined ? '' : ` | ${((n / s.busy) * perMessageMs).toFixed(3)}`);
  const head = perMessageMs === undefined ? '' : ' | ≈ ms/msg';
  const sep = perMessageMs === undefined ? '' : '|---:';
  const table = (title: string, r: FrameRow[]) =>
    [`| # | ${title} | samples | % busy${head} |`, `|---:|---|---:|---:${sep}|`, ...r.map((x, i) => `| ${i + 1} | \`${x.key.replace(/\|/g, '/')}\` | ${x.samples} | ${x.pct.toFixed(1)}${ms(x.samples)} |`)].join('\n');
  return [
    `${s.samples} samples (every ≈ ${s.intervalUs} µs), ${s.idle} idle, ${s.busy} busy (${((100 * s.busy) / Math.max(1, s.samples)).toFixed(0)} %)` +
      (perMessageMs === undefined ? '' : `; ms/msg column: share of busy samples × the main thread's CPU ms per message (${perMessageMs.toFixed(3)})`) +
      `\n\nBusy ÷ yardstick: ${(s.busy / Math.max(1, s.yardstick)).toFixed(2)} (${s.yardstick} samples of smtp-server's own frames and its socket writes, the same work per message in every build: the ratio compares builds across a drifting machine)`,
    ...([
      ['Top frames by self time:', 'self frame', s.self],
      ['Top frames by inclusive time (a frame counted once per sample):', 'frame (inclusive)', s.inclusive],
      ['Sluice and package frames by inclusive time (Node internals left out):', 'frame (inclusive)', s.inclusiveOwn],
      ['Self time given to the nearest Sluice or package frame (who caused it: node internals and native bindings fold into their caller):', 'owner frame', s.owners],
      ['Self time by stage of the flow (owner frames grouped):', 'stage', s.stages],
      ['Self time by package:', 'package', s.packages],
    ] as const).flatMap(([caption, title, r]) => ['', caption, '', table(title, r)]),
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: profile-summary FILE.cpuprofile [--top N]');
    process.exit(2);
  }
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const top = Number(arg('--top') ?? 10);
  // The bench writes FILE.windows.json: the timed runs' clock spans, so start-up and warm-up stay out.
  const wfile = arg('--windows') ?? (existsSync(`${file}.windows.json`) ? `${file}.windows.json` : undefined);
  const windows = wfile ? (JSON.parse(readFileSync(wfile, 'utf8')) as Window[]) : [];
  console.log(formatSummary(summarise(readProfile(file), windows, top)));
}
