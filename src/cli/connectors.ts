// `sluice connectors`: every inbound and outbound connector at a glance, as EOP's connectors page
// shows them: name, enabled, type, how it matches or where it routes, TLS, limits, the last
// validation; for outbound ones the queue depth and last delivery error (from the spool files)
// and, when the daemon runs, its open connections and host-down marks (over the control socket).
import { loadConfigFile, ConfigError, formatIssues } from '../config/load.js';
import type { InboundConnector, Model, OutboundConnector } from '../domain/model.js';
import { controlRequest } from '../queue/control.js';
import { scanSpool, rcptConnector } from '../queue/scan.js';
import { loadValidation, type ValidationSummary } from '../observe/last-validation.js';
import type { LiveConnectorState } from '../delivery/live-state.js';

const LIVE_TIMEOUT_MS = 5_000;

interface QueueFacts {
  depth: number;
  lastError: { at: number; error: string } | null;
}

export interface ConnectorsView {
  daemon: { running: boolean; note: string };
  inbound: Record<string, unknown>[];
  outbound: Record<string, unknown>[];
}

/** Pending recipients and the newest delivery error per connector, from the spool files. */
async function queueFacts(spoolDir: string): Promise<Map<string, QueueFacts>> {
  const out = new Map<string, QueueFacts>();
  for await (const rec of scanSpool(spoolDir, 'queue')) {
    const seen = new Set<string>();
    for (const r of rec.rcpts) {
      if (r.status !== 'pending') continue;
      const name = rcptConnector(r);
      const f = out.get(name) ?? { depth: 0, lastError: null };
      if (!seen.has(name)) f.depth++; // messages, as EOP's queue counts them, not recipients
      seen.add(name);
      if (r.lastError && (!f.lastError || r.updatedAt > f.lastError.at)) f.lastError = { at: r.updatedAt, error: r.lastError };
      out.set(name, f);
    }
  }
  return out;
}

async function liveState(spoolDir: string): Promise<{ live: LiveConnectorState | null; note: string }> {
  try {
    const reply = await controlRequest(spoolDir, { op: 'connectors' }, LIVE_TIMEOUT_MS);
    if (reply.mode === 'offline') return { live: null, note: `${reply.reason}: configuration and spool only` };
    if (!reply.response.ok) return { live: null, note: `the daemon refused: ${reply.response.error}` };
    return { live: reply.response.data as LiveConnectorState, note: 'live state from the running daemon' };
  } catch (err) {
    return { live: null, note: `${(err as Error).message}: configuration and spool only` };
  }
}

/** Queue keys of a connector: "connector:NAME" (smart hosts) or "connector:NAME/domain" (MX). */
const ownsDestination = (c: OutboundConnector, key: string): boolean => key === `connector:${c.name}` || key.startsWith(`connector:${c.name}/`);

const raw = (list: readonly { raw: string }[]) => list.map((p) => p.raw);

function inboundRow(c: InboundConnector, last: ValidationSummary | null): Record<string, unknown> {
  return {
    name: c.name,
    enabled: c.enabled,
    type: c.connectorType,
    senderIPAddresses: raw(c.senderIPAddresses),
    tlsSenderCertificateName: c.tlsSenderCertificateName?.raw ?? null,
    senderDomains: raw(c.senderDomains),
    requireTls: c.requireTls,
    restrictDomainsToIPAddresses: c.restrictDomainsToIPAddresses,
    restrictDomainsToCertificate: c.restrictDomainsToCertificate,
    lastValidation: last,
  };
}

function outboundRow(c: OutboundConnector, q: QueueFacts | undefined, live: LiveConnectorState | null, last: ValidationSummary | null): Record<string, unknown> {
  const hostKeys = new Set(c.smartHosts.map((h) => `${h.host}:${h.port ?? 25}`));
  const conns = live?.connections.filter((x) => x.connector === c.name) ?? [];
  return {
    name: c.name,
    enabled: c.enabled,
    type: c.connectorType,
    recipientDomains: c.allAcceptedDomains ? ['(all accepted domains)'] : raw(c.recipientDomains),
    routing: c.useMxRecord ? 'MX' : c.smartHosts.map((h) => (h.port === null ? h.host : `${h.host}:${h.port}`)),
    tlsSettings: c.tlsSettings ?? 'opportunistic',
    tlsDomain: c.tlsDomain,
    clientCertificate: c.tlsCert,
    maxConnections: c.maxConnections,
    maxMessagesPerConnection: c.maxMessagesPerConnection,
    queueDepth: q?.depth ?? 0,
    lastDeliveryError: q?.lastError ?? null,
    connections: live ? { open: conns.reduce((n, x) => n + x.open, 0), busy: conns.reduce((n, x) => n + x.busy, 0) } : null,
    hostsDown: live ? live.hostsDown.filter((h) => hostKeys.has(h.host) || h.destinations.some((d) => ownsDestination(c, d))) : null,
    lastValidation: last,
  };
}

