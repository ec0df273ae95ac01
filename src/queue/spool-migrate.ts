// Upgrades an older spool when it is opened, so an upgrade loses nothing:
// - quarantine/ (before issue 8) becomes corrupt/: its files move over, the folder goes;
// - a v1 message (<id>.eml body + <id>.json record) becomes <id>.msg in place: the record and
//   footer are appended to the body, fsynced, the file renamed, the directory fsynced, and only
//   then the .json removed. A crash at any step is redone at the next open: a body longer than its
//   v1 record says is cut back to that size first (a trailer half appended), a .msg beside its
//   .json means only the .json is left to remove.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseRecord, type SpoolRecord } from './record.js';
import type { SpoolArea } from './spool.js';
import { classifyEntry, encodeTrailer, msgName, V1_BODY_EXT, V1_RECORD_EXT } from './spool-format.js';
import { ignoreMissing, listNames, moveAside, spoolIoError, type SpoolPaths } from './spool-io.js';
import type { Logger } from '../observe/log.js';

const OLD_CORRUPT_DIR = 'quarantine';
/** Migrations in flight at once: their fsyncs share journal commits. */
const MIGRATE_WINDOW = 16;

export async function migrateQuarantine(paths: SpoolPaths, log: Logger): Promise<void> {
  const old = path.join(paths.root, OLD_CORRUPT_DIR);
  let names: string[];
  try {
    names = await fs.readdir(old);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw spoolIoError(old, err);
  }
  for (const name of names) {
    let target = path.join(paths.corruptDir, name);
    if (await fs.access(target).then(() => true, () => false)) target += `.${Date.now()}`;
    await fs.rename(path.join(old, name), target);
  }
  await fs.rmdir(old);
  log.info({ stage: 'spool', from: old, to: paths.corruptDir, files: names.length }, 'moved quarantine/ to corrupt/');
}

/** Migrates every v1 message of one area; resolves with how many were migrated. */
export async function migrateV1(paths: SpoolPaths, area: SpoolArea, syncDir: () => Promise<void>, log: Logger): Promise<number> {
  const dir = area === 'failed' ? paths.failedDir : paths.queueDir;
  const records: string[] = [];
  const bodies = new Set<string>();
  const msgs = new Set<string>();
  for (const name of listNames(dir)) {
    const { kind, id } = classifyEntry(name);
    if (kind === 'v1-record') records.push(id);
    else if (kind === 'v1-body') bodies.add(id);
    else if (kind === 'msg') msgs.add(id);
  }
  if (!records.length && !bodies.size) return 0;
  const done: string[] = [];
  const one = async (id: string): Promise<void> => {
    bodies.delete(id);
    if (msgs.has(id)) {
      done.push(id); // migrated before a crash; only the old files are left
      return;
    }
    const outcome = await migrateOne(dir, id);
    if (outcome === 'migrated') done.push(id);
    else for (const ext of [V1_RECORD_EXT, V1_BODY_EXT]) await moveAside(paths, dir, id + ext, outcome, log);
  };
  for (let i = 0; i < records.length; i += MIGRATE_WINDOW) await Promise.all(records.slice(i, i + MIGRATE_WINDOW).map(one));
  // v1 renamed the body before writing the record: a body alone was never acknowledged.
  for (const id of bodies) await moveAside(paths, dir, id + V1_BODY_EXT, 'v1 body without its record (never acknowledged)', log);
  await syncDir(); // the renames are durable before the v1 records go
  for (const id of done) {
    await fs.unlink(path.join(dir, id + V1_RECORD_EXT)).catch(ignoreMissing);
    await fs.unlink(path.join(dir, id + V1_BODY_EXT)).catch(ignoreMissing);
  }
  log.info({ stage: 'spool', area, migrated: done.length }, 'migrated v1 spool files to the one-file format');
  return done.length;
}

/** 'migrated', or why the v1 files are damaged (they go to corrupt/). I/O errors throw E_SPOOL_IO. */
async function migrateOne(dir: string, id: string): Promise<'migrated' | string> {
  const jsonFile = path.join(dir, id + V1_RECORD_EXT);
  const bodyFile = path.join(dir, id + V1_BODY_EXT);
  const text = await fs.readFile(jsonFile, 'utf8').catch((err: unknown) => Promise.reject(spoolIoError(jsonFile, err)));
  const record: SpoolRecord | null = parseRecord(text);
  if (!record) return 'corrupt v1 record';
  if (record.id !== id) return `v1 record id mismatch (${record.id})`;
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(bodyFile, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'v1 record without its body';
    throw spoolIoError(bodyFile, err);
  }
  try {
    const size = (await fh.stat()).size;
    if (size < record.size) return `v1 body of ${size} bytes, its record says ${record.size}`;
    if (size > record.size) await fh.truncate(record.size); // a trailer half appended by a migration cut short
    await fh.write(encodeTrailer(record, record.size), 0, undefined, record.size);
    await fh.sync();
  } catch (err) {
    throw spoolIoError(bodyFile, err);
  } finally {
    await fh.close();
  }
  await fs.rename(bodyFile, path.join(dir, msgName(id))).catch((err: unknown) => Promise.reject(spoolIoError(bodyFile, err)));
  return 'migrated';
}
