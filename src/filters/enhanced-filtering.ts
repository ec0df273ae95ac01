// Pure: enhanced filtering for connectors (EOP's skip listing). When Sluice sits behind another
// gateway, the connector names that gateway (efSkipLastIP, efSkipIPs) and the connection filter
// and SPF judge the original sender found in the Received: chain instead of the peer. efUsers
// limits it to listed recipients. Output: the IP to judge and the header that records it.
import type { InboundConnector } from '../domain/model.js';
import type { HeaderEdit, HeaderField, SessionView } from './contract.js';
import { originalSender, type Hop, type OriginalSender } from './received-chain.js';

export const EF_HEADER = 'X-MS-Exchange-ExternalOriginalInternetSender';

export const enhancedFilteringOn = (c: InboundConnector | null): c is InboundConnector =>
  c !== null && (c.efSkipLastIP || c.efSkipIPs.length > 0);

/**
 * EOP applies skip listing to the recipients in EFUsers (all when empty). One message has one
 * SPF verdict, so a message with recipients on both sides is judged by the peer, as a message to
 * recipients outside EFUsers would be: the original IP is used only when every recipient is listed.
 */
export function appliesToRecipients(c: InboundConnector, rcpts: readonly string[]): boolean {
  if (c.efUsers.length === 0) return true;
  const listed = new Set(c.efUsers);
  return rcpts.length > 0 && rcpts.every((r) => listed.has(r.toLowerCase()));
}

/** The peer must itself be a hop to skip: at connect, a gateway is judged at DATA instead. */
export function peerIsSkipped(c: InboundConnector, peerIp: string): boolean {
  return originalSender({ ip: peerIp, helo: null }, [], { skipLastIP: c.efSkipLastIP, skipIPs: c.efSkipIPs }).found === false;
}

export type EnhancedSender =
  | { readonly kind: 'off'; readonly reason: string }
  | { readonly kind: 'found'; readonly ip: string; readonly helo: string | null; readonly rule: string; readonly skipped: readonly string[]; readonly header: HeaderEdit }
  | { readonly kind: 'not-found'; readonly rule: string; readonly skipped: readonly string[] };

export function efHeaderValue(hop: Hop): string {
  // Microsoft's shape: "ip=[203.0.113.5];domain=mail.fabrikam.com".
  const domain = (hop.helo ?? '').replace(/[^A-Za-z0-9.\-_[\]:]/g, '');
  return `ip=[${hop.ip}]${domain ? `;domain=${domain}` : ''}`;
}

/** The sender to judge at DATA for this session and these recipients. */
export function enhancedSender(session: SessionView, headers: readonly HeaderField[], rcpts: readonly string[]): EnhancedSender {
  const c = session.inbound;
  if (!enhancedFilteringOn(c)) return { kind: 'off', reason: 'connector without enhanced filtering' };
  if (!appliesToRecipients(c, rcpts)) return { kind: 'off', reason: 'recipients outside efUsers' };
  const received = headers.filter((h) => h.name.toLowerCase() === 'received').map((h) => h.value);
  const r: OriginalSender = originalSender({ ip: session.peerIp, helo: session.helo || null }, received, {
    skipLastIP: c.efSkipLastIP,
    skipIPs: c.efSkipIPs,
  });
  if (!r.found) return { kind: 'not-found', rule: r.rule, skipped: r.skipped };
  if (r.skipped.length === 0) return { kind: 'off', reason: 'the peer is not a listed gateway' };
  return {
    kind: 'found',
    ip: r.hop.ip,
    helo: r.hop.helo,
    rule: r.rule,
    skipped: r.skipped,
    header: { op: 'set', name: EF_HEADER, value: efHeaderValue(r.hop) },
  };
}
