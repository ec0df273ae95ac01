// `sluice quarantine …`: EOP's quarantine (Get-, Export-, Release-, Delete-QuarantineMessage) for
// the spool named by --config. list/show/export read the held files directly; release and delete
// go through the running daemon's control socket, or take the spool lock and change the files
// themselves when none runs (the daemon then delivers released mail at its next start).
// In cluster mode (cluster.postgres.url) the held mail of every replica is in PostgreSQL: list,
// show and export read it there too, and a release takes the message into this replica's spool.
import { openPg } from '../cluster/pg.js';
import { isSharedError, PgQuarantine } from '../cluster/pg-quarantine.js';import { parseArgs } from 'node:util';
import { pipeline } from 'node:stream/promises';
import { ConfigError, formatIssues, loadConfigFile } from '../config/load.js';
import { parseDuration } from '../config/units.js';
import type { Model } from '../domain/model.js';
import { SluiceError } from '../domain/errors.js';
import { QUARANTINE_TYPES } from '../filters/contract.js';
import { parseHeaderBlock } from '../filters/header-block.js';
import { createLogger } from '../observe/log.js';
import { controlRequest, type ControlRequest, type ControlResponse } from '../queue/control.js';
import { FileSpool } from '../queue/file-spool.js';
import { Quarantine } from '../queue/quarantine.js';
import type { SpoolRecord } from '../queue/record.js';
import { headerText, HEADER_READ_LIMIT_BYTES, isQueueId, scanSpool } from '../queue/scan.js';
import { routeOf } from '../routing/route-of.js';
import { fail, Out } from './queue.js';

export const QUARANTINE_HELP = `Usage: sluice quarantine <subcommand> [--config FILE] [options]

  list [--type T] [--sender ADDR] [--recipient ADDR] [--since 7d] [--json]
                      one line per held message (id, type, received, sender, recipients,
                      reason); --json prints one JSON object per line
                      types: ${QUARANTINE_TYPES.join(', ')}
  show ID [--json]    headers, verdicts, reason and recipients of one message
  export ID           the message exactly as received, on stdout (> message.eml)
  release ID [--recipient ADDR ...] [--all]
                      deliver to the named recipients (default: all) by the current routing,
                      without the filter that held it; the others stay held
  delete ID           remove from the quarantine

Held messages are deleted when quarantine.retention (default 15d) has passed.
Changes go through the running daemon (<spool.dir>/control.sock); with no daemon running the
spool files are changed directly. In cluster mode every replica's held mail is listed (from
PostgreSQL) and may be released from any replica: the releasing replica delivers it, once; a
second release answers E_ALREADY_RELEASED. Exit 0 on success, 1 on any error.
`;

const DAY_MS = 86_400_000;
const SUBJECT_READ_BYTES = 16 * 1024;

interface Filters {
  type?: string;
  sender?: string;
  /** Any of these (lower case). */
  recipients?: string[];
  since?: number;
}

export async function runQuarantine(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c', default: 'config/sluice.yaml' },
        type: { type: 'string' },
        sender: { type: 'string' },
        recipient: { type: 'string', multiple: true },
        since: { type: 'string' },
        json: { type: 'boolean', default: false },
        all: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    return fail(`sluice quarantine: ${(err as Error).message}\n\n${QUARANTINE_HELP}`);
  }
  const { values, positionals } = parsed;
  const [sub, ...ids] = positionals;
  if (values.help || !sub) {
    process.stdout.write(QUARANTINE_HELP);
    return values.help ? 0 : 1;
  }
  let model: Model;
  try {
    model = await loadConfigFile(values.config!);
  } catch (err) {
    if (err instanceof ConfigError) return fail(formatIssues(err.issues));
    return fail(`quarantine: cannot read ${values.config}: ${(err as Error).message}`);
  }
  const pool = model.cluster.enabled && model.cluster.postgresUrl ? openPg({ url: model.cluster.postgresUrl, nodeId: `${model.cluster.nodeId}:quarantine-cli`, log: createLogger('silent'), max: 2 }) : null;
  try {
    return await subcommand(model, sub, ids, values, pool ? new PgQuarantine({ pool, nodeId: model.cluster.nodeId }) : null);
  } finally {
    await pool?.end();
  }
}

type Values = { type?: string | undefined; sender?: string | undefined; recipient?: string[] | undefined; since?: string | undefined; json?: boolean | undefined; all?: boolean | undefined };

