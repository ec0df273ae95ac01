// RFC 5322 §2.1.1: a line is at most 998 octets plus CRLF. A longer line is relayed by many MTAs
// unchanged and split by some hop further on, which can turn the tail of a header into a header
// the sender chose (header injection). Where a message leaves Sluice no line is longer:
//  - a header line is folded at whitespace, as Postfix's cleanup folds; a run of 998 octets
//    without whitespace is broken with CRLF SP (a continuation line, never a new field);
//  - a body line is broken with CRLF SP every 998 octets, as Postfix's smtp_line_length_limit
//    does; the inserted space changes such a line's content (that line already broke the RFC).
// The spooled bytes are never changed; only the outgoing stream is. Pure; latin1 = one char per octet.

export const MAX_LINE_OCTETS = 998;
const BREAK = '\r\n ';

/** Folds one physical header line (without its CRLF) into lines of at most MAX_LINE_OCTETS. */
function foldLine(line: string, isFirst: boolean): string {
  if (line.length <= MAX_LINE_OCTETS) return line;
  const out: string[] = [];
  let rest = line;
  // Never fold inside the field name, nor in the blank right after the colon (an empty first line helps nobody).
  let floor = 1;
  if (isFirst) {
    const colon = line.indexOf(':');
    floor = colon + 1;
    while (line[floor] === ' ' || line[floor] === '\t') floor++;
    floor = Math.max(1, floor + 1);
  }
  while (rest.length > MAX_LINE_OCTETS) {
    let cut = -1;
    for (let i = MAX_LINE_OCTETS; i >= floor; i--) {
      const c = rest[i];
      if (c === ' ' || c === '\t') {
        cut = i;
        break;
      }
    }
    if (cut > 0) {
      out.push(rest.slice(0, cut));
      rest = rest.slice(cut); // starts with the whitespace: a continuation line
    } else {
      out.push(rest.slice(0, MAX_LINE_OCTETS));
      rest = ' ' + rest.slice(MAX_LINE_OCTETS);
    }
    floor = 1;
  }
  out.push(rest);
  return out.join('\r\n');
}

/** A header block (CRLF-terminated lines) with every line folded to at most MAX_LINE_OCTETS. */
export function foldHeaderBlock(block: string): string {
  if (!hasLongLine(block)) return block;
  const lines = block.split('\r\n');
  return lines.map((l, i) => foldLine(l, i === 0 || !(l.startsWith(' ') || l.startsWith('\t')))).join('\r\n');
}

function hasLongLine(text: string): boolean {
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    const end = nl < 0 ? text.length : nl;
    if (end - start > MAX_LINE_OCTETS + 1) return true;
    if (nl < 0) return false;
    start = nl + 1;
  }
}

const BREAK_BYTES = Buffer.from(BREAK, 'latin1');
const CR = 13;
const LF = 10;

/**
 * Breaks body lines longer than MAX_LINE_OCTETS as they stream by. The spool holds CRLF line
 * ends only (bare CR and LF are refused at receipt), so a CR is never counted as content.
 */
export class BodyLineLimiter {
  private col = 0;

  /**
   * The chunk, with breaks inserted where a line runs too long: one Buffer per chunk, because
   * every Buffer becomes a write on the outgoing socket (a piece per line cost a third of the CPU).
   */
  push(chunk: Buffer): Buffer[] {
    // Nearly every chunk has no long line: check that without a Buffer per line (GC showed).
    const col = this.columnAfter(chunk);
    if (col >= 0) {
      this.col = col;
      return [chunk];
    }
    const out: Buffer[] = [];
    let broke = false;
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(LF, pos);
      const end = nl < 0 ? chunk.length : nl;
      let i = pos;
      while (i < end) {
        const contentEnd = chunk[end - 1] === CR ? end - 1 : end;
        const room = MAX_LINE_OCTETS - this.col;
        if (contentEnd - i <= room) {
          out.push(chunk.subarray(i, end));
          this.col += Math.max(0, contentEnd - i);
          i = end;
        } else {
          out.push(chunk.subarray(i, i + room), BREAK_BYTES);
          broke = true;
          this.col = 1;
          i += room;
        }
      }
      if (nl < 0) break;
      out.push(chunk.subarray(nl, nl + 1));
      this.col = 0;
      pos = nl + 1;
    }
    return broke ? [Buffer.concat(out)] : [chunk];
  }

  /** The column after `chunk` when none of its lines needs a break; -1 when one does. */
  private columnAfter(chunk: Buffer): number {
    let col = this.col;
    let pos = 0;
    for (;;) {
      const nl = chunk.indexOf(LF, pos);
      const end = nl < 0 ? chunk.length : nl;
      if (end > pos) {
        const content = (chunk[end - 1] === CR ? end - 1 : end) - pos;
        if (content > MAX_LINE_OCTETS - col) return -1;
        col += Math.max(0, content);
      }
      if (nl < 0) return col;
      col = 0;
      pos = nl + 1;
    }
  }
}
