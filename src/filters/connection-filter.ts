// Stage connectionFilter: EOP's connection filter policy (IP allow and block lists) plus DNS
// blocklists. The connect hook judges the peer before MAIL FROM is accepted; with enhanced
// filtering the content hook judges the original sender from the Received: chain at DATA and
// stamps X-MS-Exchange-ExternalOriginalInternetSender. Decisions live in connection-verdict.ts.
import type { Resolver } from 'node:dns/promises';
import type { Model } from '../domain/model.js';
import type { ContentContext, Filter, FilterContext, FilterFactory, FilterVerdict } from './contract.js';
import { connectionVerdict, matchLists, type DnsblAnswer } from './connection-verdict.js';
import { queryDnsbls } from './dnsbl.js';
import { DNSBL_DNS_TRIES, filterResolver } from './dns-resolver.js';
import { enhancedFilteringOn, enhancedSender, peerIsSkipped } from './enhanced-filtering.js';

async function judge(model: Model, resolver: Resolver, ip: string, ctx: FilterContext): Promise<FilterVerdict> {
  const cf = model.connectionFilter;
  const match = matchLists(cf, ip, ctx.session.inbound);
  const dnsbl: DnsblAnswer[] = match.kind === 'unlisted' && cf.dnsBlocklists.length ? await queryDnsbls(resolver, ip, cf.dnsBlocklists) : [];
  return connectionVerdict(ip, match, dnsbl);
}

export function connectionFilter(model: Model): Filter {
  const resolver = filterResolver(model, DNSBL_DNS_TRIES);
  return {
    name: 'connection-filter',
    stage: 'connectionFilter',
    onError: 'Tempfail',
    async connect(ctx) {
      const { inbound: c, peerIp, clientIp } = ctx.session;
      // A gateway named for skip listing is not the sender: its mail is judged at DATA.
      if (enhancedFilteringOn(c) && clientIp === peerIp && peerIsSkipped(c, peerIp)) {
        return { action: { kind: 'accept' }, reason: 'enhanced filtering: judged at DATA', evidence: { ip: peerIp, rule: 'efSkip' } };
      }
      return judge(model, resolver, clientIp, ctx);
    },
    async content(ctx: ContentContext) {
      const ef = enhancedSender(ctx.session, ctx.message.headers, ctx.envelope.rcpts.map((r) => r.address));
      if (ef.kind === 'off') return { action: { kind: 'accept' }, reason: 'judged at connect', evidence: { ef: ef.reason } };
      if (ef.kind === 'not-found') {
        // Nothing better than the gateway itself: judge it, as EOP does when skip listing fails.
        const v = await judge(model, resolver, ctx.session.peerIp, ctx);
        return { ...v, evidence: { ...v.evidence, ef: ef.rule, efSkipped: ef.skipped } };
      }
      const v = await judge(model, resolver, ef.ip, ctx);
      return {
        ...v,
        reason: `original sender ${ef.ip}: ${v.reason}`,
        headerEdits: [ef.header],
        evidence: { ...v.evidence, ef: ef.rule, efSkipped: ef.skipped },
      };
    },
  };
}

function connectionFilterNeeded(model: Model): boolean {
  const cf = model.connectionFilter;
  const lists = cf.ipAllowList.length + cf.ipBlockList.length + cf.dnsBlocklists.length > 0;
  return lists || model.inboundConnectors.some((c) => enhancedFilteringOn(c));
}

export const connectionFilterFactory: FilterFactory = (model) => (connectionFilterNeeded(model) ? [connectionFilter(model)] : []);
