// Small bodies of freshly committed messages, kept in memory for their first delivery attempt:
// most mail leaves within milliseconds, and re-reading what was just written costs a file open,
// a read through the thread pool and a close per message (the profile in bench/RESULTS.md). The
// disk copy stays the truth: an entry is only a shortcut, dropped after the first attempt (a
// deferred message must cost an index entry, not a body), and bounded in size and total.

/** Bodies larger than this are read from disk. */
export const CACHE_MAX_BODY_BYTES = 64 * 1024;
/** All cached bodies together (at most ~512 messages of 64 KB in flight). */
export const CACHE_MAX_TOTAL_BYTES = 32 * 1024 * 1024;

export class BodyCache {
  private readonly bodies = new Map<string, Buffer>();
  private total = 0;

  constructor(
    private readonly maxBody = CACHE_MAX_BODY_BYTES,
    private readonly maxTotal = CACHE_MAX_TOTAL_BYTES,
  ) {}

  /** Whether a body of `bytes` may be collected at all (so the writer can stop keeping chunks). */
  accepts(bytes: number): boolean {
    return bytes <= this.maxBody;
  }

  put(id: string, chunks: Buffer[], bytes: number): void {
    if (!this.accepts(bytes) || this.total + bytes > this.maxTotal || this.bodies.has(id)) return;
    this.bodies.set(id, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes));
    this.total += bytes;
  }

  get(id: string): Buffer | undefined {
    return this.bodies.get(id);
  }

  drop(id: string): void {
    const b = this.bodies.get(id);
    if (!b) return;
    this.bodies.delete(id);
    this.total -= b.length;
  }

  get bytes(): number {
    return this.total;
  }
}
