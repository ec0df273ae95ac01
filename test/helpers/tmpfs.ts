// A small tmpfs for storage-fault tests: mount it (root only), fill it with a filler file until
// the kernel answers ENOSPC, free it again, remount it read-only / read-write, and unmount.
// mountTmpfs() resolves with a reason string instead when mounting is not permitted here.
import { execFile } from 'node:child_process';
import { mkdtemp, open, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const FILL_CHUNK_BYTES = 64 * 1024;
/** Bounds the filler loop: a tmpfs of a few MB fills long before this. */
const FILL_MAX_BYTES = 256 * 1024 * 1024;

export interface Tmpfs {
  dir: string;
  /** Writes a filler file until ENOSPC; resolves with the bytes written. */
  fill(): Promise<number>;
  /** Removes the filler file. */
  free(): Promise<void>;
  remount(mode: 'ro' | 'rw'): Promise<void>;
  unmount(): Promise<void>;
}

export async function mountTmpfs(sizeBytes: number): Promise<Tmpfs | string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-tmpfs-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0755`, 'tmpfs', dir]);
  } catch (err) {
    await rmdir(dir).catch(() => undefined);
    return `cannot mount a tmpfs here (${(err as Error).message.split('\n')[0]})`;
  }
  const filler = path.join(dir, 'filler.bin');
  let mounted = true;
  return {
    dir,
    async fill() {
      const fh = await open(filler, 'a');
      const chunk = Buffer.alloc(FILL_CHUNK_BYTES, 0x5a);
      let written = 0;
      try {
        while (written < FILL_MAX_BYTES) {
          const { bytesWritten } = await fh.write(chunk);
          written += bytesWritten;
          if (bytesWritten < chunk.length) break;
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
      // Take the last partial page too, so not even a tiny record fits.
      for (let n = 0; n < 4096; n++) {
        try {
          await fh.write(Buffer.alloc(1, 0x5a));
          written++;
        } catch {
          break;
        }
      }
      await fh.close();
      return written;
    },
    async free() {
      await rm(filler, { force: true });
    },
    async remount(mode) {
      await run('mount', ['-o', `remount,${mode}`, dir]);
    },
    async unmount() {
      if (!mounted) return;
      mounted = false;
      await run('mount', ['-o', 'remount,rw', dir]).catch(() => undefined);
      await run('umount', ['-l', dir]).catch(() => undefined);
      await rmdir(dir).catch(() => undefined);
    },
  };
}
