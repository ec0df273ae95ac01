// Shared plumbing for the engine harnesses (clamd.ts, rspamd.ts): spawn a daemon in the
// foreground, keep its output for error messages, poll a readiness probe with a deadline, and
// stop it by its own pid (SIGTERM, then SIGKILL after a grace).
import { spawn, type ChildProcess } from 'node:child_process';

const STOP_GRACE_MS = 5_000;
const PROBE_INTERVAL_MS = 50;

export interface EngineProcess {
  readonly proc: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export function spawnEngine(cmd: string, args: string[]): EngineProcess {
  // Debian puts clamd in /usr/sbin, which a non-root PATH often lacks.
  const env = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` };
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  const keep = (c: string) => {
    out = (out + c).slice(-20_000);
  };
  proc.stdout!.setEncoding('utf8').on('data', keep);
  proc.stderr!.setEncoding('utf8').on('data', keep);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    proc,
    output: () => out,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls `probe` until it is true; throws with the daemon's output when it exits or time runs out. */
export async function waitReady(e: EngineProcess, what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (e.proc.exitCode !== null) throw new Error(`${what} exited with ${e.proc.exitCode}:\n${e.output()}`);
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, PROBE_INTERVAL_MS));
  }
  await e.stop();
  throw new Error(`${what} was not ready within ${timeoutMs} ms:\n${e.output()}`);
}
