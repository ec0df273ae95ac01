// A real redis-server (Debian's) for cluster tests: foreground, no persistence, bound to loopback
// on a free port, stopped by its own pid. `stop()` then `start()` keeps the port, so a test can
// take Redis away under traffic and bring it back where the replicas expect it.
import { Redis } from 'ioredis';
import { spawnEngine, waitReady, type EngineProcess } from './engine-process.js';
import { freePort } from './ports.js';

const READY_TIMEOUT_MS = 20_000;

export interface RedisServer {
  readonly port: number;
  /** For cluster.redis.url. */
  readonly url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** SIGKILL, no goodbye: what a crashed Redis looks like to its clients. */
  kill(): Promise<void>;
}

/** True when Redis answers PING (through the client library the replicas use). */
async function ping(port: number): Promise<boolean> {
  const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, connectTimeout: 1_000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  c.on('error', () => undefined); // a refused probe is an answer, not a crash
  try {
    await c.connect();
    return (await c.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  let engine: EngineProcess | null = null;
  const start = async () => {
    // --save "" and --appendonly no: Redis holds nothing whose loss loses mail, and tests start clean.
    engine = spawnEngine('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--loglevel', 'warning']);
    await waitReady(engine, 'redis-server', () => ping(port), READY_TIMEOUT_MS);
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    async stop() {
      await engine?.stop();
      engine = null;
    },
    async kill() {
      const e = engine;
      engine = null;
      if (!e || e.proc.exitCode !== null) return;
      const exited = new Promise<void>((r) => e.proc.once('exit', () => r()));
      e.proc.kill('SIGKILL');
      await exited;
    },
  };
}
