// File-level helpers of the file spool: coalesced directory fsyncs, synced writes, moving damaged
// files to corrupt/, and turning an errno met while reading the spool into E_SPOOL_IO (an I/O
// error stops the start; it never moves good mail aside).
import { promises as fs, constants as FS, readdirSync } from 'node:fs';
import path from 'node:path';
import { SluiceError } from '../domain/errors.js';
import type { Logger } from '../observe/log.js';

/** Where the file spool keeps what. */
export interface SpoolPaths {
  root: string;
  queueDir: string;
  failedDir: string;
  corruptDir: string;
}

/** Coalesces directory fsyncs: every caller waits for one fsync that started after its rename. */
export class DirSyncer {
  private inflight: Promise<void> | null = null;
  private next: Promise<void> | null = null;
  constructor(private readonly dir: string) {}

  sync(): Promise<void> {
    if (!this.inflight) return this.start();
    if (!this.next) {
      this.next = this.inflight.then(
        () => this.start(),
        () => this.start(),
      );
    }
    return this.next;
  }

  private start(): Promise<void> {
    this.next = null;
    const p = (async () => {
      const fh = await fs.open(this.dir, FS.O_RDONLY);
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    })();
    this.inflight = p;
    const clear = () => {
      if (this.inflight === p) this.inflight = null;
    };
    p.then(clear, clear);
    return p;
  }
}

/** Writes `text` to `file` and fsyncs it (the caller renames it into place). */
export async function writeSynced(file: string, text: string | Buffer): Promise<void> {
  const fh = await fs.open(file, 'w', 0o640);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}

/** An errno met while reading the spool, as the error that stops the start. */
export function spoolIoError(file: string, err: unknown): SluiceError {
  const e = err as NodeJS.ErrnoException;
  return new SluiceError('E_SPOOL_IO', `cannot read spool file ${file}: ${e.message}`, { cause: err, details: { file, errno: e.code } });
}

/** Runs a read of `file`; any errno becomes E_SPOOL_IO naming it. */
export function readingSpool<T>(file: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    throw spoolIoError(file, err);
  }
}

/** The names in a spool directory (sync: recovery and the tools have nothing else to do meanwhile). */
export function listNames(dir: string): string[] {
  return readingSpool(dir, () => readdirSync(dir));
}

/**
 * Moves one damaged file from `fromDir` to corrupt/ (never over an earlier one) with an
 * E_SPOOL_CORRUPT log line saying why. Only for files that were read and found damaged, or that
 * can never be delivered (a leftover partial write).
 */
export async function moveAside(paths: SpoolPaths, fromDir: string, name: string, reason: string, log: Logger): Promise<void> {
  const queueId = name.replace(/\..*$/, '');
  log.error({ stage: 'spool', file: name, queueId, area: path.basename(fromDir), code: 'E_SPOOL_CORRUPT', reason }, 'spool file moved to corrupt/');
  let target = path.join(paths.corruptDir, name);
  if (await fs.access(target).then(() => true, () => false)) target += `.${Date.now()}`;
  await fs.rename(path.join(fromDir, name), target).catch(ignoreMissing);
}
