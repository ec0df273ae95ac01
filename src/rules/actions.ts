// A matched mail-flow rule becomes one filter verdict: pure. A reject ends the whole message
// (one reply per DATA); every other action applies to the recipients the conditions picked, so
// the pipeline splits the message when they are not all of them. In Audit mode nothing changes:
// the verdict is an accept that carries what the rule would have done, for the log and trace.
import type { TransportRule } from '../config/sections/rules.js';
import type { BodyTransform, FilterVerdict, HeaderEdit } from '../filters/contract.js';

/** Facts of the message the actions need: the current Subject and To, and whether the body can take a disclaimer. */
export interface ActionInput {
  readonly subject: string;
  readonly to: string | null;
  readonly disclaimerFits: boolean;
}

export function ruleVerdict(rule: TransportRule, recipients: readonly string[] | null, why: readonly string[], m: ActionInput): FilterVerdict {
  const { subject, to } = m;
  const a = rule.actions;
  const did: string[] = [];
  const edits: HeaderEdit[] = [];
  if (a.setHeader) {
    edits.push({ op: 'set', name: a.setHeader.name, value: a.setHeader.value });
    did.push(`setHeader ${a.setHeader.name}`);
  }
  if (a.removeHeader) {
    edits.push({ op: 'remove', name: a.removeHeader });
    did.push(`removeHeader ${a.removeHeader}`);
  }
  if (a.prependSubject) {
    edits.push({ op: 'set', name: 'Subject', value: a.prependSubject + subject });
    did.push('prependSubject');
  }
  if (a.addToRecipients) {
    // EOP's AddToRecipients adds them to the To field as well as to the envelope.
    edits.push({ op: 'set', name: 'To', value: [to, ...a.addToRecipients].filter(Boolean).join(', ') });
  }
  const add = [...(a.blindCopyTo ?? []), ...(a.addToRecipients ?? [])];
  if (a.blindCopyTo) did.push(`blindCopyTo ${a.blindCopyTo.join(',')}`);
  if (a.addToRecipients) did.push(`addToRecipients ${a.addToRecipients.join(',')}`);
  if (a.redirectMessageTo) did.push(`redirectMessageTo ${a.redirectMessageTo.join(',')}`);
  if (a.setSCL !== undefined) did.push(`setSCL ${a.setSCL}`);
  if (a.route?.connector) did.push(`routeMessageOutboundConnector ${a.route.connector}`);

  let action: FilterVerdict['action'] = { kind: 'accept' };
  const transforms: BodyTransform[] = [];
  if (a.disclaimer) {
    if (m.disclaimerFits) transforms.push({ kind: 'disclaimer', text: a.disclaimer.text, location: a.disclaimer.location });
    else if (a.disclaimer.fallback === 'Wrap') transforms.push({ kind: 'wrap', text: a.disclaimer.text });
    did.push(m.disclaimerFits ? `disclaimer ${a.disclaimer.location}` : `disclaimer fallback ${a.disclaimer.fallback}`);
  }
  if (a.disclaimer && !m.disclaimerFits && a.disclaimer.fallback === 'Reject') {
    action = { kind: 'reject', code: 550, enhanced: '5.7.1', text: 'Message rejected: a required disclaimer could not be added' };
  } else if (a.reject) {
    action = { kind: 'reject', code: 550, enhanced: a.reject.enhanced, text: a.reject.text };
    did.push(`reject ${a.reject.enhanced}`);
  } else if (a.deleteMessage) {
    action = { kind: 'delete', reason: `mail-flow rule "${rule.name}"` };
    did.push('deleteMessage');
  } else if (a.quarantine) {
    action = { kind: 'quarantine', type: 'TransportRule', reason: `mail-flow rule "${rule.name}"` };
    did.push('quarantine');
  }
  const evidence = { rule: rule.name, mode: rule.mode, conditions: why, actions: did, stopRuleProcessing: rule.stopRuleProcessing };
  if (rule.mode === 'Audit') {
    return { action: { kind: 'accept' }, reason: `rule "${rule.name}" matched (Audit: no action taken)`, evidence };
  }
  return {
    action,
    ...(recipients && action.kind !== 'reject' ? { recipients } : {}),
    ...(edits.length ? { headerEdits: edits } : {}),
    ...(a.setSCL !== undefined ? { scl: a.setSCL } : {}),
    ...(add.length ? { addRecipients: add } : {}),
    ...(a.redirectMessageTo ? { redirectTo: a.redirectMessageTo } : {}),
    ...(transforms.length ? { bodyTransforms: transforms } : {}),
    ...(a.route?.connector ? { route: { connector: a.route.connector, rule: rule.name, requireTls: a.route.requireTls } } : {}),
    reason: `rule "${rule.name}" matched`,
    evidence,
  };
}
