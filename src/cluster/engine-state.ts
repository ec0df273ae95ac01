// The state of one shared engine (Redis, PostgreSQL) as this replica sees it. An outage is
// logged once when it starts and once when it ends, never per message; the state is a metric
// (sluice_cluster_engine_up) and a line in /readyz detail, which stays 200 while degraded:
// cluster mode must never make a replica less available than a single node.
import client from 'prom-client';
import type { Logger } from '../observe/log.js';
import { metricsRegistry } from '../observe/metrics.js';
import { status } from '../observe/status.js';

export type EngineName = 'redis' | 'postgres';

const engineUp = new client.Gauge({
  name: 'sluice_cluster_engine_up',
  help: 'Whether this replica reaches the cluster engine (1) or runs on its local fallback (0)',
  labelNames: ['engine'],
  registers: [metricsRegistry],
});

let instances = 0;
/**
 * Which watchers of each engine see it down now. Several parts of a replica watch the same engine
 * (the config source's LISTEN connection, the trace outbox, the spool lease): the outage is one
 * log line when the first of them loses it and one when the last gets it back, and the metric
 * says down while any of them is on its fallback.
 */
// Per log stream, i.e. per daemon: tests run several replicas in one process, each with its logger.
const downWatchers = new WeakMap<Logger, Map<EngineName, Set<string>>>();
const watchersDown = (log: Logger, engine: EngineName): Set<string> => {
  let byEngine = downWatchers.get(log);
  if (!byEngine) downWatchers.set(log, (byEngine = new Map()));
  let set = byEngine.get(engine);
  if (!set) byEngine.set(engine, (set = new Set()));
  return set;
};

export class EngineState {
  private isUp: boolean | null = null;
  private since = Date.now();
  /** Several parts of a replica watch the same engine (config source, trace outbox…): one /readyz line each. */
  private readonly key: string;

  constructor(
    readonly engine: EngineName,
    private readonly log: Logger,
    /** What this replica does while the engine is away, for the log line and /readyz. */
    private readonly fallback: string,
  ) {
    this.key = `${engine}#${++instances}`;
  }

  get up(): boolean {
    return this.isUp === true;
  }

  markUp(): void {
    if (this.isUp === true) return;
    const was = this.isUp;
    this.isUp = true;
    this.since = Date.now();
    delete status.clusterDegraded[this.key];
    const down = watchersDown(this.log, this.engine);
    const wasDown = down.delete(this.key);
    if (down.size > 0) return;
    engineUp.set({ engine: this.engine }, 1);
    if (was === false && wasDown) this.log.info({ stage: 'cluster', engine: this.engine }, `${this.engine} reachable again`);
  }

  markDown(err: unknown, detail?: string): void {
    if (this.isUp === false) return;
    this.isUp = false;
    this.since = Date.now();
    engineUp.set({ engine: this.engine }, 0);
    const why = (err as Error | undefined)?.message ?? String(err);
    status.clusterDegraded[this.key] = `${this.engine} unreachable since ${new Date(this.since).toISOString()}: ${detail ?? this.fallback}`;
    const down = watchersDown(this.log, this.engine);
    const first = down.size === 0;
    down.add(this.key);
    if (!first) {
      this.log.debug({ stage: 'cluster', engine: this.engine, err: why, fallback: this.fallback }, `${this.engine} unreachable: ${this.fallback}`);
      return;
    }
    this.log.warn({ stage: 'cluster', engine: this.engine, code: `E_${this.engine.toUpperCase()}_DOWN`, err: why, fallback: this.fallback }, `${this.engine} unreachable: ${this.fallback}`);
  }

  /** Extra detail while degraded (e.g. "outbox: 120 events pending"), replacing the default. */
  setDetail(detail: string): void {
    if (this.isUp === false) status.clusterDegraded[this.key] = `${this.engine} unreachable since ${new Date(this.since).toISOString()}: ${detail}`;
  }
}
