// Queue depth for the metrics, pure: queued messages counted by state and outbound connector,
// one count per destination key a message waits on. Labels name connectors, never domains, so
// the metric's label set stays bounded however many MX domains mail goes to.
/** The job key of a message with nothing left to deliver (only its finish: DSNs, removal). */
export const FINISH_KEY = '';

export interface DepthRow {
  state: string;
  connector: string;
  count: number;
}

/** What depth needs of an index entry (scheduler.ts Entry). */
export interface DepthEntry {
  readonly status: string;
  readonly running: number;
  readonly dueAt: number;
  readonly keys: readonly string[];
}

/** The metrics label for a destination key (destinations.ts): the connector, never a domain. */
export function connectorOfKey(key: string): string {
  if (key.startsWith('connector:')) {
    const name = key.slice('connector:'.length);
    const slash = name.lastIndexOf('/');
    // "connector:<name>/<domain>" for MX-routed connectors; a name may itself hold a slash.
    return slash > 0 && name.slice(slash + 1).includes('.') ? name.slice(0, slash) : name;
  }
  if (key.startsWith('mx:')) return 'Internet (MX)';
  return key === FINISH_KEY ? 'none' : key;
}

export function queueDepth(entries: Iterable<DepthEntry>, now: number): DepthRow[] {
  const counts = new Map<string, number>();
  for (const e of entries) {
    const state = e.status === 'hold' ? 'hold' : e.running > 0 ? 'active' : e.dueAt > now ? 'deferred' : 'ready';
    for (const key of e.keys.length ? e.keys : [FINISH_KEY]) {
      const k = `${state}\n${connectorOfKey(key)}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
  }
  return [...counts].map(([k, count]) => {
    const [state = '', connector = ''] = k.split('\n');
    return { state, connector, count };
  });
}
