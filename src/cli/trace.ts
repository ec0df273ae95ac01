// `sluice trace`: EOP's message trace over the trace store named by --config. Reads the SQLite
// file directly and read-only (WAL lets it while the daemon writes). One row per message and
// recipient, or with --details QUEUE_ID every event of one message. In cluster mode (with
// cluster.postgres.url) it queries the shared trace in PostgreSQL: every replica's events.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, formatIssues, loadConfigFile } from '../config/load.js';
import { parseDuration } from '../config/units.js';
import { SqliteTraceStore } from '../observe/sqlite-trace-store.js';
import { detailLines, summarise, summaryTable, TRACE_STATUSES, type TraceStatus } from '../observe/trace-format.js';
import type { TraceQuery, TraceStore } from '../observe/trace-store.js';
import type { Model } from '../domain/model.js';
import { createLogger } from '../observe/log.js';
import { openPg } from '../cluster/pg.js';
import { PgTraceStore } from '../cluster/pg-trace-store.js';

export const TRACE_HELP = `Usage: sluice trace [--config FILE] [--sender ADDR] [--recipient ADDR] [--message-id ID]
                    [--since 48h|DATE] [--until 1h|DATE] [--status STATUS] [--json]
       sluice trace [--config FILE] --details QUEUE_ID [--json]

  One row per message and recipient, newest first (at most 1000 messages): date, sender,
  recipient, subject, status, connector, queue id and, when not delivered, the last reply.
  STATUS is one of ${TRACE_STATUSES.join(', ')}.
  A recipient refused at RCPT or a message refused at DATA shows as Failed with the reply.
  --since/--until take a duration back from now (48h, 7d) or a date (2026-12-01T10:00:00Z);
  --since defaults to 48h, as EOP's default view.
  --details lists every event of one message, delivery failures as
  [{LED=last error};{MSG=reason};{FQDN=remote host};{IP=remote IP};{LRT=last retry time}].
  In cluster mode (cluster.postgres.url) it reads the shared trace: every replica's events.
Exit 0 (also when nothing matched), 1 on error.
`;

const DEFAULT_SINCE_MS = 48 * 3_600_000;

/** "48h" → now - 48h; an ISO date → that instant. */
export function parseWhen(v: string, now: number): number {
  if (/^\d{4}-\d\d-\d\d/.test(v)) {
    const t = Date.parse(v);
    if (Number.isNaN(t)) throw new Error(`"${v}" is not a date`);
    return t;
  }
  return now - parseDuration(v);
}

export async function runTrace(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c', default: 'config/sluice.yaml' },
        sender: { type: 'string' },
        recipient: { type: 'string' },
        'message-id': { type: 'string' },
        since: { type: 'string' },
        until: { type: 'string' },
        status: { type: 'string' },
        details: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    err.write(`sluice trace: ${(e as Error).message}\n\n${TRACE_HELP}`);
    return 1;
  }
  if (values.help) {
    out.write(TRACE_HELP);
    return 0;
  }
  const status = values.status === undefined ? undefined : TRACE_STATUSES.find((s) => s.toLowerCase() === values.status!.toLowerCase());
  if (values.status !== undefined && !status) {
    err.write(`sluice trace: --status must be one of ${TRACE_STATUSES.join(', ')}\n`);
    return 1;
  }
  let model: Model;
  try {
    model = await loadConfigFile(values.config!);
  } catch (e) {
    err.write(e instanceof ConfigError ? `${formatIssues(e.issues)}\n` : `sluice trace: ${(e as Error).message}\n`);
    return 1;
  }
  const shared = model.cluster.enabled && model.cluster.postgresUrl !== null;
  const path = model.trace.path;
  if (!shared && !existsSync(path)) {
    err.write(`sluice trace: no trace store at ${path} (the daemon creates it at start, with trace.enabled: true)\n`);
    return 1;
  }
  const now = Date.now();
  let q: TraceQuery;
  try {
    q = {
      ...(values.sender !== undefined ? { sender: values.sender } : {}),
      ...(values.recipient !== undefined ? { recipient: values.recipient } : {}),
      ...(values['message-id'] !== undefined ? { messageId: values['message-id'] } : {}),
      since: parseWhen(values.since ?? `${DEFAULT_SINCE_MS}ms`, now),
      ...(values.until !== undefined ? { until: parseWhen(values.until, now) } : {}),
    };
  } catch (e) {
    err.write(`sluice trace: ${(e as Error).message}\n`);
    return 1;
  }
  const pool = shared ? openPg({ url: model.cluster.postgresUrl!, nodeId: `${model.cluster.nodeId}:trace-cli`, log: createLogger('silent'), max: 1 }) : null;
  const store: TraceStore = pool
    ? new PgTraceStore({ pool, nodeId: model.cluster.nodeId, includeSubject: model.trace.includeSubject, retentionMs: model.trace.retentionMs })
    : new SqliteTraceStore(path, { readonly: true });
  try {
    if (values.details !== undefined) return await details(store, values.details, values.json!, out, err);
    const rows = summarise(await store.query(q)).filter((s) => status === undefined || s.status === (status as TraceStatus));
    if (values.json) for (const s of rows) out.write(`${JSON.stringify({ ...s, date: new Date(s.date).toISOString() })}\n`);
    else out.write(rows.length ? summaryTable(rows) : 'no messages match\n');
    return 0;
  } catch (e) {
    if (!pool) throw e;
    err.write(`sluice trace: E_POSTGRES_DOWN: the shared trace in PostgreSQL cannot be read: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await store.close();
    await pool?.end();
  }
}

async function details(store: TraceStore, queueId: string, json: boolean, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const rows = await store.details(queueId);
  if (!rows.length) {
    err.write(`sluice trace: no events for queue id ${queueId}\n`);
    return 1;
  }
  if (json) {
    for (const r of rows) out.write(`${JSON.stringify({ ...r, time: new Date(r.time).toISOString() })}\n`);
    return 0;
  }
  const first = rows[0]!;
  const summary = summarise(rows);
  out.write(
    `Message ${queueId}  Message-ID: ${first.messageId ?? '-'}\n` +
      `From: ${first.sender || '<>'}  Subject: ${rows.find((r) => r.subject)?.subject ?? ''}  Size: ${first.size ?? '-'}\n` +
      summary.map((s) => `  ${s.recipient}: ${s.status}${s.connector ? ` (${s.connector})` : ''}`).join('\n') +
      '\n\n' +
      detailLines(rows).join('\n') +
      '\n',
  );
  return 0;
}
