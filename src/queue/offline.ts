// Queue changes applied straight to the spool files when no daemon runs (the queue tools' offline
// mode): the same pure changes the daemon applies (admin-ops.ts), written with Spool.update. The
// daemon takes the new state up at its next start. Safe only because no daemon is running.
import type { ControlRequest, ControlResponse } from './control.js';
import { adminChange } from './admin-ops.js';
import type { Spool } from './spool.js';

/** The answer for an id the queue does not hold: failed already, or unknown. */
export async function whyMissing(spool: Spool, id: string): Promise<ControlResponse> {
  const failed = await spool.readRecord(id, 'failed');
  if (failed) return { ok: false, code: 'E_FAILED_MESSAGE', error: `queue: ${id} has already failed (kept in failed/); only delete applies` };
  return { ok: false, code: 'E_NOT_FOUND', error: `queue: no message ${id}` };
}


export async function applyOffline(spool: Spool, req: ControlRequest, now = Date.now()): Promise<ControlResponse> {
  if (req.op === 'ping') return { ok: true };
  if (req.op === 'reload' || req.op === 'connectors') return { ok: false, code: 'E_BAD_REQUEST', error: `${req.op}: no daemon running` };
  if (req.op === 'retry' && req.all) return { ok: true, count: await retryAllOffline(spool, now), note: 'due now; delivered when the daemon starts' };
  // The quarantine's own offline path is quarantine.ts (sluice quarantine), not the queue's.
  if (req.op === 'quarantine-release' || req.op === 'quarantine-delete') return { ok: false, code: 'E_BAD_REQUEST', error: `queue: ${req.op} is a quarantine operation` };
  const id = req.id!;
  const rec = await spool.readRecord(id);
  if (!rec) {
    if (req.op === 'delete' && (await spool.removeFailed(id))) return { ok: true, id, note: 'removed from failed/' };
    return whyMissing(spool, id);
  }
  const change = adminChange(req.op, rec, now);
  switch (change.kind) {
    case 'refuse':
      return { ok: false, code: change.code, error: change.error };
    case 'remove':
      await spool.remove(id);
      return { ok: true, id };
    case 'reschedule':
      await spool.update({ ...rec, nextAttemptAt: change.at });
      break;
    case 'update':
      await spool.update(change.record);
      break;
    case 'unchanged':
      break;
  }
  return { ok: true, id, ...(OFFLINE_NOTES[req.op] ? { note: OFFLINE_NOTES[req.op] } : {}) };
}

/** What the tool says after an offline change the daemon finishes at its next start. */
const OFFLINE_NOTES: Partial<Record<ControlRequest['op'], string>> = {
  retry: 'due now; delivered when the daemon starts',
  release: 'due now; delivered when the daemon starts',
  bounce: 'recipients marked failed; the daemon finishes the bounce when it starts',
};

async function retryAllOffline(spool: Spool, now: number): Promise<number> {
  // Rewriting records while the directory is read may show a name twice; count each id once.
  const seen = new Set<string>();
  for await (const rec of spool.list('queue')) {
    if (seen.has(rec.id) || rec.status !== 'active') continue;
    const change = adminChange('retry', rec, now);
    if (change.kind !== 'reschedule') continue;
    seen.add(rec.id);
    await spool.update({ ...rec, nextAttemptAt: change.at });
  }
  return seen.size;
}
