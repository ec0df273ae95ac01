// Pure rules of `config.source: postgres` (issue 13): how a replica's local file and a pushed
// version make one configuration, which version a replica runs, and the last good copy's format.
//
// The rule: a pushed version is a whole config. The local file is laid over it: its mappings
// merge key by key, anything else it sets (a scalar, a list) replaces the pushed value. The
// bootstrap keys `config`, `cluster` and `spool` always come from the local file alone (pushed
// ones are dropped), so a replica always knows how to reach the database and where its own spool
// and last good copy are, whatever was pushed.
import { createHash } from 'node:crypto';
import type { KeyPath } from '../config/compile.js';

export const BOOTSTRAP_KEYS: readonly string[] = ['config', 'cluster', 'spool'];

type Mapping = Record<string, unknown>;
const isMapping = (v: unknown): v is Mapping => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Whether a parsed local file asks for its configuration from PostgreSQL. */
export function isPostgresSource(raw: unknown): boolean {
  return isMapping(raw) && isMapping(raw.config) && raw.config.source === 'postgres';
}

/** The cluster.postgres.url a parsed local file names, if any (checked properly by the schema later). */
export function postgresUrlOf(raw: unknown): string | null {
  if (!isMapping(raw) || !isMapping(raw.cluster) || !isMapping(raw.cluster.postgres)) return null;
  const url = raw.cluster.postgres.url;
  return typeof url === 'string' && url.trim() ? url.trim() : null;
}

function overlay(base: unknown, over: unknown): unknown {
  if (!isMapping(base) || !isMapping(over)) return structuredClone(over);
  const out: Mapping = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? overlay(base[k], v) : structuredClone(v);
  return out;
}

/** The configuration a replica runs: the pushed document without its bootstrap keys, the local file over it. */
export function layerConfig(pushed: unknown, local: unknown): unknown {
  const base: Mapping = isMapping(pushed) ? { ...pushed } : {};
  for (const k of BOOTSTRAP_KEYS) delete base[k];
  return isMapping(local) ? overlay(base, local) : base;
}

/**
 * Whether the value at `path` of the layered config comes from the local file (so an issue there
 * is located in it): the local file sets that path, or a scalar or list on the way to it.
 */
export function fromLocal(local: unknown, path: KeyPath): boolean {
  if (path.length > 0 && BOOTSTRAP_KEYS.includes(String(path[0]))) return true;
  let v: unknown = local;
  for (const seg of path) {
    if (!isMapping(v)) return v !== undefined && v !== local;
    if (!(String(seg) in v)) return false;
    v = v[String(seg)];
  }
  return v !== local;
}

/** Key paths (dotted, up to `depth`) where the local file overrides a pushed value, for the start log. */
export function localOverrides(pushed: unknown, local: unknown, depth = 2): string[] {
  const out: string[] = [];
  const walk = (p: unknown, l: unknown, prefix: string, d: number) => {
    if (!isMapping(l)) return;
    for (const [k, v] of Object.entries(l)) {
      const at = prefix ? `${prefix}.${k}` : k;
      if (!prefix && BOOTSTRAP_KEYS.includes(k)) continue;
      const below = isMapping(p) ? p[k] : undefined;
      if (below === undefined) out.push(`${at} (local only)`);
      else if (isMapping(v) && isMapping(below) && d + 1 < depth) walk(below, v, at, d + 1);
      else out.push(at);
    }
  };
  walk(pushed, local, '', 0);
  return out;
}

/** One stored version: a row of config_versions. */
export interface ConfigVersion {
  readonly id: number;
  readonly createdAt: string;
  readonly pushedBy: string;
  readonly sha256: string;
  readonly yaml: string;
}

export const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** What a `config push` of a valid document does, given the newest stored version. */
export function pushDecision(newest: Pick<ConfigVersion, 'id' | 'sha256'> | null, text: string): { store: true } | { store: false; sameAs: number } {
  return newest && newest.sha256 === sha256(text) ? { store: false, sameAs: newest.id } : { store: true };
}

/** Whether a replica running `running` should load `newest` (any other newest row, older ones too: a deleted bad row rolls back). */
export function shouldApply(running: Pick<ConfigVersion, 'id'> | null, newest: Pick<ConfigVersion, 'id'> | null): boolean {
  return newest !== null && newest.id !== running?.id;
}

export type StartChoice = { use: 'database'; version: ConfigVersion } | { use: 'last-good'; version: ConfigVersion; why: string } | { use: 'none'; why: string };

/**
 * What a replica starts from. `newest` is what the database answered (null: no version stored),
 * or an Error when it could not be reached. The last good copy stands in only for an unreachable
 * database: with the database up and nothing pushed, the cluster has no config yet.
 */
export function chooseStart(newest: ConfigVersion | null | Error, lastGood: ConfigVersion | null): StartChoice {
  if (newest instanceof Error) {
    const why = `PostgreSQL unreachable (${newest.message})`;
    return lastGood ? { use: 'last-good', version: lastGood, why } : { use: 'none', why: `${why} and no last good copy on this replica yet` };
  }
  if (newest) return { use: 'database', version: newest };
  return lastGood
    ? { use: 'last-good', version: lastGood, why: 'no version in config_versions (was the table emptied?)' }
    : { use: 'none', why: 'no configuration pushed yet: run `sluice config push FILE`' };
}

// The last good copy is the pushed YAML as stored, behind a header naming the version: the
// copy stays a valid config file (the header is comments) and the checksum catches a torn copy.
const HEADER = /^# sluice config version (\d+)\n# pushed (\S+) by (.*)\n# sha256 ([0-9a-f]{64})\n/;

export function formatLastGood(v: ConfigVersion): string {
  return `# sluice config version ${v.id}\n# pushed ${v.createdAt} by ${v.pushedBy.replace(/\n/g, ' ')}\n# sha256 ${v.sha256}\n${v.yaml}`;
}

export function parseLastGood(text: string): ConfigVersion | null {
  const m = HEADER.exec(text);
  if (!m) return null;
  const yaml = text.slice(m[0].length);
  if (sha256(yaml) !== m[4]) return null;
  return { id: Number(m[1]), createdAt: m[2]!, pushedBy: m[3]!, sha256: m[4]!, yaml };
}

/** How messages name a stored version instead of a file. */
export const versionName = (v: Pick<ConfigVersion, 'id'>): string => `config version ${v.id}`;
