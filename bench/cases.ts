// The workload matrix and the bench's knobs (environment variables, with defaults sized so the
// whole bench finishes in about 5–10 minutes on 2 cores).
export interface Case {
  id: string;
  bodyBytes: number;
  rcpts: number;
  sessions: number;
  tls: boolean;
  /** The "filtered" case: both relays with clamd + rspamd (Sluice: also 20 mail-flow rules), bench/filtered.ts. */
  filtered: boolean;
}

const KB = 1024;

function mk(bodyKb: number, rcpts: number, sessions: number, tls: boolean, filtered = false): Case {
  const kind = filtered ? 'filtered' : tls ? 'tls' : 'plain';
  return { id: `${bodyKb}KB/${rcpts}rcpt/${sessions}s/${kind}`, bodyBytes: bodyKb * KB, rcpts, sessions, tls, filtered };
}

/** Issue 10's filtered case: the headline workload, plain SMTP, every filter on (BENCH_FILTERED=1 adds it). */
export const FILTERED: Case = mk(10, 1, 20, false, true);

/** Headline first: the orientation case of issue 4, then one dimension changed at a time. */
export const HEADLINE: Case[] = [
  mk(10, 1, 20, false),
  mk(100, 1, 20, false),
  mk(10, 10, 20, false),
  mk(10, 1, 100, false),
  mk(10, 1, 20, true),
];

export function fullMatrix(): Case[] {
  const out: Case[] = [];
  for (const tls of [false, true]) for (const kb of [10, 100]) for (const r of [1, 10]) for (const s of [20, 100]) out.push(mk(kb, r, s, tls));
  out.push(FILTERED);
  return out;
}

const num = (name: string, dflt: number): number => {
  const v = process.env[name];
  const n = v === undefined || v === '' ? dflt : Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}=${v} is not a number`);
  return n;
};

export interface Settings {
  /** Messages per throughput run (smtp-source), per case and system. */
  messages: number;
  /** Runs per figure; the median is reported. */
  runs: number;
  /** Messages per throughput run for TLS cases (a Node client doing a full handshake per message). */
  tlsMessages: number;
  /** Messages in the latency run (Node client, DATA-end → 250 per message). */
  latencyMessages: number;
  warmup: number;
  idleSessions: number;
  bigMessageMb: number;
  runTimeoutMs: number;
  /** Stop starting new cases after this long (the memory part still runs). */
  deadlineMs: number;
  cases: Case[];
  /** Which systems to run: ceiling, postfix, sluice, variant (BENCH_SLUICE_VARIANT), floor, floor-thread (bench/floor-relay.ts). */
  systems: string[];
  sluiceNodeArgs: string[];
  /** server.limits.greetingDelay for the Sluice column (a duration such as "100ms"); null = the default, 0. */
  sluiceGreetingDelay: string | null;
  /** SLUICE_LOG_LEVEL of the relay under test (warn: no lines on the happy path; info: the default). */
  sluiceLogLevel: string;
  /** BENCH_PROFILE=1: Sluice only, under --cpu-prof; the profile is cut to the timed runs and summarised. */
  profile: boolean;
  /** BENCH_SLUICE_VARIANT: root of a second Sluice build (bin/sluice.cjs, dist/), run as system `variant`. */
  variantRoot: string | null;
  /** BENCH_VARIANT_NODE_ARGS: extra node flags for the variant only (A/B of a flag: set BENCH_SLUICE_VARIANT=. for the same build). */
  variantNodeArgs: string[];
  /** BENCH_SLUICE_ENV / BENCH_VARIANT_ENV: extra environment, `K=V K2=V2` (A/B of a switch such as SLUICE_DELIVERY_THREAD=0). */
  sluiceEnv: Record<string, string>;
  variantEnv: Record<string, string>;
  /** BENCH_VARIANT_LOG_LEVEL: the variant's SLUICE_LOG_LEVEL (default: BENCH_SLUICE_LOG_LEVEL). */
  variantLogLevel: string;
  /** BENCH_SYSCALLS=N: messages of one extra, untimed run under strace (system calls per message); 0 = off. */
  syscallMessages: number;
  /** BENCH_SLUICE_CONFIG / BENCH_VARIANT_CONFIG: JSON objects whose top-level keys replace the relay config's (filters, trace …). */
  sluiceConfig: Record<string, unknown>;
  variantConfig: Record<string, unknown>;
}

function jsonObject(name: string): Record<string, unknown> {
  const raw = process.env[name];
  if (!raw) return {};
  const v = JSON.parse(raw) as unknown;
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${name} must be a JSON object`);
  return v as Record<string, unknown>;
}

