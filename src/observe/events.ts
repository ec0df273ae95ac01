// Tracking events: every stage's decision about a message, typed, in one place. Stages call
// track(); the sinks registered at start (the log, the trace store, the metrics) receive each
// event. A sink that throws never fails the message path: the error is counted and dropped.

export const EVENT_KINDS = [
  'RECEIVE',
  'REJECT',
  'FILTER',
  'QUARANTINE',
  'RELEASE',
  'DEFER',
  'DELIVER',
  'FAIL',
  'DSN',
  'EXPIRE',
  'REDIRECT',
  'DROP',
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export interface TrackingEvent {
  readonly kind: EventKind;
  /** ms since the epoch; track() fills it when left out. */
  readonly time?: number;
  /** null for a refusal before a queue id existed (RCPT). */
  readonly queueId: string | null;
  readonly sessionId?: string;
  readonly messageId?: string | null;
  readonly sender: string;
  readonly recipients: readonly string[];
  readonly subject?: string | null;
  readonly size?: number;
  readonly clientIp?: string;
  readonly inbound?: string | null;
  readonly outbound?: string | null;
  /** The routing rule or mail-flow rule that decided. */
  readonly rule?: string | null;
  readonly remoteHost?: string | null;
  readonly remoteIp?: string | null;
  /** The SMTP reply given or received ("550 5.7.1 …"). */
  readonly reply?: string | null;
  readonly reason?: string | null;
  /** FILTER / QUARANTINE: which filter, its verdict and score. */
  readonly filter?: { readonly name: string; readonly stage: string; readonly verdict: string; readonly score?: number | null; readonly rule?: string | null };
  readonly quarantineType?: string;
  /** Anything else worth keeping for `trace --details`. */
  readonly detail?: Readonly<Record<string, unknown>>;
}

export type Sink = (e: TrackingEvent & { time: number }) => void;

const sinks = new Set<Sink>();
let sinkErrors = 0;

/** Registers a sink; returns the function that removes it. */
export function addSink(s: Sink): () => void {
  sinks.add(s);
  return () => sinks.delete(s);
}

export function track(e: TrackingEvent): void {
  const ev = e.time === undefined ? { ...e, time: Date.now() } : (e as TrackingEvent & { time: number });
  for (const s of sinks) {
    try {
      s(ev);
    } catch {
      sinkErrors++;
    }
  }
}

export const trackSinkErrors = (): number => sinkErrors;