export async function connectorsView(model: Model): Promise<ConnectorsView> {
  const dir = model.spool.dir;
  const [queue, { live, note }] = await Promise.all([queueFacts(dir), liveState(dir)]);
  const inbound = await Promise.all(model.inboundConnectors.map(async (c) => inboundRow(c, await loadValidation(dir, c.name))));
  const outbound = await Promise.all(model.outboundConnectors.map(async (c) => outboundRow(c, queue.get(c.name), live, await loadValidation(dir, c.name))));
  return { daemon: { running: live !== null, note }, inbound, outbound };
}

const yesNo = (b: unknown) => (b ? 'yes' : 'no');
const list = (v: unknown) => (Array.isArray(v) && v.length ? v.join(', ') : '-');
const when = (t: number) => new Date(t).toISOString();
const validation = (v: unknown) => {
  const s = v as ValidationSummary | null;
  if (!s) return 'never';
  return `${when(s.at)} ${s.passed ? 'passed' : `failed at ${s.failedStage?.stage ?? '?'}: ${s.failedStage?.detail ?? ''}`}`;
};

export function formatView(v: ConnectorsView): string {
  const out: string[] = [`daemon: ${v.daemon.note}`, '', `Inbound connectors (${v.inbound.length})`];
  for (const c of v.inbound) {
    out.push(`  ${c.name}  [${c.type}] enabled: ${yesNo(c.enabled)}`);
    out.push(`    matches:   IPs ${list(c.senderIPAddresses)}; certificate ${c.tlsSenderCertificateName ?? '-'}; sender domains ${list(c.senderDomains)}`);
    out.push(`    TLS:       ${c.requireTls ? 'required' : 'not required'}${c.restrictDomainsToIPAddresses ? '; domains restricted to IPs' : ''}${c.restrictDomainsToCertificate ? '; domains restricted to certificate' : ''}`);
    out.push(`    validated: ${validation(c.lastValidation)}`);
  }
  out.push('', `Outbound connectors (${v.outbound.length})`);
  for (const c of v.outbound) {
    out.push(`  ${c.name}  [${c.type}] enabled: ${yesNo(c.enabled)}`);
    out.push(`    routes:    ${list(c.recipientDomains)} -> ${Array.isArray(c.routing) ? list(c.routing) : String(c.routing)}`);
    out.push(`    TLS:       ${c.tlsSettings}${c.tlsDomain ? ` (${c.tlsDomain})` : ''}${c.clientCertificate ? `; client certificate ${c.clientCertificate}` : ''}`);
    out.push(`    limits:    ${c.maxConnections} connections, ${c.maxMessagesPerConnection} messages per connection`);
    const conns = c.connections as { open: number; busy: number } | null;
    const down = c.hostsDown as { host: string; until: number; reason: string }[] | null;
    out.push(`    queue:     ${c.queueDepth} message(s)${conns ? `; connections ${conns.open} open, ${conns.busy} busy` : ''}`);
    if (down?.length) out.push(`    down:      ${down.map((d) => `${d.host} until ${when(d.until)} (${d.reason})`).join('; ')}`);
    const err = c.lastDeliveryError as { at: number; error: string } | null;
    if (err) out.push(`    last error: ${when(err.at)} ${err.error}`);
    out.push(`    validated: ${validation(c.lastValidation)}`);
  }
  return out.join('\n') + '\n';
}

export async function runConnectors(args: { config: string; json: boolean }): Promise<number> {
  let model;
  try {
    model = await loadConfigFile(args.config);
  } catch (err) {
    process.stderr.write((err instanceof ConfigError ? formatIssues(err.issues) : (err as Error).message) + '\n');
    return 1;
  }
  const view = await connectorsView(model);
  process.stdout.write(args.json ? JSON.stringify(view, null, 2) + '\n' : formatView(view));
  return 0;
}
