// `npm run bench`: smtp-source → smtp-sink (ceiling), → Postfix → smtp-sink, and → Sluice →
// smtp-sink, side by side in one run on one machine; then Sluice's memory figures. Prints the
// machine, the settings and a Markdown table (medians of BENCH_RUNS runs) and checks the targets.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { settings, type Settings } from './cases.js';
import { isSluice, measureCase, median, type Figures, type RunWindow, type System } from './measure.js';
import { formatSummary, readProfile, summarise } from './profile-summary.js';
import { bigMessage, idleSessions } from './memory.js';
import { startFilterEngines, type FilterEngines } from './engines.js';
import { scanNote } from './filtered.js';

const MB = 1024 * 1024;
const MEMORY_TIMEOUT_MS = 180_000;
const PROFILE_TOP = Number(process.env.BENCH_PROFILE_TOP ?? 15);
const SYSCALL_MIN_PER_MSG = 0.05;

function machine(): string {
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '?';
  const pf = execFileSync('postconf', ['-d', '-h', 'mail_version'], { encoding: 'utf8' }).trim();
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  return [
    `- date: ${new Date().toISOString()}`,
    `- machine: ${os.cpus().length} CPUs (${cpu}), ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}`,
    `- node ${process.version}, postfix ${pf} (smtp-source/smtp-sink from the Debian package)`,
    `- load average at start: ${load}`,
  ].join('\n');
}

function makeCerts(): { cert: string; key: string; dir: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-certs-'));
  const cert = path.join(dir, 'server.crt');
  const key = path.join(dir, 'server.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=localhost', '-days', '2'], { stdio: 'ignore' });
  return { cert, key, dir };
}

const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '–');

const cpuCell = (f: Figures) => (f.system === 'ceiling' || !f.cpuMsPerMsg.length ? '' : `${fmt(median(f.cpuMsPerMsg), 2)} (${f.cpuMsPerMsg.map((x) => fmt(x, 2)).join(' / ')})`);

/** Sluice's CPU split: main thread (JS + inline socket syscalls) / other threads (libuv fs pool, GC). */
const threadNote = (f: Figures) =>
  f.threadCpu.length
    ? `main thread ${fmt(median(f.threadCpu.map((t) => t.mainMs)), 2)} + other threads ${fmt(median(f.threadCpu.map((t) => t.otherMs)), 2)} ms/msg (busiest other thread ${fmt(median(f.threadCpu.map((t) => t.busiestMs)), 2)})`
    : '';

function table(rows: Figures[]): string {
  const out = [
    '| case | system | msg/s (median) | runs | ×Postfix | ×ceiling | ×sluice | p50 ms | p99 ms | peak RSS MB (Σ RSS / Σ PSS) | CPU ms/msg (median; runs) | notes |',
    '|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const f of rows) {
    const same = rows.filter((r) => r.caseId === f.caseId);
    const of = (sys: System) => median(same.find((r) => r.system === sys)?.msgsPerS ?? []);
    const mine = median(f.msgsPerS);
    const ratio = (sys: System) => (isSluice(f.system) || f.system.startsWith('floor') ? fmt(mine / of(sys), 2) : '');
    // The A/B column: the variant's throughput as a share of the sluice column's (trace on/off …).
    const vsSluice = f.system === 'variant' ? fmt(mine / of('sluice'), 3) : '';
    const notes = [f.failures ? `${f.failures} failed` : '', threadNote(f), f.note.replace(/\|/g, '/')].filter(Boolean).join('; ');
    out.push(
      `| ${f.caseId} | ${f.system} | ${fmt(mine)} | ${f.msgsPerS.map((x) => fmt(x)).join(' / ')} | ${ratio('postfix')} | ${ratio('ceiling')} | ${vsSluice} | ` +
        `${fmt(f.p50Ms, 1)} | ${fmt(f.p99Ms, 1)} | ${f.system === 'ceiling' ? '' : `${fmt(f.peakRssBytes / MB, 0)} / ${fmt(f.peakPssBytes / MB, 0)}`} | ` +
        `${cpuCell(f)} | ${notes} |`,
    );
  }
  return out.join('\n');
}

