// Config section: mail-flow rules (EOP's transport rules): `transportRules` (issue 10).
// Keys are the camelCase of New-TransportRule's parameters, so an EOP admin reads them as-is.
// Every condition has its `exceptIf…` twin. Patterns are compiled and checked here, once, so a
// bad or catastrophic regular expression is a config error with its key path, never a slow DATA.
import { z } from 'zod';
import safeRegex from 'safe-regex2';
import type { Config } from '../schema.js';
import type { Report } from '../compile.js';
import { compileIpRule, normaliseDomain } from '../../domain/match.js';
import type { IpRule } from '../../domain/model.js';
import { eopEnum, flag, parsed, size } from '../schema-parts.js';
import { DATA_CLASSIFICATIONS } from '../../rules/dlp.js';

export const RULE_STATES = ['Enabled', 'Disabled'] as const;
export const RULE_MODES = ['Enforce', 'Audit'] as const;
export const SCOPES = ['InOrganization', 'NotInOrganization'] as const;
export const SENDER_LOCATIONS = ['Header', 'Envelope', 'HeaderOrEnvelope'] as const;
export const DISCLAIMER_LOCATIONS = ['Append', 'Prepend'] as const;
export const DISCLAIMER_FALLBACKS = ['Wrap', 'Ignore', 'Reject'] as const;

const words = z.array(z.string().trim().min(1, 'a word must not be empty')).min(1, 'list at least one word');
const patterns = z.array(z.string().min(1, 'a pattern must not be empty')).min(1, 'list at least one pattern');
const addresses = z
  .array(
    parsed((v) => {
      const a = v.trim().toLowerCase();
      if (!/^[^\s@]+@[^\s@]+$/.test(a)) throw new Error(`"${v}" is not an email address`);
      return a;
    }),
  )
  .min(1, 'list at least one address');
const domains = z
  .array(
    parsed((v) => {
      const d = normaliseDomain(v.trim());
      if (!d) throw new Error(`"${v}" is not a domain name (no wildcards, no trailing dot)`);
      return d;
    }),
  )
  .min(1, 'list at least one domain');
const scl = z.number().int().min(-1).max(9);
const classification = z
  .object({
    name: z.string().refine((n) => DATA_CLASSIFICATIONS.some((c) => c.toLowerCase() === n.trim().toLowerCase()), {
      message: `must be one of ${DATA_CLASSIFICATIONS.join(', ')}`,
    }),
    minCount: z.number().int().min(1).default(1),
    maxCount: z.number().int().min(1).nullable().default(null),
  })
  .strict();

/** Conditions; each has an `exceptIf` twin with the same value type. */
const conditionShape = {
  from: addresses,
  fromAddressContainsWords: words,
  fromAddressMatchesPatterns: patterns,
  senderDomainIs: domains,
  sentTo: addresses,
  recipientDomainIs: domains,
  fromScope: eopEnum(SCOPES),
  sentToScope: eopEnum(SCOPES),
  senderIpRanges: z.array(parsed(compileIpRule)).min(1, 'list at least one IP address or range'),
  headerContainsMessageHeader: z.string().trim().min(1),
  headerContainsWords: words,
  headerMatchesMessageHeader: z.string().trim().min(1),
  headerMatchesPatterns: patterns,
  subjectContainsWords: words,
  subjectOrBodyContainsWords: words,
  subjectOrBodyMatchesPatterns: patterns,
  attachmentExtensionMatchesWords: words,
  attachmentSizeOver: size,
  messageSizeOver: size,
  sclOver: scl,
  messageContainsDataClassifications: z.array(classification).min(1),
};
type ConditionKey = keyof typeof conditionShape;
export const CONDITION_KEYS = Object.keys(conditionShape) as ConditionKey[];
const exceptKey = (k: string) => `exceptIf${k[0]!.toUpperCase()}${k.slice(1)}`;

const optionalShape = <T extends Record<string, z.ZodTypeAny>>(shape: T, rename: (k: string) => string) =>
  Object.fromEntries(Object.entries(shape).map(([k, v]) => [rename(k), v.optional()])) as Record<string, z.ZodTypeAny>;

