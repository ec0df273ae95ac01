// `sluice queue …`: Postfix's postqueue/postsuper and Exchange's queue viewer for the spool named
// by --config. list/show read the spool files directly, streaming; retry/hold/release/delete/bounce
// go through the running daemon's control socket, or change the files themselves when none runs.
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { ConfigError, formatIssues, loadConfigFile } from '../config/load.js';
import { createLogger } from '../observe/log.js';
import { applyOffline } from '../queue/offline.js';
import { controlRequest, type ControlOp, type ControlRequest, type ControlResponse } from '../queue/control.js';
import { findRecord, isQueueId, QUEUE_STATUSES, queueStatus, rcptConnector, headerText, HEADER_READ_LIMIT_BYTES, scanSpool, type QueueStatus, type ScanStats } from '../queue/scan.js';
import { FileSpool } from '../queue/file-spool.js';
import { SluiceError } from '../domain/errors.js';
import { jsonEntry, LIST_HEADER, listEntry, showText } from './queue-format.js';

export const QUEUE_HELP = `Usage: sluice queue <subcommand> [--config FILE] [options]

  list [--connector NAME] [--status active|deferred|hold|failed] [--json]
                      one line per message (id, size, age, attempts, next attempt, status,
                      sender) and one per recipient (state, connector, last error);
                      --json prints one JSON object per line, as postqueue -j
  show ID [--json]    everything about one message, with its headers
  retry ID|--all      deliver now (held messages stay held)
  hold ID             stop delivering until released
  release ID          back to the queue, due now
  delete ID           remove without notice
  bounce ID           fail the pending recipients and send the sender a DSN

Changes go through the running daemon (<spool.dir>/control.sock); with no daemon running the
spool files are changed directly and the daemon applies them at its next start.
Exit 0 on success, 1 on any error (unknown id: "queue: no message ID").
`;

const MUTATIONS: readonly ControlOp[] = ['retry', 'hold', 'release', 'delete', 'bounce'];
const PAST: Record<string, string> = { retry: 'retrying', hold: 'held', release: 'released', delete: 'deleted', bounce: 'bounced' };
/** Output is batched into writes of about this size; stdout's backpressure is honoured between them. */
const OUT_CHUNK_CHARS = 64 * 1024;

interface Options {
  config: string;
  connector?: string | undefined;
  status?: string | undefined;
  json: boolean;
  all: boolean;
}

/** Buffered stdout that waits for 'drain' and stops quietly when the reader goes away (`| head`). */
export class Out {
  private parts: string[] = [];
  private size = 0;
  closed = false;
  constructor(private readonly stream: NodeJS.WriteStream = process.stdout) {
    stream.on('error', () => (this.closed = true));
  }
  async write(text: string): Promise<void> {
    this.parts.push(text);
    this.size += text.length;
    if (this.size >= OUT_CHUNK_CHARS) await this.flush();
  }
  async flush(): Promise<void> {
    if (!this.size || this.closed) return;
    const ok = this.stream.write(this.parts.join(''));
    this.parts = [];
    this.size = 0;
    if (!ok) await once(this.stream, 'drain').catch(() => (this.closed = true));
  }
}

export const fail = (text: string): number => {
  process.stderr.write(text.endsWith('\n') ? text : text + '\n');
  return 1;
};

export async function runQueue(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c', default: 'config/sluice.yaml' },
        connector: { type: 'string' },
        status: { type: 'string' },
        json: { type: 'boolean', default: false },
        all: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    return fail(`sluice queue: ${(err as Error).message}\n\n${QUEUE_HELP}`);
  }
  const { values, positionals } = parsed;
  const [sub, ...ids] = positionals;
  if (values.help || !sub) {
    process.stdout.write(QUEUE_HELP);
    return values.help ? 0 : 1;
  }
  const opts: Options = { config: values.config!, connector: values.connector, status: values.status, json: values.json!, all: values.all! };
  let spoolDir: string;
  try {
    spoolDir = (await loadConfigFile(opts.config)).spool.dir;
  } catch (err) {
    if (err instanceof ConfigError) return fail(formatIssues(err.issues));
    return fail(`queue: cannot read ${opts.config}: ${(err as Error).message}`);
  }
  if (sub === 'list') return list(spoolDir, opts);
  if (sub === 'show') return ids.length === 1 ? show(spoolDir, ids[0]!, opts.json) : fail('queue: usage: sluice queue show ID');
  if ((MUTATIONS as string[]).includes(sub)) return mutate(spoolDir, sub as ControlOp, ids, opts);
  return fail(`sluice queue: unknown subcommand "${sub}"\n\n${QUEUE_HELP}`);
}

