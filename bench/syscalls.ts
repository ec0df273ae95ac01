// System calls per message of a relay, counted by `strace -c -f` attached to every process (and
// thread) of the relay during one extra run. strace slows the relay down a lot, so this run is
// never timed; but the counts are exact and do not depend on how busy the shared machine is,
// which makes them the steadiest measure of work per message (fsyncs, fs calls, socket writes,
// futex hand-offs to libuv's pool). BENCH_SYSCALLS=1 turns it on.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const ATTACH_WAIT_MS = 1_500;
const DETACH_TIMEOUT_MS = 10_000;

/** syscall name → calls (errors included), from the summary table `strace -c` writes. */
export function parseStraceSummary(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const t = line.trim().split(/\s+/);
    // "% time  seconds  usecs/call  calls  [errors]  syscall"; skip the header, rules and total.
    if (t.length < 5 || !/^\d/.test(t[0]!)) continue;
    const name = t[t.length - 1]!;
    const calls = Number(t[3]);
    if (name !== 'total' && Number.isFinite(calls)) out.set(name, (out.get(name) ?? 0) + calls);
  }
  return out;
}

/** Runs `during` with strace attached to `pids` (following their threads and new children). */
export async function countSyscalls(pids: number[], during: () => Promise<void>): Promise<Map<string, number>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-bench-strace-'));
  const file = path.join(dir, 'summary.txt');
  const st = spawn('strace', ['-c', '-f', '-qq', '-o', file, ...pids.flatMap((p) => ['-p', String(p)])], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => st.once('exit', () => resolve()));
  try {
    await new Promise((r) => setTimeout(r, ATTACH_WAIT_MS));
    await during();
  } finally {
    st.kill('SIGINT');
    const t = setTimeout(() => st.kill('SIGKILL'), DETACH_TIMEOUT_MS);
    await exited;
    clearTimeout(t);
  }
  try {
    return parseStraceSummary(await readFile(file, 'utf8'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
