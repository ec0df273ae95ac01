// The daemon's control socket for the queue tools: JSON lines over a Unix socket at
// <spool.dir>/control.sock (mode 0600), one request and one response per connection. Changes go
// through the running QueueManager so its memory and the spool never disagree. Client: controlRequest().
import net from 'node:net';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../observe/log.js';
import type { Spool } from './spool.js';
import { isQueueId } from './scan.js';
import { whyMissing } from './offline.js';
import type { Quarantine } from './quarantine.js';

export const CONTROL_SOCKET_NAME = 'control.sock';
/** sun_path is 108 bytes on Linux including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;
const MAX_REQUEST_BYTES = 4096;
const STALE_PROBE_TIMEOUT_MS = 1_000;
const REQUEST_IDLE_TIMEOUT_MS = 10_000;
/** Above the scheduler's wait for a delivery in flight (30 s), so the daemon answers first. */
export const CONTROL_CLIENT_TIMEOUT_MS = 45_000;

export type ControlOp = 'ping' | 'retry' | 'hold' | 'release' | 'delete' | 'bounce' | 'reload' | 'connectors' | QuarantineOp;
/** `sluice quarantine release|delete` (issue 9): they act on the quarantine area, not the queue. */
export type QuarantineOp = 'quarantine-release' | 'quarantine-delete';
export const CONTROL_OPS: readonly ControlOp[] = ['ping', 'retry', 'hold', 'release', 'delete', 'bounce', 'reload', 'connectors', 'quarantine-release', 'quarantine-delete'];
/** Operations without a queue id, answered by the daemon's hooks (`sluice reload`, `sluice connectors`). */
const DAEMON_OPS: readonly ControlOp[] = ['ping', 'reload', 'connectors'];
export interface ControlRequest {
  op: ControlOp;
  id?: string;
  /** retry only: every queued message (held ones stay held). */
  all?: boolean;
  /** quarantine-release only: the recipients to release to (absent: all). */
  recipients?: string[];
}
export type ControlErrorCode = 'E_NOT_FOUND' | 'E_FAILED_MESSAGE' | 'E_ON_HOLD' | 'E_BAD_REQUEST' | 'E_INTERNAL' | 'E_CONFIG' | 'E_ALREADY_RELEASED' | 'E_POSTGRES_DOWN';
export type ControlResponse =
  | { ok: true; id?: string; count?: number; note?: string; released?: string[]; queuedAs?: string; data?: unknown }
  | { ok: false; code: ControlErrorCode; error: string };

/** What the control socket needs from the QueueManager (its admin block). */
export interface QueueAdmin {
  retryNow(id: string): 'scheduled' | 'in flight' | 'on hold' | 'busy' | null;
  retryAll(): number;
  hold(id: string): Promise<boolean>;
  release(id: string): Promise<boolean>;
  delete(id: string): Promise<boolean>;
  bounce(id: string): Promise<boolean>;
}

/** The daemon's answers to requests that are not about one message. */
export interface DaemonHooks {
  /** Reload the config file: the outcome, or the errors (file:line: key path: message). */
  reload(): Promise<{ ok: true } | { ok: false; errors: string }>;
  connectors(): Promise<unknown>;
}

export function controlSocketPath(spoolDir: string): string {
  return path.join(spoolDir, CONTROL_SOCKET_NAME);
}

function checkPathLength(p: string): void {
  if (Buffer.byteLength(p) > MAX_SOCKET_PATH_BYTES) {
    throw new Error(`control socket path ${p} is longer than ${MAX_SOCKET_PATH_BYTES} bytes; use a shorter spool.dir`);
  }
}

