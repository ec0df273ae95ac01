// A private Postfix instance as a store-and-forward relay: its own config, queue and data
// directories under a temp dir (never the system instance), smtpd on a free loopback port,
// everything relayed to relayhost = [127.0.0.1]:<sink>. Default fsync behaviour, chroot off.
import { spawn } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './tools.js';

const COMMAND_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;

export interface PostfixRelay {
  port: number;
  masterPid: number;
  dir: string;
  stop(): Promise<void>;
}

export interface PostfixTls {
  /** smtpd offers STARTTLS with this certificate. */
  serverCert: string;
  serverKey: string;
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
    const t = setTimeout(() => p.kill('SIGKILL'), COMMAND_TIMEOUT_MS);
    p.on('close', (code) => (clearTimeout(t), resolve({ code, out })));
    p.on('error', (e) => (clearTimeout(t), resolve({ code: -1, out: String(e) })));
  });
}

function mainCf(dir: string, sinkPort: number, tls?: PostfixTls, extra: Record<string, string> = {}): string {
  const p: Record<string, string> = {
    compatibility_level: '3.6',
    queue_directory: path.join(dir, 'queue'),
    data_directory: path.join(dir, 'data'),
    mail_owner: 'postfix',
    setgid_group: 'postdrop',
    myhostname: 'postfix.bench.example',
    mydestination: '',
    local_transport: 'error:5.1.1 no local delivery',
    alias_maps: '',
    alias_database: '',
    inet_interfaces: '127.0.0.1',
    inet_protocols: 'ipv4',
    mynetworks: '127.0.0.0/8',
    relayhost: `[127.0.0.1]:${sinkPort}`,
    maillog_file: path.join(dir, 'maillog'),
    maillog_file_prefixes: dir,
    smtpd_peername_lookup: 'no',
    // smtp-source sends up to 100 sessions; keep Postfix's defaults otherwise (process limit 100).
    smtp_tls_security_level: tls ? 'encrypt' : 'none',
  };
  if (tls) Object.assign(p, { smtpd_tls_security_level: 'may', smtpd_tls_cert_file: tls.serverCert, smtpd_tls_key_file: tls.serverKey });
  Object.assign(p, extra);
  return Object.entries(p).map(([k, v]) => `${k} = ${v}\n`).join('');
}

function masterCf(port: number): string {
  return [
    `127.0.0.1:${port} inet n - n - - smtpd`,
    'pickup unix n - n 60 1 pickup',
    'cleanup unix n - n - 0 cleanup',
    'qmgr unix n - n 300 1 qmgr',
    'tlsmgr unix - - n 1000? 1 tlsmgr',
    'rewrite unix - - n - - trivial-rewrite',
    'bounce unix - - n - 0 bounce',
    'defer unix - - n - 0 bounce',
    'trace unix - - n - 0 bounce',
    'verify unix - - n - 1 verify',
    'flush unix n - n 1000? 0 flush',
    'proxymap unix - - n - - proxymap',
    'proxywrite unix - - n - 1 proxymap',
    'smtp unix - - n - - smtp',
    'relay unix - - n - - smtp',
    'showq unix n - n - - showq',
    'error unix - - n - - error',
    'retry unix - - n - - error',
    'discard unix - - n - - discard',
    'anvil unix - - n - 1 anvil',
    'scache unix - - n - 1 scache',
    'postlog unix-dgram n - n - 1 postlogd',
  ].join('\n') + '\n';
}

/** `extra`: more main.cf parameters (the filtered case's smtpd_milters). */
export async function startPostfixRelay(sinkPort: number, tls?: PostfixTls, extra?: Record<string, string>): Promise<PostfixRelay> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-bench-postfix-'));
  await chmod(dir, 0o755);
  const etc = path.join(dir, 'etc');
  await Promise.all(['etc', 'queue', 'data'].map((d) => mkdir(path.join(dir, d))));
  const [uid, gid] = await Promise.all([run('id', ['-u', 'postfix']), run('id', ['-g', 'postfix'])]);
  await chown(path.join(dir, 'data'), Number(uid.out.trim()), Number(gid.out.trim()));
  if (tls) {
    // Copied next to the config so that the temp dir's modes never block the postfix user.
    await mkdir(path.join(etc, 'tls'), { mode: 0o755 });
    const cert = path.join(etc, 'tls', 'server.crt');
    const key = path.join(etc, 'tls', 'server.key');
    await writeFile(cert, await readFile(tls.serverCert), { mode: 0o644 });
    await writeFile(key, await readFile(tls.serverKey), { mode: 0o600 });
    tls = { serverCert: cert, serverKey: key };
  }
  const port = await freePort();
  await writeFile(path.join(etc, 'main.cf'), mainCf(dir, sinkPort, tls, extra));
  await writeFile(path.join(etc, 'master.cf'), masterCf(port));
  const started = await run('postfix', ['-c', etc, 'start']);
  if (started.code !== 0) throw new Error(`postfix start failed: ${started.out}`);
  const masterPid = Number((await readFile(path.join(dir, 'queue', 'pid', 'master.pid'), 'utf8')).trim());
  let stopped = false;
  return {
    port,
    masterPid,
    dir,
    async stop() {
      if (stopped) return;
      stopped = true;
      await run('postfix', ['-c', etc, 'stop']);
      const deadline = Date.now() + STOP_TIMEOUT_MS;
      while (alive(masterPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (alive(masterPid)) {
        try {
          process.kill(-masterPid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
