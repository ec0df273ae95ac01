// Pure: rspamd's answer → EOP's spam verdicts, and EOP's spam actions → a filter verdict.
//   SCL  9  rspamd action "reject", or score ≥ scoreThresholds.highConfidenceSpam  (high confidence spam)
//        6  score ≥ scoreThresholds.spam                                           (spam)
//        5  rspamd action "add header" / "rewrite subject" below that score       (spam)
//        1  anything else; 0 when rspamd's score is negative                      (clean)
//       -1  not filtered (allowed sender, allow-listed IP, on-premises connector)
//   BCL  the sum of the bulkSymbols points rspamd reported, capped at 9; ≥ bulkThreshold is bulk.
// Blocked senders are high confidence spam (SCL 9), as in EOP; an SPF hard fail with
// markAsSpamSpfRecordHardFail is spam (SCL 6, and EOP's X-CustomSpam header).
import type { SpamAction, SpamFilterModel } from '../config/sections/content.js';
import type { FilterVerdict, HeaderEdit, QuarantineType } from './contract.js';

export const SCL_HEADER = 'X-MS-Exchange-Organization-SCL';
export const BCL_HEADER = 'X-Microsoft-Antispam';

export interface RspamdResult {
  readonly action: string;
  readonly score: number;
  readonly symbols: Readonly<Record<string, { readonly score?: number }>>;
}

export type SpamClass = 'skipped' | 'clean' | 'spam' | 'highConfidenceSpam' | 'bulk';

export interface SpamJudgement {
  readonly cls: SpamClass;
  readonly scl: number;
  readonly bcl: number;
  readonly why: string;
}

export function sclOf(r: RspamdResult, t: SpamFilterModel['scoreThresholds']): number {
  if (r.action === 'reject' || r.score >= t.highConfidenceSpam) return 9;
  if (r.score >= t.spam) return 6;
  if (r.action === 'add header' || r.action === 'rewrite subject') return 5;
  return r.score < 0 ? 0 : 1;
}

export function bclOf(r: RspamdResult, bulkSymbols: Readonly<Record<string, number>>): number {
  let sum = 0;
  for (const [sym, points] of Object.entries(bulkSymbols)) if (sym in r.symbols) sum += points;
  return Math.min(9, sum);
}

export function judgeRspamd(r: RspamdResult, cfg: Pick<SpamFilterModel, 'scoreThresholds' | 'bulkSymbols' | 'bulkThreshold'>): SpamJudgement {
  const scl = sclOf(r, cfg.scoreThresholds);
  const bcl = bclOf(r, cfg.bulkSymbols);
  const why = `rspamd ${r.action}, score ${r.score}`;
  if (scl === 9) return { cls: 'highConfidenceSpam', scl, bcl, why };
  if (scl >= 5) return { cls: 'spam', scl, bcl, why };
  if (bcl >= cfg.bulkThreshold) return { cls: 'bulk', scl, bcl, why: `${why}, BCL ${bcl}` };
  return { cls: 'clean', scl, bcl, why };
}

const QUARANTINE_TYPE: Record<'spam' | 'highConfidenceSpam' | 'bulk', QuarantineType> = {
  spam: 'Spam',
  highConfidenceSpam: 'HighConfidenceSpam',
  bulk: 'Bulk',
};

const LABEL: Record<SpamClass, string> = {
  skipped: 'not spam filtered',
  clean: 'not spam',
  spam: 'spam',
  highConfidenceSpam: 'high confidence spam',
  bulk: 'bulk mail',
};

export function actionFor(cls: SpamClass, cfg: SpamFilterModel): SpamAction {
  if (cls === 'spam') return cfg.spamAction;
  if (cls === 'highConfidenceSpam') return cfg.highConfidenceSpamAction;
  if (cls === 'bulk') return cfg.bulkSpamAction;
  return 'NoAction';
}

/**
 * The verdict for a judgement: the SCL is always stamped (the mailbox server files SCL ≥ its
 * junk threshold, so MoveToJmf is that stamp and nothing else); bulk mail moved to Junk gets SCL 6,
 * as EOP does. `subject` is the message's current Subject (for ModifySubject).
 */
export function spamVerdict(j: SpamJudgement, cfg: SpamFilterModel, subject: string | null, evidence: Record<string, unknown> = {}): FilterVerdict {
  const action = actionFor(j.cls, cfg);
  const scl = j.cls === 'bulk' && action === 'MoveToJmf' ? Math.max(j.scl, 6) : j.scl;
  const edits: HeaderEdit[] = [
    { op: 'set', name: SCL_HEADER, value: String(scl) },
    { op: 'set', name: BCL_HEADER, value: `BCL:${j.bcl};` },
  ];
  const reason = `${LABEL[j.cls]} (SCL ${scl}, BCL ${j.bcl}): ${j.why}`;
  const base = { scl, reason, evidence: { ...evidence, scl, bcl: j.bcl, class: j.cls, spamAction: action } };
  const accept = (extra: HeaderEdit[] = []): FilterVerdict => ({ ...base, action: { kind: 'accept' }, headerEdits: [...edits, ...extra] });
  if (j.cls === 'skipped' || j.cls === 'clean') return accept();
  switch (action) {
    case 'NoAction':
    case 'MoveToJmf':
      return accept();
    case 'AddXHeader':
      return accept([{ op: 'add', name: cfg.addXHeaderValue.name, value: cfg.addXHeaderValue.value }]);
    case 'ModifySubject': {
      const current = (subject ?? '').trim();
      if (current.startsWith(cfg.modifySubjectValue.trim())) return accept();
      return accept([{ op: 'set', name: 'Subject', value: cfg.modifySubjectValue + current }]);
    }
    case 'Redirect':
      return { ...accept(), redirectTo: cfg.redirectToRecipients };
    case 'Delete':
      return { ...base, action: { kind: 'delete', reason: LABEL[j.cls] }, headerEdits: edits };
    case 'Quarantine':
      return { ...base, action: { kind: 'quarantine', type: QUARANTINE_TYPE[j.cls], reason: LABEL[j.cls] }, headerEdits: edits };
    case 'Reject':
      return { ...base, action: { kind: 'reject', code: 550, enhanced: '5.7.1', text: 'Message rejected as spam' } };
  }
}

/** allowed / blocked sender lists, on the envelope sender and the From: header address. */
export function senderListVerdict(cfg: SpamFilterModel, senders: readonly string[]): 'allowed' | 'blocked' | null {
  const norm = senders.map((s) => s.toLowerCase()).filter((s) => s.includes('@'));
  const domainOf = (a: string) => a.slice(a.lastIndexOf('@') + 1);
  const inLists = (addrs: readonly string[], domains: readonly string[]) =>
    norm.some((a) => addrs.includes(a) || domains.includes(domainOf(a)));
  // Blocked wins over allowed, as in EOP's Tenant Allow/Block List.
  if (inLists(cfg.blockedSenders, cfg.blockedSenderDomains)) return 'blocked';
  if (inLists(cfg.allowedSenders, cfg.allowedSenderDomains)) return 'allowed';
  return null;
}
