// Pure decisions for the PostgreSQL trace table's day partitions (pg-trace-store.ts): the name
// and [from, to) range of the partition that holds an instant, which partitions to create ahead
// of time or for a batch, and which whole partitions retention drops. Times are ms since the
// epoch (the partition key is the event time in ms), days are UTC days.

export const DAY_MS = 86_400_000;
export const PARTITION_PREFIX = 'trace_events_p';
/** Partitions created ahead of today (and kept behind it) so inserts never wait on DDL. */
export const DAYS_AHEAD = 2;
export const DAYS_BEHIND = 1;

export interface Partition {
  readonly name: string;
  /** Inclusive lower bound (ms, a UTC midnight). */
  readonly from: number;
  /** Exclusive upper bound: from + one day. */
  readonly to: number;
}

export function partitionOf(time: number): Partition {
  const from = Math.floor(time / DAY_MS) * DAY_MS;
  const d = new Date(from);
  const ymd = `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}`;
  return { name: `${PARTITION_PREFIX}${ymd}`, from, to: from + DAY_MS };
}

/** The day a partition name stands for (its `from`), or null for a name that is not ours. */
export function partitionStart(name: string): number | null {
  const m = /^trace_events_p(\d{4})(\d{2})(\d{2})$/.exec(name);
  if (!m) return null;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return partitionOf(t).name === name ? t : null;
}

/** Yesterday, today and the days ahead: what a replica keeps created. */
export function partitionsAround(now: number, ahead = DAYS_AHEAD, behind = DAYS_BEHIND): Partition[] {
  const out: Partition[] = [];
  for (let d = -behind; d <= ahead; d++) out.push(partitionOf(now + d * DAY_MS));
  return out;
}

/** The partitions a batch of event times needs that are not yet known to exist, oldest first. */
export function partitionsNeeded(times: readonly number[], known: ReadonlySet<string>): Partition[] {
  const byName = new Map<string, Partition>();
  for (const t of times) {
    const p = partitionOf(t);
    if (!known.has(p.name)) byName.set(p.name, p);
  }
  return [...byName.values()].sort((a, b) => a.from - b.from);
}

/**
 * Retention drops whole days: a partition goes when its newest possible event is older than the
 * retention, so an event is kept at least `retentionMs` and at most a day longer.
 */
export function partitionsToDrop(names: readonly string[], now: number, retentionMs: number): string[] {
  const cutoff = now - retentionMs;
  return names.filter((n) => {
    const from = partitionStart(n);
    return from !== null && from + DAY_MS <= cutoff;
  }).sort();
}

/** An event older than the retention would only create a partition to drop at once: skip it. */
export const pastRetention = (time: number, now: number, retentionMs: number): boolean => partitionOf(time).to <= now - retentionMs;

/** DDL for one partition, idempotent (two replicas may race on it; ensureSchema serialises). */
export const partitionDdl = (p: Partition): string =>
  `CREATE TABLE IF NOT EXISTS ${p.name} PARTITION OF trace_events FOR VALUES FROM (${p.from}) TO (${p.to});`;