export function badRequest(req: unknown): ControlResponse | null {
  const r = req as ControlRequest;
  if (typeof r !== 'object' || r === null || !CONTROL_OPS.includes(r.op)) return { ok: false, code: 'E_BAD_REQUEST', error: 'unknown operation' };
  if (DAEMON_OPS.includes(r.op) || (r.op === 'retry' && r.all === true)) return null;
  if (typeof r.id !== 'string' || !isQueueId(r.id)) return { ok: false, code: 'E_BAD_REQUEST', error: `queue: bad queue id ${JSON.stringify(r.id)}` };
  if (r.recipients !== undefined && (!Array.isArray(r.recipients) || !r.recipients.every((x) => typeof x === 'string'))) {
    return { ok: false, code: 'E_BAD_REQUEST', error: 'quarantine: recipients must be a list of addresses' };
  }
  return null;
}

export class ControlServer {
  readonly path: string;
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private markReady!: () => void;
  /** Requests wait until the queue has recovered the spool, so no id is missing for a moment. */
  private readonly ready = new Promise<void>((resolve) => (this.markReady = resolve));

  constructor(
    private readonly spool: Spool,
    private readonly queue: QueueAdmin,
    private readonly log: Logger,
    private readonly quarantine: Quarantine | null = null,
    private readonly hooks?: DaemonHooks,
  ) {
    this.path = controlSocketPath(spool.dir);
  }

  /** Never throws: without the socket the daemon still runs, and the failure is logged. */
  async listen(): Promise<void> {
    try {
      checkPathLength(this.path);
      await this.clearStale();
      const server = net.createServer((s) => this.serve(s));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.path, () => {
          server.off('error', reject);
          resolve();
        });
      });
      // listen() creates the socket with the umask's mode; only the daemon's user may connect.
      await fs.chmod(this.path, 0o600);
      server.unref();
      this.server = server;
      this.log.info({ stage: 'control', socket: this.path }, 'control socket listening');
    } catch (err) {
      this.log.error({ stage: 'control', socket: this.path, err: (err as Error).message }, 'control socket unavailable; queue tools cannot reach this daemon');
    }
  }

  open(): void {
    this.markReady();
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
    await fs.unlink(this.path).catch(() => undefined);
  }

  /** A socket left by a killed daemon refuses connections: remove it. One that answers is alive. */
  private async clearStale(): Promise<void> {
    const probe = await probeSocket(this.path);
    if (probe === 'alive') throw new Error('another sluice daemon answers on this spool\'s control socket');
    if (probe === 'stale') await fs.unlink(this.path);
  }

  private serve(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    // A client that connects and never sends its line must not hold a socket forever.
    socket.setTimeout(REQUEST_IDLE_TIMEOUT_MS, () => socket.destroy());
    socket.setEncoding('utf8');
    let buf = '';
    const onData = (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl === -1 && buf.length <= MAX_REQUEST_BYTES) return;
      socket.off('data', onData);
      socket.setTimeout(0); // the answer may wait for a delivery in flight (up to 30 s)
      const line = nl === -1 ? '' : buf.slice(0, nl);
      void this.answer(line).then((res) => socket.end(JSON.stringify(res) + '\n'));
    };
    socket.on('data', onData);
  }

  private async answer(line: string): Promise<ControlResponse> {
    let req: unknown;
    try {
      req = JSON.parse(line);
    } catch {
      return { ok: false, code: 'E_BAD_REQUEST', error: 'request is not one JSON line' };
    }
    const bad = badRequest(req);
    if (bad) return bad;
    await this.ready;
    const r = req as ControlRequest;
    try {
      const res = await this.apply(r);
      this.log.info({ stage: 'control', op: r.op, queueId: r.id, all: r.all, ok: res.ok, ...(res.ok ? {} : { code: res.code }) }, 'queue admin request');
      return res;
    } catch (err) {
      this.log.error({ stage: 'control', op: r.op, queueId: r.id, err: (err as Error).message }, 'queue admin request failed');
      return { ok: false, code: 'E_INTERNAL', error: `queue: ${(err as Error).message}` };
    }
  }

  private async apply(r: ControlRequest): Promise<ControlResponse> {
    if (r.op === 'ping') return { ok: true };
    if (r.op === 'quarantine-release' || r.op === 'quarantine-delete') {
      if (!this.quarantine) return { ok: false, code: 'E_INTERNAL', error: 'quarantine: not available in this daemon' };
      return r.op === 'quarantine-delete' ? this.quarantine.delete(r.id!) : this.quarantine.release(r.id!, r.recipients?.length ? r.recipients : null);
    }
    if (r.op === 'reload' || r.op === 'connectors') {
      if (!this.hooks) return { ok: false, code: 'E_BAD_REQUEST', error: `${r.op} is not served here` };
      if (r.op === 'connectors') return { ok: true, data: await this.hooks.connectors() };
      const out = await this.hooks.reload();
      return out.ok ? { ok: true, data: out } : { ok: false, code: 'E_CONFIG', error: out.errors };
    }
    if (r.op === 'retry' && r.all) return { ok: true, count: this.queue.retryAll() };
    const id = r.id!;
    if (r.op === 'retry') {
      const state = this.queue.retryNow(id);
      if (state === 'on hold') return { ok: false, code: 'E_ON_HOLD', error: `queue: ${id} is on hold; release it first` };
      if (state === 'scheduled') return { ok: true, id };
      if (state) return { ok: true, id, note: state === 'busy' ? 'another queue change of it is in progress' : 'a delivery attempt is in progress now' };
    } else if (await this.queue[r.op](id)) {
      return { ok: true, id };
    }
    // Not in the daemon's memory: failed/ is outside the scheduler, so delete works on files there.
    if (r.op === 'delete' && (await this.spool.removeFailed(id))) return { ok: true, id, note: 'removed from failed/' };
    return whyMissing(this.spool, id);
  }
}

