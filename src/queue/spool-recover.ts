// Start-up recovery of the file spool (after open(), so this process holds the lock and nobody
// writes meanwhile): yields every committed message of queue/ with its current record. Files it
// read and found damaged go to corrupt/ (E_SPOOL_CORRUPT); a partial write (.tmp) was never
// acknowledged and goes there too; an interrupted move to failed/ is finished. Any I/O error
// stops the recovery with E_SPOOL_IO naming the file, and moves nothing.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { SpoolRecord } from './record.js';
import type { SpoolArea } from './spool.js';
import { classifyEntry, msgName, readStateSync, readTrailerSync, stateName } from './spool-format.js';
import { ignoreMissing, listNames, moveAside, readingSpool, type SpoolPaths } from './spool-io.js';
import type { Logger } from '../observe/log.js';

/** The ids of an area's message and state files, and its other entries by kind. */
function inventory(dir: string): { msgs: Set<string>; states: Set<string>; tmps: string[] } {
  const msgs = new Set<string>();
  const states = new Set<string>();
  const tmps: string[] = [];
  for (const name of listNames(dir)) {
    const { kind, id } = classifyEntry(name);
    if (kind === 'msg') msgs.add(id);
    else if (kind === 'state') states.add(id);
    else if (kind === 'tmp') tmps.push(name);
  }
  return { msgs, states, tmps };
}

export async function* recoverQueue(
  paths: SpoolPaths,
  sync: Record<SpoolArea, () => Promise<void>>,
  log: Logger,
  /** Hears which ids have a queue/ state file (the set stays the caller's to keep up). */
  onStates: (ids: Set<string>) => void = () => undefined,
): AsyncGenerator<SpoolRecord> {
  const { queueDir, failedDir } = paths;
  const queue = inventory(queueDir);
  const failed = inventory(failedDir);
  onStates(new Set(queue.states));
  for (const name of queue.tmps) await moveAside(paths, queueDir, name, 'leftover partial write (never acknowledged)', log);
  for (const id of queue.states) {
    if (queue.msgs.has(id)) continue;
    if (failed.msgs.has(id)) {
      // moveToFailed got as far as moving the message: only its old queue state is left.
      await fs.unlink(path.join(queueDir, stateName(id))).catch(ignoreMissing);
      log.info({ stage: 'spool', queueId: id }, 'finished an interrupted move to failed/');
    } else {
      await moveAside(paths, queueDir, stateName(id), 'state file without its message (a removal cut short, or damage)', log);
    }
  }
  for (const id of [...queue.msgs].sort()) {
    if (failed.states.has(id) && !failed.msgs.has(id)) {
      await finishMoveToFailed(paths, sync, id, queue.states.has(id));
      log.info({ stage: 'spool', queueId: id }, 'finished an interrupted move to failed/');
      continue;
    }
    const msgFile = path.join(queueDir, msgName(id));
    const committed = readingSpool(msgFile, () => readTrailerSync(msgFile, id));
    if (!committed.ok) {
      await moveAside(paths, queueDir, msgName(id), committed.reason, log);
      if (queue.states.has(id)) await moveAside(paths, queueDir, stateName(id), 'state of a damaged message', log);
      continue;
    }
    let record = committed.record;
    if (queue.states.has(id)) {
      const stateFile = path.join(queueDir, stateName(id));
      const state = readingSpool(stateFile, () => readStateSync(stateFile, id));
      if (state.ok && state.record.size === record.size) {
        record = state.record;
      } else {
        // The message itself is intact: deliver it from the record committed with it (a
        // recipient may get it twice; none loses it).
        const why = state.ok ? `state size ${state.record.size} does not match the message` : state.reason;
        await moveAside(paths, queueDir, stateName(id), `${why}; the message is delivered from the record committed with it`, log);
      }
    }
    yield record;
  }
}

/** The failed state is on disk but the message file is still in queue/: move it and clean up. */
async function finishMoveToFailed(paths: SpoolPaths, sync: Record<SpoolArea, () => Promise<void>>, id: string, hasQueueState: boolean): Promise<void> {
  await fs.rename(path.join(paths.queueDir, msgName(id)), path.join(paths.failedDir, msgName(id)));
  await sync.failed();
  if (hasQueueState) await fs.unlink(path.join(paths.queueDir, stateName(id))).catch(ignoreMissing);
  await sync.queue();
}
