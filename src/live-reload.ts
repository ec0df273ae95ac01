// Live reload of the running daemon: a config edit (file watch, SIGHUP, `sluice reload`) or a
// renewed certificate file. A reload loads and checks the whole file and every TLS file before
// anything changes; then the model is swapped (read live by every stage), the listener gets the
// new certificates and listen addresses, outbound pools rebuild their TLS options. What cannot
// apply before a restart is named in the log and in status.pendingRestart.
import path from 'node:path';
import type { Model } from './domain/model.js';
import { ConfigError, formatIssues } from './config/load.js';
import { checkServerTls } from './certs/check-tls.js';
import { changedPaths, pendingRestart } from './config/reload-diff.js';
import { noteReload } from './observe/metrics.js';
import { watchFiles, type FileWatch } from './config/watch-files.js';
import { formatTlsIssue } from './config/tls-issue.js';
import { status } from './observe/status.js';
import type { Logger } from './observe/log.js';
import type { Listener, ListenChange } from './listener/server.js';
import type { Pools } from './delivery/pools.js';

const WATCH_DEBOUNCE_MS = 200;

export type ReloadOutcome =
  | { ok: true; changed: string[]; pendingRestart: string[]; listen: ListenChange }
  | { ok: false; errors: string };

export interface ReloadDeps {
  configFile: string;
  load: (file: string) => Promise<Model>;
  started: Model;
  getModel: () => Model;
  setModel: (m: Model) => void;
  listener: Listener;
  pools: Pools;
  log: Logger;
}

/** Every TLS file the daemon reads: the listener's, and each outbound connector's client cert and CAs. */
export function tlsFiles(model: Model): string[] {
  const { tls } = model.server;
  const out = [tls.cert, tls.key, ...tls.clientCa];
  for (const c of model.outboundConnectors) out.push(...c.tlsCa, ...(c.tlsCert ? [c.tlsCert] : []), ...(c.tlsKey ? [c.tlsKey] : []));
  return [...new Set(out)];
}

export class LiveReload {
  private watch: FileWatch | null = null;
  /** Reloads run one at a time: a SIGHUP during a file-watch reload waits for it. */
  private chain: Promise<unknown> = Promise.resolve();
  /** Set at stop: a SIGHUP during the drain must not open listen addresses again. */
  private closed = false;

  constructor(private readonly d: ReloadDeps) {
    status.config = { source: d.started.source, loadedAt: Date.now() };
  }

  reload(): Promise<ReloadOutcome> {
    // An unexpected failure is a failed reload too: logged and in status, never a silent one.
    const run = this.chain.then(() => this.reloadNow()).catch((err: Error) => this.fail(`${this.d.configFile}: reload failed: ${err.message}`));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private fail(errors: string): ReloadOutcome {
    status.reloadFailure = { at: Date.now(), errors };
    noteReload(false);
    this.d.log.error({ stage: 'reload', code: 'E_CONFIG', errors }, 'configuration rejected; keeping the running one');
    return { ok: false, errors };
  }

  private async reloadNow(): Promise<ReloadOutcome> {
    const { log } = this.d;
    if (this.closed) return { ok: false, errors: 'the daemon is stopping; nothing was reloaded' };
    let next: Model;
    try {
      next = await this.d.load(this.d.configFile);
    } catch (err) {
      if (err instanceof ConfigError) return this.fail(formatIssues(err.issues));
      return this.fail(`${this.d.configFile}: ${(err as Error).message}`);
    }
    try {
      await checkServerTls(next.server.tls);
    } catch (err) {
      return this.fail(await formatTlsIssue(this.d.configFile, next.server.tls, (err as Error).message));
    }
    const prev = this.d.getModel();
    const changed = changedPaths(prev, next);
    this.d.setModel(next);
    let listen: ListenChange;
    try {
      listen = await this.d.listener.apply(next);
    } catch (err) {
      // checkServerTls passed a moment ago; a file replaced in between is retried by the watch.
      log.error({ stage: 'reload', err: (err as Error).message }, 'listener kept its previous certificate');
      listen = { opened: [], retiring: [], failed: [] };
    }
    this.d.pools.refreshTls();
    this.rewatch(next);
    const pending = pendingRestart(this.d.started, next);
    status.pendingRestart = pending;
    status.reloadFailure = null;
    noteReload(true);
    status.config = { source: next.source, loadedAt: Date.now() };
    for (const f of listen.failed) log.error({ stage: 'reload', address: f.address, err: f.error }, 'cannot listen on a new address');
    if (pending.length) log.warn({ stage: 'reload', pendingRestart: pending }, `these settings apply at the next restart: ${pending.join(', ')}`);
    log.info(
      { stage: 'reload', config: next.source, changed, pendingRestart: pending, listen: { opened: listen.opened, retiring: listen.retiring } },
      'configuration reloaded',
    );
    return { ok: true, changed, pendingRestart: pending, listen };
  }

  /** Renewed certificate files with an unchanged config: only the TLS contexts are rebuilt. */
  private refreshTls(files: string[]): void {
    const model = this.d.getModel();
    try {
      this.d.listener.refreshTls(model);
      this.d.pools.refreshTls();
      this.d.log.info({ stage: 'tls', files }, 'certificate files reloaded');
    } catch (err) {
      // A renewal caught half-written: the next change event (the rest of the write) retries.
      this.d.log.error({ stage: 'tls', files, err: (err as Error).message }, 'certificate files unusable; keeping the previous ones');
    }
  }

  /** Watches the config file and every TLS file of `model`; call again after each reload. */
  rewatch(model: Model): void {
    this.watch?.close();
    const cert = new Set(tlsFiles(model).map((f) => path.resolve(f)));
    this.watch = watchFiles([this.d.configFile, ...cert], WATCH_DEBOUNCE_MS, (changed) => {
      const config = path.resolve(this.d.configFile);
      if (changed.some((f) => f === config || !cert.has(f))) void this.reload();
      else this.refreshTls(changed);
    });
    for (const dir of this.watch.failed) this.d.log.warn({ stage: 'start', dir }, 'cannot watch this directory for changes; use SIGHUP to reload');
  }

  close(): void {
    this.closed = true;
    this.watch?.close();
    this.watch = null;
  }
}
