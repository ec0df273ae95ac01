// A real peer (dnsmasq, haproxy …) run as a child process by a test: its stderr is kept for the
// failure message, and stop() ends it by pid and waits for the exit.
import { spawn, type ChildProcess } from 'node:child_process';

export interface PeerProcess {
  proc: ChildProcess;
  stderr: () => string;
  stop: () => Promise<void>;
}

export function spawnPeer(command: string, args: string[]): PeerProcess {
  const proc = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    await exited;
  };
  return { proc, stderr: () => stderr, stop };
}
