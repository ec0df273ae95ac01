// The filter contract: what every stage of the protection pipeline gets and what it may answer.
// Filters are decisions over facts: they read the session, the envelope and a read-only view of
// the spooled message and return a verdict; they never write a reply, the spool or a socket.
// The runner (pipeline.ts) applies verdicts in the fixed stage order and turns them into SMTP
// replies, quarantine, splits and header edits; it alone handles errors and the time budget.
import type { Readable } from 'node:stream';
import type { InboundConnector, Model } from '../domain/model.js';
import type { RcptState } from '../queue/record.js';

/**
 * The fixed order (README "Protection pipeline"). Connection-level stages run before MAIL FROM is
 * accepted (and again at DATA when enhanced filtering finds the original sender IP); the rest
 * run during DATA, after the body is on disk and before the 250.
 */
export const STAGES = [
  'connectionFilter',
  'senderAuthentication',
  'malware',
  'fileTypes',
  'spam',
  'transportRules',
  'headerTrust',
] as const;
export type FilterStage = (typeof STAGES)[number];

/** EOP's quarantine types. DMARC and spoof failures are Phish. */
export const QUARANTINE_TYPES = ['Spam', 'HighConfidenceSpam', 'Bulk', 'Phish', 'Malware', 'FileTypeBlock', 'TransportRule'] as const;
export type QuarantineType = (typeof QUARANTINE_TYPES)[number];

/** Facts about the SMTP session, gathered by the listener. */
export interface SessionView {
  readonly sessionId: string;
  /** The TCP peer (or the PROXY-protocol client when a trusted proxy sent one). */
  readonly peerIp: string;
  /**
   * The IP the filters judge: the peer, or the original sender taken from the Received: chain
   * when the inbound connector enables enhanced filtering (efSkipLastIP / efSkipIPs).
   */
  readonly clientIp: string;
  readonly helo: string;
  readonly tls: boolean;
  /** Verified client-certificate names (CN and DNS SANs); empty without a verified certificate. */
  readonly certNames: readonly string[];
  readonly inbound: InboundConnector | null;
  /** How the inbound connector matched: 'certificate' | 'ip' | 'senderDomain' | null (anonymous). */
  readonly matchedBy: string | null;
}

export interface EnvelopeView {
  readonly mailFrom: string;
  readonly rcpts: readonly { readonly address: string; readonly route: RcptState['route'] }[];
}

/** One header field as received, unfolded value kept raw. `line` is the exact bytes incl. CRLF. */
export interface HeaderField {
  readonly name: string;
  readonly value: string;
  readonly line: string;
}

/** A leaf of the bounded MIME parse. */
export interface MimePart {
  readonly path: string; // "1.2"
  readonly contentType: string; // lower case, no parameters
  readonly filename: string | null;
  readonly disposition: string | null;
  readonly size: number; // decoded bytes
  readonly depth: number;
  /** Decoded content, up to the parse's per-part bound; `truncated` says when cut. */
  readonly content: Buffer;
  readonly truncated: boolean;
}

export interface MimeSummary {
  readonly parts: readonly MimePart[];
  /** true when a limit (size, depth, part count) stopped the parse; filters must not treat that as clean. */
  readonly limited: boolean;
  readonly limitReason: string | null;
}

/** A read-only view of the message, shared by all filters of one DATA. */
export interface MessageView {
  readonly queueId: string;
  readonly size: number;
  /** The received header block (without the headers Sluice added). */
  readonly headers: readonly HeaderField[];
  /** A new stream of the message as it will be delivered (our headers in front). */
  open(): Readable;
  /** The bounded MIME parse, done once on first call and shared. */
  mime(): Promise<MimeSummary>;
}

export type HeaderEdit =
  | { readonly op: 'add'; readonly name: string; readonly value: string }
  /**
   * Removes received fields of that name; with `value`, only those whose value (as in
   * HeaderField.value) equals it (RFC 8601 §5: only the Authentication-Results claiming our id).
   */
  | { readonly op: 'remove'; readonly name: string; readonly value?: string }
  | { readonly op: 'set'; readonly name: string; readonly value: string };

