// Runs a private Debian Postfix instance as the organisation's on-premises server: its own config,
// queue, data and maildir directories under a temp dir, smtpd on a loopback address/port of the
// test's choosing, virtual maildirs for one domain, and outbound mail relayed through a relayhost.
import { spawn } from 'node:child_process';
import { chmod, chown, copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';

const COMMAND_TIMEOUT_MS = 15_000;
const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const POLL_MS = 50;

export interface PostfixOptions {
  /** Loopback address for smtpd and the smtp client's source address; default 127.0.0.1. */
  host?: string;
  /** smtpd port; default a free port on `host`. */
  port?: number;
  /** myhostname (banner, HELO name, Received headers); default mail.contoso.com. */
  hostname?: string;
  /** The virtual mailbox domain; default contoso.com. */
  domain?: string;
  /** Local parts that have a maildir; default john and bob. Others get 550 5.1.1 at RCPT. */
  users?: string[];
  /** Every non-local recipient goes here (relayhost = [host]:port). */
  relayhost?: { host: string; port: number };
  /** Client certificate presented to the relayhost; omitted = none. */
  clientCert?: { cert: string; key: string };
  /** Trust anchor for the relayhost's certificate (smtp_tls_CAfile). */
  ca?: string;
  /** STARTTLS certificate offered by smtpd; omitted = no STARTTLS. */
  serverCert?: { cert: string; key: string };
  /** smtp_tls_security_level; default encrypt when a relayhost is set. */
  tlsLevel?: 'none' | 'may' | 'encrypt' | 'verify' | 'secure';
  /** Extra or overriding main.cf lines, e.g. { soft_bounce: 'yes' }. */
  main?: Record<string, string>;
}

export interface PostfixInstance {
  dir: string;
  configDir: string;
  host: string;
  port: number;
  hostname: string;
  /** Hands a message to Postfix with its sendmail command, as a local application would. */
  submit(from: string, to: string | string[], raw: string | Buffer): Promise<void>;
  /** The maildir files of `user` (new/), oldest first, as stored (LF line endings). */
  mailbox(user: string): Promise<Buffer[]>;
  waitForMailbox(user: string, count: number, timeoutMs?: number): Promise<Buffer[]>;
  /** postqueue -f: retry deferred mail now. */
  flush(): Promise<void>;
  /** postqueue -p output. */
  queue(): Promise<string>;
  /** The instance's maillog_file. */
  log(): Promise<string>;
  waitForLog(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** postfix stop, then wait (bounded) for the master to exit; SIGKILL as a last resort. Idempotent. */
  stop(): Promise<void>;
}

interface RunResult {
  code: number | null;
  out: string;
}

/** Runs a Postfix command with a hard time limit; never rejects, the caller judges the exit code. */
function run(cmd: string, args: string[], input?: string | Buffer, timeoutMs = COMMAND_TIMEOUT_MS): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: -1, out: `${out}${String(err)}` });
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
    p.stdin.on('error', () => undefined);
    p.stdin.end(input ?? '');
  });
}

