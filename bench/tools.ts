// Wrappers around Postfix's load tools: smtp-sink (counts every message it receives; the bench
// waits on its counter, so a run ends when the SINK has everything) and smtp-source (the load).
// Both are child processes with hard time limits; loopback only.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';

export const SMTP_SINK = '/usr/sbin/smtp-sink';
export const SMTP_SOURCE = '/usr/sbin/smtp-source';
const SINK_BACKLOG = 1024;
const SINK_MAX_SESSIONS = 512;
const READY_TIMEOUT_MS = 5_000;

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const a = server.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

/** A message counter the bench can wait on; smtp-sink or the Node TLS sink implement it. */
export interface Sink {
  port: number;
  received(): number;
  /** Messages that arrived over TLS (the Node sink only). */
  receivedTls?(): number;
  /** Resolves when `received() >= n`; rejects after `timeoutMs` with what arrived. */
  waitFor(n: number, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

/** Polls a counter cheaply (10 ms) until it reaches n or the deadline passes. */
export function waitCounter(what: string, get: () => number, n: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (get() >= n) return resolve();
      if (Date.now() > deadline) return reject(new Error(`${what}: ${get()}/${n} messages after ${timeoutMs} ms`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

/** smtp-sink -c prints "sess=N quit=N mesg=N\r" after every '.', QUIT and session end. */
export async function startSmtpSink(port?: number): Promise<Sink> {
  const p = port ?? (await freePort());
  const proc = spawn(SMTP_SINK, ['-u', 'nobody', '-c', '-m', String(SINK_MAX_SESSIONS), `127.0.0.1:${p}`, String(SINK_BACKLOG)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let mesg = 0;
  let tail = '';
  let stderr = '';
  proc.stdout!.setEncoding('latin1').on('data', (c: string) => {
    tail = (tail + c).slice(-200);
    const all = [...tail.matchAll(/mesg=(\d+)/g)];
    const last = all[all.length - 1];
    if (last) mesg = Math.max(mesg, Number(last[1]));
  });
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  await waitListening(p, proc, () => stderr);
  return {
    port: p,
    received: () => mesg,
    waitFor: (n, t) => waitCounter(`smtp-sink :${p}`, () => mesg, n, t),
    stop: () => stopChild(proc),
  };
}

async function waitListening(port: number, proc: ChildProcess, err: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`smtp-sink exited: ${err()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection(port);
      s.once('data', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listening on ${port} within ${READY_TIMEOUT_MS} ms`);
}

function createConnection(port: number) {
  const s = connect({ host: '127.0.0.1', port });
  s.setTimeout(1_000, () => s.destroy(new Error('timeout')));
  return s;
}

export function stopChild(proc: ChildProcess, graceMs = 3_000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    proc.once('exit', () => (clearTimeout(t), resolve()));
    proc.kill('SIGTERM');
  });
}

export interface SourceLoad {
  port: number;
  sessions: number;
  messages: number;
  bodyBytes: number;
  rcpts: number;
  timeoutMs: number;
}

/** smtp-source, one message per connection (no -d), recipients N<user>@contoso.com. */
export function runSmtpSource(l: SourceLoad): Promise<{ code: number | null; stderr: string }> {
  const args = ['-s', String(l.sessions), '-m', String(l.messages), '-l', String(l.bodyBytes), '-r', String(l.rcpts)];
  args.push('-f', 'sender@fabrikam.example', '-t', 'user@contoso.com', '-M', 'client.fabrikam.example', '-S', 'bench');
  args.push(`127.0.0.1:${l.port}`);
  return new Promise((resolve) => {
    const proc = spawn(SMTP_SOURCE, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const t = setTimeout(() => proc.kill('SIGKILL'), l.timeoutMs);
    proc.on('exit', (code) => (clearTimeout(t), resolve({ code, stderr })));
  });
}

/** The Node STARTTLS sink (bench/node-sink-main.ts) as a child process, counted like smtp-sink. */
export async function startNodeSinkProcess(cert: string, key: string, port?: number): Promise<Sink & { pid: number }> {
  const p = port ?? (await freePort());
  const main = new URL('./node-sink-main.js', import.meta.url).pathname;
  const proc = spawn(process.execPath, [main, String(p), cert, key], { stdio: ['ignore', 'pipe', 'pipe'] });
  let mesg = 0;
  let tls = 0;
  let stderr = '';
  let tail = '';
  proc.stdout!.setEncoding('utf8').on('data', (c: string) => {
    tail = (tail + c).slice(-200);
    const all = [...tail.matchAll(/mesg=(\d+) tls=(\d+)/g)];
    const last = all[all.length - 1];
    if (last) {
      mesg = Math.max(mesg, Number(last[1]));
      tls = Math.max(tls, Number(last[2]));
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  await waitListening(p, proc, () => stderr);
  return {
    port: p,
    pid: proc.pid!,
    received: () => mesg,
    receivedTls: () => tls,
    waitFor: (n, t) => waitCounter(`node sink :${p}`, () => mesg, n, t),
    stop: () => stopChild(proc),
  };
}
