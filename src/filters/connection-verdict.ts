// Pure: the connection filter's decision for one client IP (EOP's connection filter policy).
// Input: the compiled lists, the IP, the inbound connector and the DNSBL answers; output: a
// FilterVerdict with the rule that decided. Allow beats block; OnPremises sessions are ours and
// never blocked; a DNSBL that did not answer is advisory and only noted.
import { ipMatches } from '../domain/match.js';
import type { ConnectionFilterModel } from '../config/sections/sender.js';
import type { InboundConnector } from '../domain/model.js';
import type { FilterVerdict } from './contract.js';

export type ListMatch =
  | { readonly kind: 'onPremises'; readonly connector: string }
  | { readonly kind: 'allowed'; readonly rule: string }
  | { readonly kind: 'blocked'; readonly rule: string }
  | { readonly kind: 'unlisted' };

export function matchLists(cf: ConnectionFilterModel, ip: string, inbound: InboundConnector | null): ListMatch {
  if (inbound?.connectorType === 'OnPremises') return { kind: 'onPremises', connector: inbound.name };
  const allow = ipMatches(cf.ipAllowList, ip);
  if (allow) return { kind: 'allowed', rule: allow.raw };
  const block = ipMatches(cf.ipBlockList, ip);
  if (block) return { kind: 'blocked', rule: block.raw };
  return { kind: 'unlisted' };
}

export type DnsblAnswer =
  | { readonly zone: string; readonly kind: 'listed'; readonly answer: string }
  | { readonly zone: string; readonly kind: 'not-listed' }
  | { readonly zone: string; readonly kind: 'unavailable'; readonly error: string };

/** The IP shown in replies: what the client connected from (or the original sender with EF). */
const host = (ip: string): string => `[${ip}]`;

export function blockListReply(ip: string): FilterVerdict['action'] {
  return { kind: 'reject', code: 550, enhanced: '5.7.513', text: `Service unavailable, Client host ${host(ip)} blocked using Customer Block list` };
}

export function dnsblReply(ip: string, zone: string): FilterVerdict['action'] {
  return { kind: 'reject', code: 550, enhanced: '5.7.1', text: `Service unavailable; Client host ${host(ip)} blocked using ${zone}` };
}

/** The verdict once the lists are matched and (for an unlisted IP) the DNSBLs answered. */
export function connectionVerdict(ip: string, match: ListMatch, dnsbl: readonly DnsblAnswer[]): FilterVerdict {
  switch (match.kind) {
    case 'onPremises':
      return { action: { kind: 'accept' }, reason: `OnPremises connector ${match.connector}`, evidence: { ip, rule: 'onPremises' } };
    case 'allowed':
      return { action: { kind: 'accept' }, reason: `IP allow list ${match.rule}`, evidence: { ip, rule: `ipAllowList:${match.rule}`, ipAllowed: true } };
    case 'blocked':
      return { action: blockListReply(ip), reason: `IP block list ${match.rule}`, evidence: { ip, rule: `ipBlockList:${match.rule}` } };
    case 'unlisted':
      break;
  }
  const unavailable = dnsbl.filter((a) => a.kind === 'unavailable').map((a) => `${a.zone}: ${a.error}`);
  const hit = dnsbl.find((a) => a.kind === 'listed');
  const notes = unavailable.length ? { dnsblUnavailable: unavailable, notice: `DNSBL skipped: ${unavailable.join(', ')}` } : {};
  if (hit?.kind === 'listed') {
    return { action: dnsblReply(ip, hit.zone), reason: `listed in ${hit.zone} (${hit.answer})`, evidence: { ip, rule: `dnsbl:${hit.zone}`, answer: hit.answer, ...notes } };
  }
  const reason = unavailable.length ? `not listed; skipped unanswered DNSBL ${unavailable.join(', ')}` : 'not listed';
  return { action: { kind: 'accept' }, reason, evidence: { ip, rule: 'none', ...notes } };
}
