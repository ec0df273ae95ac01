// The byte ranges of a stored message that are read: everything but `record.omit` (received
// header fields a filter removed). Pure; file-spool.ts reads these ranges from disk or the cache.

/** [start, end) ranges of a body of `size` bytes to read, in order, leaving out `omit`. */
export function keptRanges(size: number, omit: readonly (readonly [number, number])[] | undefined): [number, number][] {
  if (!omit?.length) return size > 0 ? [[0, size]] : [];
  const out: [number, number][] = [];
  let at = 0;
  for (const [s, e] of [...omit].sort((a, b) => a[0] - b[0])) {
    const start = Math.max(0, Math.min(s, size));
    if (start > at) out.push([at, start]);
    at = Math.max(at, Math.min(e, size));
  }
  if (at < size) out.push([at, size]);
  return out;
}

/** The kept bytes of an in-memory body. */
export function keptBytes(body: Buffer, omit: readonly (readonly [number, number])[] | undefined): Buffer {
  if (!omit?.length) return body;
  return Buffer.concat(keptRanges(body.length, omit).map(([s, e]) => body.subarray(s, e)));
}
