// File-level helpers of the file spool: directory fsyncs, plain-descriptor calls, synced writes, moving damaged
// files to corrupt/, and turning an errno met while reading the spool into E_SPOOL_IO (an I/O
// error stops the start; it never moves good mail aside).
import { close as closeCb, fsync as fsyncCb, open as openCb, promises as fs, rename as renameCb, unlink as unlinkCb, write as writeCb, constants as FS, readdirSync } from 'node:fs';
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

/**
 * A directory's fsync on a descriptor kept open for the spool's lifetime (opening and closing it
 * per commit cost two more rounds on the thread pool). Every caller gets an fsync that starts
 * after its call, so after its rename: no coalescing, which would make a caller that comes while
 * one is in flight wait for a second round.
 */
export class DirSyncer {
  private fd: Promise<number> | null = null;
  constructor(private readonly dir: string) {}

  async sync(): Promise<void> {
    this.fd ??= openFd(this.dir, FS.O_RDONLY);
    const fd = await this.fd.catch((err: unknown) => {
      this.fd = null; // try again next time (the folder may be back)
      throw err;
    });
    await fsyncFd(fd);
  }

  async close(): Promise<void> {
    const fd = this.fd;
    this.fd = null;
    const n = await fd?.catch(() => null);
    if (typeof n === 'number') await new Promise<void>((resolve) => closeCb(n, () => resolve()));
  }
}

// The callback API on plain descriptors: the spool's hot path (one message = one open, one write,
// one rename, two fsyncs, one close) without FileHandle objects.
const settle = <T>(resolve: (v: T) => void, reject: (e: unknown) => void) => (err: NodeJS.ErrnoException | null, v?: T) => (err ? reject(err) : resolve(v as T));

export const openFd = (file: string, flags: string | number, mode?: number): Promise<number> => new Promise((res, rej) => openCb(file, flags, mode, settle(res, rej)));
export const fsyncFd = (fd: number): Promise<void> => new Promise((res, rej) => fsyncCb(fd, settle(res, rej)));
export const rename = (from: string, to: string): Promise<void> => new Promise((res, rej) => renameCb(from, to, settle(res, rej)));
export const unlinkFile = (file: string): Promise<void> => new Promise((res, rej) => unlinkCb(file, settle(res, rej)));
export { closeCb as closeFd };

/** Writes all of `data` at `position`, or at the current one (a regular file takes it in one call unless the disk is full). */
export async function writeAll(fd: number, data: Buffer, position?: number): Promise<void> {
  let at = 0;
  while (at < data.length) {
    at += await new Promise<number>((res, rej) => writeCb(fd, data, at, data.length - at, position === undefined ? null : position + at, settle(res, rej)));
  }
}

/** Waits for every promise (none is left running behind a failure), then throws the first error. */
export async function settledAll(ps: Promise<unknown>[]): Promise<void> {
  const out = await Promise.allSettled(ps);
  const failed = out.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
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
