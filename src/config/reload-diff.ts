// Pure: which settings a reload changed, and which of those only apply at the next restart.
// Everything else in the Model is read live (per session, per message, per delivery), so a
// changed path outside RESTART_ONLY is applied by the reload itself.
import type { Model } from '../domain/model.js';

/**
 * Key paths (as in the YAML) that are read once at start. `admin.listen` belongs to the admin
 * listener (issue 11); a path absent from both models never counts as changed.
 */
export const RESTART_ONLY: readonly string[] = ['spool.dir', 'server.tls.generateDevCertificates', 'admin.listen', 'admin.token', 'trace.path', 'trace.retention', 'trace.enabled', 'config.source'];

const DEPTH = 3;

function at(obj: unknown, dotted: string): unknown {
  let v: unknown = obj;
  for (const seg of dotted.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[seg];
  }
  return v;
}

// IP rules hold bigints, which JSON.stringify refuses.
const text = (v: unknown): string | undefined => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));
const same = (a: unknown, b: unknown): boolean => text(a) === text(b);

/** Paths (up to three levels, "server.limits.maxMessageSize") whose value differs. */
export function changedPaths(prev: Model, next: Model): string[] {
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, prefix: string, depth: number) => {
    if (same(a, b)) return;
    const objects = a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b);
    if (!objects || depth >= DEPTH) return void out.push(prefix);
    const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
    for (const k of keys) walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], prefix ? `${prefix}.${k}` : k, depth + 1);
  };
  walk({ ...prev, source: null }, { ...next, source: null }, '', 0);
  return out;
}

/** Restart-only key paths whose value in `next` differs from the model the daemon started with. */
export function pendingRestart(started: Model, next: Model): string[] {
  return RESTART_ONLY.filter((p) => !same(at(started, p), at(next, p)));
}
