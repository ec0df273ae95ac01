// The admin HTTP listener (node:http): /healthz (the process answers), /readyz (every readiness
// check, 503 naming the failing ones), /metrics (Prometheus text). With admin.token set, every
// request needs `Authorization: Bearer <token>`; config/sections/operations.ts insists on one
// whenever the listener is reachable from other hosts.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Logger } from '../observe/log.js';
import { status } from '../observe/status.js';
import { metricsRegistry } from '../observe/metrics.js';
import { probeWritable, readinessChecks } from './readiness.js';

export interface AdminOptions {
  host: string;
  port: number;
  token: string | null;
  spoolDir: () => string;
  traceEnabled: () => boolean;
  log: Logger;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Constant-time comparison of the presented bearer token with the configured one. */
export function authorised(header: string | undefined, token: string | null): boolean {
  if (token === null) return true;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m !== null && timingSafeEqual(digest(m[1]!), digest(token));
}

function send(res: ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

export class AdminServer {
  private server: Server | null = null;

  constructor(private readonly opts: AdminOptions) {}

  async start(): Promise<{ host: string; port: number }> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.opts.log.error({ stage: 'admin', err: err.message }, 'admin listener error'));
    this.server = server;
    const a = server.address();
    const bound = { host: this.opts.host, port: typeof a === 'object' && a ? a.port : this.opts.port };
    this.opts.log.info({ stage: 'admin', ...bound, token: this.opts.token !== null }, 'admin listening');
    return bound;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    await new Promise<void>((r) => {
      s.close(() => r());
      s.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (!authorised(req.headers.authorization, this.opts.token)) {
        res.setHeader('www-authenticate', 'Bearer realm="sluice"');
        return send(res, 401, 'text/plain; charset=utf-8', 'unauthorized: send Authorization: Bearer <admin.token>\n');
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
      const url = new URL(req.url ?? '/', 'http://admin');
      switch (url.pathname) {
        case '/healthz':
          return send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
        case '/readyz':
          return await this.ready(res, url.searchParams.has('json'));
        case '/metrics':
          return send(res, 200, metricsRegistry.contentType, await metricsRegistry.metrics());
        default:
          return send(res, 404, 'text/plain; charset=utf-8', 'not found: /healthz, /readyz, /metrics\n');
      }
    } catch (err) {
      this.opts.log.error({ stage: 'admin', err: (err as Error).message }, 'admin request failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    }
  }

  private async ready(res: ServerResponse, json: boolean): Promise<void> {
    const probe = status.spoolLocked ? await probeWritable(this.opts.spoolDir()) : null;
    const checks = readinessChecks(status, probe, this.opts.traceEnabled());
    const failing = checks.filter((c) => !c.ok);
    const code = failing.length ? 503 : 200;
    if (json) return send(res, code, 'application/json', `${JSON.stringify({ ready: !failing.length, checks })}\n`);
    const lines = checks.map((c) => `${c.ok ? 'ok' : 'FAIL'} ${c.name}: ${c.detail}`);
    const head = failing.length ? `not ready: ${failing.map((c) => c.name).join(', ')}` : 'ready';
    send(res, code, 'text/plain; charset=utf-8', `${head}\n${lines.join('\n')}\n`);
  }
}