function envPairs(name: string): Record<string, string> {
  const pairs = (process.env[name] ?? '').split(' ').filter(Boolean);
  return Object.fromEntries(
    pairs.map((p) => {
      const i = p.indexOf('=');
      if (i <= 0) throw new Error(`${name}: ${p} is not K=V`);
      return [p.slice(0, i), p.slice(i + 1)];
    }),
  );
}

export function settings(): Settings {
  const sel = process.env.BENCH_CASES ?? (process.env.BENCH_PROFILE === '1' ? HEADLINE[0]!.id : 'headline');
  const all = fullMatrix();
  const picked = sel === 'headline' ? HEADLINE : sel === 'all' ? all : sel.split(',').map((id) => {
    const c = all.find((x) => x.id === id.trim());
    if (!c) throw new Error(`BENCH_CASES: unknown case ${id}; known: ${all.map((x) => x.id).join(' ')}`);
    return c;
  });
  const cases = process.env.BENCH_FILTERED === '1' && !picked.includes(FILTERED) ? [...picked, FILTERED] : picked;
  // The profiling mode defaults to a short, single-system run of the headline case.
  const profile = process.env.BENCH_PROFILE === '1';
  const d = (full: number, prof: number) => (profile ? prof : full);
  return {
    messages: num('BENCH_MESSAGES', d(5_000, 3_000)),
    runs: num('BENCH_RUNS', d(5, 2)),
    tlsMessages: num('BENCH_TLS_MESSAGES', 1_000),
    latencyMessages: num('BENCH_LATENCY_MESSAGES', d(1_000, 0)),
    warmup: num('BENCH_WARMUP', 1000),
    idleSessions: num('BENCH_IDLE_SESSIONS', d(1_000, 0)),
    bigMessageMb: num('BENCH_BIG_MB', d(100, 0)),
    runTimeoutMs: num('BENCH_RUN_TIMEOUT_S', 180) * 1000,
    deadlineMs: num('BENCH_DEADLINE_S', 1800) * 1000,
    cases,
    systems: (process.env.BENCH_SYSTEMS ?? (profile ? 'sluice' : 'ceiling,postfix,sluice')).split(',').map((s) => s.trim()),
    sluiceNodeArgs: (process.env.BENCH_SLUICE_NODE_ARGS ?? '').split(' ').filter(Boolean),
    sluiceGreetingDelay: process.env.BENCH_GREETING_DELAY || null,
    sluiceLogLevel: process.env.BENCH_SLUICE_LOG_LEVEL ?? 'warn',
    profile,
    variantRoot: process.env.BENCH_SLUICE_VARIANT || null,
    syscallMessages: num('BENCH_SYSCALLS', 0),
    variantLogLevel: process.env.BENCH_VARIANT_LOG_LEVEL ?? process.env.BENCH_SLUICE_LOG_LEVEL ?? 'warn',
    variantNodeArgs: (process.env.BENCH_VARIANT_NODE_ARGS ?? '').split(' ').filter(Boolean),
    sluiceEnv: envPairs('BENCH_SLUICE_ENV'),
    variantEnv: envPairs('BENCH_VARIANT_ENV'),
    sluiceConfig: jsonObject('BENCH_SLUICE_CONFIG'),
    variantConfig: jsonObject('BENCH_VARIANT_CONFIG'),
  };
}
