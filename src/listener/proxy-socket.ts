// Reads a PROXY protocol header off a freshly accepted socket before smtp-server sees a byte:
// resolves with the parse result (proxy-header.ts) and puts back whatever the client sent after
// the header, so pipelined bytes are not lost. Never rejects; a socket that closes, errors or
// stays silent resolves as invalid with the reason, and the caller closes it.
import type net from 'node:net';
import { parseProxyHeader, V1_MAX_BYTES, V2_FIXED_BYTES, type ProxyHeaderResult } from './proxy-header.js';

/** HAProxy sends the header with the connect; a peer that has not sent it by then never will. */
export const PROXY_HEADER_TIMEOUT_MS = 5_000;
/** Larger than any header we accept: v2 carries a 16-bit length of address and TLVs. */
const MAX_HEADER_BYTES = Math.max(V1_MAX_BYTES, V2_FIXED_BYTES + 0xffff);

export type ProxyRead = Exclude<ProxyHeaderResult, { kind: 'incomplete' }>;

export function readProxyHeader(socket: net.Socket, timeoutMs = PROXY_HEADER_TIMEOUT_MS): Promise<ProxyRead> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    let finished = false;
    const timer = setTimeout(() => finish({ kind: 'invalid', reason: `no PROXY header within ${timeoutMs} ms` }), timeoutMs);
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while (!finished && (chunk = socket.read() as Buffer | null) !== null) {
        buf = Buffer.concat([buf, chunk]);
        const r = parseProxyHeader(buf);
        if (r.kind === 'incomplete' && buf.length <= MAX_HEADER_BYTES) continue;
        if (r.kind === 'ok' && buf.length > r.consumed) socket.unshift(buf.subarray(r.consumed));
        finish(r.kind === 'incomplete' ? { kind: 'invalid', reason: 'PROXY header too long' } : r);
      }
    };
    const onEnd = (): void => finish({ kind: 'invalid', reason: 'connection closed before a complete PROXY header' });
    const onError = (err: Error): void => finish({ kind: 'invalid', reason: `socket error before the PROXY header: ${err.message}` });
    function finish(r: ProxyRead): void {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      resolve(r);
    }
    socket.on('readable', onReadable);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
  });
}
