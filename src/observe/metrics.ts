// Prometheus metrics: the third sink of track(), plus the few gauges read at scrape time (queue
// depth, daemon status) and the session counters the listener bumps. One registry per process,
// served by the admin listener. Label sets are bounded: connectors, stages, reply codes, filter
// names and verdicts only; never an address, a host or a queue id.
import client from 'prom-client';
import type { Sink, TrackingEvent } from './events.js';
import { trackSinkErrors } from './events.js';
import { status } from './status.js';

export interface QueueDepthRow {
  state: string;
  connector: string;
  count: number;
}

const register = new client.Registry();
client.collectDefaultMetrics({ register, prefix: 'sluice_process_' });

const NONE = 'none';
const label = (v: string | null | undefined): string => (v === null || v === undefined || v === '' ? NONE : v);

const sessionsCurrent = new client.Gauge({ name: 'sluice_sessions_current', help: 'SMTP sessions open now', registers: [register] });
const sessionsTotal = new client.Counter({ name: 'sluice_sessions_total', help: 'SMTP sessions accepted, by inbound connector (none: anonymous)', labelNames: ['inbound'], registers: [register] });
const received = new client.Counter({ name: 'sluice_messages_received_total', help: 'Messages accepted and queued (250 after DATA)', labelNames: ['inbound'], registers: [register] });
const receivedBytes = new client.Counter({ name: 'sluice_messages_received_bytes_total', help: 'Bytes of messages accepted', labelNames: ['inbound'], registers: [register] });
const rejected = new client.Counter({ name: 'sluice_messages_rejected_total', help: 'Refusals, by SMTP stage and reply code (a refused recipient counts once)', labelNames: ['stage', 'code'], registers: [register] });
const delivered = new client.Counter({ name: 'sluice_messages_delivered_total', help: 'Recipients delivered, by outbound connector', labelNames: ['connector'], registers: [register] });
const deferred = new client.Counter({ name: 'sluice_messages_deferred_total', help: 'Recipient delivery attempts deferred, by outbound connector', labelNames: ['connector'], registers: [register] });
const bounced = new client.Counter({ name: 'sluice_messages_bounced_total', help: 'Recipients failed for good (5xx or expired), by outbound connector and kind', labelNames: ['connector', 'kind'], registers: [register] });
const dsns = new client.Counter({ name: 'sluice_dsn_total', help: 'Delivery status notifications queued', registers: [register] });
const quarantined = new client.Counter({ name: 'sluice_messages_quarantined_total', help: 'Messages quarantined, by inbound connector and quarantine type', labelNames: ['inbound', 'type'], registers: [register] });
const dropped = new client.Counter({ name: 'sluice_messages_dropped_total', help: 'Messages dropped by a filter or rule', labelNames: ['inbound'], registers: [register] });
const released = new client.Counter({ name: 'sluice_messages_released_total', help: 'Messages released from quarantine', registers: [register] });
const redirected = new client.Counter({ name: 'sluice_messages_redirected_total', help: 'Messages redirected by a rule', registers: [register] });
const verdicts = new client.Counter({ name: 'sluice_filter_verdicts_total', help: 'Filter verdicts, by filter and verdict', labelNames: ['filter', 'verdict'], registers: [register] });
const latency = new client.Histogram({
  name: 'sluice_delivery_latency_seconds',
  help: 'Time from receipt to delivery of a recipient, by outbound connector',
  labelNames: ['connector'],
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600],
  registers: [register],
});
const tls = new client.Counter({ name: 'sluice_tls_messages_total', help: 'Messages by direction (in: received, out: delivered) and whether the session used TLS', labelNames: ['direction', 'tls'], registers: [register] });
const dnsErrors = new client.Counter({ name: 'sluice_dns_errors_total', help: 'Delivery attempts that failed on DNS, temporary or permanent', labelNames: ['kind'], registers: [register] });
const reloads = new client.Counter({ name: 'sluice_config_reloads_total', help: 'Configuration reloads applied', registers: [register] });
const reloadFailures = new client.Counter({ name: 'sluice_config_reload_failures_total', help: 'Configuration reloads refused (the running config stays)', registers: [register] });
const traceFailures = new client.Counter({ name: 'sluice_trace_write_failures_total', help: 'Tracking events the trace store could not write (mail flow is not affected)', registers: [register] });

