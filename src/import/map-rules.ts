// Pure mapping of `Get-TransportRule` objects to transportRules entries: EOP's flat condition,
// exception and action parameters keep their names in camelCase (issue 10's rule keys), values
// are read into Sluice's forms (sizes in bytes, scopes and modes by name). A condition or action
// Sluice's rules lack is reported and the rule keeps the rest.
import { FROM_SCOPE, RULE_MODE, RULE_STATE, TO_SCOPE } from './eop-enums.js';
import { Props, type ImportNote, type PathComment } from './eop-props.js';
import { bool, enumValue, integer, ipText, isObj, list, prop, show, sizeBytes, text } from './eop-values.js';

type Entry = Record<string, unknown>;
type Reader = (v: unknown) => unknown;

const words: Reader = (v) => {
  const out = list(v).map(text).filter((s): s is string => s !== null);
  return out.length ? out : null;
};
const ips: Reader = (v) => {
  const out = list(v).map(ipText).filter((s): s is string => s !== null);
  return out.length ? out : null;
};
/** Kept exactly: "[External] " in PrependSubject ends with the space the subject needs. */
const one: Reader = (v) => (typeof v === 'string' ? (v.trim() ? v : null) : text(v));
const yes: Reader = (v) => (bool(v) === true ? true : null);
/** Bytes as Sluice's size units, whole MB or KB where exact, for the reader of the YAML. */
const bytes: Reader = (v) => {
  const n = sizeBytes(v);
  if (n === null) return null;
  if (n > 0 && n % 1_048_576 === 0) return `${n / 1_048_576}MB`;
  if (n > 0 && n % 1024 === 0) return `${n / 1024}KB`;
  return n;
};
const scl: Reader = integer;
const fromScope: Reader = (v) => enumValue(v, FROM_SCOPE.names, FROM_SCOPE.numbers);
const toScope: Reader = (v) => enumValue(v, TO_SCOPE.names, TO_SCOPE.numbers);

/** "Name:Credit Card Number, minCount:1", or an object with Name and minCount. */
const classifications: Reader = (v) => {
  const out: { name: string; minCount: number }[] = [];
  for (const item of list(v)) {
    let fields: Record<string, unknown> = {};
    if (isObj(item)) fields = item;
    else if (typeof item === 'string') {
      for (const part of item.replace(/^@?\{|\}$/g, '').split(/[,;]/)) {
        const m = /^\s*([A-Za-z]+)\s*[:=]\s*"?(.*?)"?\s*$/.exec(part);
        if (m?.[1]) fields[m[1]] = m[2];
      }
    }
    const name = text(prop(fields, 'Name'));
    if (!name) return null;
    out.push({ name, minCount: integer(prop(fields, 'minCount')) ?? 1 });
  }
  return out.length ? out : null;
};

/** Conditions that have an ExceptIf twin, by EOP name, with their readers. */
const CONDITIONS: Record<string, Reader> = {
  From: words, FromAddressContainsWords: words, FromAddressMatchesPatterns: words, SenderDomainIs: words,
  SentTo: words, RecipientDomainIs: words, FromScope: fromScope, SentToScope: toScope, SenderIpRanges: ips,
  HeaderContainsMessageHeader: one, HeaderContainsWords: words, HeaderMatchesMessageHeader: one,
  HeaderMatchesPatterns: words, SubjectContainsWords: words, SubjectOrBodyContainsWords: words,
  SubjectOrBodyMatchesPatterns: words, AttachmentExtensionMatchesWords: words, AttachmentSizeOver: bytes,
  MessageSizeOver: bytes, SCLOver: scl, MessageContainsDataClassifications: classifications,
};

const ACTIONS: Record<string, Reader> = {
  RejectMessageReasonText: one, RejectMessageEnhancedStatusCode: one, DeleteMessage: yes, Quarantine: yes,
  RedirectMessageTo: words, BlindCopyTo: words, AddToRecipients: words, SetHeaderName: one, SetHeaderValue: one,
  RemoveHeader: one, PrependSubject: one, SetSCL: scl, ApplyHtmlDisclaimerText: one,
  ApplyHtmlDisclaimerLocation: one, ApplyHtmlDisclaimerFallbackAction: one, RouteMessageOutboundConnector: one,
  RouteMessageOutboundRequireTls: yes, StopRuleProcessing: yes,
};

