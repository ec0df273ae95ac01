// Composition root of the running gateway: loads the config, builds the shell (spool, queue
// manager, deliverer, listener), wires hot reload (file watch + SIGHUP) and graceful stop.
import type { Model } from './domain/model.js';
import { ensureDevCertificates } from './certs/dev-certs.js';
import { checkServerTls } from './certs/check-tls.js';
import { createLogger, type Logger } from './observe/log.js';
import { FileSpool } from './queue/file-spool.js';
import { QueueManager } from './queue/scheduler.js';
import { Deliverer } from './delivery/deliver.js';
import { Pools } from './delivery/pools.js';
import { makeResolver } from './delivery/hosts.js';
import { Listener } from './listener/server.js';
import { ControlServer } from './queue/control.js';
import { Pipeline } from './filters/pipeline.js';
import type { FilterFactory } from './filters/contract.js';
import { Quarantine } from './queue/quarantine.js';
import { routeOf } from './routing/route-of.js';
import { status } from './observe/status.js';
import { noteReload } from './observe/metrics.js';
import { startSinks } from './observe/sinks.js';
import { AdminServer } from './admin/server.js';
import { LiveReload, type ReloadOutcome } from './live-reload.js';
import { liveConnectorState, type LiveConnectorState } from './delivery/live-state.js';
import { startCluster } from './cluster/cluster.js';
import { openConfigSource } from './cluster/config-source.js';
import { spoolLeases } from './cluster/lease-daemon.js';
import type { SluiceError } from './domain/errors.js';
import { PgQuarantine } from './cluster/pg-quarantine.js';
/** How long a stop waits for deliveries in flight before it cuts them (they are deferred, not lost). */
const STOP_GRACE_MS = 10_000;

export interface Daemon {
  model(): Model;
  reload(): Promise<ReloadOutcome>;
  stop(): Promise<void>;
  readonly addresses: { host: string; port: number }[];
  /** Resolves if the daemon stopped itself: its spool was adopted by another replica (E_SPOOL_ADOPTED). */
  readonly fenced: Promise<SluiceError>;
}

export interface DaemonOptions {
  /** Test-only hook: the filters' factories instead of the registry's (filters/registry.ts). */
  filterFactories?: readonly FilterFactory[];
  /** Test-only: the quarantine's clock and sweep interval (retention tests without waiting days). */
  quarantineClock?: () => number;
  quarantineSweepMs?: number;
}

