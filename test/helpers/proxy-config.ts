// Starts the daemon with the test config whose listeners are PROXY protocol listeners trusting
// `trusted` (the balancer's addresses); `patch` replaces top-level sections as in startSluice.
import type { CertSet } from './certs.js';
import { startSluice, testConfig, type SluiceProcess } from './sluice.js';

export function startBehindProxy(certs: CertSet, trusted: string[], patch: Record<string, unknown>): Promise<SluiceProcess> {
  return startSluice({
    certs,
    config: (port, dir) => {
      const config = testConfig({ port, dir, certs, patch });
      const server = config.server as { listen: Record<string, unknown>[] };
      const listen = server.listen.map((l) => ({ ...l, proxyProtocol: true }));
      return { ...config, server: { ...server, listen, trustedProxies: trusted } };
    },
  });
}
