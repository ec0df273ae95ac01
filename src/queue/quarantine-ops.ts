// Quarantine changes as pure record changes, written once: the daemon applies them through its
// control socket, the offline tool to the spool files (quarantine.ts). Release hands the message
// to the queue for the named recipients (or all of them), routed by the live config; the ones
// not named stay held. Input: the held record, the recipients, a route function and `now`.
import type { RcptState, SpoolRecord } from './record.js';

export type RouteOf = (address: string) => RcptState['route'];

export type ReleaseChange =
  | {
      kind: 'release';
      /** The record to queue: the held id when every recipient goes, else a new id (a copy). */
      queued: SpoolRecord;
      /** What stays held (the recipients not named); null when nothing does. */
      remaining: SpoolRecord | null;
    }
  | { kind: 'refuse'; code: 'E_NOT_FOUND' | 'E_BAD_REQUEST'; error: string };

/**
 * `recipients` null: all. A named address the message was not held for is refused (nothing
 * changes), so a typo never releases to nobody. `newId` names the copy of a partial release.
 */
export function releaseChange(held: SpoolRecord, recipients: readonly string[] | null, routeOf: RouteOf, now: number, newId: () => string): ReleaseChange {
  const wanted = recipients ? new Set(recipients.map((r) => r.toLowerCase())) : null;
  if (wanted) {
    const known = new Set(held.rcpts.map((r) => r.address.toLowerCase()));
    const unknown = [...wanted].filter((r) => !known.has(r));
    if (unknown.length) return { kind: 'refuse', code: 'E_BAD_REQUEST', error: `quarantine: ${held.id} is not held for ${unknown.join(', ')}` };
  }
  const go = held.rcpts.filter((r) => !wanted || wanted.has(r.address.toLowerCase()));
  const stay = held.rcpts.filter((r) => wanted && !wanted.has(r.address.toLowerCase()));
  const rcpts = go.map(
    (r): RcptState => ({ ...r, route: r.route.explicit ? r.route : routeOf(r.address), status: 'pending', attempts: 0, lastError: null, lastHost: null, updatedAt: now }),
  );
  const { quarantine: _held, ...rest } = held;
  const queued: SpoolRecord = { ...rest, id: stay.length ? newId() : held.id, status: 'active', attempts: 0, nextAttemptAt: now, rcpts };
  return { kind: 'release', queued, remaining: stay.length ? { ...held, rcpts: stay } : null };
}

/** Held messages whose retention has run out at `now`. */
export const isExpired = (rec: SpoolRecord, now: number): boolean => rec.quarantine !== undefined && rec.quarantine.expiresAt <= now;
