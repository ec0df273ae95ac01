// /readyz's checks: each names what it looked at and, when it fails, why. The daemon's state
// comes from observe/status.ts; the spool is probed for real (a small file written, synced and
// removed in its directory), since "locked" does not mean the disk still takes writes.
import { open, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { DaemonStatus } from '../observe/status.js';

export interface Check {
  name: 'listening' | 'spool' | 'config' | 'trace' | 'cluster';
  ok: boolean;
  detail: string;
}

const PROBE_NAME = '.readyz-probe';

/** Writes, fsyncs and removes a probe file in `dir`; the error text when it cannot. */
export async function probeWritable(dir: string): Promise<string | null> {
  const file = path.join(dir, `${PROBE_NAME}-${process.pid}`);
  try {
    const fh = await open(file, 'w');
    try {
      await fh.write('ok\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await unlink(file);
    return null;
  } catch (err) {
    await unlink(file).catch(() => undefined);
    return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  }
}

/** Pure: the status facts and the probe's answer → the list of checks. */
export function readinessChecks(s: DaemonStatus, spoolProbe: string | null, traceEnabled: boolean): Check[] {
  return [
    { name: 'listening', ok: s.listening && !s.draining, detail: s.draining ? 'draining for a stop' : s.listening ? 'SMTP listeners open' : 'SMTP listeners not open' },
    {
      name: 'spool',
      ok: s.spoolLocked && spoolProbe === null,
      detail: !s.spoolLocked ? 'spool lock not held' : spoolProbe === null ? 'locked and writable' : `not writable (${spoolProbe})`,
    },
    {
      name: 'config',
      ok: s.config.loadedAt !== null && s.reloadFailure === null,
      detail:
        s.config.loadedAt === null
          ? 'no configuration loaded'
          : s.reloadFailure
            ? `the last reload failed at ${new Date(s.reloadFailure.at).toISOString()}; running an older config: ${s.reloadFailure.errors}`
            : `loaded ${new Date(s.config.loadedAt).toISOString()}${s.pendingRestart.length ? `; restart pending for ${s.pendingRestart.join(', ')}` : ''}`,
    },
    { name: 'trace', ok: !traceEnabled || s.traceWritable, detail: !traceEnabled ? 'trace store disabled' : s.traceWritable ? 'trace store writable' : 'trace store write failed' },
    // Degraded is still ready: every engine has a local fallback, so the replica keeps serving.
    ...(Object.keys(s.clusterDegraded).length ? [{ name: 'cluster' as const, ok: true, detail: `degraded: ${Object.values(s.clusterDegraded).join('; ')}` }] : []),
  ];
}
