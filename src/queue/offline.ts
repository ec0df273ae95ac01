// Queue changes applied straight to the spool files when no daemon runs (the queue tools' offline
// mode), with the daemon's own atomic write (Spool.update: tmp + fsync + rename + dir fsync). The
// daemon takes the new state up at its next start. Safe only because no daemon is running.
import type { ControlRequest, ControlResponse } from './control.js';
import { pendingRcpts, type SpoolRecord } from './record.js';
import { QueueManager } from './scheduler.js';
import type { Spool } from './spool.js';

/** The answer for an id the queue does not hold: failed already, or unknown. */
export async function whyMissing(spool: Spool, id: string): Promise<ControlResponse> {
  const failed = await spool.readRecord(id, 'failed');
  if (failed) return { ok: false, code: 'E_FAILED_MESSAGE', error: `queue: ${id} has already failed (kept in failed/); only delete applies` };
  return { ok: false, code: 'E_NOT_FOUND', error: `queue: no message ${id}` };
}


export async function applyOffline(spool: Spool, req: ControlRequest): Promise<ControlResponse> {
  const now = Date.now();
  if (req.op === 'ping') return { ok: true };
  if (req.op === 'retry' && req.all) return { ok: true, count: await retryAllOffline(spool, now), note: 'due now; delivered when the daemon starts' };
  const id = req.id!;
  const rec = await spool.readRecord(id);
  if (!rec) {
    if (req.op === 'delete' && (await spool.removeFailed(id))) return { ok: true, id, note: 'removed from failed/' };
    return whyMissing(spool, id);
  }
  switch (req.op) {
    case 'retry':
      if (rec.status === 'hold') return { ok: false, code: 'E_ON_HOLD', error: `queue: ${id} is on hold; release it first` };
      await spool.update({ ...rec, nextAttemptAt: now });
      return { ok: true, id, note: 'due now; delivered when the daemon starts' };
    case 'hold':
      await spool.update({ ...rec, status: 'hold' });
      return { ok: true, id };
    case 'release':
      if (rec.status === 'hold') await spool.update({ ...rec, status: 'active', nextAttemptAt: now });
      return { ok: true, id, note: 'due now; delivered when the daemon starts' };
    case 'delete':
      await spool.remove(id);
      return { ok: true, id };
    case 'bounce':
      await spool.update(markBounced(rec, now));
      return { ok: true, id, note: 'recipients marked failed; the daemon finishes the bounce when it starts' };
  }
}

/**
 * Offline bounce leaves the record in queue/, active and due, with every pending recipient failed:
 * at start the daemon runs it through its normal path (no recipient left to try), which moves it
 * to failed/ and sends whatever notice failed recipients call for, exactly as for a live bounce.
 */
function markBounced(rec: SpoolRecord, now: number): SpoolRecord {
  const next: SpoolRecord = { ...rec, status: 'active', nextAttemptAt: now, rcpts: rec.rcpts.map((r) => ({ ...r })) };
  for (const r of pendingRcpts(next)) {
    r.status = 'failed';
    r.lastError = QueueManager.ADMIN_BOUNCE_ERROR;
    r.updatedAt = now;
  }
  return next;
}

async function retryAllOffline(spool: Spool, now: number): Promise<number> {
  // Rewriting records while the directory is read may show a name twice; count each id once.
  const seen = new Set<string>();
  for await (const rec of spool.list('queue')) {
    if (seen.has(rec.id) || rec.status !== 'active') continue;
    seen.add(rec.id);
    await spool.update({ ...rec, nextAttemptAt: now });
  }
  return seen.size;
}
