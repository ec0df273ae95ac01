// Retry backoff, pure: how long a message waits after its n-th failed attempt, clamped to its
// expiry moment so an expiring message is tried (and bounced) on time. Used by the queue manager.
import type { Model } from '../domain/model.js';

export type RetrySettings = Model['delivery']['retry'];

/**
 * Delay before retry number `attempts` (1 = after the first failed attempt): doubles from
 * retry.initial and is capped at retry.max. With the defaults (5m, 60m) that is 5, 10, 20, 40, 60,
 * 60… minutes: EOP's shape, first retries within 15 minutes, then at most hourly.
 */
export function retryDelayMs(attempts: number, retry: RetrySettings): number {
  const exp = Math.min(attempts - 1, 20);
  return Math.min(retry.maxMs, retry.initialMs * 2 ** Math.max(0, exp));
}

/** When to try again: the backoff, but never past the expiry moment, so expiry happens on time. */
export function nextAttemptAt(attempts: number, receivedAt: number, now: number, retry: RetrySettings): number {
  return Math.min(now + retryDelayMs(attempts, retry), expiresAt(receivedAt, retry));
}

export function expiresAt(receivedAt: number, retry: RetrySettings): number {
  return receivedAt + retry.lifetimeMs;
}
