// A real HAProxy (Debian's haproxy) in front of Sluice for the load-balancer tests: TCP mode on a
// free loopback port, the README's backend lines (send-proxy-v2, SMTP health check through the
// PROXY header), a stats socket to read the backend's health. stop() ends it by pid.
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { freePort } from './ports.js';
import { spawnPeer } from './peer-process.js';

const READY_TIMEOUT_MS = 5_000;
const POLL_MS = 50;

export interface HaProxy {
  port: number;
  /** The backend server's status from the stats socket: "UP", "DOWN", "no check" … */
  serverStatus(): Promise<string>;
  stop(): Promise<void>;
}

function ask(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    let out = '';
    s.setEncoding('utf8').on('data', (c: string) => (out += c));
    s.once('error', reject);
    s.once('end', () => resolve(out));
    s.write(`${command}\n`);
  });
}

const canConnect = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

export async function startHaProxy(opts: { dir: string; backendPort: number }): Promise<HaProxy> {
  const port = await freePort();
  const stats = path.join(opts.dir, 'haproxy.sock');
  const cfg = path.join(opts.dir, 'haproxy.cfg');
  await writeFile(
    cfg,
    [
      'global',
      `    stats socket ${stats} level admin`,
      'defaults',
      '    mode tcp',
      '    timeout connect 5s',
      '    timeout client 30s',
      '    timeout server 30s',
      // Without it a check may take only `inter`; on a loaded test machine the backend would flap.
      '    timeout check 5s',
      'frontend smtp',
      `    bind 127.0.0.1:${port}`,
      '    default_backend sluice',
      'backend sluice',
      '    option smtpchk EHLO haproxy.contoso.com',
      `    server gw1 127.0.0.1:${opts.backendPort} send-proxy-v2 check check-send-proxy inter 500ms rise 1 fall 5`,
      '',
    ].join('\n'),
  );
  const { proc, stderr, stop } = spawnPeer('haproxy', ['-db', '-f', cfg]);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`haproxy exited with ${proc.exitCode}: ${stderr()}`);
    if (await canConnect(port)) {
      return {
        port,
        stop,
        serverStatus: async () => {
          // CSV: pxname,svname,...,status is the 18th field.
          const line = (await ask(stats, 'show stat')).split('\n').find((l) => l.startsWith('sluice,gw1,'));
          return line?.split(',')[17] ?? '';
        },
      };
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  await stop();
  throw new Error(`haproxy did not listen on ${port} within ${READY_TIMEOUT_MS} ms: ${stderr()}`);
}
