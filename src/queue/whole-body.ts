// A message body held whole in memory (the spool's first-attempt cache, body-cache.ts), as a
// stream for any reader, with its bytes at hand for the readers that know it: the outgoing
// rewrite then works on one Buffer without a Transform, and the delivery thread's client takes
// it in one post. `transferable` marks bytes this body alone owns, in an ArrayBuffer of their own
// (a fresh copy, never the cache's), which may be moved to the delivery thread instead of copied.
import { Readable } from 'node:stream';

export class WholeBody extends Readable {
  constructor(
    readonly whole: Buffer,
    readonly transferable = false,
  ) {
    super();
  }

  override _read(): void {
    this.push(this.whole);
    this.push(null);
  }
}

/** Bytes in a fresh ArrayBuffer of exactly their size (never Node's shared pool): safe to transfer. */
export function ownedConcat(parts: readonly Buffer[]): Buffer {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = Buffer.allocUnsafeSlow(n);
  let at = 0;
  for (const p of parts) at += p.copy(out, at);
  return out;
}
