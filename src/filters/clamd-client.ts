// A small clamd client: PING and INSTREAM over TCP or a unix socket (clamd's own protocol, see
// clamd(8)). The message is streamed in length-prefixed chunks with backpressure; clamd's answer
// is parsed into found / clean, and anything else (size limit, reset, timeout, garbage) is an
// error, because a scan that did not finish must never read as clean.
import net from 'node:net';
import type { Readable } from 'node:stream';
import type { ClamdAddress } from '../config/sections/content.js';

/** clamd reads at most this per chunk by default (StreamMaxLength is checked on the total). */
const CHUNK_BYTES = 64 * 1024;
/** clamd's replies are one short line; a longer one is not clamd. */
const MAX_REPLY_BYTES = 4096;

export type ScanResult = { readonly kind: 'clean' } | { readonly kind: 'found'; readonly signature: string };

export class ClamdError extends Error {
  constructor(
    message: string,
    readonly code: 'E_CLAMD_CONNECT' | 'E_CLAMD_TIMEOUT' | 'E_CLAMD_LIMIT' | 'E_CLAMD_REPLY',
  ) {
    super(message);
    this.name = 'ClamdError';
  }
}

/** Parses clamd's INSTREAM reply ("stream: OK", "stream: Eicar-Signature FOUND", "… ERROR"). */
export function parseScanReply(raw: string): ScanResult {
  const line = raw.replace(/\0+$/, '').trim();
  const body = line.replace(/^(?:\d+: )?stream: /, '');
  if (body === 'OK') return { kind: 'clean' };
  const found = /^(.+) FOUND$/.exec(body);
  if (found) return { kind: 'found', signature: found[1]! };
  if (/size limit exceeded/i.test(line)) throw new ClamdError('clamd refused the stream: StreamMaxLength exceeded', 'E_CLAMD_LIMIT');
  throw new ClamdError(`clamd answered "${line.slice(0, 200)}"`, 'E_CLAMD_REPLY');
}

interface Conversation {
  socket: net.Socket;
  reply: Promise<string>;
}

function connect(addr: ClamdAddress, timeoutMs: number, signal?: AbortSignal): Conversation {
  const socket = addr.kind === 'tcp' ? net.connect({ host: addr.host, port: addr.port }) : net.connect({ path: addr.path });
  const reply = new Promise<string>((resolve, reject) => {
    let data = '';
    let done = false;
    const finish = (err: Error | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err) reject(err);
      else resolve(data);
    };
    const timer = setTimeout(() => finish(new ClamdError(`clamd did not answer within ${timeoutMs} ms`, 'E_CLAMD_TIMEOUT')), timeoutMs);
    const onAbort = () => finish(new ClamdError('the scan was cancelled (filter time budget spent)', 'E_CLAMD_TIMEOUT'));
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      data += chunk;
      if (data.includes('\0') || data.length > MAX_REPLY_BYTES) finish(null);
    });
    socket.on('end', () => finish(data === '' ? new ClamdError('clamd closed the connection without an answer', 'E_CLAMD_REPLY') : null));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // clamd closes early when the stream is over StreamMaxLength: its reply may already be in.
      if (data !== '') return finish(null);
      const connectFailed = err.code === 'ECONNREFUSED' || err.code === 'ENOENT' || err.code === 'EHOSTUNREACH';
      finish(new ClamdError(`clamd: ${err.code ?? err.message}`, connectFailed ? 'E_CLAMD_CONNECT' : 'E_CLAMD_REPLY'));
    });
  });
  return { socket, reply };
}

export async function ping(addr: ClamdAddress, timeoutMs = 2_000): Promise<boolean> {
  const c = connect(addr, timeoutMs);
  c.socket.write('zPING\0');
  try {
    return (await c.reply).replace(/\0+$/, '') === 'PONG';
  } catch {
    return false;
  }
}

function frame(chunk: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(chunk.length, 0);
  return Buffer.concat([head, chunk]);
}

/** Streams `body` to clamd; resolves clean or found, throws ClamdError on anything else. */
export async function scanStream(addr: ClamdAddress, body: Readable, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<ScanResult> {
  const c = connect(addr, opts.timeoutMs, opts.signal);
  let settled = false;
  const reply = c.reply.finally(() => {
    settled = true;
  });
  const write = (buf: Buffer): Promise<void> =>
    new Promise((resolve) => {
      if (settled || c.socket.destroyed || c.socket.write(buf)) return resolve();
      const go = () => {
        c.socket.off('drain', go);
        c.socket.off('close', go);
        resolve();
      };
      c.socket.on('drain', go);
      c.socket.on('close', go);
    });
  const pump = (async () => {
    await write(Buffer.from('zINSTREAM\0', 'latin1'));
    for await (const chunk of body as AsyncIterable<Buffer | string>) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
      for (let at = 0; at < buf.length && !settled; at += CHUNK_BYTES) await write(frame(buf.subarray(at, at + CHUNK_BYTES)));
      if (settled) break;
    }
    await write(Buffer.alloc(4)); // the zero-length chunk ends the stream
  })();
  // A read error on the spool must fail the scan, not hang it until the timeout.
  const pumped = pump.catch((err: Error) => {
    c.socket.destroy(err);
    throw new ClamdError(`reading the message for the scan failed: ${err.message}`, 'E_CLAMD_REPLY');
  });
  try {
    const [answer] = await Promise.all([reply, pumped.catch((e: unknown) => (settled ? undefined : Promise.reject(e)))]);
    return parseScanReply(answer);
  } finally {
    body.destroy();
  }
}
