// Time as an input: the queue manager reads the time and arms its one timer through a Clock, so
// retry and expiry are tested with a hand-driven clock instead of by waiting.

export interface Clock {
  now(): number;
  /** Arms a one-shot timer; it must not keep the process alive on its own account. */
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

/** setTimeout takes at most a signed 32-bit delay. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMER_MS)),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