export type ProbeResult = 'alive' | 'stale' | 'absent';

/** Connects and hangs up: ENOENT = no socket, ECONNREFUSED = nobody listening (stale). */
export function probeSocket(p: string): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(p);
    const timer = setTimeout(() => {
      s.destroy();
      resolve('alive');
    }, STALE_PROBE_TIMEOUT_MS);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve('alive');
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ENOENT') resolve('absent');
      else if (err.code === 'ECONNREFUSED') resolve('stale');
      else reject(err);
    });
  });
}

export type ControlReply = { mode: 'daemon'; response: ControlResponse } | { mode: 'offline'; reason: string };

/**
 * Sends one request to the daemon of this spool. `offline` means no daemon is listening (no socket,
 * or a stale one), so the caller may change the spool files itself; any other failure throws.
 */
export function controlRequest(spoolDir: string, req: ControlRequest, timeoutMs = CONTROL_CLIENT_TIMEOUT_MS): Promise<ControlReply> {
  const p = controlSocketPath(spoolDir);
  checkPathLength(p);
  return new Promise((resolve, reject) => {
    const s = net.createConnection(p);
    let connected = false;
    let settled = false;
    let buf = '';
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => {
      s.destroy();
      settle(() => reject(new Error(`the daemon did not answer on ${p} within ${timeoutMs / 1000} s`)));
    }, timeoutMs);
    s.setEncoding('utf8');
    s.once('connect', () => {
      connected = true;
      s.write(JSON.stringify(req) + '\n');
    });
    s.on('data', (c: string) => (buf += c));
    s.once('end', () => {
      let response: ControlResponse;
      try {
        response = JSON.parse(buf.trim()) as ControlResponse;
      } catch {
        return settle(() => reject(new Error(`the daemon sent an unreadable answer on ${p}`)));
      }
      settle(() => resolve({ mode: 'daemon', response }));
    });
    s.once('close', () => settle(() => reject(new Error(`the daemon closed ${p} without an answer (stopping?)`))));
    s.once('error', (err: NodeJS.ErrnoException) => {
      if (!connected && err.code === 'ENOENT') settle(() => resolve({ mode: 'offline', reason: `no daemon running (no ${p})` }));
      else if (!connected && err.code === 'ECONNREFUSED') settle(() => resolve({ mode: 'offline', reason: `no daemon running (stale ${p})` }));
      else settle(() => reject(new Error(`cannot reach the daemon on ${p}: ${err.message}`)));
    });
  });
}
