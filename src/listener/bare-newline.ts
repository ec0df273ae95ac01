// Detects bare CR or bare LF (outside CRLF pairs) in a DATA stream, chunk by chunk. Sluice
// rejects such messages (554 5.6.11) instead of normalising them: a lone LF or CR next to a
// dot is how SMTP smuggling hides a second message from a lenient downstream server.

const CR = 0x0d;
const LF = 0x0a;

export class BareNewlineDetector {
  /** The previous chunk ended in CR: the next byte must be LF. */
  private pendingCr = false;
  found = false;

  scan(chunk: Buffer): void {
    if (this.found || chunk.length === 0) return;
    if (this.pendingCr && chunk[0] !== LF) return this.flag();
    // indexOf runs in native code; a per-byte JS loop would dominate the cost of a large message
    for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, i + 1)) {
      const prev = i === 0 ? (this.pendingCr ? CR : -1) : chunk[i - 1];
      if (prev !== CR) return this.flag();
    }
    for (let i = chunk.indexOf(CR); i !== -1; i = chunk.indexOf(CR, i + 1)) {
      if (i === chunk.length - 1) break;
      if (chunk[i + 1] !== LF) return this.flag();
    }
    this.pendingCr = chunk[chunk.length - 1] === CR;
  }

  /** At end of data a trailing CR with no LF after it is bare too. */
  end(): boolean {
    if (this.pendingCr) this.found = true;
    return this.found;
  }

  private flag(): void {
    this.found = true;
  }
}
