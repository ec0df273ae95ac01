// Host-down marks shared through Redis (issue 13): a host one replica found down is skipped by
// every replica until the mark expires. Marks live in one sorted set (host → expiry, Redis' time)
// with their reasons in a hash; each replica reads them every HOST_MARKS_POLL_MS and keeps the
// last copy, so delivery asks a map, never Redis. Redis unreachable: each replica keeps only its
// own marks (delivery/host-health.ts), as a single node does.
import type { Logger } from '../observe/log.js';
import type { HostMarksShare, SharedMark } from '../delivery/host-health.js';
import type { ClusterRedis } from './redis.js';
import { withLeaseScripts } from './slot-scripts.js';

const MARKS_KEY = 'sluice:hostdown';
const REASONS_KEY = 'sluice:hostdown:reason';
/** How stale another replica's mark may be here. */
export const HOST_MARKS_POLL_MS = 1_000;

/** {now, host, expiresAt, reason, …} from the read script → marks on this replica's clock. */
export function marksFromReply(reply: readonly (string | number)[], localNow: number): Map<string, SharedMark> {
  const out = new Map<string, SharedMark>();
  const redisNow = Number(reply[0]);
  for (let i = 1; i + 2 < reply.length; i += 3) {
    const host = String(reply[i]);
    const expiresAt = Number(reply[i + 1]);
    // Redis' clock decides expiry; the time left is carried over to ours.
    out.set(host, { until: localNow + (expiresAt - redisNow), reason: String(reply[i + 2] ?? '') });
  }
  return out;
}

export class SharedHostMarks implements HostMarksShare {
  private seen = new Map<string, SharedMark>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly redis: ClusterRedis,
    private readonly log: Logger,
    pollMs = HOST_MARKS_POLL_MS,
  ) {
    this.timer = setInterval(() => void this.poll(), pollMs);
    this.timer.unref();
  }

  get(host: string): SharedMark | undefined {
    return this.seen.get(host);
  }

  all(): ReadonlyMap<string, SharedMark> {
    return this.seen;
  }

  down(host: string, downMs: number, reason: string): void {
    if (!this.redis.ready) return;
    withLeaseScripts(this.redis.client)
      .sluiceMarkDown(MARKS_KEY, REASONS_KEY, host, downMs, reason)
      .catch((err: Error) => this.log.debug({ stage: 'cluster', host, err: err.message }, 'host-down mark not shared'));
  }

  up(host: string): void {
    this.seen.delete(host);
    if (!this.redis.ready) return;
    this.redis.client
      .multi()
      .zrem(MARKS_KEY, host)
      .hdel(REASONS_KEY, host)
      .exec()
      .catch(() => undefined);
  }

  async poll(): Promise<void> {
    if (!this.redis.ready) {
      // Another replica's marks may have ended unseen: keep only our own (host-health.ts) while away.
      this.seen = new Map();
      return;
    }
    try {
      const reply = await withLeaseScripts(this.redis.client).sluiceReadMarks(MARKS_KEY, REASONS_KEY);
      this.seen = marksFromReply(reply, Date.now());
    } catch (err) {
      this.log.debug({ stage: 'cluster', err: (err as Error).message }, 'host-down marks not read');
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
