// Which spool (and so which control socket) a command that talks to the running daemon uses.
// `sluice reload` must reach the daemon even when the edited file no longer loads, so a file
// that fails the full check is read for its spool.dir alone.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { loadConfigFile, ConfigError, formatIssues } from '../config/load.js';
import type { Model } from '../domain/model.js';

const DEFAULT_SPOOL_DIR = 'data/spool';

export type SpoolOfConfig = { spoolDir: string; model: Model | null; errors: string | null };

export async function spoolOfConfig(file: string): Promise<SpoolOfConfig> {
  try {
    const model = await loadConfigFile(file);
    return { spoolDir: model.spool.dir, model, errors: null };
  } catch (err) {
    const errors = err instanceof ConfigError ? formatIssues(err.issues) : (err as Error).message;
    let dir: unknown;
    try {
      dir = (parse(await readFile(file, 'utf8')) as { spool?: { dir?: unknown } } | null)?.spool?.dir;
    } catch {
      dir = undefined;
    }
    // Relative paths resolve against the working directory, as compile.ts does.
    return { spoolDir: path.resolve(typeof dir === 'string' ? dir : DEFAULT_SPOOL_DIR), model: null, errors };
  }
}