async function subcommand(model: Model, sub: string, ids: string[], values: Values, shared: PgQuarantine | null): Promise<number> {
  const spoolDir = model.spool.dir;
  if (sub === 'list') {
    const f: Filters = {};
    if (values.type !== undefined) {
      const t = QUARANTINE_TYPES.find((x) => x.toLowerCase() === values.type!.toLowerCase());
      if (!t) return fail(`quarantine: --type must be one of ${QUARANTINE_TYPES.join(', ')}`);
      f.type = t;
    }
    if (values.sender !== undefined) f.sender = values.sender.toLowerCase();
    if (values.recipient?.length) f.recipients = values.recipient.map((r) => r.toLowerCase());
    if (values.since !== undefined) {
      try {
        f.since = Date.now() - parseDuration(values.since);
      } catch (err) {
        return fail(`quarantine: --since: ${(err as Error).message}`);
      }
    }
    return list(spoolDir, f, values.json!, shared);
  }
  const one = (fn: (id: string) => Promise<number>) => (ids.length === 1 && isQueueId(ids[0]!) ? fn(ids[0]!) : ids.length === 1 ? fail(`quarantine: no message ${ids[0]}`) : fail(`quarantine: usage: sluice quarantine ${sub} ID`));
  const spool = new FileSpool(spoolDir, createLogger('silent'), { owner: `sluice quarantine ${sub}` });
  switch (sub) {
    case 'show':
      return one((id) => show(spool, id, values.json!, shared));
    case 'export':
      return one((id) => exportMessage(spool, id, shared));
    case 'release':
      if (values.all && values.recipient?.length) return fail('quarantine: give either --recipient or --all');
      return one((id) => change(model, spool, shared, { op: 'quarantine-release', id, ...(values.recipient?.length ? { recipients: values.recipient } : {}) }, values.json!));
    case 'delete':
      return one((id) => change(model, spool, shared, { op: 'quarantine-delete', id }, values.json!));
    default:
      return fail(`sluice quarantine: unknown subcommand "${sub}"\n\n${QUARANTINE_HELP}`);
  }
}

const matches = (rec: SpoolRecord, f: Filters): boolean =>
  rec.quarantine !== undefined &&
  (f.type === undefined || rec.quarantine.type === f.type) &&
  (f.sender === undefined || rec.mailFrom.toLowerCase() === f.sender) &&
  (f.recipients === undefined || rec.rcpts.some((r) => f.recipients!.includes(r.address.toLowerCase()))) &&
  (f.since === undefined || rec.receivedAt >= f.since);

async function subjectOf(spool: FileSpool, rec: SpoolRecord): Promise<string | null> {
  const head = await spool.readHead(rec, SUBJECT_READ_BYTES, 'quarantine').catch(() => null);
  return head ? (parseHeaderBlock(head).fields.find((h) => h.name.toLowerCase() === 'subject')?.value ?? null) : null;
}

/** The JSON shape of one held message (list --json, show --json). */
export function quarantineEntry(rec: SpoolRecord, subject: string | null) {
  const q = rec.quarantine!;
  return {
    id: rec.id,
    type: q.type,
    reason: q.reason,
    sender: rec.mailFrom,
    recipients: rec.rcpts.map((r) => r.address),
    receivedAt: new Date(rec.receivedAt).toISOString(),
    quarantinedAt: new Date(q.quarantinedAt).toISOString(),
    expiresAt: new Date(q.expiresAt).toISOString(),
    filter: q.filter,
    stage: q.stage,
    size: rec.size,
    subject,
    clientIp: rec.client.ip,
  };
}

/** The held messages of this spool, then (cluster mode) the shared ones: each with its subject. */
async function* heldMessages(spoolDir: string, shared: PgQuarantine | null): AsyncGenerator<{ rec: SpoolRecord; subject: string | null } | { error: string }> {
  const spool = new FileSpool(spoolDir, createLogger('silent'));
  for await (const rec of scanSpool(spoolDir, 'quarantine')) yield { rec, subject: await subjectOf(spool, rec) };
  if (!shared) return;
  const rows = await shared.list();
  if (isSharedError(rows)) yield { error: rows.error };
  else for (const r of rows) yield { rec: r.record, subject: r.subject };
}

async function list(spoolDir: string, f: Filters, json: boolean, shared: PgQuarantine | null): Promise<number> {
  const out = new Out();
  let n = 0;
  let failure: string | null = null;
  if (!json) await out.write('ID                      Type                Received                  Expires in  Sender -> Recipients: Reason\n');
  for await (const item of heldMessages(spoolDir, shared)) {
    if ('error' in item) {
      failure = item.error;
      continue;
    }
    const { rec } = item;
    if (!matches(rec, f)) continue;
    n++;
    const e = quarantineEntry(rec, item.subject);
    const days = Math.max(0, Math.ceil((rec.quarantine!.expiresAt - Date.now()) / DAY_MS));
    await out.write(json ? JSON.stringify(e) + '\n' : `${e.id.padEnd(24)}${e.type.padEnd(20)}${e.receivedAt.padEnd(26)}${`${days}d`.padEnd(12)}<${e.sender}> -> ${e.recipients.join(', ')}: ${e.reason}\n`);
    if (out.closed) return 0;
  }
  if (!json) await out.write(`-- ${n} held message${n === 1 ? '' : 's'}${failure ? ' in this replica\'s spool only' : ''}\n`);
  await out.flush();
  return failure ? fail(failure) : 0;
}

