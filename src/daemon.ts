// Composition root of the running gateway: loads the config, builds the shell (spool, queue
// manager, deliverer, listener), wires hot reload (file watch + SIGHUP) and graceful stop.
import { watch, type FSWatcher } from 'node:fs';
import type { Model } from './domain/model.js';
import { loadConfigFile, ConfigError, formatIssues } from './config/load.js';
import { ensureDevCertificates } from './certs/dev-certs.js';
import { createLogger, type Logger } from './observe/log.js';
import { FileSpool } from './queue/file-spool.js';
import { QueueManager } from './queue/scheduler.js';
import { Deliverer } from './delivery/deliver.js';
import { Pools } from './delivery/pools.js';
import { makeResolver } from './delivery/hosts.js';
import { Listener } from './listener/server.js';
import { ControlServer } from './queue/control.js';

const RELOAD_DEBOUNCE_MS = 200;
/** How long a stop waits for deliveries in flight before it cuts them (they are deferred, not lost). */
const STOP_GRACE_MS = 10_000;

export interface Daemon {
  model(): Model;
  reload(): Promise<boolean>;
  stop(): Promise<void>;
  addresses: { host: string; port: number }[];
}

export async function startDaemon(configFile: string, log: Logger = createLogger()): Promise<Daemon> {
  let model = await loadConfigFile(configFile);
  const { tls } = model.server;
  if (tls.generateDevCertificates) {
    const ca = tls.clientCa[0] ?? tls.cert.replace(/[^/]*$/, 'ca.crt');
    if (await ensureDevCertificates({ cert: tls.cert, key: tls.key, ca }, model.server.hostname)) {
      log.warn({ stage: 'start', cert: tls.cert, ca }, 'generated development certificates (generateDevCertificates: true)');
    }
  }
  let resolver = makeResolver(model);
  const getModel = () => model;
  const spool = new FileSpool(model.spool.dir, log);
  await spool.open();
  const pools = new Pools(() => model.server.hostname, log, () => model.delivery.timeouts);
  const queue = new QueueManager(spool, new Deliverer(pools, getModel, () => resolver, log), getModel, log);
  const listener = new Listener({ getModel, spool, log, onQueued: (r) => queue.enqueue(r) });
  // Queue tools' socket: listening before recovery so they never think no daemon runs; answers after.
  const control = new ControlServer(spool, queue, log);
  await control.listen();
  // Recover before accepting: a message committed during recovery would otherwise be seen twice.
  await queue.recover();
  control.open();
  const addresses = await listener.start();
  log.info({ stage: 'start', config: model.source, listen: addresses, spool: model.spool.dir }, 'sluice started');

  const reload = async (): Promise<boolean> => {
    try {
      const next = await loadConfigFile(configFile);
      if (JSON.stringify(next.server.listen) !== JSON.stringify(model.server.listen) || next.spool.dir !== model.spool.dir) {
        log.warn({ stage: 'reload' }, 'listen addresses and spool.dir changes take effect at the next restart');
      }
      model = next;
      resolver = makeResolver(model);
      log.info({ stage: 'reload', config: model.source }, 'configuration reloaded');
      return true;
    } catch (err) {
      const detail = err instanceof ConfigError ? formatIssues(err.issues) : (err as Error).message;
      log.error({ stage: 'reload', code: 'E_CONFIG', errors: detail }, 'configuration rejected; keeping the running one');
      return false;
    }
  };
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    // Editors replace the file (rename), so watch and debounce rather than trust one event.
    watcher = watch(configFile, () => {
      clearTimeout(timer);
      timer = setTimeout(() => void reload(), RELOAD_DEBOUNCE_MS);
    });
  } catch {
    log.warn({ stage: 'start' }, 'cannot watch the config file; use SIGHUP to reload');
  }

  const stop = async () => {
    watcher?.close();
    clearTimeout(timer);
    log.info({ stage: 'stop' }, 'stopping: no new sessions, finishing those in flight');
    await listener.stop();
    // Deliveries in flight record their state; one stuck on a silent peer is cut after a grace.
    const draining = queue.stop();
    let grace: NodeJS.Timeout | undefined;
    const late = await Promise.race([draining.then(() => false), new Promise<boolean>((r) => (grace = setTimeout(() => r(true), STOP_GRACE_MS)))]);
    clearTimeout(grace);
    if (late) {
      log.warn({ stage: 'stop', graceMs: STOP_GRACE_MS }, 'cutting deliveries still in flight; their messages stay queued');
      pools.abortAll();
      await draining;
    }
    await control.close();
    pools.closeAll();
    log.info({ stage: 'stop' }, 'stopped; spool kept');
  };
  return { model: getModel, reload, stop, addresses };
}
