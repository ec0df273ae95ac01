// Mail-flow rule conditions over one message: pure. Different predicates AND, values within one
// predicate OR (EOP's rule semantics). Recipient predicates (sentTo, recipientDomainIs,
// sentToScope) pick the recipients the rule applies to; the others judge the whole message.
import type { RuleConditions } from '../config/sections/rules.js';
import { ipMatches } from '../domain/match.js';
import { countClassification } from './dlp.js';
import { patternsTest, wordsTest, type TextTest } from './match-text.js';

export interface RuleAttachment {
  readonly filename: string;
  readonly size: number;
}

/** What the conditions look at, gathered once per message by the filter. */
export interface RuleInput {
  /** The senders the rule judges (senderAddressLocation: From header and/or MAIL FROM), lower case. */
  readonly senders: readonly string[];
  readonly senderInOrganization: boolean;
  readonly recipients: readonly string[];
  readonly recipientInOrganization: (address: string) => boolean;
  readonly clientIp: string;
  /** Header fields by lower-case name, unfolded values, in message order. */
  readonly headers: ReadonlyMap<string, readonly string[]>;
  readonly subject: string;
  /** Decoded text of the text parts (bounded). */
  readonly bodyText: string;
  /** Text the DLP detectors scan: body text and text-like attachments (bounded). */
  readonly dlpText: string;
  readonly attachments: readonly RuleAttachment[];
  readonly size: number;
  readonly scl: number | null;
}

/** How a condition set matched: no, or yes for these recipients (null = the whole message). */
export type Match = { readonly matched: false } | { readonly matched: true; readonly recipients: readonly string[] | null; readonly why: readonly string[] };

const domainOf = (a: string) => a.slice(a.lastIndexOf('@') + 1).toLowerCase();
const extOf = (name: string) => {
  const i = name.lastIndexOf('.');
  return i < 0 ? '' : name.slice(i + 1).toLowerCase();
};

type MessageTest = (m: RuleInput) => boolean;
type RecipientTest = (m: RuleInput, rcpt: string) => boolean;

export interface CompiledConditions {
  readonly empty: boolean;
  readonly message: readonly { readonly key: string; readonly test: MessageTest }[];
  readonly recipient: readonly { readonly key: string; readonly test: RecipientTest }[];
}

