// The Redis client of one replica (issue 13): Redis holds what may be forgotten (connection
// slots, per-IP inbound counts, host-down marks), so every caller has a local fallback and would
// rather fail fast into it than wait. Commands never queue while offline, time out quickly, and
// the connection comes back by itself with backoff; its state is an EngineState('redis') (one log
// line per outage, sluice_cluster_engine_up, /readyz detail).
import { Redis } from 'ioredis';
import type { Logger } from '../observe/log.js';
import { EngineState } from './engine-state.js';

/** A connect attempt that takes longer than this counts as an outage (loopback or LAN: milliseconds). */
const REDIS_CONNECT_TIMEOUT_MS = 1_000;
/** A command unanswered this long falls back to the local decision. */
const REDIS_COMMAND_TIMEOUT_MS = 500;
/** Reconnect backoff: 50 ms doubling to this ceiling, forever (an outage ends when Redis returns). */
const REDIS_RECONNECT_MAX_MS = 2_000;

export const REDIS_FALLBACK = 'connection caps fall back to local shares, per-IP counts and host-down marks to this replica';

export interface ClusterRedis {
  readonly client: Redis;
  readonly state: EngineState;
  /** Connected and ready: commands may be sent now. */
  readonly ready: boolean;
  /** Runs `fn` each time the connection becomes ready (the first time and after every outage). */
  onReady(fn: () => void): void;
  stop(): Promise<void>;
}

export function reconnectDelayMs(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 10), REDIS_RECONNECT_MAX_MS);
}

export function openRedis(o: { url: string; nodeId: string; log: Logger }): ClusterRedis {
  const state = new EngineState('redis', o.log, REDIS_FALLBACK);
  const client = new Redis(o.url, {
    connectionName: `sluice:${o.nodeId}`,
    enableOfflineQueue: false,
    connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    // A failed command is answered by the local fallback, not retried on the next connection.
    maxRetriesPerRequest: 0,
    retryStrategy: (times: number) => reconnectDelayMs(times),
  });
  const readyHooks: (() => void)[] = [];
  let stopping = false;
  client.on('ready', () => {
    state.markUp();
    for (const fn of readyHooks) fn();
  });
  // Unhandled, an 'error' event would crash the daemon; the outage is logged once by EngineState.
  client.on('error', (err: Error) => {
    if (!stopping) state.markDown(err);
  });
  client.on('close', () => {
    if (!stopping) state.markDown(new Error('connection closed'));
  });
  return {
    client,
    state,
    get ready() {
      return client.status === 'ready';
    },
    onReady(fn) {
      readyHooks.push(fn);
      if (client.status === 'ready') fn();
    },
    async stop() {
      stopping = true;
      // QUIT when connected (leases were released by their owners); otherwise just drop the socket.
      if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
      else client.disconnect();
    },
  };
}
