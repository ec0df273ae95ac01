// One owner per spool: an exclusive lock file `<spool>/sluice.lock` naming the process that holds
// it (pid, its start time from /proc/<pid>/stat and the kernel boot id, so a reused pid — pid 1
// again in a restarted container — is not mistaken for the holder). Taken with link(2), which
// fails if the file exists; a lock whose holder is dead is taken over under a takeover mutex
// (mkdir), so two processes that both find it stale cannot both win.
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { SluiceError } from '../domain/errors.js';

export const LOCK_NAME = 'sluice.lock';
/** A takeover mutex older than this was left by a process that died while taking over. */
const TAKEOVER_STALE_MS = 10_000;
const TAKEOVER_WAIT_MS = 20;
const ACQUIRE_ATTEMPTS = 200;

/** Who holds a lock, as written into the lock file. */
export interface LockHolder {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot at which the process started. */
  startTicks: number | null;
  bootId: string | null;
  host: string;
  owner: string;
  since: string;
}

/** Start time of a process in clock ticks after boot; null when there is no such process (or no /proc). */
export function processStartTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // comm (field 2) may contain spaces and parentheses: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    return Number.isFinite(ticks) ? ticks : null;
  } catch {
    return null;
  }
}

export function bootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim();
  } catch {
    return null;
  }
}

const procAvailable = (): boolean => processStartTicks(process.pid) !== null;

/** Whether the process a lock file names is still the one that wrote it. */
export function holderAlive(h: LockHolder): boolean {
  const boot = bootId();
  if (h.bootId && boot && h.bootId !== boot) return false; // written before a reboot
  if (!procAvailable()) {
    try {
      process.kill(h.pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
  const ticks = processStartTicks(h.pid);
  if (ticks === null) return false;
  return h.startTicks === null || ticks === h.startTicks; // another start time: the pid was reused
}

function parseHolder(text: string): LockHolder | null {
  try {
    const h = JSON.parse(text) as LockHolder;
    return typeof h === 'object' && h !== null && Number.isInteger(h.pid) && h.pid > 0 ? h : null;
  } catch {
    return null;
  }
}

export interface TakeoverNotice {
  previous: LockHolder | null;
  reason: string;
}

/** An exclusive lock on one spool directory, held until release(). */
export class SpoolLock {
  readonly path: string;
  private content: string | null = null;

  constructor(
    spoolDir: string,
    private readonly owner: string,
  ) {
    this.path = path.join(spoolDir, LOCK_NAME);
  }

  /**
   * Takes the lock or throws SluiceError E_SPOOL_LOCKED naming the live holder. A stale lock is
   * taken over; `onTakeover` hears whose it was (for the log line).
   */
  async acquire(onTakeover: (n: TakeoverNotice) => void): Promise<void> {
    const me: LockHolder = {
      pid: process.pid,
      startTicks: processStartTicks(process.pid),
      bootId: bootId(),
      host: os.hostname(),
      owner: this.owner,
      since: new Date().toISOString(),
    };
    const content = JSON.stringify(me) + '\n';
    const tmp = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await fs.writeFile(tmp, content, { mode: 0o644 });
    try {
      for (let i = 0; i < ACQUIRE_ATTEMPTS; i++) {
        try {
          await fs.link(tmp, this.path); // atomic: fails with EEXIST while anyone holds it
          this.content = content;
          return;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        const text = await fs.readFile(this.path, 'utf8').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? null : Promise.reject(e)));
        if (text === null) continue; // released meanwhile: try again
        const holder = parseHolder(text);
        if (holder && holderAlive(holder)) throw lockedError(this.path, holder);
        const notice = { previous: holder, reason: holder ? `pid ${holder.pid} is no longer running` : 'unreadable lock file' };
        if (await this.takeOver(text)) onTakeover(notice);
      }
      throw new SluiceError('E_SPOOL_LOCKED', `spool lock ${this.path}: could not take it (contended)`, { details: { lock: this.path } });
    } finally {
      await fs.unlink(tmp).catch(() => undefined);
    }
  }

  /**
   * Removes the stale lock file whose text is `stale`, under the takeover mutex: only one process
   * at a time re-reads and removes it, so a fresh lock taken meanwhile is never removed. The
   * caller then competes for the free lock with link() like anyone else. False: not removed.
   */
  private async takeOver(stale: string): Promise<boolean> {
    const mutex = this.path + '.takeover';
    try {
      await fs.mkdir(mutex);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const st = await fs.stat(mutex).catch(() => null);
      if (st && Date.now() - st.mtimeMs > TAKEOVER_STALE_MS) await fs.rmdir(mutex).catch(() => undefined);
      else await new Promise((r) => setTimeout(r, TAKEOVER_WAIT_MS));
      return false;
    }
    try {
      const now = await fs.readFile(this.path, 'utf8').catch(() => null);
      if (now !== stale) return false;
      await fs.unlink(this.path);
      return true;
    } finally {
      await fs.rmdir(mutex).catch(() => undefined);
    }
  }

  /** Removes the lock file if it is still ours. */
  async release(): Promise<void> {
    if (this.content === null) return;
    const text = await fs.readFile(this.path, 'utf8').catch(() => null);
    if (text === this.content) await fs.unlink(this.path).catch(() => undefined);
    this.content = null;
  }

  get held(): boolean {
    return this.content !== null;
  }
}

function lockedError(lockPath: string, h: LockHolder): SluiceError {
  return new SluiceError(
    'E_SPOOL_LOCKED',
    `spool is locked by pid ${h.pid} (${h.owner} on ${h.host}, since ${h.since}): ${lockPath}; only one sluice daemon may use a spool`,
    { details: { lock: lockPath, lockPid: h.pid, lockOwner: h.owner } },
  );
}