/** One held message: this spool's, else (cluster mode) the shared one. */
async function findHeld(spool: FileSpool, id: string, shared: PgQuarantine | null): Promise<{ rec: SpoolRecord; subject: string | null; headers: string | null } | { error: string }> {
  const rec = await spool.readRecord(id, 'quarantine');
  if (rec?.quarantine) return { rec, subject: await subjectOf(spool, rec), headers: headerText(await spool.readHead(rec, HEADER_READ_LIMIT_BYTES, 'quarantine').catch(() => null)) };
  const row = shared ? await shared.get(id) : null;
  if (row && isSharedError(row)) return { error: row.error };
  return row ? { rec: row.record, subject: row.subject, headers: row.headers } : { error: `quarantine: no message ${id}` };
}

async function show(spool: FileSpool, id: string, json: boolean, shared: PgQuarantine | null): Promise<number> {
  const found = await findHeld(spool, id, shared);
  if ('error' in found) return fail(found.error);
  const { rec, headers } = found;
  const e = quarantineEntry(rec, found.subject);
  const verdicts = rec.quarantine!.verdicts ?? [];
  if (json) {
    process.stdout.write(JSON.stringify({ ...e, verdicts, headers }) + '\n');
    return 0;
  }
  const lines = [
    `Message ${e.id} (${e.type}) held by ${e.filter} (${e.stage}): ${e.reason}`,
    `  received ${e.receivedAt} from ${e.clientIp}, ${e.size} bytes; quarantined ${e.quarantinedAt}, expires ${e.expiresAt}`,
    `  sender <${e.sender}>`,
    ...e.recipients.map((r) => `  recipient <${r}>`),
    'Verdicts:',
    ...verdicts.map((v) => `  ${v.filter} (${v.stage}): ${v.verdict}: ${v.reason}`),
    'Headers:',
    headers ?? '(unreadable)',
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

async function exportMessage(spool: FileSpool, id: string, shared: PgQuarantine | null): Promise<number> {
  const found = await findHeld(spool, id, shared);
  if ('error' in found) return fail(found.error);
  const local = (await spool.readRecord(id, 'quarantine')) !== null;
  await pipeline(local ? spool.received(found.rec, 'quarantine') : shared!.body(id), process.stdout, { end: false });
  return 0;
}

type Sent = { mode: 'daemon' | 'offline' | 'none'; reason?: string; response: ControlResponse | { ok: false; code: string; error: string } };

async function send(model: Model, spool: FileSpool, shared: PgQuarantine | null, req: ControlRequest): Promise<Sent> {
  try {
    const reply = await controlRequest(model.spool.dir, req);
    if (reply.mode === 'daemon') return reply;
    try {
      await spool.open();
    } catch (err) {
      if (!(err instanceof SluiceError) || err.code !== 'E_SPOOL_LOCKED') throw err;
      return { mode: 'none', response: { ok: false, code: 'E_SPOOL_LOCKED', error: `quarantine: ${reply.reason}, yet ${err.message}. A daemon that is starting answers in a moment; try again` } };
    }
    try {
      const q = new Quarantine({ spool, log: createLogger('silent'), routeOf: (a) => routeOf(model, a), enqueue: null, shared });
      const res = req.op === 'quarantine-delete' ? await q.delete(req.id!) : await q.release(req.id!, req.recipients ?? null);
      return { mode: 'offline', reason: reply.reason, response: res };
    } finally {
      await spool.close();
    }
  } catch (err) {
    return { mode: 'none', response: { ok: false, code: 'E_INTERNAL', error: `quarantine: ${(err as Error).message}` } };
  }
}

async function change(model: Model, spool: FileSpool, shared: PgQuarantine | null, req: ControlRequest, json: boolean): Promise<number> {
  const sent = await send(model, spool, shared, req);
  const r = sent.response;
  if (json) {
    process.stdout.write(JSON.stringify({ ...r, op: req.op, mode: sent.mode, ...(sent.reason ? { reason: sent.reason } : {}) }) + '\n');
    return r.ok ? 0 : 1;
  }
  if (!r.ok) return fail(r.error);
  const how = sent.mode === 'daemon' ? 'via the running daemon' : `offline: ${sent.reason}; spool changed directly, delivered when the daemon starts`;
  const what = req.op === 'quarantine-delete' ? `deleted ${r.id}` : `released ${r.id} to ${(r.released ?? []).join(', ')}${r.queuedAs && r.queuedAs !== r.id ? ` (queued as ${r.queuedAs})` : ''}`;
  process.stdout.write(`quarantine: ${what}${r.note ? ` (${r.note})` : ''} [${how}]\n`);
  return 0;
}