const ruleSchema = z
  .object({
    name: z.string().trim().min(1, 'a rule name must not be empty').max(64, 'EOP allows at most 64 characters'),
    priority: z.number().int().min(0).optional(),
    state: eopEnum(RULE_STATES).default('Enabled'),
    mode: eopEnum(RULE_MODES).default('Enforce'),
    comments: z.string().nullable().optional(),
    stopRuleProcessing: flag(false),
    /** Which sender the sender conditions test: the From header (EOP's default), MAIL FROM, or either. */
    senderAddressLocation: eopEnum(SENDER_LOCATIONS).default('Header'),
    ...optionalShape(conditionShape, (k) => k),
    ...optionalShape(conditionShape, exceptKey),
    // Actions
    rejectMessageReasonText: z.string().trim().min(1).optional(),
    rejectMessageEnhancedStatusCode: z.string().trim().optional(),
    deleteMessage: flag(false),
    quarantine: flag(false),
    redirectMessageTo: addresses.optional(),
    blindCopyTo: addresses.optional(),
    addToRecipients: addresses.optional(),
    setHeaderName: z.string().trim().min(1).optional(),
    setHeaderValue: z.string().optional(),
    removeHeader: z.string().trim().min(1).optional(),
    prependSubject: z.string().min(1).optional(),
    setSCL: scl.optional(),
    applyHtmlDisclaimerText: z.string().min(1).optional(),
    applyHtmlDisclaimerLocation: eopEnum(DISCLAIMER_LOCATIONS).optional(),
    applyHtmlDisclaimerFallbackAction: eopEnum(DISCLAIMER_FALLBACKS).optional(),
    routeMessageOutboundConnector: z.string().trim().min(1).optional(),
    routeMessageOutboundRequireTls: flag(false),
  })
  .strict();

export const rulesKeys = {
  /** Mail-flow rules, applied in `priority` order (0 first; list order when left out). */
  transportRules: z.array(ruleSchema).default([]),
};

/** A condition set as plain data: patterns stay strings (compiled by the filter at load). */
export interface RuleConditions {
  from?: readonly string[];
  fromAddressContainsWords?: readonly string[];
  fromAddressMatchesPatterns?: readonly string[];
  senderDomainIs?: readonly string[];
  sentTo?: readonly string[];
  recipientDomainIs?: readonly string[];
  fromScope?: (typeof SCOPES)[number];
  sentToScope?: (typeof SCOPES)[number];
  senderIpRanges?: readonly IpRule[];
  headerContains?: { readonly header: string; readonly words: readonly string[] };
  headerMatches?: { readonly header: string; readonly patterns: readonly string[] };
  subjectContainsWords?: readonly string[];
  subjectOrBodyContainsWords?: readonly string[];
  subjectOrBodyMatchesPatterns?: readonly string[];
  attachmentExtensionMatchesWords?: readonly string[];
  attachmentSizeOver?: number;
  messageSizeOver?: number;
  sclOver?: number;
  messageContainsDataClassifications?: readonly { name: string; minCount: number; maxCount: number | null }[];
}

export interface RuleActions {
  reject?: { readonly enhanced: string; readonly text: string };
  deleteMessage: boolean;
  quarantine: boolean;
  redirectMessageTo?: readonly string[];
  blindCopyTo?: readonly string[];
  addToRecipients?: readonly string[];
  setHeader?: { readonly name: string; readonly value: string };
  removeHeader?: string;
  prependSubject?: string;
  setSCL?: number;
  disclaimer?: { readonly text: string; readonly location: 'Append' | 'Prepend'; readonly fallback: 'Wrap' | 'Ignore' | 'Reject' };
  route?: { readonly connector: string | null; readonly requireTls: boolean };
}

export interface TransportRule {
  readonly name: string;
  readonly priority: number;
  readonly enabled: boolean;
  readonly mode: 'Enforce' | 'Audit';
  readonly stopRuleProcessing: boolean;
  readonly senderAddressLocation: (typeof SENDER_LOCATIONS)[number];
  readonly conditions: RuleConditions;
  readonly exceptions: RuleConditions;
  readonly actions: RuleActions;
}

