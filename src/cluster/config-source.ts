// Where the daemon's configuration comes from (issue 13): the config file, as always, or with
// `config.source: postgres` the newest row of config_versions with the local file laid over it.
// A new version is announced by NOTIFY and applied through the live reload (validated first;
// refused and logged if it does not compile on this replica, the running config kept). Each
// applied version is kept on disk as the last good copy, which a replica starts from while the
// database is unreachable; the outage is one log line and a /readyz detail (EngineState).
import pg from 'pg';
import { ConfigError, formatIssues, loadConfigFileWithWarnings, parseConfigYaml, readConfigText, type LoadedConfig, type ParsedYaml } from '../config/load.js';
import { defaultNodeId } from '../config/sections/cluster.js';
import { SluiceError } from '../domain/errors.js';
import { checkServerTls } from '../certs/check-tls.js';
import type { Model } from '../domain/model.js';
import type { Logger } from '../observe/log.js';
import { status } from '../observe/status.js';
import { chooseStart, isPostgresSource, localOverrides, postgresUrlOf, shouldApply, versionName, type ConfigVersion } from './config-merge.js';
import { lastGoodPath, loadLayered, readLastGood, writeLastGood } from './config-layered.js';
import { CONFIG_CHANNEL, ensureConfigSchema, newestVersion } from './config-store.js';
import { EngineState } from './engine-state.js';
import { openPg } from './pg.js';

/** How often the notification connection is retried while the database is away. */
const RECONNECT_MS = 2_000;

export interface ConfigSource {
  readonly kind: 'file' | 'postgres';
  /** The configuration to run, at start and at every reload. */
  load(): Promise<LoadedConfig>;
  /** The daemon now runs `model` (started or reloaded onto it): a pushed version becomes the last good copy. */
  applied(model: Model): Promise<void>;
  /** Calls `onChange` when a new version may be there (a NOTIFY, or the database back after an outage). */
  watch(onChange: () => void): void;
  close(): Promise<void>;
}

async function readLocal(file: string): Promise<ParsedYaml | null> {
  try {
    return parseConfigYaml(await readConfigText(file), file);
  } catch {
    return null; // the file source's load reports it, with file and line
  }
}

export async function openConfigSource(file: string, log: Logger): Promise<ConfigSource> {
  const local = await readLocal(file);
  if (!local || !isPostgresSource(local.raw)) {
    return { kind: 'file', load: () => loadConfigFileWithWarnings(file), applied: async () => undefined, watch: () => undefined, close: async () => undefined };
  }
  const url = postgresUrlOf(local.raw);
  if (!url) throw new ConfigError(local.locate([{ path: ['config', 'source'], message: 'config.source: postgres needs cluster.postgres.url in this file' }]));
  return new PostgresSource(file, url, local, log);
}