/** Compiles the regular expressions once (at start and reload), not per message. */
export function compileConditions(c: RuleConditions): CompiledConditions {
  const message: { key: string; test: MessageTest }[] = [];
  const recipient: { key: string; test: RecipientTest }[] = [];
  const add = (key: string, test: MessageTest) => message.push({ key, test });
  const words = (w: readonly string[] | undefined): TextTest | null => (w ? wordsTest(w) : null);
  const pats = (p: readonly string[] | undefined): TextTest | null => (p ? patternsTest(p) : null);

  if (c.from) {
    const set = new Set(c.from);
    add('from', (m) => m.senders.some((s) => set.has(s)));
  }
  const faw = words(c.fromAddressContainsWords);
  if (faw) add('fromAddressContainsWords', (m) => m.senders.some(faw));
  const fap = pats(c.fromAddressMatchesPatterns);
  if (fap) add('fromAddressMatchesPatterns', (m) => m.senders.some(fap));
  if (c.senderDomainIs) {
    const set = new Set(c.senderDomainIs);
    add('senderDomainIs', (m) => m.senders.some((s) => s !== '' && set.has(domainOf(s))));
  }
  if (c.fromScope) {
    const inOrg = c.fromScope === 'InOrganization';
    add('fromScope', (m) => m.senderInOrganization === inOrg);
  }
  if (c.senderIpRanges) {
    const rules = c.senderIpRanges;
    add('senderIpRanges', (m) => ipMatches(rules, m.clientIp) !== null);
  }
  if (c.headerContains) {
    const { header } = c.headerContains;
    const t = wordsTest(c.headerContains.words);
    add('headerContainsWords', (m) => (m.headers.get(header) ?? []).some(t));
  }
  if (c.headerMatches) {
    const { header } = c.headerMatches;
    const t = patternsTest(c.headerMatches.patterns);
    add('headerMatchesPatterns', (m) => (m.headers.get(header) ?? []).some(t));
  }
  const sw = words(c.subjectContainsWords);
  if (sw) add('subjectContainsWords', (m) => sw(m.subject));
  const sbw = words(c.subjectOrBodyContainsWords);
  if (sbw) add('subjectOrBodyContainsWords', (m) => sbw(m.subject) || sbw(m.bodyText));
  const sbp = pats(c.subjectOrBodyMatchesPatterns);
  if (sbp) add('subjectOrBodyMatchesPatterns', (m) => sbp(m.subject) || sbp(m.bodyText));
  if (c.attachmentExtensionMatchesWords) {
    const set = new Set(c.attachmentExtensionMatchesWords.map((w) => w.replace(/^\./, '').toLowerCase()));
    add('attachmentExtensionMatchesWords', (m) => m.attachments.some((a) => set.has(extOf(a.filename))));
  }
  if (c.attachmentSizeOver !== undefined) {
    const n = c.attachmentSizeOver;
    add('attachmentSizeOver', (m) => m.attachments.some((a) => a.size > n));
  }
  if (c.messageSizeOver !== undefined) {
    const n = c.messageSizeOver;
    add('messageSizeOver', (m) => m.size > n);
  }
  if (c.sclOver !== undefined) {
    // EOP: "SCL greater than or equal to the specified value".
    const n = c.sclOver;
    add('sclOver', (m) => m.scl !== null && m.scl >= n);
  }
  if (c.messageContainsDataClassifications) {
    const wanted = c.messageContainsDataClassifications;
    add('messageContainsDataClassifications', (m) =>
      wanted.some((w) => {
        const n = countClassification(w.name, m.dlpText);
        return n >= w.minCount && (w.maxCount === null || n <= w.maxCount);
      }),
    );
  }
  if (c.sentTo) {
    const set = new Set(c.sentTo);
    recipient.push({ key: 'sentTo', test: (_m, r) => set.has(r.toLowerCase()) });
  }
  if (c.recipientDomainIs) {
    const set = new Set(c.recipientDomainIs);
    recipient.push({ key: 'recipientDomainIs', test: (_m, r) => set.has(domainOf(r)) });
  }
  if (c.sentToScope) {
    const inOrg = c.sentToScope === 'InOrganization';
    recipient.push({ key: 'sentToScope', test: (m, r) => m.recipientInOrganization(r) === inOrg });
  }
  return { empty: message.length === 0 && recipient.length === 0, message, recipient };
}

/** All predicates must hold; recipient predicates narrow the recipients. */
export function matchAll(c: CompiledConditions, m: RuleInput): Match {
  const why: string[] = [];
  for (const p of c.message) {
    if (!p.test(m)) return { matched: false };
    why.push(p.key);
  }
  if (c.recipient.length === 0) return { matched: true, recipients: null, why };
  const rcpts = m.recipients.filter((r) => c.recipient.every((p) => p.test(m, r)));
  if (rcpts.length === 0) return { matched: false };
  return { matched: true, recipients: rcpts, why: [...why, ...c.recipient.map((p) => p.key)] };
}

/**
 * EOP: any one exception stops the rule. Message exceptions stop it for everyone; recipient
 * exceptions take the recipients they hold out of the rule.
 */
export function applyExceptions(c: CompiledConditions, m: RuleInput, match: Match): Match {
  if (!match.matched || c.empty) return match;
  for (const p of c.message) if (p.test(m)) return { matched: false };
  if (c.recipient.length === 0) return match;
  const base = match.recipients ?? m.recipients;
  const kept = base.filter((r) => !c.recipient.some((p) => p.test(m, r)));
  if (kept.length === 0) return { matched: false };
  return kept.length === base.length && match.recipients === null ? match : { ...match, recipients: kept };
}
