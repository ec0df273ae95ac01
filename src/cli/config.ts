// `sluice config push|show|versions`: the configuration versions of `config.source: postgres`.
// A push validates FILE exactly as `sluice check` does and stores nothing unless it is valid (the
// errors name file, key path and line); the database is reached through the local file's
// cluster.postgres.url (--config), or --url.
import { hostname, userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { ConfigError, formatIssues, loadConfigTextWithWarnings, parseConfigYaml, readConfigText } from '../config/load.js';
import { defaultNodeId } from '../config/sections/cluster.js';
import { BOOTSTRAP_KEYS, postgresUrlOf, pushDecision, sha256 } from '../cluster/config-merge.js';
import { ensureConfigSchema, insertVersion, listVersions, newestVersion, versionById } from '../cluster/config-store.js';
import { openPg } from '../cluster/pg.js';
import { createLogger } from '../observe/log.js';

export const CONFIG_HELP = `Usage: sluice config push FILE [--config LOCAL] [--url URL] [--by NAME] [--json]
       sluice config show [--version N] [--config LOCAL] [--url URL]
       sluice config versions [--config LOCAL] [--url URL] [--json]

  For replicas with config.source: postgres. push validates FILE (a whole config) as
  \`sluice check\` does and, only if it is valid, stores it as a new version; every replica
  applies it through its live reload. Its config, cluster and spool keys are ignored: each
  replica's local file sets them. show prints a stored version (default: the newest);
  versions lists them, newest first.
  The database is LOCAL's cluster.postgres.url (default config/sluice.yaml), or --url.
Exit 0; 1 on an invalid FILE (nothing stored) or an error.
`;

const OPTIONS = {
  // No default: without --config and --url the database is config/sluice.yaml's (databaseUrl).
  config: { type: 'string', short: 'c' },
  url: { type: 'string' },
  by: { type: 'string' },
  version: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const STD_IO: Io = { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t) };

async function databaseUrl(values: { url?: string | undefined; config?: string | undefined }): Promise<string> {
  if (values.url) return values.url;
  const file = values.config ?? 'config/sluice.yaml';
  const url = postgresUrlOf(parseConfigYaml(await readConfigText(file), file).raw);
  if (!url) throw new Error(`${file} sets no cluster.postgres.url (or pass --url)`);
  return url;
}

async function withPool<T>(url: string, run: (pool: pg.Pool) => Promise<T>): Promise<T> {
  const pool = openPg({ url, nodeId: `cli-${defaultNodeId()}`, log: createLogger(), max: 1 });
  try {
    await ensureConfigSchema(pool);
    return await run(pool);
  } finally {
    await pool.end().catch(() => undefined);
  }
}

async function push(file: string, values: { url?: string; config?: string; by?: string; json: boolean }, io: Io): Promise<number> {
  const text = await readConfigText(file);
  // Refused before anything is stored, and before the database is even asked.
  const { warnings } = loadConfigTextWithWarnings(text, file);
  if (warnings.length > 0 && !values.json) io.err(formatIssues(warnings).replace(/^/gm, 'warning: ') + '\n');
  const raw = parseConfigYaml(text, file).raw as Record<string, unknown>;
  const ignored = BOOTSTRAP_KEYS.filter((k) => k in raw);
  if (ignored.length > 0 && !values.json) io.err(`note: replicas ignore ${ignored.join(', ')} in a pushed version (their local file sets them)\n`);
  const pushedBy = values.by ?? `${userInfo().username}@${hostname()}`;
  const result = await withPool(await databaseUrl(values), async (pool) => {
    const decision = pushDecision(await newestVersion(pool), text);
    if (!decision.store) return { stored: false, id: decision.sameAs };
    const v = await insertVersion(pool, { pushedBy, sha256: sha256(text), yaml: text });
    return { stored: true, id: v.id };
  });
  if (values.json) io.out(JSON.stringify({ ok: true, file, ...result, sha256: sha256(text), warnings }) + '\n');
  else if (result.stored) io.out(`stored config version ${result.id} from ${file}; replicas apply it now\n`);
  else io.out(`unchanged: ${file} is config version ${result.id} already; nothing stored\n`);
  return 0;
}

export async function runConfig(argv: string[], io: Io = STD_IO): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS, strict: true });
  } catch (e) {
    io.err(`sluice config: ${(e as Error).message}\n\n${CONFIG_HELP}`);
    return 1;
  }
  const { values, positionals } = parsed;
  const [sub, file, ...extra] = positionals;
  if (values.help) return io.out(CONFIG_HELP), 0;
  const opts = { ...(values.url ? { url: values.url } : {}), ...(values.config ? { config: values.config } : {}) };
  try {
    if (sub === 'push' && file && extra.length === 0) return await push(file, { ...opts, ...(values.by ? { by: values.by } : {}), json: values.json }, io);
    if (sub === 'show' && !file) {
      const id = values.version === undefined ? null : Number(values.version);
      if (id !== null && !Number.isInteger(id)) throw new Error(`--version takes a version number, not "${values.version}"`);
      const v = await withPool(await databaseUrl(opts), (pool) => (id === null ? newestVersion(pool) : versionById(pool, id)));
      if (!v) throw new Error(id === null ? 'no configuration pushed yet' : `there is no config version ${id}`);
      io.out(v.yaml.endsWith('\n') ? v.yaml : `${v.yaml}\n`);
      return 0;
    }
    if (sub === 'versions' && !file) {
      const rows = await withPool(await databaseUrl(opts), (pool) => listVersions(pool));
      if (values.json) io.out(JSON.stringify(rows) + '\n');
      else io.out(['ID\tPUSHED AT\tBY\tSHA256', ...rows.map((r) => `${r.id}\t${r.createdAt}\t${r.pushedBy}\t${r.sha256.slice(0, 12)}`)].join('\n') + '\n');
      return 0;
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      if (values.json) io.out(JSON.stringify({ ok: false, file, issues: err.issues }) + '\n');
      else io.err(`${formatIssues(err.issues)}\nrefused: nothing stored\n`);
      return 1;
    }
    io.err(`sluice config: ${(err as Error).message}\n`);
    return 1;
  }
  io.err(`sluice config: expected push FILE, show or versions\n\n${CONFIG_HELP}`);
  return 1;
}
