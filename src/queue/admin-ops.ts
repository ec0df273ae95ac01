// The queue tools' changes (Postfix's postqueue -i/-f, postsuper -h/-H/-d, Exchange's remove with
// NDR) as pure record changes, written once: the daemon applies them to its queue (control socket)
// and the offline tool to the spool files (offline.ts). Input: the operation, the record, `now`.
import { formatLastError } from '../bounce/notice.js';
import { failPending } from './record-outcomes.js';
import type { SpoolRecord } from './record.js';

export type AdminOp = 'retry' | 'hold' | 'release' | 'delete' | 'bounce';

export const ADMIN_BOUNCE_STATUS = '5.0.0';
export const ADMIN_BOUNCE_REASON = 'Bounced by administrator (queue bounce)';
/** The lastError a `queue bounce` leaves on each recipient it fails. */
export const ADMIN_BOUNCE_ERROR = formatLastError(ADMIN_BOUNCE_STATUS, ADMIN_BOUNCE_REASON);

export type AdminChange =
  /** Nothing to do (holding a held message, releasing an active one). */
  | { kind: 'unchanged' }
  /** Due at `at`: the daemon only reschedules; the offline tool stores it as nextAttemptAt. */
  | { kind: 'reschedule'; at: number }
  /** Store `record`. `finish`: nothing is left to deliver; the queue completes it (DSN, failed/). */
  | { kind: 'update'; record: SpoolRecord; finish: boolean }
  /** Gone for good, no notice. */
  | { kind: 'remove' }
  | { kind: 'refuse'; code: 'E_ON_HOLD'; error: string };

/** Deliver now (postqueue -i); a held message must be released first. Needs only id and status. */
export function retryChange(rec: Pick<SpoolRecord, 'id' | 'status'>, now: number): AdminChange {
  if (rec.status === 'hold') return { kind: 'refuse', code: 'E_ON_HOLD', error: `queue: ${rec.id} is on hold; release it first` };
  return { kind: 'reschedule', at: now };
}

export function adminChange(op: AdminOp, rec: SpoolRecord, now: number, bounce = { status: ADMIN_BOUNCE_STATUS, reason: ADMIN_BOUNCE_REASON }): AdminChange {
  switch (op) {
    case 'retry':
      return retryChange(rec, now);
    case 'hold':
      return rec.status === 'hold' ? { kind: 'unchanged' } : { kind: 'update', record: { ...rec, status: 'hold' }, finish: false };
    case 'release':
      return rec.status === 'hold' ? { kind: 'update', record: { ...rec, status: 'active', nextAttemptAt: now }, finish: false } : { kind: 'unchanged' };
    case 'delete':
      return { kind: 'remove' };
    case 'bounce': {
      // Active and due with every pending recipient failed: the queue's normal path (nothing left
      // to try) sends the notice failed recipients call for and moves the message to failed/.
      const lastError = formatLastError(bounce.status, bounce.reason);
      const failed = failPending({ ...rec, status: 'active', nextAttemptAt: now }, now, () => lastError);
      return { kind: 'update', record: failed, finish: true };
    }
  }
}
