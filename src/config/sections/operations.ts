// Config section: operating the daemon: `admin`, `trace` (issue 11).
// Owns its keys' schema, its part of the runtime Model and the cross-key checks on them, so
// features add config without touching the core schema (schema.ts spreads the keys, compile.ts
// spreads the model part, test/helpers/model-builder.ts uses the defaults).
import path from 'node:path';
import { z } from 'zod';
import ipaddr from 'ipaddr.js';
import type { Config } from '../schema.js';
import type { Report } from '../compile.js';
import { canonicalIp } from '../hosts.js';
import { duration, parsed, section } from '../schema-parts.js';

/** "127.0.0.1:8025", "[::1]:8025", "localhost:8025"; port 0 = any free port (tests). */
export function parseListen(raw: string): { host: string; port: number } {
  const s = raw.trim();
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) throw new Error(`"${raw}" must be host:port (an IP address or localhost, and a port 0-65535)`);
  const name = (m[1] ?? m[2] ?? '').toLowerCase();
  const host = name === 'localhost' ? '127.0.0.1' : canonicalIp(name);
  if (!host) throw new Error(`"${raw}": the admin listener binds an IP address or localhost, not "${name}"`);
  return { host, port };
}

export function isLoopback(host: string): boolean {
  try {
    return ipaddr.process(host).range() === 'loopback';
  } catch {
    return false;
  }
}

/** zod shapes of this section's top-level keys (each may be left out). */
export const operationsKeys = {
  admin: section(
    z
      .object({
        listen: parsed(parseListen).prefault('127.0.0.1:8025'),
        token: z.string().min(16, 'a bearer token needs at least 16 characters').nullable().default(null),
      })
      .strict(),
  ),
  trace: section(
    z
      .object({
        enabled: z.boolean().default(true),
        retention: duration.prefault('90d'),
        includeSubject: z.boolean().default(true),
        path: z.string().trim().min(1, 'a file path must not be empty').optional(),
      })
      .strict(),
  ),
};

/** This section's part of the frozen runtime Model. */
export interface OperationsModel {
  readonly admin: { readonly listen: { readonly host: string; readonly port: number }; readonly token: string | null };
  readonly trace: { readonly enabled: boolean; readonly retentionMs: number; readonly includeSubject: boolean; readonly path: string };
}

/** The trace database lives in the data directory, beside the spool, unless `trace.path` says otherwise. */
export const defaultTracePath = (spoolDir: string): string => path.join(path.dirname(path.resolve(spoolDir)), 'trace.db');

export function compileOperations(config: Config, report: Report, _warn: Report): OperationsModel {
  const { admin, trace } = config;
  if (!isLoopback(admin.listen.host) && admin.token === null) {
    report(['admin', 'token'], `the admin listener on ${admin.listen.host} is reachable from other hosts: set admin.token (a bearer token) or listen on 127.0.0.1`);
  }
  return {
    admin: { listen: admin.listen, token: admin.token },
    trace: {
      enabled: trace.enabled,
      retentionMs: trace.retention,
      includeSubject: trace.includeSubject,
      path: trace.path === undefined ? defaultTracePath(config.spool.dir) : path.resolve(process.cwd(), trace.path),
    },
  };
}

/** The model part when every key is left out (for hand-built test models). */
export const OPERATIONS_DEFAULTS: OperationsModel = {
  admin: { listen: { host: '127.0.0.1', port: 8025 }, token: null },
  trace: { enabled: true, retentionMs: 90 * 86_400_000, includeSubject: true, path: defaultTracePath('data/spool') },
};
