// A throw-away PostgreSQL cluster (Debian's server binaries) for cluster tests: `initdb` into a
// temp dir and `postgres` in the foreground, both as the `postgres` user (PostgreSQL refuses to
// run as root), listening on a unix socket only (listen_addresses=''), stopped by its own pid.
// `stop()` then `start()` keeps the data and the socket, so a test can take the database away
// under traffic and bring it back.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnEngine, waitReady, type EngineProcess } from './engine-process.js';
import { freePort } from './ports.js';

const READY_TIMEOUT_MS = 30_000;

export interface PostgresServer {
  readonly dir: string;
  /** The unix socket directory. */
  readonly socketDir: string;
  /** The (unused for TCP) port: it names the socket file, .s.PGSQL.<port>. */
  readonly port: number;
  /** For cluster.postgres.url: a `pg` connection string over the unix socket, database `sluice`. */
  readonly url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Removes the data directory (after stop). */
  destroy(): Promise<void>;
}

/** Debian installs the server binaries outside PATH, under /usr/lib/postgresql/<major>/bin. */
export function postgresBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const majors = readdirSync(root).filter((d) => existsSync(path.join(root, d, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return majors.length ? path.join(root, majors[0]!, 'bin') : null;
}

function postgresIds(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

/** Runs a server binary as the postgres user (we are root in CI; as postgres itself, directly). */
function asPostgres(bin: string, args: string[]): [string, string[]] {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) return [bin, args];
  return ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', bin, ...args]];
}

/** SIGINT is PostgreSQL's fast shutdown: SIGTERM (smart) would wait for every client to leave. */
async function fastStop(e: EngineProcess | null): Promise<void> {
  if (!e || e.proc.exitCode !== null || e.proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => e.proc.once('exit', () => r()));
  e.proc.kill('SIGINT');
  const timer = setTimeout(() => e.proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)');
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-pg-'));
  const data = path.join(dir, 'data');
  const socketDir = dir;
  const { uid, gid } = postgresIds();
  await chown(dir, uid, gid);
  await chmod(dir, 0o755);
  const [initCmd, initArgs] = asPostgres(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-sync']);
  execFileSync(initCmd, initArgs, { stdio: 'pipe' });
  const port = await freePort();
  let engine: EngineProcess | null = null;
  const start = async () => {
    // fsync stays on: the outbox tests stop the server under traffic and count what survived.
    const [cmd, args] = asPostgres(path.join(bin, 'postgres'), ['-D', data, '-k', socketDir, '-p', String(port), '-c', "listen_addresses=", '-c', 'max_connections=100', '-c', 'shared_buffers=32MB']);
    engine = spawnEngine(cmd, args);
    const [pq, pqa] = asPostgres(path.join(bin, 'pg_isready'), ['-h', socketDir, '-p', String(port), '-U', 'postgres']);
    await waitReady(engine, 'postgres', async () => {
      try {
        execFileSync(pq, pqa, { stdio: 'pipe' });
        return true;
      } catch {
        return false;
      }
    }, READY_TIMEOUT_MS);
  };
  await start();
  const [cc, cca] = asPostgres(path.join(bin, 'psql'), ['-h', socketDir, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', 'CREATE DATABASE sluice']);
  execFileSync(cc, cca, { stdio: 'pipe' });
  return {
    dir,
    socketDir,
    port,
    url: `postgresql://postgres@/sluice?host=${encodeURIComponent(socketDir)}&port=${port}`,
    start,
    async stop() {
      await fastStop(engine);
      engine = null;
    },
    async destroy() {
      await fastStop(engine);
      engine = null;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
