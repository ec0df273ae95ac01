// Reads a daemon's spool the way the queue tools do (through the file spool, without its lock),
// so tests assert on records and areas rather than on file names; and writes spool files by hand
// (the current one-file format and the old v1 pair) for the recovery and migration batteries.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { FileSpool } from '../../src/queue/file-spool.js';
import type { SpoolRecord } from '../../src/queue/record.js';
import type { SpoolArea } from '../../src/queue/spool.js';
import { encodeTrailer } from '../../src/queue/spool-format.js';

const silent = pino({ level: 'silent' });

/** The current record of a message in one area of the spool, or null. */
export function readSpoolRecord(spoolDir: string, id: string, area: SpoolArea = 'queue'): Promise<SpoolRecord | null> {
  return new FileSpool(spoolDir, silent).readRecord(id, area).catch(() => null);
}

export async function spoolHas(spoolDir: string, id: string, area: SpoolArea = 'queue'): Promise<boolean> {
  return (await readSpoolRecord(spoolDir, id, area)) !== null;
}

/** Ids of the messages one area lists. */
export async function spoolIds(spoolDir: string, area: SpoolArea = 'queue'): Promise<string[]> {
  const ids: string[] = [];
  for await (const r of new FileSpool(spoolDir, silent).list(area)) ids.push(r.id);
  return ids.sort();
}

/** A queued record for `id` with one pending recipient routed to `connector`. */
export function testRecord(id: string, size: number, opts: { rcpt?: string; connector?: string; now?: number } = {}): SpoolRecord {
  const now = opts.now ?? Date.now();
  return {
    v: 2,
    id,
    receivedAt: now,
    sessionId: 'test',
    client: { ip: '127.0.0.1', helo: 'test', tls: false, inbound: null, matchedBy: null },
    mailFrom: 'sun@example.org',
    size,
    status: 'active',
    attempts: 0,
    nextAttemptAt: now,
    rcpts: [
      {
        address: opts.rcpt ?? 'john@contoso.com',
        route: { kind: 'connector', connector: opts.connector ?? 'To on-prem', rule: 'test' },
        status: 'pending',
        attempts: 0,
        lastError: null,
        lastHost: null,
        updatedAt: now,
      },
    ],
  };
}

/** The bytes of a committed message file: body, record, footer. */
export function messageFile(body: string | Buffer, record: SpoolRecord): Buffer {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1');
  return Buffer.concat([b, encodeTrailer(record, b.length)]);
}

/** Writes a committed message into `<spoolDir>/<area>/`. */
export async function writeMessage(spoolDir: string, body: string, record: SpoolRecord, area: SpoolArea = 'queue'): Promise<void> {
  const dir = path.join(spoolDir, area);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, `${record.id}.msg`), messageFile(body, record));
}

/** Writes a message as the v1 spool stored it: <id>.eml and <id>.json. */
export async function writeV1Message(spoolDir: string, body: string, record: SpoolRecord, area: SpoolArea = 'queue'): Promise<void> {
  const dir = path.join(spoolDir, area);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, `${record.id}.eml`), body, 'latin1');
  await writeFile(path.join(dir, `${record.id}.json`), JSON.stringify({ ...record, v: 1 }));
}
