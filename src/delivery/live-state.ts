// What the running daemon knows about its outbound side that the spool files do not say:
// connections open and busy per connector, and the hosts marked down. Served over the control
// socket (`connectors` op) to `sluice connectors`.
import type { Pools } from './pools.js';
import type { Deliverer } from './deliver.js';

export interface LiveConnectorState {
  connections: { connector: string; destination: string; open: number; busy: number }[];
  /** `destinations`: queue keys ("connector:NAME", "connector:NAME/domain", "mx:domain") that last used the host. */
  hostsDown: { host: string; until: number; reason: string; destinations: string[] }[];
}

export function liveConnectorState(pools: Pools, deliverer: Deliverer, now = Date.now()): LiveConnectorState {
  return {
    connections: pools.stats().map((s) => ({ connector: s.connector, destination: s.key, open: s.open, busy: s.busy })),
    hostsDown: deliverer.hostDownMarks(now),
  };
}