async function must(cmd: string, args: string[], input?: string | Buffer): Promise<string> {
  const r = await run(cmd, args, input);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.out}`);
  return r.out;
}

async function postfixIds(): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([must('id', ['-u', 'postfix']), must('id', ['-g', 'postfix'])]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

interface Layout {
  dir: string;
  etc: string;
  host: string;
  port: number;
  hostname: string;
  domain: string;
  uid: number;
  gid: number;
  tls: { clientCert?: string; clientKey?: string; ca?: string; serverCert?: string; serverKey?: string };
}

function mainCf(l: Layout, o: PostfixOptions): string {
  const p: Record<string, string> = {
    compatibility_level: '3.6',
    queue_directory: path.join(l.dir, 'queue'),
    data_directory: path.join(l.dir, 'data'),
    mail_owner: 'postfix',
    setgid_group: 'postdrop',
    myhostname: l.hostname,
    mydomain: l.domain,
    myorigin: l.domain,
    // Nothing is local: the domain is virtual, so mydestination must not claim it.
    mydestination: '',
    local_transport: 'error:5.1.1 no local delivery on this test instance',
    alias_maps: '',
    alias_database: '',
    // Postfix insists that inet_interfaces names addresses configured on an interface (only
    // 127.0.0.1 is; the rest of 127/8 is merely routed to lo) and otherwise exits 1 without a word.
    // smtpd is bound to l.host by its master.cf entry instead.
    inet_interfaces: '127.0.0.1',
    inet_protocols: 'ipv4',
    mynetworks: '127.0.0.0/8',
    // Every 127/8 address is loopback, so Postfix would not bind the client to it on its own.
    smtp_bind_address: l.host,
    // The log goes to a file of our own (via postlogd), not to syslog.
    maillog_file: path.join(l.dir, 'maillog'),
    maillog_file_prefixes: l.dir,
    smtpd_peername_lookup: 'no',
    virtual_mailbox_domains: l.domain,
    virtual_mailbox_base: path.join(l.dir, 'mail'),
    // virtual(8) refuses regexp substitutions in mailbox paths, hence an explicit table.
    virtual_mailbox_maps: `texthash:${path.join(l.etc, 'vmailbox')}`,
    virtual_uid_maps: `static:${l.uid}`,
    virtual_gid_maps: `static:${l.gid}`,
    smtp_tls_loglevel: '1',
    smtpd_tls_loglevel: '1',
  };
  if (o.relayhost) {
    p.relayhost = `[${o.relayhost.host}]:${o.relayhost.port}`;
    p.smtp_tls_security_level = o.tlsLevel ?? 'encrypt';
  }
  if (l.tls.clientCert) Object.assign(p, { smtp_tls_cert_file: l.tls.clientCert, smtp_tls_key_file: l.tls.clientKey });
  if (l.tls.ca) p.smtp_tls_CAfile = l.tls.ca;
  if (l.tls.serverCert) {
    Object.assign(p, { smtpd_tls_security_level: 'may', smtpd_tls_cert_file: l.tls.serverCert, smtpd_tls_key_file: l.tls.serverKey });
  }
  Object.assign(p, o.main ?? {});
  return Object.entries(p).map(([k, v]) => `${k} = ${v}\n`).join('');
}

/** Debian's master.cf minus the pipe transports, with smtpd moved to host:port and chroot off everywhere. */
const masterCf = (l: Layout): string =>
  `${l.host}:${l.port} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
local unix - n n - - local
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
`;

/** Copies certificates next to the config so that no other temp dir's mode matters. */
async function copyTls(etc: string, o: PostfixOptions): Promise<Layout['tls']> {
  const dir = path.join(etc, 'tls');
  await mkdir(dir, { mode: 0o755 });
  const put = async (src: string | undefined, name: string, mode: number) => {
    if (!src) return undefined;
    const dst = path.join(dir, name);
    await copyFile(src, dst);
    await chmod(dst, mode);
    return dst;
  };
  return {
    clientCert: await put(o.clientCert?.cert, 'client.crt', 0o644),
    clientKey: await put(o.clientCert?.key, 'client.key', 0o600),
    ca: await put(o.ca, 'ca.crt', 0o644),
    serverCert: await put(o.serverCert?.cert, 'server.crt', 0o644),
    serverKey: await put(o.serverCert?.key, 'server.key', 0o600),
  };
}

async function prepare(o: PostfixOptions): Promise<Layout> {
  const host = o.host ?? '127.0.0.1';
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-postfix-'));
  // Postfix daemons run as user postfix and must traverse down to their queue and maildirs.
  await chmod(dir, 0o755);
  const etc = path.join(dir, 'etc');
  await mkdir(etc);
  await Promise.all(['queue', 'data', 'mail'].map((d) => mkdir(path.join(dir, d))));
  const { uid, gid } = await postfixIds();
  await chown(path.join(dir, 'data'), uid, gid);
  await chown(path.join(dir, 'mail'), uid, gid);
  const domain = o.domain ?? 'contoso.com';
  const l: Layout = {
    dir, etc, host, uid, gid, domain,
    port: o.port ?? (await freePort(host)),
    hostname: o.hostname ?? 'mail.contoso.com',
    tls: await copyTls(etc, o),
  };
  const users = o.users ?? ['john', 'bob'];
  await writeFile(path.join(etc, 'vmailbox'), users.map((u) => `${u}@${domain} ${domain}/${u}/\n`).join(''));
  await writeFile(path.join(etc, 'main.cf'), mainCf(l, o));
  await writeFile(path.join(etc, 'master.cf'), masterCf(l));
  return l;
}

/** Resolves once smtpd answers with a 220 greeting. */
function greets(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    let buf = '';
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1_000, () => done(false));
    s.on('error', () => done(false));
    s.setEncoding('utf8').on('data', (c: string) => {
      buf += c;
      if (buf.includes('\n')) done(buf.startsWith('220'));
    });
  });
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, explain: () => Promise<string>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() >= deadline) throw new Error(`postfix: ${what} not within ${timeoutMs} ms\n${await explain()}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

