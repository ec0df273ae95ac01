// A throwaway DNS server for fault tests: Debian's dnsmasq on a loopback port, answering only
// the MX and A records given (no upstream, no system config), started and stopped by the test.
import { spawn, type ChildProcess } from 'node:child_process';
import { Resolver } from 'node:dns/promises';

const READY_TIMEOUT_MS = 5_000;

export interface FaultDns {
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** mx: [domain, exchange, preference]; a: [name, ipv4]. Resolves once the MX record answers. */
export async function startDnsmasq(port: number, mx: [string, string, number][], a: [string, string][]): Promise<FaultDns> {
  const args = [
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    '--pid-file=',
    `--port=${port}`,
    '--listen-address=127.0.0.1',
    '--bind-interfaces',
    '--no-resolv',
    '--no-hosts',
    '--no-poll',
    ...mx.map(([d, x, p]) => `--mx-host=${d},${x},${p}`),
    ...a.map(([n, ip]) => `--host-record=${n},${ip}`),
  ];
  const proc = spawn('dnsmasq', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    await exited;
  };
  const r = new Resolver({ timeout: 300, tries: 1 });
  r.setServers([`127.0.0.1:${port}`]);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const first = mx[0];
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`dnsmasq exited with ${proc.exitCode}: ${stderr}`);
    try {
      if (!first || (await r.resolveMx(first[0])).length) return { proc, stop };
    } catch {
      await new Promise((res) => setTimeout(res, 100));
    }
  }
  await stop();
  throw new Error(`dnsmasq did not answer within ${READY_TIMEOUT_MS} ms: ${stderr}`);
}
