// The file spool's on-disk format (v2), the one place that knows it. A message is one immutable
// file `<id>.msg`: the received bytes, then the record as it was at commit (JSON), then a 32-byte
// footer that locates and checks the two. Later state (attempts, hold, per-recipient progress)
// goes to `<id>.state` (the whole record as JSON), which overrides the trailer's record.
//
//   footer: "SLUICE" | u16 version | u64 body bytes | u32 JSON bytes | u32 crc32(JSON) | u32 crc32(footer[0..24]) | "EOM\n"
//
// Readers start from the end of the file: one read of its last few KB finds footer and record.
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { parseRecord, RECORD_VERSION, type SpoolRecord } from './record.js';

const ID_PATTERN = /^[A-Za-z0-9]+$/;

/** A queue id names spool files: letters and digits only. */
export function isQueueId(id: string): boolean {
  return ID_PATTERN.test(id);
}

export const MSG_EXT = '.msg';
export const STATE_EXT = '.state';
export const TMP_EXT = '.tmp';
/** The old (v1) spool: body and record in two files. Only read by the migration. */
export const V1_BODY_EXT = '.eml';
export const V1_RECORD_EXT = '.json';

export const FOOTER_BYTES = 32;
const FOOTER_MAGIC = Buffer.from('SLUICE', 'latin1');
const FOOTER_END = Buffer.from('EOM\n', 'latin1');
const FORMAT_VERSION = 2;
/** One read from the end of the file usually holds footer and record (a record is ~1 KB). */
const TAIL_READ_BYTES = 8 * 1024;

export const msgName = (id: string): string => id + MSG_EXT;
export const stateName = (id: string): string => id + STATE_EXT;

/** What a name in queue/ or failed/ is, and the id it belongs to. */
export type EntryKind = 'msg' | 'state' | 'tmp' | 'v1-body' | 'v1-record' | 'other';
export function classifyEntry(name: string): { kind: EntryKind; id: string } {
  if (name.endsWith(TMP_EXT)) return { kind: 'tmp', id: name.replace(/\..*$/, '') };
  for (const [ext, kind] of [
    [MSG_EXT, 'msg'],
    [STATE_EXT, 'state'],
    [V1_BODY_EXT, 'v1-body'],
    [V1_RECORD_EXT, 'v1-record'],
  ] as const) {
    if (name.endsWith(ext)) return { kind, id: name.slice(0, -ext.length) };
  }
  return { kind: 'other', id: name };
}

/** The JSON text of a record as stored: the spool's format version is stamped on every write. */
export function recordJson(record: SpoolRecord): string {
  return JSON.stringify({ ...record, v: RECORD_VERSION });
}

/** Record JSON and footer, to be written right after the body's `bodyBytes` bytes. */
export function encodeTrailer(record: SpoolRecord, bodyBytes: number): Buffer {
  return encodeTrailerJson(Buffer.from(recordJson(record), 'utf8'), bodyBytes);
}

/** The trailer for any JSON text (the recovery battery writes damaged ones with it). */
export function encodeTrailerJson(json: Buffer, bodyBytes: number): Buffer {
  const footer = Buffer.alloc(FOOTER_BYTES);
  FOOTER_MAGIC.copy(footer, 0);
  footer.writeUInt16BE(FORMAT_VERSION, 6);
  footer.writeBigUInt64BE(BigInt(bodyBytes), 8);
  footer.writeUInt32BE(json.length, 16);
  footer.writeUInt32BE(crc32(json), 20);
  footer.writeUInt32BE(crc32(footer.subarray(0, 24)), 24);
  FOOTER_END.copy(footer, 28);
  return Buffer.concat([json, footer]);
}

interface Footer {
  bodyBytes: number;
  jsonBytes: number;
  jsonCrc: number;
}

/** Checks a footer against the file's size; a string says what is wrong. */
function decodeFooter(footer: Buffer, fileSize: number): Footer | string {
  if (footer.length < FOOTER_BYTES) return 'file shorter than its footer';
  if (!footer.subarray(0, 6).equals(FOOTER_MAGIC) || !footer.subarray(28, 32).equals(FOOTER_END)) return 'no footer (truncated or not a message file)';
  if (footer.readUInt32BE(24) !== crc32(footer.subarray(0, 24))) return 'footer checksum mismatch';
  const version = footer.readUInt16BE(6);
  if (version !== FORMAT_VERSION) return `unknown format version ${version}`;
  const bodyBytes = Number(footer.readBigUInt64BE(8));
  const jsonBytes = footer.readUInt32BE(16);
  if (bodyBytes + jsonBytes + FOOTER_BYTES !== fileSize) return 'file size does not match its footer';
  return { bodyBytes, jsonBytes, jsonCrc: footer.readUInt32BE(20) };
}

/** A record read from a spool file, or why it cannot be trusted. */
export type ReadResult = { ok: true; record: SpoolRecord } | { ok: false; reason: string };

/** The committed record in a message file's trailer, checked against its footer and its name. */
export function decodeTrailer(id: string, tail: Buffer, fileSize: number, readJson: (pos: number, len: number) => Buffer): ReadResult {
  const footer = decodeFooter(tail.subarray(tail.length - FOOTER_BYTES), fileSize);
  if (typeof footer === 'string') return { ok: false, reason: footer };
  const jsonStart = footer.bodyBytes;
  const inTail = tail.length - FOOTER_BYTES - footer.jsonBytes;
  const json = inTail >= 0 ? tail.subarray(inTail, tail.length - FOOTER_BYTES) : readJson(jsonStart, footer.jsonBytes);
  if (crc32(json) !== footer.jsonCrc) return { ok: false, reason: 'record checksum mismatch' };
  return checkRecord(id, json.toString('utf8'), footer.bodyBytes);
}

/** A record's text checked for shape, for its id and (when known) for the body size. */
export function checkRecord(id: string, text: string, bodyBytes: number | null): ReadResult {
  const record = parseRecord(text);
  if (!record) return { ok: false, reason: 'record is not valid JSON of the right shape' };
  if (record.id !== id) return { ok: false, reason: `record id mismatch (${record.id})` };
  if (bodyBytes !== null && record.size !== bodyBytes) return { ok: false, reason: `record size ${record.size} does not match the body (${bodyBytes} bytes)` };
  return { ok: true, record };
}

/**
 * Reads the trailer record of `file` synchronously (the queue tools and start-up recovery: for
 * small files sync reads measured 4-6x faster than async ones). Throws the errno on I/O errors,
 * ENOENT included, so callers tell a vanished or unreadable file from a damaged one.
 */
export function readTrailerSync(file: string, id: string): ReadResult {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size < FOOTER_BYTES) return { ok: false, reason: 'file shorter than its footer' };
    const tailBytes = Math.min(size, TAIL_READ_BYTES);
    const tail = Buffer.allocUnsafe(tailBytes);
    readFully(fd, tail, size - tailBytes);
    return decodeTrailer(id, tail, size, (pos, len) => {
      const buf = Buffer.allocUnsafe(len);
      readFully(fd, buf, pos);
      return buf;
    });
  } finally {
    closeSync(fd);
  }
}

/** A state file's record; throws the errno (ENOENT: no state file) as readTrailerSync does. */
export function readStateSync(file: string, id: string): ReadResult {
  return checkRecord(id, readFileSync(file, 'utf8'), null);
}

function readFully(fd: number, buf: Buffer, pos: number): void {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, pos + done);
    if (n === 0) throw Object.assign(new Error('short read'), { code: 'EIO' });
    done += n;
  }
}
