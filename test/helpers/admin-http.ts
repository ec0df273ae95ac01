// Talks to the daemon's admin HTTP listener (/healthz, /readyz, /metrics) and reads single
// series out of Prometheus text, for tests that assert counters move with the traffic sent.
export interface HttpReply {
  status: number;
  body: string;
}

export async function adminGet(port: number, path: string, token?: string): Promise<HttpReply> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: await res.text() };
}

/** The value of the series `name` whose labels include every one of `labels`; 0 when absent. */
export function series(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const have = new Map([...(m[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) total += Number(m[2]);
  }
  return total;
}