export interface RulesModel {
  readonly transportRules: readonly TransportRule[];
}

type RuleConfig = Record<string, unknown> & z.output<typeof ruleSchema>;

/** EOP allows only 5.7.1 and 5.7.900–5.7.999 for a rule's rejection. */
export function allowedRejectCode(code: string): boolean {
  if (code === '5.7.1') return true;
  const m = /^5\.7\.(\d{3})$/.exec(code);
  return !!m && Number(m[1]) >= 900 && Number(m[1]) <= 999;
}

function checkPattern(p: string, at: (string | number)[], report: Report): void {
  try {
    new RegExp(p, 'i');
  } catch (err) {
    report(at, `not a valid regular expression: ${(err as Error).message}`);
    return;
  }
  if (!safeRegex(p)) report(at, `"${p}" can take exponential time (nested repetition); rewrite it without a repeated group that repeats`);
}

function conditions(r: RuleConfig, key: (k: string) => string, at: (string | number)[], report: Report): RuleConditions {
  const get = <T>(k: string) => r[key(k)] as T | undefined;
  const out: Record<string, unknown> = {};
  for (const k of CONDITION_KEYS) {
    if (k.startsWith('header')) continue;
    const v = get(k);
    if (v !== undefined) out[k] = v;
  }
  for (const k of ['fromAddressMatchesPatterns', 'subjectOrBodyMatchesPatterns', 'headerMatchesPatterns']) {
    (get<string[]>(k) ?? []).forEach((p, j) => checkPattern(p, [...at, key(k), j], report));
  }
  const pair = (nameKey: string, valueKey: string, field: 'words' | 'patterns', into: 'headerContains' | 'headerMatches') => {
    const name = get<string>(nameKey);
    const values = get<string[]>(valueKey);
    if ((name === undefined) !== (values === undefined)) {
      report([...at, key(name === undefined ? nameKey : valueKey)], `${key(nameKey)} and ${key(valueKey)} go together`);
    } else if (name !== undefined && values !== undefined) {
      out[into] = { header: name.toLowerCase(), [field]: values };
    }
  };
  pair('headerContainsMessageHeader', 'headerContainsWords', 'words', 'headerContains');
  pair('headerMatchesMessageHeader', 'headerMatchesPatterns', 'patterns', 'headerMatches');
  return out as RuleConditions;
}

