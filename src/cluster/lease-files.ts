// The two files cluster mode keeps in a spool directory itself, so they travel with the volume:
// - `spool-id`: the spool's identity, created once (a re-attached volume keeps it; a fresh one
//   gets a new id and so never inherits another spool's lease);
// - `cluster-lease.json`: the last lease taken on this spool (owner, epoch), written at every
//   change of holder, so a replica starting while PostgreSQL is down knows whether its spool
//   was adopted meanwhile.
import { promises as fs } from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { LocalLease } from './lease-rules.js';

export const SPOOL_ID_FILE = 'spool-id';
export const LOCAL_LEASE_FILE = 'cluster-lease.json';

/** The spool's id, created with O_EXCL if the spool has none (two racing creators agree on one). */
export async function ensureSpoolId(dir: string): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, SPOOL_ID_FILE);
  const existing = await readSpoolId(dir);
  if (existing) return existing;
  try {
    await fs.writeFile(file, randomUUID() + '\n', { flag: 'wx', mode: 0o644 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const id = await readSpoolId(dir);
  if (!id) throw new Error(`${file}: empty spool id`);
  return id;
}

/** null: the spool has no id yet (never started in cluster mode) or the directory is not reachable. */
export async function readSpoolId(dir: string): Promise<string | null> {
  const text = await fs.readFile(path.join(dir, SPOOL_ID_FILE), 'utf8').catch(() => null);
  const id = text?.trim();
  return id ? id : null;
}

export async function readLocalLease(dir: string): Promise<LocalLease | null> {
  const text = await fs.readFile(path.join(dir, LOCAL_LEASE_FILE), 'utf8').catch(() => null);
  if (!text) return null;
  try {
    const l = JSON.parse(text) as LocalLease;
    return typeof l.owner === 'string' && Number.isFinite(l.epoch) ? l : null;
  } catch {
    return null;
  }
}

/** tmp + fsync + rename: a crash leaves the old record or the new one, never half of one. */
export async function writeLocalLease(dir: string, lease: LocalLease): Promise<void> {
  const file = path.join(dir, LOCAL_LEASE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  const fh = await fs.open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(JSON.stringify({ ...lease, at: new Date().toISOString() }) + '\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, file);
}
