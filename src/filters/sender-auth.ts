// Stage senderAuthentication: SPF, DKIM, DMARC and ARC with mailauth over the spooled message,
// through dns.servers. Adds one Authentication-Results header (after removing received ones that
// claim our authserv-id), records facts.auth for later stages and acts on a DMARC failure as
// auth-verdict.ts decides. With enhanced filtering, SPF judges the original sender's IP.
import { authenticate, type AuthenticateResult } from 'mailauth';
import type { Model } from '../domain/model.js';
import type { ContentContext, Filter, FilterFactory, FilterVerdict, HeaderEdit } from './contract.js';
import { authResultsValue, claimsAuthservId } from './auth-results.js';
import { authVerdict, type AuthFacts } from './auth-verdict.js';
import { filterResolver, mailauthResolver } from './dns-resolver.js';
import { enhancedSender } from './enhanced-filtering.js';

const domainOf = (address: string | undefined): string | null => {
  const at = address?.lastIndexOf('@') ?? -1;
  return address && at >= 0 ? address.slice(at + 1).toLowerCase() : null;
};

/** Pure: mailauth's result → the facts later stages read (facts.auth). */
export function authFacts(r: Pick<AuthenticateResult, 'spf' | 'dkim' | 'dmarc' | 'arc'>): AuthFacts {
  const sigs = r.dkim.results ?? [];
  const dkim = sigs.find((s) => s.status.result === 'pass')?.status.result ?? sigs[0]?.status.result ?? 'none';
  return {
    spf: r.spf ? r.spf.status.result : 'none',
    dkim,
    dmarc: r.dmarc ? r.dmarc.status.result : 'none',
    arc: r.arc ? r.arc.status.result : 'none',
    dmarcPolicy: r.dmarc && r.dmarc.policy ? r.dmarc.policy.toLowerCase() : null,
    fromDomain: domainOf(r.dkim.headerFrom?.[0]),
  };
}

/** Pure: the header edits: drop forged results claiming our authserv-id, then add ours. */
export function authHeaderEdits(hostname: string, received: ContentContext['message']['headers'], r: AuthenticateResult): HeaderEdit[] {
  const forged = received.filter((h) => h.name.toLowerCase() === 'authentication-results' && claimsAuthservId(h.value, hostname));
  const value = authResultsValue(hostname, {
    spf: r.spf ? r.spf.info : null,
    dkim: (r.dkim.results ?? []).map((s) => s.info),
    dmarc: r.dmarc ? (r.dmarc.info ?? null) : null,
    arc: r.arc ? (r.arc.info ?? null) : null,
  });
  const removes: HeaderEdit[] = forged.map((h) => ({ op: 'remove', name: 'Authentication-Results', value: h.value }));
  return [...removes, { op: 'add', name: 'Authentication-Results', value }];
}

export function senderAuthentication(model: Model): Filter {
  const resolver = mailauthResolver(filterResolver(model));
  const hostname = model.server.hostname;
  return {
    name: 'sender-authentication',
    stage: 'senderAuthentication',
    onError: 'Tempfail',
    async content(ctx: ContentContext): Promise<FilterVerdict> {
      const { session, envelope, message } = ctx;
      const ef = enhancedSender(session, message.headers, envelope.rcpts.map((r) => r.address));
      const ip = ef.kind === 'found' ? ef.ip : session.clientIp;
      const helo = ef.kind === 'found' ? (ef.helo ?? ip) : session.helo;
      const result = await authenticate(message.open(), {
        ip,
        helo,
        sender: envelope.mailFrom || undefined,
        mta: hostname,
        resolver,
        disableBimi: true,
      });
      const auth = authFacts(result);
      const verdict = authVerdict(auth, model.senderAuthentication, session.inbound?.connectorType === 'OnPremises');
      return {
        ...verdict,
        headerEdits: authHeaderEdits(hostname, message.headers, result),
        evidence: { ...verdict.evidence, ip, ...(ef.kind === 'found' ? { ef: ef.rule } : {}) },
      };
    },
  };
}

export const senderAuthenticationFactory: FilterFactory = (model) => (model.senderAuthentication.enabled ? [senderAuthentication(model)] : []);