/** camelCase of an EOP parameter, with a leading acronym lowered whole: SCLOver → sclOver. */
export function camel(name: string): string {
  if (name.startsWith('ExceptIf')) return 'exceptIf' + capital(camel(name.slice(8)));
  if (name.startsWith('SCL')) return 'scl' + name.slice(3);
  return name.charAt(0).toLowerCase() + name.slice(1);
}
const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** What every rule carries: summaries and bookkeeping, not conditions or actions. */
const RULE_STATE_PROPS = [
  'Description', 'Conditions', 'Exceptions', 'Actions', 'RuleVersion', 'IsRuleConfigurationSupported',
  'ManuallyModified', 'DlpPolicy', 'DlpPolicyId', 'LastModifiedBy', 'RuleSubType', 'UseLegacyRegex',
];
/** Settings whose EOP default is what Sluice does; any other value is reported. */
const DEFAULTS: Record<string, string> = { RuleErrorAction: 'ignore', SenderAddressLocation: 'header' };

export function mapTransportRule(obj: unknown, index: number, notes: ImportNote[], comments: PathComment[]): Entry {
  const path = ['transportRules', index] as const;
  const name = text(isObj(obj) ? prop(obj, 'Name') : null) ?? `Rule ${index + 1}`;
  const before = notes.length;
  const p = new Props(obj, `transport rule "${name}"`, path, notes);
  p.take('Name');
  const out: Entry = { name };
  const priority = integer(p.take('Priority'));
  if (priority !== null) out.priority = priority;
  const rawState = p.take('State');
  out.state = enumValue(rawState, RULE_STATE.names, RULE_STATE.numbers) ?? 'Enabled';
  const rawMode = p.take('Mode');
  const mode = enumValue(rawMode, RULE_MODE.names, RULE_MODE.numbers) ?? 'Enforce';
  if (mode === 'AuditAndNotify') p.note('Mode', 'Mode AuditAndNotify imported as Audit: Sluice shows no policy tips');
  out.mode = mode === 'Enforce' ? 'Enforce' : 'Audit';
  const comment = text(p.take('Comments'));
  if (comment) comments.push({ path, text: ` ${comment.replace(/\r?\n/g, ' ')}` });
  const read = (eop: string, reader: Reader) => {
    const raw = p.take(eop);
    if (raw === undefined || raw === null || raw === false || (Array.isArray(raw) && raw.length === 0) || raw === '') return;
    const v = reader(raw);
    if (v === null) p.note(eop, `${eop} value ${show(raw)} could not be read and was not imported`);
    else out[camel(eop)] = v;
  };
  for (const [eop, reader] of Object.entries(CONDITIONS)) read(eop, reader);
  for (const [eop, reader] of Object.entries(CONDITIONS)) read(`ExceptIf${eop}`, reader);
  for (const [eop, reader] of Object.entries(ACTIONS)) read(eop, reader);
  for (const [eop, dflt] of Object.entries(DEFAULTS)) {
    p.unsupported(eop, `Sluice always behaves as ${capital(dflt)}`, (v) => text(v)?.toLowerCase() === dflt);
  }
  p.finish(RULE_STATE_PROPS, "a condition, exception or action Sluice's rules have");
  // A rule missing a condition or exception matches more mail than it did in EOP: never enforce that.
  const lost = notes.slice(before).filter((n) => n.property !== 'Mode');
  if (lost.length > 0 && out.state === 'Enabled') {
    out.state = 'Disabled';
    p.note('State', `State Enabled: the rule is written Disabled, because without ${lost.map((n) => n.property).join(', ')} it would match other mail than in EOP; review it before enabling`);
  }
  return out;
}