async function list(spoolDir: string, opts: Options): Promise<number> {
  const status = opts.status as QueueStatus | undefined;
  if (status !== undefined && !QUEUE_STATUSES.includes(status)) {
    return fail(`queue: --status must be one of ${QUEUE_STATUSES.join(', ')}`);
  }
  const connector = opts.connector?.toLowerCase();
  const area = status === 'failed' ? 'failed' : 'queue';
  const out = new Out();
  const stats: ScanStats = { unreadable: 0 };
  const now = Date.now();
  let count = 0;
  let bytes = 0;
  if (!opts.json) await out.write(LIST_HEADER);
  for await (const rec of scanSpool(spoolDir, area, stats)) {
    const st = queueStatus(rec, area, now);
    if (status && st !== status) continue;
    if (connector !== undefined && !rec.rcpts.some((r) => rcptConnector(r).toLowerCase() === connector)) continue;
    count++;
    bytes += rec.size;
    await out.write(opts.json ? JSON.stringify(jsonEntry(rec, st, now)) + '\n' : listEntry(rec, st, now));
    if (out.closed) return 0;
  }
  if (!opts.json) await out.write(`-- ${count} message${count === 1 ? '' : 's'}, ${bytes} bytes\n`);
  await out.flush();
  if (stats.unreadable) process.stderr.write(`queue: ${stats.unreadable} unreadable record(s) skipped (moved to corrupt/ at the daemon's next start)\n`);
  return 0;
}

async function show(spoolDir: string, id: string, json: boolean): Promise<number> {
  const found = await findRecord(spoolDir, id);
  if (!found) return fail(`queue: no message ${id}`);
  const { record, area } = found;
  const spool = new FileSpool(spoolDir, createLogger('silent'));
  const headers = headerText(await spool.readHead(record, HEADER_READ_LIMIT_BYTES, area).catch(() => null));
  const now = Date.now();
  const status = queueStatus(record, area, now);
  process.stdout.write(json ? JSON.stringify({ ...jsonEntry(record, status, now), headers }) + '\n' : showText(record, status, now, headers));
  return 0;
}

async function mutate(spoolDir: string, op: ControlOp, ids: string[], opts: Options): Promise<number> {
  if (op === 'retry' && opts.all) {
    if (ids.length) return fail('queue: give either IDs or --all');
    return report(await send(spoolDir, { op, all: true }), op, opts.json);
  }
  if (!ids.length) return fail(`queue: usage: sluice queue ${op} ID${op === 'retry' ? '|--all' : ''}`);
  let code = 0;
  for (const id of ids) {
    // A malformed id cannot name a spool file; it is simply not in the queue.
    const result = isQueueId(id)
      ? await send(spoolDir, { op, id })
      : { mode: 'none', response: { ok: false, code: 'E_NOT_FOUND', error: `queue: no message ${id}` } as ControlResponse };
    code = Math.max(code, report(result, op, opts.json));
  }
  return code;
}

/** The daemon's answer, or the offline tool's own; E_SPOOL_LOCKED: a daemon holds the spool but did not answer. */
type Response = ControlResponse | { ok: false; code: 'E_SPOOL_LOCKED'; error: string };
type Sent = { mode: string; reason?: string; response: Response };

async function send(spoolDir: string, req: ControlRequest): Promise<Sent> {
  try {
    const reply = await controlRequest(spoolDir, req);
    if (reply.mode === 'daemon') return reply;
    // No daemon answers: change the files ourselves, holding the spool's lock meanwhile.
    const spool = new FileSpool(spoolDir, createLogger('silent'), { owner: `sluice queue ${req.op}` });
    try {
      await spool.open();
    } catch (err) {
      if (!(err instanceof SluiceError) || err.code !== 'E_SPOOL_LOCKED') throw err;
      const error = `queue: ${reply.reason}, yet ${err.message}. A daemon that is starting answers in a moment; try again`;
      return { mode: 'none', response: { ok: false, code: 'E_SPOOL_LOCKED', error } };
    }
    try {
      return { mode: 'offline', reason: reply.reason, response: await applyOffline(spool, req) };
    } finally {
      await spool.close();
    }
  } catch (err) {
    return { mode: 'none', response: { ok: false, code: 'E_INTERNAL', error: `queue: ${(err as Error).message}` } };
  }
}

function report(sent: Sent, op: ControlOp, json: boolean): number {
  const r = sent.response;
  if (json) {
    process.stdout.write(JSON.stringify({ ...r, op, mode: sent.mode, ...(sent.reason ? { reason: sent.reason } : {}) }) + '\n');
    return r.ok ? 0 : 1;
  }
  if (!r.ok) return fail(r.error);
  const what = r.id ?? `${r.count ?? 0} message${r.count === 1 ? '' : 's'}`;
  const how = sent.mode === 'daemon' ? 'via the running daemon' : `offline: ${sent.reason}; spool changed directly`;
  process.stdout.write(`queue: ${PAST[op]} ${what}${r.note ? ` (${r.note})` : ''} [${how}]\n`);
  return 0;
}
