// Watches a set of files (the config, certificates, keys, CA lists) and calls back once per burst
// of changes. It watches their directories, not the files: editors and certificate renewers
// (certbot, cert-manager) replace a file by rename, which ends a watch on the old inode.
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';

export interface FileWatch {
  close(): void;
  /** Directories that could not be watched (the caller logs them; SIGHUP still works). */
  readonly failed: string[];
}

export function watchFiles(files: readonly string[], debounceMs: number, onChange: (changed: string[]) => void): FileWatch {
  const byDir = new Map<string, Set<string>>();
  for (const f of files) {
    const abs = path.resolve(f);
    const dir = path.dirname(abs);
    if (!byDir.has(dir)) byDir.set(dir, new Set());
    byDir.get(dir)!.add(path.basename(abs));
  }
  const watchers: FSWatcher[] = [];
  const failed: string[] = [];
  const pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  for (const [dir, names] of byDir) {
    try {
      const w = watch(dir, (_event, name) => {
        // Without a name (some platforms) any change in the directory may be ours.
        if (name !== null && !names.has(String(name))) return;
        pending.add(name === null ? dir : path.join(dir, String(name)));
        clearTimeout(timer);
        timer = setTimeout(() => {
          const changed = [...pending];
          pending.clear();
          onChange(changed);
        }, debounceMs);
      });
      w.on('error', () => undefined);
      watchers.push(w);
    } catch {
      failed.push(dir);
    }
  }
  return {
    failed,
    close() {
      clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
