// Resource accounting from /proc for the processes under test: resident memory (summed over a
// process set, sampled; the peak is kept) and CPU seconds (utime+stime, plus the reaped children's
// cutime+cstime so short-lived Postfix daemons that exit mid-run are still counted).
import { readdirSync, readFileSync } from 'node:fs';

const CLOCK_TICKS_PER_S = 100; // USER_HZ on Linux
const PAGE_BYTES = 4096;
const SAMPLE_EVERY_MS = 100;

interface Stat {
  pid: number;
  session: number;
  cpuTicks: number; // utime + stime
  childTicks: number; // cutime + cstime (children already reaped)
  rssBytes: number;
}

function readStat(pid: number, file = `/proc/${pid}/stat`): Stat | null {
  try {
    const text = readFileSync(file, 'utf8');
    // Field 2 (comm) may contain spaces; everything after the last ')' is fixed-position.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const n = (i: number) => Number(f[i - 3]);
    return { pid, session: n(6), cpuTicks: n(14) + n(15), childTicks: n(16) + n(17), rssBytes: n(24) * PAGE_BYTES };
  } catch {
    return null; // exited between readdir and read
  }
}

/** A set of processes: one pid, or every process in the session led by `sid` (Postfix's master). */
export type ProcSet = { pid: number } | { session: number };

export function members(set: ProcSet): Stat[] {
  if ('pid' in set) {
    const s = readStat(set.pid);
    return s ? [s] : [];
  }
  const out: Stat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s && s.session === set.session) out.push(s);
  }
  return out;
}

/** CPU seconds of the set so far: live processes' own time plus the leader's reaped children. */
export function cpuSeconds(set: ProcSet): number {
  const leader = 'pid' in set ? set.pid : set.session;
  let ticks = 0;
  for (const s of members(set)) ticks += s.cpuTicks + (s.pid === leader ? s.childTicks : 0);
  return ticks / CLOCK_TICKS_PER_S;
}

export function rssBytes(set: ProcSet): number {
  return members(set).reduce((sum, s) => sum + s.rssBytes, 0);
}

/** Proportional set size summed over the set: shared pages (libc, Postfix's libraries) counted once. */
export function pssBytes(set: ProcSet): number {
  let kb = 0;
  for (const s of members(set)) {
    try {
      kb += Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${s.pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {
      /* exited */
    }
  }
  return kb * 1024;
}

const PSS_EVERY_MS = 500; // smaps_rollup walks page tables: sample it less often than RSS

export interface Meter {
  /** Stops sampling; returns CPU seconds used and the peak summed RSS (and PSS) seen since start. */
  stop(): { cpuS: number; peakRssBytes: number; peakPssBytes: number; startRssBytes: number };
}

export function meter(set: ProcSet): Meter {
  const cpu0 = cpuSeconds(set);
  const startRssBytes = rssBytes(set);
  let peak = startRssBytes;
  let peakPss = pssBytes(set);
  const timer = setInterval(() => (peak = Math.max(peak, rssBytes(set))), SAMPLE_EVERY_MS);
  const pssTimer = setInterval(() => (peakPss = Math.max(peakPss, pssBytes(set))), PSS_EVERY_MS);
  return {
    stop() {
      clearInterval(timer);
      clearInterval(pssTimer);
      peak = Math.max(peak, rssBytes(set));
      return { cpuS: cpuSeconds(set) - cpu0, peakRssBytes: peak, peakPssBytes: peakPss, startRssBytes };
    },
  };
}

/**
 * CPU seconds of one process split by thread: the main thread (JavaScript, and the syscalls it
 * makes inline: socket reads and writes) and every other thread (libuv's pool, where fs calls and
 * fsync run; V8's GC and compiler helpers; Sluice's worker threads), each by thread id, so a run's
 * busiest other thread (the delivery thread) can be told from the rest. Threads that exited are
 * not counted.
 */
export function threadCpuSeconds(pid: number): { main: number; other: number; byTid: Map<number, number> } {
  let main = 0;
  let other = 0;
  const byTid = new Map<number, number>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return { main, other, byTid };
  }
  for (const tid of tids) {
    const s = readStat(Number(tid), `/proc/${pid}/task/${tid}/stat`);
    if (!s) continue;
    const secs = s.cpuTicks / CLOCK_TICKS_PER_S;
    if (s.pid === pid) main += secs;
    else {
      other += secs;
      byTid.set(s.pid, secs);
    }
  }
  return { main, other, byTid };
}

/** The largest CPU seconds one non-main thread spent between two snapshots. */
export function busiestOtherThread(before: Map<number, number>, after: Map<number, number>): number {
  let most = 0;
  for (const [tid, secs] of after) most = Math.max(most, secs - (before.get(tid) ?? 0));
  return most;
}
