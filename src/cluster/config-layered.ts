// Loading a `config.source: postgres` configuration: a pushed version with the replica's local
// file laid over it (config-merge.ts has the rule). Each issue names the layer it comes from: the
// local file's path and line, or the version ("config version 7:12:3: acceptedDomains[1]…").
// Also the replica's last good copy on disk, written atomically (fsynced file, rename, fsynced
// directory) so a crash mid-write leaves the previous copy whole.
import { open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { compileRawConfig, ConfigError, parseConfigYaml, type ConfigIssue, type LoadedConfig, type ParsedYaml } from '../config/load.js';
import type { PathIssue } from '../config/compile.js';
import { fromLocal, layerConfig, parseLastGood, formatLastGood, versionName, type ConfigVersion } from './config-merge.js';

export function loadLayered(local: ParsedYaml, localFile: string, version: ConfigVersion): LoadedConfig {
  const pushed = parseConfigYaml(version.yaml, versionName(version));
  const locate = (issues: readonly PathIssue[]): ConfigIssue[] => [
    ...local.locate(issues.filter((i) => fromLocal(local.raw, i.path))),
    ...pushed.locate(issues.filter((i) => !fromLocal(local.raw, i.path))),
  ];
  return compileRawConfig(layerConfig(pushed.raw, local.raw), `${versionName(version)} + ${path.resolve(localFile)}`, locate);
}

/** Beside the spool (data/spool → data/config.last-good.yaml): the local file's spool.dir, as the daemon resolves it. */
export function lastGoodPath(localRaw: unknown): string {
  const spool = (localRaw as { spool?: { dir?: unknown } } | null)?.spool?.dir;
  return path.join(path.dirname(path.resolve(typeof spool === 'string' ? spool : 'data/spool')), 'config.last-good.yaml');
}

/** The last good copy, or null when there is none yet (or it is torn: its checksum says so). */
export async function readLastGood(file: string): Promise<ConfigVersion | null> {
  try {
    return parseLastGood(await readFile(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export async function writeLastGood(file: string, v: ConfigVersion): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(formatLastGood(v), 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  const dir = await open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** For the tools (check, queue, route…): what this replica runs, from its last good copy, without the database. */
export async function loadFromLastGood(local: ParsedYaml, localFile: string): Promise<LoadedConfig> {
  const file = lastGoodPath(local.raw);
  const v = await readLastGood(file);
  if (!v) {
    throw new ConfigError(local.locate([{ path: ['config', 'source'], message: `config.source is postgres and this replica has no last good copy at ${file} yet (the daemon writes it once it has loaded a pushed version)` }]));
  }
  return loadLayered(local, localFile, v);
}