function actions(r: RuleConfig, at: (string | number)[], config: Config, report: Report): RuleActions {
  const a: RuleActions = { deleteMessage: r.deleteMessage, quarantine: r.quarantine };
  if (r.rejectMessageReasonText !== undefined || r.rejectMessageEnhancedStatusCode !== undefined) {
    const enhanced = r.rejectMessageEnhancedStatusCode ?? '5.7.1';
    if (!allowedRejectCode(enhanced)) {
      report([...at, 'rejectMessageEnhancedStatusCode'], `"${enhanced}" is not allowed: use 5.7.1 or 5.7.900 to 5.7.999, as EOP does`);
    }
    a.reject = { enhanced, text: r.rejectMessageReasonText ?? 'Delivery not authorized, message refused' };
  }
  if (r.redirectMessageTo) a.redirectMessageTo = r.redirectMessageTo;
  if (r.blindCopyTo) a.blindCopyTo = r.blindCopyTo;
  if (r.addToRecipients) a.addToRecipients = r.addToRecipients;
  if ((r.setHeaderName === undefined) !== (r.setHeaderValue === undefined)) {
    report([...at, r.setHeaderName === undefined ? 'setHeaderName' : 'setHeaderValue'], 'setHeaderName and setHeaderValue go together');
  } else if (r.setHeaderName !== undefined) {
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(r.setHeaderName)) report([...at, 'setHeaderName'], `"${r.setHeaderName}" is not a header field name`);
    if (/[\r\n]/.test(r.setHeaderValue ?? '')) report([...at, 'setHeaderValue'], 'a header value must be one line');
    a.setHeader = { name: r.setHeaderName, value: r.setHeaderValue ?? '' };
  }
  if (r.removeHeader) a.removeHeader = r.removeHeader;
  if (r.prependSubject) a.prependSubject = r.prependSubject;
  if (r.setSCL !== undefined) a.setSCL = r.setSCL;
  if (r.applyHtmlDisclaimerText !== undefined) {
    a.disclaimer = {
      text: r.applyHtmlDisclaimerText,
      location: r.applyHtmlDisclaimerLocation ?? 'Append',
      fallback: r.applyHtmlDisclaimerFallbackAction ?? 'Wrap',
    };
  } else if (r.applyHtmlDisclaimerLocation !== undefined || r.applyHtmlDisclaimerFallbackAction !== undefined) {
    report([...at, 'applyHtmlDisclaimerText'], 'a disclaimer location or fallback needs applyHtmlDisclaimerText');
  }
  if (r.routeMessageOutboundConnector !== undefined || r.routeMessageOutboundRequireTls) {
    const name = r.routeMessageOutboundConnector ?? null;
    if (name !== null) {
      const c = config.outboundConnectors.find((o) => o.name.toLowerCase() === name.toLowerCase());
      if (!c) report([...at, 'routeMessageOutboundConnector'], `no outbound connector is named "${name}"`);
      else if (!c.enabled) report([...at, 'routeMessageOutboundConnector'], `outbound connector "${c.name}" is disabled`);
    }
    const canonical = name === null ? null : (config.outboundConnectors.find((o) => o.name.toLowerCase() === name.toLowerCase())?.name ?? name);
    a.route = { connector: canonical, requireTls: r.routeMessageOutboundRequireTls };
  }
  const any =
    a.reject || a.deleteMessage || a.quarantine || a.redirectMessageTo || a.blindCopyTo || a.addToRecipients || a.setHeader ||
    a.removeHeader || a.prependSubject || a.setSCL !== undefined || a.disclaimer || a.route;
  if (!any) report(at, 'a rule needs at least one action');
  const final = [a.reject && 'rejectMessageReasonText', a.deleteMessage && 'deleteMessage', a.quarantine && 'quarantine'].filter(Boolean);
  if (final.length > 1) report(at, `${final.join(' and ')} cannot be combined: each ends the message`);
  return a;
}

export function compileRules(config: Config, report: Report, warn: Report): RulesModel {
  const seen = new Map<string, number>();
  const rules = (config.transportRules as RuleConfig[]).map((r, i): TransportRule => {
    const at = ['transportRules', i];
    const prior = seen.get(r.name.toLowerCase());
    if (prior !== undefined) report([...at, 'name'], `rule name "${r.name}" is already used by transportRules[${prior}]`);
    else seen.set(r.name.toLowerCase(), i);
    const rule: TransportRule = {
      name: r.name,
      priority: r.priority ?? i,
      enabled: r.state === 'Enabled',
      mode: r.mode,
      stopRuleProcessing: r.stopRuleProcessing,
      senderAddressLocation: r.senderAddressLocation,
      conditions: conditions(r, (k) => k, at, report),
      exceptions: conditions(r, exceptKey, at, report),
      actions: actions(r, at, config, report),
    };
    if (rule.actions.route?.connector) {
      const c = config.outboundConnectors.find((o) => o.name === rule.actions.route?.connector);
      if (c && !c.isTransportRuleScoped) {
        warn([...at, 'routeMessageOutboundConnector'], `"${c.name}" is not isTransportRuleScoped: it also routes mail no rule sent to it`);
      }
    }
    return rule;
  });
  const byPriority = new Map<number, number>();
  rules.forEach((r, i) => {
    const prior = byPriority.get(r.priority);
    if (prior !== undefined) report(['transportRules', i, 'priority'], `priority ${r.priority} is already used by transportRules[${prior}]`);
    else byPriority.set(r.priority, i);
  });
  return { transportRules: [...rules].sort((a, b) => a.priority - b.priority) };
}

/** The model part when every key is left out (for hand-built test models). */
export const RULES_DEFAULTS: RulesModel = { transportRules: [] };
