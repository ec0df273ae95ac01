// Decisions of the pure core. A verdict is not a wire code: listener/replies.ts is the only
// place that turns one into an SMTP reply. Every verdict carries the reason that decided it.

export type ReplyCode = 250 | 421 | 450 | 451 | 452 | 501 | 503 | 550 | 552 | 554;

export interface Accept {
  readonly kind: 'accept';
  readonly reason: string;
}

export interface Refuse {
  readonly kind: 'reject' | 'tempfail';
  readonly code: ReplyCode;
  /** RFC 3463 enhanced status code, e.g. "5.7.64". */
  readonly enhanced: string;
  readonly text: string;
  readonly reason: string;
}

export type Verdict = Accept | Refuse;

export const accept = (reason: string): Accept => ({ kind: 'accept', reason });

export function refuse(code: ReplyCode, enhanced: string, text: string, reason: string): Refuse {
  return { kind: code >= 500 ? 'reject' : 'tempfail', code, enhanced, text, reason };
}