export async function startDaemon(configFile: string, log: Logger = createLogger(), opts: DaemonOptions = {}): Promise<Daemon> {
  // A warning never stops a config; it is logged at every (re)load like `sluice check` prints it.
  // The config file, or with config.source: postgres the newest pushed version under it.
  const source = await openConfigSource(configFile, log);
  const loadConfigFile = async (): Promise<Model> => {
    const { model, warnings } = await source.load();
    for (const w of warnings) log.warn({ stage: 'config', file: w.file, line: w.line, path: w.path }, `config warning: ${w.message}`);
    return model;
  };
  // Start order: everything that can fail (config, TLS files, the spool lock, recovery, the
  // listening sockets) comes before the first delivery; a failure undoes what was started.
  const closingSource = <T>(step: Promise<T>): Promise<T> =>
    step.catch(async (err: unknown) => {
      await source.close();
      throw err;
    });
  let model = await closingSource(loadConfigFile());
  const { tls } = model.server;
  if (tls.generateDevCertificates) {
    const ca = tls.clientCa[0] ?? tls.cert.replace(/[^/]*$/, 'ca.crt');
    if (await ensureDevCertificates({ cert: tls.cert, key: tls.key, ca }, model.server.hostname)) {
      log.warn({ stage: 'start', cert: tls.cert, ca }, 'generated development certificates (generateDevCertificates: true)');
    }
  }
  await closingSource(checkServerTls(model.server.tls));
  let resolver = makeResolver(model);
  const getModel = () => model;
  const spool = new FileSpool(model.spool.dir, log, { journal: model.spool.journal });
  // Null unless cluster.enabled; an unreachable engine does not stop the start (it degrades).
  const cluster = await closingSource(startCluster(model, log));
  const pools = new Pools(() => model.server.hostname, log, () => model.delivery.timeouts, cluster?.slots ?? null);
  const deliverer = new Deliverer(pools, getModel, () => resolver, log, cluster?.hostMarks ?? null);
  const queue = new QueueManager(spool, deliverer, getModel, log);
  // Spool ownership (cluster.postgres): the node id and the lease come before the lock (a spool
  // adopted by another replica is refused by name, not as "locked"), the lease before recovery.
  let fence: (err: SluiceError) => void = () => undefined;
  const fenced = new Promise<SluiceError>((resolve) => (fence = resolve));
  // Fenced: another replica holds a newer epoch of this spool; delivering on would send twice.
  const lost = (err: SluiceError) => {
    void queue.stop();
    void stop().finally(() => fence(err));
  };
  const leases = cluster?.pg ? spoolLeases(cluster.pg, model, log, { deliverer, getModel, pools, queue, onLost: (err) => lost(err) }) : null;
  try {
    await leases?.precheck();
    await spool.open(); // the lock: a second daemon on this spool stops here (E_SPOOL_LOCKED)
    try {
      await leases?.claimHome();
    } catch (err) {
      await spool.close();
      throw err;
    }
  } catch (err) {
    await leases?.stop(); // its registry row: a failed start must not hold the node id
    await cluster?.stop();
    await source.close();
    throw err;
  }
  status.spoolLocked = true;
  status.config = { source: model.source, loadedAt: Date.now() };
  const pipeline = new Pipeline({ getModel, log, ...(opts.filterFactories ? { factories: opts.filterFactories } : {}) });
  const listener = new Listener({ getModel, spool, log, onQueued: (r) => queue.enqueue(r), pipeline, inboundCounts: cluster?.inboundCounts ?? null });
  const quarantine = new Quarantine({
    spool,
    log,
    routeOf: (address) => routeOf(model, address),
    enqueue: (r) => queue.enqueue(r),
    shared: cluster?.pg ? new PgQuarantine({ pool: cluster.pg, nodeId: cluster.nodeId, state: cluster.pgState }) : null,
    ...(opts.quarantineClock ? { now: opts.quarantineClock } : {}),
  });
  const started = model;
  const reloader = new LiveReload({
    configFile,
    load: loadConfigFile,
    started,
    getModel,
    setModel: (next) => {
      model = next;
      resolver = makeResolver(model);
      void source.applied(next);
    },
    listener,
    pools,
    log,
  });
  const control = new ControlServer(spool, queue, log, quarantine, {
    reload: () => reloader.reload(),
    connectors: async (): Promise<LiveConnectorState> => liveConnectorState(pools, deliverer),
  });
  const sinks = await startSinks(getModel, log, () => [...queue.depth(), ...(leases?.adoptedDepth() ?? [])], cluster);
  const admin = new AdminServer({ ...model.admin.listen, token: model.admin.token, spoolDir: () => model.spool.dir, traceEnabled: () => model.trace.enabled, log });
  let addresses: { host: string; port: number }[];
  try {
    await admin.start();
    // Recover before accepting: a message committed during recovery would otherwise be seen twice.
    await queue.recover();
    status.spoolLocked = true;
    // While recovery runs the queue tools find no socket but the lock, and say the daemon is starting.
    await control.listen();
    control.open();
    addresses = await listener.start();
    status.listening = true;
  } catch (err) {
    await listener.stop().catch(() => undefined);
    await admin.stop();
    await sinks.stop();
    await queue.stop();
    await leases?.stop();
    await control.close();
    pools.closeAll();
    await cluster?.stop();
    await source.close();
    await spool.close();
    status.spoolLocked = false;
    throw err;
  }
  queue.start();
  leases?.start();
  quarantine.start(opts.quarantineSweepMs);
  status.listening = true;
  log.info({ stage: 'start', config: model.source, listen: addresses, spool: model.spool.dir }, 'sluice started');
  reloader.rewatch(model);
  await source.applied(model);
  source.watch(() => void reloader.reload());

  let stopping: Promise<void> | null = null;
  const stop = () => (stopping ??= stopOnce());
  async function stopOnce(): Promise<void> {
    reloader.close();
    status.draining = true;
    const drainMs = model.server.drainTimeoutMs;
    log.info({ stage: 'stop', drainTimeoutMs: drainMs }, 'draining: new sessions get 421 4.3.2, sessions in flight may finish');
    const drained = await listener.drain(drainMs);
    status.listening = false;
    log.info({ stage: 'stop', finished: drained.finished, cut: drained.cut }, drained.finished ? 'every session finished' : 'drain timeout: sessions left were closed with 421 4.3.2');
    // Deliveries in flight record their state; one stuck on a silent peer is cut after a grace.
    const draining = Promise.all([queue.stop(), leases?.stop()]);
    let grace: NodeJS.Timeout | undefined;
    const late = await Promise.race([draining.then(() => false), new Promise<boolean>((r) => (grace = setTimeout(() => r(true), STOP_GRACE_MS)))]);
    clearTimeout(grace);
    if (late) {
      log.warn({ stage: 'stop', graceMs: STOP_GRACE_MS }, 'cutting deliveries still in flight; their messages stay queued');
      pools.abortAll();
      await draining;
    }
    await control.close();
    await quarantine.stop();
    pools.closeAll();
    await admin.stop();
    await sinks.stop();
    await cluster?.stop();
    await source.close();
    await spool.close();
    status.spoolLocked = false;
    log.info({ stage: 'stop' }, 'stopped; spool kept');
  }
  return {
    model: getModel,
    reload: () => reloader.reload(),
    stop,
    fenced,
    // Live: a reload may have opened or retired listen addresses.
    get addresses() {
      return listener.addresses();
    },
  };
}