export async function startPostfix(o: PostfixOptions = {}): Promise<PostfixInstance> {
  const l = await prepare(o);
  const c = ['-c', l.etc];
  const logFile = path.join(l.dir, 'maillog');
  const log = () => readFile(logFile, 'utf8').catch(() => '');
  const maildir = (user: string) => path.join(l.dir, 'mail', l.domain, user, 'new');
  let masterPid: number | null = null;
  let stopped = false;

  const self: PostfixInstance = {
    dir: l.dir,
    configDir: l.etc,
    host: l.host,
    port: l.port,
    hostname: l.hostname,
    async submit(from, to, raw) {
      // -i: a lone "." line is data, not the end; CRLF input is stored as LF and sent as CRLF again.
      await must('sendmail', ['-C', l.etc, '-i', '-f', from, '--', ...(Array.isArray(to) ? to : [to])], raw);
    },
    async mailbox(user) {
      const names = (await readdir(maildir(user)).catch(() => [] as string[])).sort();
      return Promise.all(names.map((n) => readFile(path.join(maildir(user), n))));
    },
    waitForMailbox(user, count, timeoutMs = 10_000) {
      return until(`${count} message(s) in ${user}'s mailbox`, timeoutMs, async () => {
        const m = await self.mailbox(user);
        return m.length >= count ? m : undefined;
      }, async () => `queue:\n${await self.queue()}\nlog:\n${await log()}`);
    },
    async flush() {
      await must('postqueue', [...c, '-f']);
    },
    queue: async () => (await run('postqueue', [...c, '-p'])).out,
    log,
    waitForLog(re, timeoutMs = 10_000) {
      return until(`log line ${re}`, timeoutMs, async () => (await log()).match(re) ?? undefined, log);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const pid = masterPid ?? (await readMasterPid(l.dir));
      await run('postfix', [...c, 'stop']);
      if (pid !== null) {
        const gone = await until('master exit', STOP_TIMEOUT_MS, async () => (alive(pid) ? undefined : true), async () => '').catch(() => false);
        // The master leads its own session and process group; take its children with it.
        if (!gone) {
          try {
            process.kill(-pid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
      }
      // SLUICE_KEEP_POSTFIX=1 keeps the instance's files (config, log, maildirs) for a post-mortem.
      if (!process.env.SLUICE_KEEP_POSTFIX) await rm(l.dir, { recursive: true, force: true });
    },
  };
  try {
    // `start` runs postfix-script check-fatal (which creates and owns the queue directories,
    // maildrop/public as group postdrop) and then waits for the master's init status.
    await must('postfix', [...c, 'start']);
    masterPid = await readMasterPid(l.dir);
    await until('smtpd greeting', READY_TIMEOUT_MS, async () => ((await greets(l.host, l.port)) ? true : undefined), log);
  } catch (err) {
    // Postfix reports start-up trouble in its log, which stop() removes with the temp dir.
    const why = `${(err as Error).message}\n--- ${logFile}\n${await log()}`;
    await self.stop().catch(() => undefined);
    throw new Error(why);
  }
  return self;
}

async function readMasterPid(dir: string): Promise<number | null> {
  const text = await readFile(path.join(dir, 'queue', 'pid', 'master.pid'), 'utf8').catch(() => '');
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isFinite(pid) && pid > 0 ? pid : null;
}
