// The "filtered" case: what each relay is given to filter with, and the check that it did.
// Sluice gets the malware filter (clamd, with the attachment filter), the spam filter (rspamd)
// and 20 mail-flow rules of the kinds an EOP tenant has — subject/body/header matches, sender
// and recipient conditions, DLP, a few add-header / set-SCL / prepend-subject actions — none of
// which rejects, quarantines, deletes or adds recipients to the bench mail (so the sink still
// counts one message per message sent). Postfix gets the same engines as milters.
import type { FilterEngines, Scans } from './engines.js';

/** Sluice's config keys for the case (BENCH_SLUICE_CONFIG / BENCH_VARIANT_CONFIG still override). */
export function sluiceFilterConfig(e: FilterEngines): Record<string, unknown> {
  return {
    malwareFilter: { enabled: true, clamd: e.clamdAddress, action: 'Reject', timeout: '30s', enableFileFilter: true, fileTypeAction: 'Reject', onError: 'Tempfail' },
    spamFilter: { enabled: true, rspamd: { url: e.rspamdUrl, timeout: '15s' }, spamAction: 'MoveToJmf', highConfidenceSpamAction: 'MoveToJmf', bulkSpamAction: 'MoveToJmf', onError: 'Tempfail' },
    transportRules: TRANSPORT_RULES,
  };
}

/** Postfix's main.cf additions: both milters, and a dead milter is a tempfail, never a silent pass. */
export function postfixMilterParams(e: FilterEngines): Record<string, string> {
  return { smtpd_milters: e.milters.join(', '), milter_default_action: 'tempfail', milter_protocol: '6' };
}

const header = (name: string, value: string) => ({ setHeaderName: name, setHeaderValue: value });

/** 20 rules; the bench mail (from fabrikam.example to contoso.com, subject "bench …") matches 4 of them. */
export const TRANSPORT_RULES: Record<string, unknown>[] = [
  { name: 'No card numbers to the internet', fromScope: 'InOrganization', sentToScope: 'NotInOrganization', messageContainsDataClassifications: [{ name: 'Credit Card Number', minCount: 1 }], rejectMessageReasonText: 'Credit card numbers may not be sent by mail', rejectMessageEnhancedStatusCode: '5.7.901' },
  { name: 'No IBANs to the internet', fromScope: 'InOrganization', sentToScope: 'NotInOrganization', messageContainsDataClassifications: [{ name: 'International Banking Account Number (IBAN)', minCount: 3 }], ...header('X-Contoso-DLP', 'IBAN') },
  { name: 'Tag external mail', fromScope: 'NotInOrganization', prependSubject: '[EXTERNAL] ' },
  { name: 'Mark inbound mail', sentToScope: 'InOrganization', recipientDomainIs: ['contoso.com'], ...header('X-Contoso-Inbound', 'yes') },
  { name: 'Finance keywords', subjectOrBodyContainsWords: ['invoice', 'remittance', 'payment advice'], ...header('X-Contoso-Finance', 'yes') },
  { name: 'Wire transfer requests', subjectOrBodyMatchesPatterns: ['\\b(?:wire|bank) transfer\\b', '\\burgent(?:ly)? (?:payment|wire)\\b'], setSCL: 5 },
  { name: 'Confidential subject', subjectContainsWords: ['confidential', 'internal only'], prependSubject: '[CONFIDENTIAL] ' },
  { name: 'Bulk mailers', headerContainsMessageHeader: 'X-Mailer', headerContainsWords: ['PHPMailer', 'MailChimp', 'SendBlaster'], setSCL: 6 },
  { name: 'List mail', headerMatchesMessageHeader: 'List-Unsubscribe', headerMatchesPatterns: ['^<(?:https?|mailto):'], ...header('X-Contoso-Bulk', 'list') },
  { name: 'Partner domains', senderDomainIs: ['tailspintoys.example', 'wingtiptoys.example'], senderAddressLocation: 'HeaderOrEnvelope', ...header('X-Contoso-Partner', 'yes') },
  { name: 'No-reply senders', fromAddressContainsWords: ['noreply', 'no-reply', 'donotreply'], ...header('X-Contoso-Automated', 'yes') },
  { name: 'Executive impersonation', fromAddressMatchesPatterns: ['^(?:ceo|cfo|president)[._-]?[a-z]*@'], exceptIfSenderDomainIs: ['contoso.com'], setSCL: 6 },
  { name: 'Known bad range', senderIpRanges: ['198.51.100.0/24', '203.0.113.128/25'], setSCL: 9 },
  { name: 'Executable attachments', attachmentExtensionMatchesWords: ['exe', 'js', 'vbs', 'scr'], ...header('X-Contoso-Attachment', 'executable') },
  { name: 'Large attachments', attachmentSizeOver: '20MB', ...header('X-Contoso-Large', 'attachment') },
  { name: 'Large messages', messageSizeOver: '25MB', ...header('X-Contoso-Large', 'message') },
  { name: 'Spam notice', sclOver: 5, ...header('X-Contoso-Spam-Notice', 'yes') },
  { name: 'Audit external mail with SSNs', mode: 'Audit', fromScope: 'NotInOrganization', messageContainsDataClassifications: [{ name: 'U.S. Social Security Number (SSN)', minCount: 1 }], quarantine: true },
  { name: 'Strip internal headers', fromScope: 'NotInOrganization', removeHeader: 'X-Contoso-Internal' },
  { name: 'Fabrikam is a customer', senderDomainIs: ['fabrikam.example'], senderAddressLocation: 'HeaderOrEnvelope', exceptIfSubjectContainsWords: ['unsubscribe'], ...header('X-Contoso-Customer', 'fabrikam') },
];

/** Scans seen in a relay's timed and latency runs against the messages the sink got from it. */
export interface ScanTally {
  messages: number;
  clamd: number;
  rspamd: number;
  /** The engines' CPU seconds in those runs: neither relay's CPU column counts it (Postfix's excludes its milters too). */
  cpuS: { clamd: number; rspamd: number; clamavMilter: number };
}

export const emptyTally = (): ScanTally => ({ messages: 0, clamd: 0, rspamd: 0, cpuS: { clamd: 0, rspamd: 0, clamavMilter: 0 } });

/** Counts the engines' scans around one run of one relay (runs never overlap, so the delta is that relay's). */
export async function countScans(e: FilterEngines, tally: ScanTally, run: () => Promise<number>): Promise<void> {
  const before: Scans = await e.scans();
  const delivered = await run();
  const after = await e.scans();
  tally.messages += delivered;
  tally.clamd += after.clamd - before.clamd;
  tally.rspamd += after.rspamd - before.rspamd;
  for (const k of ['clamd', 'rspamd', 'clamavMilter'] as const) tally.cpuS[k] += after.cpuS[k] - before.cpuS[k];
}

/** The note for the table: every message went through both engines, or loudly not. */
export function scanNote(t: ScanTally): string {
  const ok = t.messages > 0 && t.clamd >= t.messages && t.rspamd >= t.messages;
  const ms = (s: number) => ((s * 1000) / Math.max(1, t.messages)).toFixed(2);
  const cpu = `engines' CPU ms/msg: clamd ${ms(t.cpuS.clamd)}, rspamd ${ms(t.cpuS.rspamd)}, clamav-milter ${ms(t.cpuS.clamavMilter)}`;
  return `${ok ? 'scanned' : 'NOT ALL SCANNED'}: ${t.messages} messages, ${t.clamd} clamd scans, ${t.rspamd} rspamd scans; ${cpu}`;
}
