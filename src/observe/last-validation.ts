// The last `sluice validate` result per connector, kept in the data directory next to the spool
// (<spool.dir>/../validation/<name>.json), never in the config file (EOP keeps it with the
// connector object, not in its settings). Written whole with a rename, so a reader never sees half.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface ValidationSummary {
  connector: string;
  direction: 'outbound' | 'inbound';
  at: number;
  passed: boolean;
  /** The first stage that failed, with its detail. */
  failedStage: { stage: string; detail: string } | null;
}

export const validationDir = (spoolDir: string): string => path.join(path.dirname(spoolDir), 'validation');
const fileOf = (spoolDir: string, name: string) => path.join(validationDir(spoolDir), `${encodeURIComponent(name)}.json`);

export async function saveValidation(spoolDir: string, v: ValidationSummary): Promise<void> {
  const f = fileOf(spoolDir, v.connector);
  await mkdir(path.dirname(f), { recursive: true });
  await writeFile(`${f}.tmp`, JSON.stringify(v) + '\n');
  await rename(`${f}.tmp`, f);
}

export async function loadValidation(spoolDir: string, name: string): Promise<ValidationSummary | null> {
  try {
    return JSON.parse(await readFile(fileOf(spoolDir, name), 'utf8')) as ValidationSummary;
  } catch {
    return null;
  }
}
