// Config section: several replicas as one cluster: `cluster` (issue 13).
// Owns its keys' schema, its part of the runtime Model and the cross-key checks on them, so
// features add config without touching the core schema (schema.ts spreads the keys, compile.ts
// spreads the model part, test/helpers/model-builder.ts uses the defaults).
// With `enabled: false` (the default) nothing here is used and no engine is needed.
import { hostname } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type { Config } from '../schema.js';
import type { Report } from '../compile.js';
import { duration, filePath, flag, section } from '../schema-parts.js';

/** A node id names a replica in Redis keys, lease rows and metrics: keep it to safe characters. */
const NODE_ID = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62})$/;

export const CONFIG_SOURCES = ['file', 'postgres'] as const;
export type ConfigSourceKind = (typeof CONFIG_SOURCES)[number];

const url = (schemes: readonly string[], what: string) =>
  z
    .string()
    .trim()
    .refine((v) => schemes.some((s) => v.startsWith(`${s}://`)), `${what} must start with ${schemes.map((s) => `${s}://`).join(' or ')}`);

/** zod shapes of this section's top-level keys (each may be left out). */
export const clusterKeys = {
  cluster: section(
    z
      .object({
        enabled: flag(false),
        nodeId: z.string().trim().regex(NODE_ID, 'a node id is 1-63 letters, digits, dots, dashes or underscores').optional(),
        redis: section(z.object({ url: url(['redis', 'rediss'], 'a Redis URL').optional() }).strict()),
        postgres: section(z.object({ url: url(['postgres', 'postgresql'], 'a PostgreSQL connection string').optional() }).strict()),
        leases: section(
          z
            .object({
              connectionTtl: duration.prefault('30s'),
              connectionRenew: duration.prefault('10s'),
              spoolTtl: duration.prefault('30s'),
              spoolRenew: duration.prefault('5s'),
            })
            .strict(),
        ),
        adoptSpools: z.array(filePath).default([]),
      })
      .strict(),
  ),
  // Where the running configuration comes from: this file, or the newest pushed version in
  // PostgreSQL (src/cluster/config-source.ts; the local file then keeps the bootstrap keys).
  config: section(
    z
      .object({ source: z.enum(CONFIG_SOURCES).default('file').describe('file: this file is the whole config; postgres: the newest version pushed with `sluice config push`, with the config, cluster and spool keys of this file (and any other key set here) laid over it.') })
      .strict(),
  ),
};

export interface ClusterLeases {
  readonly connectionTtlMs: number;
  readonly connectionRenewMs: number;
  readonly spoolTtlMs: number;
  readonly spoolRenewMs: number;
}

/** This section's part of the frozen runtime Model. */
export interface ClusterModel {
  readonly cluster: {
    readonly enabled: boolean;
    /** The host name unless set (set it when replicas share a host). */
    readonly nodeId: string;
    readonly redisUrl: string | null;
    readonly postgresUrl: string | null;
    readonly leases: ClusterLeases;
    /** Absolute paths of other replicas' spools this one may adopt. */
    readonly adoptSpools: readonly string[];
  };
  readonly config: { readonly source: ConfigSourceKind };
}

/** A host name may hold characters a node id may not (an FQDN is fine; anything else becomes '-'). */
export const defaultNodeId = (): string => hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 63) || 'sluice';

export function compileCluster(config: Config, report: Report, _warn: Report): ClusterModel {
  const c = config.cluster;
  const leases = c.leases;
  if (leases.connectionRenew >= leases.connectionTtl) report(['cluster', 'leases', 'connectionRenew'], 'a connection lease must be renewed before it expires: connectionRenew must be shorter than connectionTtl');
  if (leases.spoolRenew >= leases.spoolTtl) report(['cluster', 'leases', 'spoolRenew'], 'a spool lease must be renewed before it expires: spoolRenew must be shorter than spoolTtl');
  if (config.config.source === 'postgres' && !(c.enabled && c.postgres.url)) {
    report(['config', 'source'], 'config.source: postgres needs cluster.enabled: true and cluster.postgres.url in the local file');
  }
  if (c.enabled && !c.redis.url && !c.postgres.url) report(['cluster', 'enabled'], 'cluster mode needs cluster.redis.url, cluster.postgres.url or both');
  const spoolDir = path.resolve(config.spool.dir);
  c.adoptSpools.forEach((p, i) => {
    if (path.resolve(p) === spoolDir) report(['cluster', 'adoptSpools', i], `"${p}" is this replica's own spool (spool.dir)`);
  });
  return {
    cluster: {
      enabled: c.enabled,
      nodeId: c.nodeId ?? defaultNodeId(),
      redisUrl: c.redis.url ?? null,
      postgresUrl: c.postgres.url ?? null,
      leases: { connectionTtlMs: leases.connectionTtl, connectionRenewMs: leases.connectionRenew, spoolTtlMs: leases.spoolTtl, spoolRenewMs: leases.spoolRenew },
      adoptSpools: c.adoptSpools.map((p) => path.resolve(p)),
    },
    config: { source: config.config.source },
  };
}

/** The model part when every key is left out (for hand-built test models). */
export const CLUSTER_DEFAULTS: ClusterModel = {
  cluster: {
    enabled: false,
    nodeId: defaultNodeId(),
    redisUrl: null,
    postgresUrl: null,
    leases: { connectionTtlMs: 30_000, connectionRenewMs: 10_000, spoolTtlMs: 30_000, spoolRenewMs: 5_000 },
    adoptSpools: [],
  },
  config: { source: 'file' },
};
