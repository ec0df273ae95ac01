// Mail-flow rules (stage transportRules): one filter per enabled rule, in priority order, so
// each rule's verdict reaches the pipeline on its own (its own recipients, its own trace
// line). The message facts the conditions read are gathered once per message and shared.
import libmime from 'libmime';
import type { TransportRule } from '../config/sections/rules.js';
import type { Model } from '../domain/model.js';
import type { ContentContext, Filter, FilterVerdict, MessageView, MimeSummary } from './contract.js';
import { ACCEPT } from './contract.js';
import { applyExceptions, compileConditions, matchAll, type CompiledConditions, type RuleInput } from '../rules/conditions.js';
import { ruleVerdict } from '../rules/actions.js';
import { MAX_MATCH_TEXT } from '../rules/match-text.js';
import { canTakeDisclaimer } from '../rules/disclaimer.js';

const BODY_KEYS = new Set([
  'subjectOrBodyContainsWords',
  'subjectOrBodyMatchesPatterns',
  'attachmentExtensionMatchesWords',
  'attachmentSizeOver',
  'messageContainsDataClassifications',
]);

const TEXTLIKE = /^(text\/|application\/(json|xml|csv|x-csv|rtf))/;

/** The address in a From/To value: the last <addr-spec>, or the value itself when it has none. */
export function headerAddress(value: string): string | null {
  const angle = [...value.matchAll(/<([^<>\s]+@[^<>\s]+)>/g)].pop();
  if (angle?.[1]) return angle[1].toLowerCase();
  const bare = /([^\s<>,;"]+@[^\s<>,;"]+)/.exec(value);
  return bare?.[1] ? bare[1].toLowerCase() : null;
}

const unfold = (v: string) => v.replace(/\r?\n(?=[ \t])/g, '').trim();

function decode(v: string): string {
  try {
    return libmime.decodeWords(v);
  } catch {
    return v;
  }
}

function htmlToText(html: string): string {
  return html
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');
}

function bodyFacts(mime: MimeSummary): Pick<RuleInput, 'bodyText' | 'dlpText' | 'attachments'> {
  const text: string[] = [];
  const dlp: string[] = [];
  const attachments: { filename: string; size: number }[] = [];
  let budget = MAX_MATCH_TEXT;
  for (const p of mime.parts) {
    const isAttachment = p.filename !== null || p.disposition === 'attachment';
    if (isAttachment) attachments.push({ filename: p.filename ?? '', size: p.size });
    if (budget <= 0) continue;
    if (!isAttachment && (p.contentType === 'text/plain' || p.contentType === 'text/html')) {
      const raw = p.content.toString('utf8');
      const t = (p.contentType === 'text/html' ? htmlToText(raw) : raw).slice(0, budget);
      budget -= t.length;
      text.push(t);
      dlp.push(t);
    } else if (isAttachment && TEXTLIKE.test(p.contentType)) {
      const t = p.content.toString('utf8').slice(0, budget);
      budget -= t.length;
      dlp.push(t);
    }
  }
  return { bodyText: text.join('\n'), dlpText: dlp.join('\n'), attachments };
}

interface Compiled {
  rule: TransportRule;
  conditions: CompiledConditions;
  exceptions: CompiledConditions;
  needsBody: boolean;
}

/**
 * Per message: the body facts (built on first use) and whether a rule said stopRuleProcessing.
 * Keyed by the message view, which the runner passes unchanged to every filter of one message.
 */
interface MessageState {
  withBody: Promise<Pick<RuleInput, 'bodyText' | 'dlpText' | 'attachments'>> | null;
  stopped: boolean;
}
const perMessage = new WeakMap<MessageView, MessageState>();

function baseInput(ctx: ContentContext, rule: TransportRule): RuleInput {
  const { model, session, envelope, message } = ctx;
  const headers = new Map<string, string[]>();
  for (const h of message.headers) {
    const k = h.name.toLowerCase();
    const list = headers.get(k) ?? [];
    list.push(decode(unfold(h.value)));
    headers.set(k, list);
  }
  const fromHeader = headerAddress(headers.get('from')?.[0] ?? '');
  const envelopeSender = envelope.mailFrom.toLowerCase();
  const loc = rule.senderAddressLocation;
  const senders =
    loc === 'Envelope' ? [envelopeSender] : loc === 'HeaderOrEnvelope' ? [fromHeader ?? '', envelopeSender] : [fromHeader ?? envelopeSender];
  const accepted = new Set(model.acceptedDomains.map((d) => d.domain));
  const inOrg = (a: string) => accepted.has(a.slice(a.lastIndexOf('@') + 1).toLowerCase());
  return {
    senders,
    // EOP: in the organisation = an accepted domain, sent over an authenticated (on-premises) connection.
    senderInOrganization: session.inbound?.connectorType === 'OnPremises' && senders.some((s) => s !== '' && inOrg(s)),
    recipients: envelope.rcpts.map((r) => r.address),
    recipientInOrganization: inOrg,
    clientIp: session.clientIp,
    headers,
    subject: headers.get('subject')?.[0] ?? '',
    bodyText: '',
    dlpText: '',
    attachments: [],
    size: message.size,
    scl: ctx.facts.scl,
  };
}

async function inputFor(ctx: ContentContext, c: Compiled): Promise<RuleInput> {
  let st = perMessage.get(ctx.message);
  if (!st) {
    st = { withBody: null, stopped: false };
    perMessage.set(ctx.message, st);
  }
  // senderAddressLocation and the SCL differ per rule; the body parse is shared.
  const base = baseInput(ctx, c.rule);
  if (!c.needsBody) return base;
  st.withBody ??= ctx.message.mime().then(bodyFacts);
  return { ...base, ...(await st.withBody) };
}

function ruleFilter(c: Compiled): Filter {
  return {
    name: `rule:${c.rule.name}`,
    stage: 'transportRules',
    onError: 'Tempfail',
    async content(ctx: ContentContext): Promise<FilterVerdict> {
      if (perMessage.get(ctx.message)?.stopped) return { ...ACCEPT, reason: 'skipped: an earlier rule stopped rule processing' };
      const input = await inputFor(ctx, c);
      const match = applyExceptions(c.exceptions, input, matchAll(c.conditions, input));
      if (!match.matched) return { ...ACCEPT, reason: `rule "${c.rule.name}" did not match` };
      if (c.rule.stopRuleProcessing) perMessage.get(ctx.message)!.stopped = true;
      const to = input.headers.get('to')?.[0] ?? null;
      const disclaimerFits = c.rule.actions.disclaimer ? canTakeDisclaimer(await ctx.message.mime()) : true;
      return ruleVerdict(c.rule, match.recipients, match.why, { subject: input.subject, to, disclaimerFits });
    },
  };
}

export function compileRuleFilters(rules: readonly TransportRule[]): Filter[] {
  return rules
    .filter((r) => r.enabled)
    .map((rule) => {
      const conditions = compileConditions(rule.conditions);
      const exceptions = compileConditions(rule.exceptions);
      const keys = [...conditions.message, ...exceptions.message].map((p) => p.key);
      return { rule, conditions, exceptions, needsBody: keys.some((k) => BODY_KEYS.has(k)) };
    })
    .map(ruleFilter);
}

export const transportRuleFilters = (model: Model): Filter[] => compileRuleFilters(model.transportRules);