let queueDepth: () => readonly QueueDepthRow[] = () => [];
new client.Gauge({
  name: 'sluice_queue_depth',
  help: 'Queued messages by state (ready, active, deferred, hold) and outbound connector (a message counts once per destination)',
  labelNames: ['state', 'connector'],
  registers: [register],
  collect() {
    this.reset();
    for (const r of queueDepth()) this.set({ state: r.state, connector: r.connector }, r.count);
  },
});
const statusGauge = (name: string, help: string, read: () => number) =>
  new client.Gauge({
    name,
    help,
    registers: [register],
    collect() {
      this.set(read());
    },
  });
statusGauge('sluice_pending_restart', 'Settings changed that apply only after a restart (count of key paths)', () => status.pendingRestart.length);
statusGauge('sluice_config_reload_failed', '1 while the last reload failed (the running config is older than the file)', () => (status.reloadFailure ? 1 : 0));
statusGauge('sluice_draining', '1 while the daemon drains for a stop', () => (status.draining ? 1 : 0));
statusGauge('sluice_trace_writable', '1 while the trace store accepts writes', () => (status.traceWritable ? 1 : 0));
statusGauge('sluice_track_sink_errors', 'Tracking events a sink threw on (should stay 0)', () => trackSinkErrors());

export const metricsRegistry = register;

/** The queue manager's depth, read at each scrape. */
export function setQueueDepthSource(fn: () => readonly QueueDepthRow[]): void {
  queueDepth = fn;
}

export function noteSessionOpened(inbound: string | null): void {
  sessionsCurrent.inc();
  sessionsTotal.inc({ inbound: label(inbound) });
}

export function noteSessionClosed(): void {
  sessionsCurrent.dec();
}

export function noteReload(ok: boolean): void {
  (ok ? reloads : reloadFailures).inc();
}

export function noteTraceWriteFailures(events: number): void {
  traceFailures.inc(events);
}

/** "550 5.7.1 …" → "550"; anything else → "other", so the label set stays bounded. */
const replyCode = (reply: string | null | undefined): string => /^[245]\d\d\b/.exec(reply ?? '')?.[0] ?? 'other';

function count(e: TrackingEvent & { time: number }): void {
  const n = Math.max(1, e.recipients.length);
  const connector = label(e.outbound);
  switch (e.kind) {
    case 'RECEIVE':
      received.inc({ inbound: label(e.inbound) });
      receivedBytes.inc({ inbound: label(e.inbound) }, e.size ?? 0);
      if (typeof e.detail?.tls === 'boolean') tls.inc({ direction: 'in', tls: e.detail.tls ? 'yes' : 'no' });
      break;
    case 'REJECT':
      rejected.inc({ stage: String(e.detail?.stage ?? 'unknown'), code: replyCode(e.reply) });
      break;
    case 'DELIVER':
      delivered.inc({ connector }, n);
      if (typeof e.detail?.latencyMs === 'number') latency.observe({ connector }, e.detail.latencyMs / 1000);
      if (typeof e.detail?.tls === 'boolean') tls.inc({ direction: 'out', tls: e.detail.tls ? 'yes' : 'no' }, n);
      break;
    case 'DEFER':
    case 'FAIL':
      if (e.kind === 'DEFER') deferred.inc({ connector }, n);
      else bounced.inc({ connector, kind: 'rejected' }, n);
      if (e.rule?.startsWith('dns:')) dnsErrors.inc({ kind: e.rule.slice(4) === 'permanent' ? 'permanent' : 'temporary' });
      break;
    case 'EXPIRE':
      bounced.inc({ connector, kind: 'expired' }, n);
      break;
    case 'DSN':
      dsns.inc();
      break;
    case 'FILTER':
      if (e.filter) verdicts.inc({ filter: e.filter.name, verdict: e.filter.verdict });
      break;
    case 'QUARANTINE':
      quarantined.inc({ inbound: label(e.inbound), type: label(e.quarantineType) });
      if (e.filter) verdicts.inc({ filter: e.filter.name, verdict: e.filter.verdict });
      break;
    case 'DROP':
      dropped.inc({ inbound: label(e.inbound) });
      break;
    case 'RELEASE':
      released.inc();
      break;
    case 'REDIRECT':
      redirected.inc();
      break;
  }
}

export const metricsSink: Sink = count;
