// Reads spool records straight from disk for the queue tools (list/show) without loading the
// queue: one directory entry and one record at a time, yielded in directory order (as mailq).
// Read-only and safe while the daemon runs: records are only ever replaced by rename.
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseRecord, pendingRcpts, type SpoolRecord } from './record.js';

/** What an admin sees: active (new or due), deferred (tried, waiting to retry), hold, failed. */
export type QueueStatus = 'active' | 'deferred' | 'hold' | 'failed';
export const QUEUE_STATUSES: readonly QueueStatus[] = ['active', 'deferred', 'hold', 'failed'];

import type { ScanStats, SpoolArea } from './spool.js';
export type { ScanStats, SpoolArea } from './spool.js';

const DIR_BUFFER_ENTRIES = 256;
const ID_PATTERN = /^[A-Za-z0-9]+$/;

export function isQueueId(id: string): boolean {
  return ID_PATTERN.test(id);
}

export function queueStatus(rec: SpoolRecord, area: SpoolArea, now: number): QueueStatus {
  if (area === 'failed' || rec.status === 'failed') return 'failed';
  if (rec.status === 'hold') return 'hold';
  const waiting = rec.attempts > 0 && pendingRcpts(rec).length > 0 && rec.nextAttemptAt > now;
  return waiting ? 'deferred' : 'active';
}

/** The outbound connector a recipient was routed to at receipt ("MX" for direct delivery). */
export function rcptConnector(r: SpoolRecord['rcpts'][number]): string {
  if (r.route?.connector) return r.route.connector;
  return r.route?.kind === 'mx' ? 'MX' : (r.route?.kind ?? 'unknown');
}


/**
 * Yields every committed record of one spool area. A record that vanishes between the directory
 * read and the file read was delivered or moved meanwhile and is skipped silently.
 */
export async function* scanSpool(spoolDir: string, area: SpoolArea, stats: ScanStats = { unreadable: 0 }): AsyncGenerator<SpoolRecord> {
  const dirPath = path.join(spoolDir, area);
  let dir;
  try {
    dir = await fs.opendir(dirPath, { bufferSize: DIR_BUFFER_ENTRIES });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  // Synchronous reads on purpose: the CLI has nothing else to do meanwhile, and for small files
  // they measured 4-6x faster than a window of async reads (no thread-pool round trip per file).
  const readOne = (file: string): SpoolRecord | null | undefined => {
    try {
      return parseRecord(readFileSync(file, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      return null;
    }
  };
  // `.json` only: `.json.tmp` is a write in progress, `.eml` a body.
  for await (const ent of dir) {
    if (!ent.name.endsWith('.json')) continue;
    const rec = readOne(path.join(dirPath, ent.name));
    if (rec === null) stats.unreadable++;
    if (rec) yield rec;
  }
}

/** One message by id, from the queue or from failed/; null when neither holds it. */
export async function findRecord(spoolDir: string, id: string): Promise<{ record: SpoolRecord; area: SpoolArea } | null> {
  if (!isQueueId(id)) return null;
  for (const area of ['queue', 'failed'] as const) {
    const text = await fs.readFile(path.join(spoolDir, area, `${id}.json`), 'utf8').catch(() => null);
    const record = text === null ? null : parseRecord(text);
    if (record) return { record, area };
  }
  return null;
}

/** How much of a message `queue show` reads for its header block. */
export const HEADER_READ_LIMIT_BYTES = 64 * 1024;

/** The header block (up to the first empty line) of the start of a message. */
export function headerText(head: Buffer | null): string | null {
  if (!head) return null;
  const text = head.toString('utf8');
  const end = text.search(/\r?\n\r?\n/);
  return end === -1 ? text : text.slice(0, end);
}
