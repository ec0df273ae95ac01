// Pure: sender authentication results → the filter's verdict (EOP's HonorDmarcPolicy actions).
// Input: the four results, the DMARC policy that applies, the settings and whether the session
// is ours (OnPremises); output: a FilterVerdict with its reason. Only a DMARC failure acts; SPF
// and DKIM alone are recorded for the spam filter (facts.auth).
import type { SenderAuthenticationModel } from '../config/sections/sender.js';
import type { FilterVerdict, PipelineFacts } from './contract.js';

export type AuthFacts = NonNullable<PipelineFacts['auth']>;

/** MoveToJmf: mark as spam at EOP's "spam" level; the spam action then moves it to Junk. */
export const JMF_SCL = 6;

export function dmarcRejectReply(domain: string): FilterVerdict['action'] {
  return {
    kind: 'reject',
    code: 550,
    enhanced: '5.7.509',
    text: `Access denied, sending domain [${domain}] does not pass DMARC verification and has a DMARC policy of reject`,
  };
}

const summary = (a: AuthFacts): string => `spf=${a.spf} dkim=${a.dkim} dmarc=${a.dmarc} arc=${a.arc}`;

export function authVerdict(auth: AuthFacts, settings: SenderAuthenticationModel, onPremises: boolean): FilterVerdict {
  const evidence = { auth };
  const pass = (why: string): FilterVerdict => ({ action: { kind: 'accept' }, reason: `${summary(auth)}: ${why}`, evidence });
  if (auth.dmarc !== 'fail') return pass(auth.dmarc === 'pass' ? 'DMARC pass' : 'no DMARC verdict');
  const domain = auth.fromDomain ?? 'unknown';
  const policy = auth.dmarcPolicy ?? 'none';
  if (policy !== 'reject' && policy !== 'quarantine') return pass(`DMARC fail, p=${policy}`);
  if (!settings.honorDmarcPolicy) return pass(`DMARC p=${policy} for ${domain} recorded only (honorDmarcPolicy: false)`);
  if (onPremises) return pass(`DMARC p=${policy} for ${domain} not enforced on an OnPremises session`);
  const why = `DMARC p=${policy} for ${domain}`;
  if (policy === 'reject' && settings.dmarcRejectAction === 'Reject') {
    return { action: dmarcRejectReply(domain), reason: why, evidence };
  }
  if (policy === 'quarantine' && settings.dmarcQuarantineAction === 'MoveToJmf') {
    return { action: { kind: 'accept' }, scl: JMF_SCL, reason: `${why}: marked as spam (SCL ${JMF_SCL})`, evidence };
  }
  return { action: { kind: 'quarantine', type: 'Phish', reason: why }, reason: why, evidence };
}