class PostgresSource implements ConfigSource {
  readonly kind = 'postgres';
  private readonly pool: pg.Pool;
  private readonly engine: EngineState;
  private readonly lastGoodFile: string;
  private schemaReady = false;
  /** The version the daemon runs (null before the first load). */
  private running: ConfigVersion | null = null;
  private readonly loaded = new WeakMap<Model, ConfigVersion>();
  private listener: pg.Client | null = null;
  private retry: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly file: string,
    private readonly url: string,
    local: ParsedYaml,
    private readonly log: Logger,
  ) {
    const nodeId = (local.raw as { cluster?: { nodeId?: unknown } }).cluster?.nodeId;
    this.pool = openPg({ url, nodeId: typeof nodeId === 'string' ? nodeId : defaultNodeId(), log, max: 2 });
    this.lastGoodFile = lastGoodPath(local.raw);
    this.engine = new EngineState('postgres', log, `running the last good config copy (${this.lastGoodFile}); new versions apply when it returns`);
  }

  private async newest(): Promise<ConfigVersion | null> {
    if (!this.schemaReady) await ensureConfigSchema(this.pool);
    this.schemaReady = true;
    return newestVersion(this.pool);
  }

  private async fetch(): Promise<ConfigVersion | null | Error> {
    try {
      const v = await this.newest();
      this.engine.markUp();
      return v;
    } catch (err) {
      this.engine.markDown(err);
      return err as Error;
    }
  }

  async load(): Promise<LoadedConfig> {
    const local = parseConfigYaml(await readConfigText(this.file), this.file);
    const newest = await this.fetch();
    if (this.running) {
      // A reload: while the database is away, the local file is laid over the version running.
      const v = newest instanceof Error || newest === null ? this.running : newest;
      return this.remember(loadLayered(local, this.file, v), v);
    }
    return this.loadAtStart(local, newest);
  }

  private async loadAtStart(local: ParsedYaml, newest: ConfigVersion | null | Error): Promise<LoadedConfig> {
    const lastGood = await readLastGood(this.lastGoodFile);
    const choice = chooseStart(newest, lastGood);
    if (choice.use === 'none') throw new SluiceError('E_CONFIG_UNAVAILABLE', `no configuration to start from: ${choice.why}`);
    if (choice.use === 'last-good') this.log.warn({ stage: 'config', code: 'E_CONFIG_LAST_GOOD', version: choice.version.id, file: this.lastGoodFile }, `starting from the last good copy of ${versionName(choice.version)}: ${choice.why}`);
    try {
      const loaded = await this.runnable(local, choice.version);
      const overrides = localOverrides(parseConfigYaml(choice.version.yaml, versionName(choice.version)).raw, local.raw);
      if (overrides.length) this.log.info({ stage: 'config', file: this.file, overrides }, `the local file overrides pushed keys: ${overrides.join(', ')}`);
      return loaded;
    } catch (err) {
      // A pushed version this replica cannot run must not keep it down while its last good copy can.
      const errors = err instanceof ConfigError ? formatIssues(err.issues) : err instanceof SluiceError && err.code.startsWith('E_TLS') ? err.message : null;
      if (errors === null || !lastGood || lastGood.id === choice.version.id) throw err;
      this.log.error({ stage: 'config', code: 'E_CONFIG', version: choice.version.id, errors }, `${versionName(choice.version)} does not load on this replica; starting from the last good copy of ${versionName(lastGood)}`);
      status.reloadFailure = { at: Date.now(), errors };
      return this.remember(loadLayered(local, this.file, lastGood), lastGood);
    }
  }

  /** At start, what a reload checks too: the certificate files (unless the daemon is to generate them). */
  private async runnable(local: ParsedYaml, v: ConfigVersion): Promise<LoadedConfig> {
    const loaded = loadLayered(local, this.file, v);
    if (!loaded.model.server.tls.generateDevCertificates) await checkServerTls(loaded.model.server.tls);
    return this.remember(loaded, v);
  }

  private remember(loaded: LoadedConfig, v: ConfigVersion): LoadedConfig {
    this.loaded.set(loaded.model, v);
    return loaded;
  }

  async applied(model: Model): Promise<void> {
    const v = this.loaded.get(model);
    if (!v) return;
    const first = this.running === null;
    const changed = this.running?.id !== v.id;
    this.running = v;
    if (changed) this.log.info({ stage: 'config', version: v.id, pushedBy: v.pushedBy, sha256: v.sha256 }, `running ${versionName(v)}`);
    // At start the copy may already be this version; rewriting it costs one fsync and proves the disk.
    if (!changed && !first) return;
    try {
      await writeLastGood(this.lastGoodFile, v);
    } catch (err) {
      this.log.error({ stage: 'config', file: this.lastGoodFile, err: (err as Error).message }, 'cannot write the last good config copy');
    }
  }

  watch(onChange: () => void): void {
    void this.listen(onChange);
  }

  /** One connection LISTENs; when it is lost the engine is down until it connects again. */
  private async listen(onChange: () => void): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 2_000 });
    let lost = false;
    const onLost = (err: unknown) => {
      if (lost) return;
      lost = true;
      if (this.listener === client) this.listener = null;
      client.end().catch(() => undefined);
      if (this.closed) return;
      this.engine.markDown(err);
      this.log.debug({ stage: 'config', err: (err as Error).message, retryMs: RECONNECT_MS }, 'config notifications: cannot connect; retrying');
      this.retry = setTimeout(() => void this.listen(onChange), RECONNECT_MS);
    };
    client.on('error', onLost);
    client.on('end', () => onLost(new Error('connection closed')));
    client.on('notification', (n) => {
      if (n.channel === CONFIG_CHANNEL && Number(n.payload) !== this.running?.id) onChange();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CONFIG_CHANNEL}`);
      if (this.closed) return void (await client.end());
      this.listener = client;
      // What was pushed while nobody listened (before start, or during an outage) applies now.
      const newest = await this.fetch();
      if (!(newest instanceof Error) && shouldApply(this.running, newest)) onChange();
    } catch (err) {
      onLost(err);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    await this.listener?.end().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }
}