function targets(rows: Figures[], idle: Awaited<ReturnType<typeof idleSessions>> | null, big: Awaited<ReturnType<typeof bigMessage>> | null, s: Settings): string {
  // Issue 8's targets are for unfiltered relaying: judged on the first case without filters.
  const head = s.cases.find((c) => !c.filtered)?.id;
  const get = (sys: System) => rows.find((r) => r.caseId === head && r.system === sys);
  const ratio = median(get('sluice')?.msgsPerS ?? []) / median(get('postfix')?.msgsPerS ?? []);
  const p99 = get('sluice')?.p99Ms ?? NaN;
  const cpu = (sys: System) => median(get(sys)?.cpuMsPerMsg ?? []);
  const lines = head
    ? [
        `- Sluice/Postfix throughput, ${head}: ${fmt(ratio, 2)}× (target ≥ 1.5×, aim 2×) ${ratio >= 1.5 ? 'MET' : 'MISSED'}`,
        `- CPU per message, ${head}: Sluice ${fmt(cpu('sluice'), 2)} ms, Postfix ${fmt(cpu('postfix'), 2)} ms (all its processes) → Sluice uses ${fmt(cpu('sluice') / cpu('postfix'), 2)}× Postfix's CPU`,
        `- Sluice p99 DATA-end → 250, ${head}: ${fmt(p99, 1)} ms (target < 50 ms) ${p99 < 50 ? 'MET' : 'MISSED'}`,
      ]
    : [];
  if (idle) {
    const mb = idle.rssBytes / MB;
    lines.push(`- ${idle.opened}/${idle.sessions} idle sessions: Sluice RSS ${fmt(mb)} MB (before: ${fmt(idle.baseRssBytes / MB)} MB; target < 250 MB) ${mb < 250 && idle.opened === idle.sessions ? 'MET' : 'MISSED'}${idle.error ? ` (${idle.error})` : ''}`);
  }
  if (big) {
    const g = (big.peakRssBytes - big.baseRssBytes) / MB;
    lines.push(`- ${big.megabytes} MB message relayed in ${fmt(big.seconds, 1)} s, delivered: ${big.delivered}; Sluice RSS ${fmt(big.baseRssBytes / MB)} → peak ${fmt(big.peakRssBytes / MB)} MB, growth ${fmt(g)} MB (target < 64 MB) ${g < 64 && big.delivered ? 'MET' : 'MISSED'}${big.error ? ` (${big.error})` : ''}`);
  }
  return [...lines, ...floorTargets(rows), ...variantTargets(rows), ...filteredTargets(rows)].join('\n');
}

/**
 * Systems `floor` and `floor-thread` (bench/floor-relay.ts): the libraries and the fsyncs alone. Its ratio is about the
 * most a relay on them can reach here; Sluice's CPU minus the floor's is what Sluice's own work costs.
 */
function floorTargets(rows: Figures[]): string[] {
  return rows
    .filter((f) => f.system.startsWith('floor'))
    .map((fl) => {
      const of = (sys: System) => rows.find((r) => r.caseId === fl.caseId && r.system === sys);
      const cpu = (f?: Figures) => median(f?.cpuMsPerMsg ?? []);
      const rate = (f?: Figures) => median(f?.msgsPerS ?? []);
      const sl = of('sluice');
      const pf = of('postfix');
      return (
        `- ${fl.system} (smtp-server + fsync'd file per message + nodemailer pool${fl.system === 'floor-thread' ? ' on a worker thread' : ''}, nothing of Sluice), ${fl.caseId}: ${fmt(rate(fl))} msg/s = ${fmt(rate(fl) / rate(pf), 2)}× Postfix, ` +
        `CPU ${fmt(cpu(fl), 2)} ms/msg; Sluice's own work: ${fmt(cpu(sl) - cpu(fl), 2)} ms/msg (Sluice ${fmt(cpu(sl), 2)} − ${fl.system} ${fmt(cpu(fl), 2)}); Sluice reaches ${fmt(rate(sl) / rate(fl), 2)}× the floor's msg/s`
      );
    });
}

