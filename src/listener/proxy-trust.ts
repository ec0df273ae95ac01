// The listener's side of the PROXY protocol: which peers may send a header (server.trustedProxies
// of the live model, so a reload applies to the next connection), where the announced proxy is
// kept until the session starts, and the log line for every connection refused before the greeting.
import type { Model } from '../domain/model.js';
import { ipMatches } from '../domain/match.js';
import type { Logger } from '../observe/log.js';
import type { ProxySettings } from './connection.js';

export function proxySettings(deps: { getModel: () => Model; log: Logger }, proxiedBy: Map<string, string>): ProxySettings {
  return {
    isTrusted: (peer) => ipMatches(deps.getModel().server.trustedProxies, peer) !== null,
    onProxied: ({ id, client, proxy, version }) => {
      proxiedBy.set(id, proxy);
      deps.log.debug({ stage: 'listener', sessionId: id, ip: client, proxy, proxyProtocol: version }, 'PROXY header accepted');
    },
    onRefused: ({ peer, reason }) => deps.log.warn({ stage: 'listener', peer, reason }, 'connection closed before the greeting: PROXY protocol'),
  };
}