/**
 * A rewrite of the body applied when the message leaves (the spool keeps the bytes as received):
 * a mail-flow rule's disclaimer, or its Wrap fallback. Stored with the record, applied in order.
 */
export type BodyTransform =
  | { readonly kind: 'disclaimer'; readonly text: string; readonly location: 'Append' | 'Prepend' }
  | { readonly kind: 'wrap'; readonly text: string };

export type FilterAction =
  | { readonly kind: 'accept' }
  | { readonly kind: 'reject' | 'tempfail'; readonly code: number; readonly enhanced: string; readonly text: string }
  | { readonly kind: 'quarantine'; readonly type: QuarantineType; readonly reason: string }
  /** Accepted with a 250 and dropped: recorded (DROP event), never delivered. */
  | { readonly kind: 'delete'; readonly reason: string };

export interface FilterVerdict {
  readonly action: FilterAction;
  /**
   * The recipients the action applies to; undefined = all. A reject always applies to the whole
   * message (one reply per DATA); other actions on a subset split the message in the spool.
   */
  readonly recipients?: readonly string[];
  readonly headerEdits?: readonly HeaderEdit[];
  /** Spam confidence level (-1 … 9) when this filter judged spam. */
  readonly scl?: number;
  /** Recipients to add (blind copy, add-to) or to replace all with (redirect). */
  readonly addRecipients?: readonly string[];
  readonly redirectTo?: readonly string[];
  /** Route override for the recipients (mail-flow rule "route via connector"). */
  readonly route?: { readonly connector: string; readonly rule: string; readonly requireTls?: boolean };
  /** Body rewrites for the recipients (applied at delivery, before DKIM signing). */
  readonly bodyTransforms?: readonly BodyTransform[];
  /** Short human reason for the log and the trace ("DMARC p=reject for fabrikam.com"). */
  readonly reason: string;
  /**
   * Anything the trace and the log should keep: scores, symbols, matched rules, signatures. The
   * runner also reads these keys into PipelineFacts for later stages: `ipAllowed: true`, `bcl`
   * (number), `auth` (PipelineFacts['auth']); and `rule` (string) into the FILTER event.
   */
  readonly evidence?: Readonly<Record<string, unknown>>;
}

/**
 * What earlier stages learnt, for later ones (the spam filter skips an allow-listed IP; a rule
 * tests the SCL). The runner fills it from verdicts; filters read it.
 */
export interface PipelineFacts {
  ipAllowed: boolean;
  scl: number | null;
  bcl: number | null;
  auth: { spf: string; dkim: string; dmarc: string; arc: string; dmarcPolicy: string | null; fromDomain: string | null } | null;
  /** Set by quarantine release: the filter that held the message is skipped. */
  skip: ReadonlySet<string>;
}

export interface FilterContext {
  readonly model: Model;
  readonly session: SessionView;
  readonly envelope: EnvelopeView;
  readonly facts: PipelineFacts;
  /** Fires when the pipeline's time budget (filters.timeout) is spent: stop engine calls. */
  readonly signal: AbortSignal;
}

export interface ContentContext extends FilterContext {
  readonly message: MessageView;
}

export type OnError = 'Tempfail' | 'Accept';

export interface Filter {
  /** Unique, shown in logs, traces and `sluice route --message`. */
  readonly name: string;
  readonly stage: FilterStage;
  /** Tempfail (default) fails closed with a 4xx; Accept is an explicit opt-in to pass on error. */
  readonly onError: OnError;
  /** Before MAIL FROM is accepted (connection filter). Optional. */
  connect?(ctx: FilterContext): Promise<FilterVerdict> | FilterVerdict;
  /** During DATA, before the 250. Optional. */
  content?(ctx: ContentContext): Promise<FilterVerdict> | FilterVerdict;
}

/** Builds the filters the current model enables; called at start and on every reload. */
export type FilterFactory = (model: Model) => Filter[];

export const ACCEPT: FilterVerdict = { action: { kind: 'accept' }, reason: 'pass' };