/** An A/B run (e.g. issue 11's trace cost: sluice with trace off, variant with it on): the variant's share of sluice's msg/s. */
function variantTargets(rows: Figures[]): string[] {
  return rows
    .filter((f) => f.system === 'variant')
    .map((v) => {
      const r = median(v.msgsPerS) / median(rows.find((f) => f.caseId === v.caseId && f.system === 'sluice')?.msgsPerS ?? []);
      const change = r <= 1 ? `${fmt((1 - r) * 100, 1)} % fewer msg/s; the trace store's budget in issue 11 is ≤ 5 %` : `${fmt((r - 1) * 100, 1)} % more msg/s`;
      const vsPostfix = median(v.msgsPerS) / median(rows.find((f) => f.caseId === v.caseId && f.system === 'postfix')?.msgsPerS ?? []);
      return `- variant ÷ sluice, ${v.caseId}: ${fmt(r, 3)}× (${change})${Number.isFinite(vsPostfix) ? `; variant ÷ Postfix ${fmt(vsPostfix, 2)}×` : ''}`;
    });
}

/** Issue 10's figures for the filtered case: both relays' msg/s, the ratio, Sluice's latency, and proof of scanning. */
function filteredTargets(rows: Figures[]): string[] {
  const mine = rows.filter((r) => r.scans);
  const get = (sys: System) => mine.find((r) => r.system === sys);
  const sl = get('sluice');
  const pf = get('postfix');
  if (!sl && !pf) return [];
  const rate = (f?: Figures) => median(f?.msgsPerS ?? []);
  const scans = mine.map((f) => `${f.system} ${scanNote(f.scans!)}`);
  return [
    `- Filtered (${(sl ?? pf)!.caseId}: clamd + rspamd, Sluice also 20 mail-flow rules; Postfix via clamav-milter + rspamd's milter proxy): Sluice ${fmt(rate(sl))} msg/s, Postfix ${fmt(rate(pf))} msg/s → ${fmt(rate(sl) / rate(pf), 2)}×; Sluice DATA-end → 250 with every filter on: median/p50 ${fmt(sl?.p50Ms ?? NaN, 1)} ms, p99 ${fmt(sl?.p99Ms ?? NaN, 1)} ms (${sl?.latencySamples ?? 0} messages)`,
    `- Filtered, every message through both engines: ${scans.join('; ')}`,
  ];
}

/** BENCH_PROFILE: Sluice's profile, cut to its timed runs, as top-frame tables. */
function printProfiles(figs: Figures[], runs: Map<System, RunWindow[]>): void {
  for (const f of figs) {
    const windows = runs.get(f.system) ?? [];
    if (!f.profileFile) continue;
    writeFileSync(`${f.profileFile}.windows.json`, JSON.stringify(windows));
    const mainMs = median(f.threadCpu.map((t) => t.mainMs));
    console.log(`## CPU profile: ${f.caseId} ${f.system}\n`);
    console.log(`- file: ${f.profileFile} (open in Chrome DevTools → Performance, or \`node dist/bench/profile-summary.js FILE\`)`);
    console.log(`- samples of the ${windows.length} timed run(s) only (no start-up, no warm-up); CPU ${fmt(median(f.cpuMsPerMsg), 2)} ms/msg: ${threadNote(f)}; the profile sees the main thread only\n`);
    console.log(formatSummary(summarise(readProfile(f.profileFile), windows, PROFILE_TOP), Number.isFinite(mainMs) ? mainMs : undefined) + '\n');
  }
}

