// The spool record: a message's envelope and per-recipient delivery state, as JSON. The file
// spool stores it in the message file's trailer at commit and in a small state file after each
// change (spool-format.ts). Pure helpers only; file-spool.ts does the I/O.

import type { BodyTransform } from '../filters/contract.js';

export type RcptStatus = 'pending' | 'delivered' | 'failed';
export type RecordStatus = 'active' | 'hold' | 'failed';

export interface RcptState {
  address: string;
  /**
   * Outbound decision taken at receipt. Unless `explicit` (set by a mail-flow rule: "route via
   * connector"), delivery routes again on the live config at each attempt, so fixing a connector
   * fixes its queue; an explicit route is honoured as given.
   */
  route: { kind: string; connector: string | null; rule: string; explicit?: boolean; requireTls?: boolean };
  status: RcptStatus;
  attempts: number;
  lastError: string | null;
  lastHost: string | null;
  updatedAt: number;
  /** The filter (mail-flow rule) that added this recipient by redirect, blind copy or add-to. */
  expandedBy?: string;
  /** RFC 3461 parameters given at RCPT, if any. */
  notify?: string[];
  orcpt?: string;
  /** Smart host / MX name of lastHost (which is "ip:port"), when it has one: Remote-MTA in DSNs. */
  lastHostName?: string | null;
  /** Set once the DSN this recipient's final state calls for is queued (or none was due). */
  notified?: boolean;
}

/** The record version the spool writes (2: one file per message with a trailer, spool-format.ts). */
export const RECORD_VERSION = 2;

export interface SpoolRecord {
  /**
   * Format version of the stored record. The spool stamps RECORD_VERSION on every write, so a
   * caller's value does not matter; 1 is the old two-file spool, migrated when the spool opens.
   */
  v: 1 | 2;
  id: string;
  receivedAt: number;
  sessionId: string;
  client: { ip: string; helo: string; tls: boolean; inbound: string | null; matchedBy: string | null };
  mailFrom: string;
  /** Bytes of the received message as stored (without `headers`). */
  size: number;
  status: RecordStatus;
  attempts: number;
  nextAttemptAt: number;
  dsn?: { ret: string | null; envid: string | null };
  /** When the one delay warning (delivery.delayWarning) went out, if it did. */
  delayWarnedAt?: number;
  /** Message-ID and Subject as read at receipt, for the message trace (no angle brackets). */
  messageId?: string | null;
  subject?: string | null;
  rcpts: RcptState[];
  /**
   * Header lines Sluice adds (Received:, later Authentication-Results and rule edits), CRLF
   * terminated. Stored with the record and put in front of the received bytes whenever the
   * message is read, so the received bytes stay exactly as received (DKIM-safe).
   */
  headers?: string;
  /**
   * Sorted [start, end) byte ranges of the received bytes left out whenever the message is read:
   * received header fields a filter removed. The bytes on disk stay as received.
   */
  omit?: [number, number][];
  /**
   * Body rewrites (a mail-flow rule's disclaimer) applied to the outgoing stream at delivery, in
   * order, before DKIM signing. The stored bytes stay as received.
   */
  transforms?: BodyTransform[];
  /** Set while the message is held in the quarantine (spool area 'quarantine'). */
  quarantine?: QuarantineInfo;
}

/** Why and until when a message is held (issue 9). `type` is one of EOP's QUARANTINE_TYPES. */
export interface QuarantineInfo {
  filter: string;
  stage: string;
  type: string;
  reason: string;
  quarantinedAt: number;
  expiresAt: number;
  /** Every filter's verdict on the message, for `quarantine show`. */
  verdicts?: { filter: string; stage: string; verdict: string; reason: string }[];
}

export const pendingRcpts = (r: SpoolRecord): RcptState[] => r.rcpts.filter((x) => x.status === 'pending');

/** Parses and checks a record file's text; null means corrupt (partial write, bad JSON, wrong shape). */
export function parseRecord(text: string): SpoolRecord | null {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  const r = data as SpoolRecord;
  const ok =
    typeof r === 'object' &&
    r !== null &&
    (r.v === 1 || r.v === RECORD_VERSION) &&
    typeof r.id === 'string' &&
    /^[A-Za-z0-9]+$/.test(r.id) &&
    typeof r.mailFrom === 'string' &&
    typeof r.size === 'number' &&
    Array.isArray(r.rcpts) &&
    r.rcpts.length > 0 &&
    r.rcpts.every((x) => typeof x?.address === 'string' && typeof x.status === 'string');
  return ok ? r : null;
}
