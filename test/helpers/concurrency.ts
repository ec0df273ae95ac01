// Connections open at once, as a recording smart host saw them (test/helpers/smart-host.ts).
import type { SmartHostConnection } from './smart-host.js';

/** Most connections open at once among `conns` (from one host or several), from their open/close times. */
export function peakConcurrency(conns: readonly SmartHostConnection[]): number {
  const events = conns.flatMap((c) => [
    { t: c.opened, d: 1 },
    { t: c.closed ?? Number.MAX_SAFE_INTEGER, d: -1 },
  ]);
  // At equal times a close counts before an open: the millisecond clock cannot order them.
  events.sort((a, b) => a.t - b.t || a.d - b.d);
  let open = 0;
  let peak = 0;
  for (const e of events) peak = Math.max(peak, (open += e.d));
  return peak;
}