/** BENCH_SYSCALLS: system calls per message, one column per relay, the most frequent first. */
function syscallTable(rows: Figures[]): string {
  const cols = rows.filter((f) => f.syscallsPerMsg);
  if (!cols.length) return '';
  const names = new Map<string, number>();
  for (const f of cols) for (const [k, v] of f.syscallsPerMsg!) names.set(k, Math.max(names.get(k) ?? 0, v));
  const top = [...names].sort((a, b) => b[1] - a[1]).filter(([, v]) => v >= SYSCALL_MIN_PER_MSG);
  const total = (f: Figures) => [...f.syscallsPerMsg!.values()].reduce((a, b) => a + b, 0);
  return [
    `### System calls per message (strace -c -f on every process and thread, one untimed run of BENCH_SYSCALLS messages)\n`,
    `| syscall | ${cols.map((f) => `${f.caseId} ${f.system}`).join(' | ')} |`,
    `|---|${cols.map(() => '---:').join('|')}|`,
    ...top.map(([k]) => `| ${k} | ${cols.map((f) => fmt(f.syscallsPerMsg!.get(k) ?? 0, 2)).join(' | ')} |`),
    `| **all** | ${cols.map((f) => fmt(total(f), 1)).join(' | ')} |`,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const s = settings();
  const started = Date.now();
  console.log('# Sluice benchmark\n');
  console.log(machine());
  console.log(`- settings: ${s.messages} messages per run (TLS cases: ${s.tlsMessages}) × ${s.runs} runs (median), interleaved (${s.systems.join(', ')}, ${s.systems.join(', ')}, …), ${s.warmup} warm-up, ${s.latencyMessages} messages in the latency run, one message per connection; Sluice at SLUICE_LOG_LEVEL=${s.sluiceLogLevel}${s.sluiceGreetingDelay ? `, Sluice with greetingDelay ${s.sluiceGreetingDelay}` : ''}`);
  const env = Object.entries(process.env).filter(([k]) => k.startsWith('BENCH_')).sort(([a], [b]) => a.localeCompare(b));
  console.log(`- command: ${env.map(([k, v]) => `${k}=${v}`).join(' ')} npm run bench\n`);
  const certs = makeCerts();
  const rows: Figures[] = [];
  let engines: FilterEngines | null = null;
  try {
    // One clamd and one rspamd for every filtered case and both relays.
    if (s.cases.some((c) => c.filtered)) {
      engines = await startFilterEngines();
      console.log(`- filter engines: clamd ${engines.clamdAddress} (started in ${engines.startMs.clamd} ms), rspamd ${engines.rspamdUrl} (${engines.startMs.rspamd} ms), Postfix milters ${engines.milters.join(', ')}\n`);
    }
    for (const c of s.cases) {
      if (Date.now() - started > s.deadlineMs) {
        console.log(`(deadline BENCH_DEADLINE_S reached: skipping ${c.id} and later cases)`);
        break;
      }
      const windows = new Map<System, RunWindow[]>();
      const figs = await measureCase(s.systems as System[], c, s, certs, (sys, w) => windows.set(sys, [...(windows.get(sys) ?? []), w]), engines);
      for (const f of figs) {
        rows.push(f);
        console.error(`  ${c.id} ${f.system}: ${f.msgsPerS.map((x) => x.toFixed(0)).join(' / ')} msg/s, CPU ${f.cpuMsPerMsg.map((x) => x.toFixed(2)).join(' / ')} ms/msg, p50 ${fmt(f.p50Ms, 1)} p99 ${fmt(f.p99Ms, 1)} ms ${threadNote(f)} ${f.note}`);
      }
      if (s.profile) printProfiles(figs, windows);
    }
    console.log(table(rows) + '\n');
    const sys = syscallTable(rows);
    if (sys) console.log(sys);
    const idle = s.idleSessions ? await idleSessions(s.idleSessions, MEMORY_TIMEOUT_MS) : null;
    const big = s.bigMessageMb ? await bigMessage(s.bigMessageMb, MEMORY_TIMEOUT_MS) : null;
    console.log('## Targets\n');
    console.log(targets(rows, idle, big, s));
    console.log(`\n- load average at end: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}; total ${fmt((Date.now() - started) / 1000)} s`);
  } finally {
    await engines?.stop();
    rmSync(certs.dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
