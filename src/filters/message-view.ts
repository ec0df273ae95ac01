// The read-only view of one message that every content filter of a DATA shares: the parsed
// received header block, a fresh stream of the spooled copy per open(), and one bounded MIME
// parse done on first use.
import type { Readable } from 'node:stream';
import type { MessageView, MimeSummary } from './contract.js';
import type { HeaderBlock } from './header-block.js';
import { MIME_LIMITS, parseMime, type MimeLimits } from './mime-parse.js';

export interface MessageSource {
  readonly queueId: string;
  readonly size: number;
  readonly block: HeaderBlock;
  /** A new stream of the message as it will be delivered (our headers in front). */
  open(): Readable;
}

export function createMessageView(src: MessageSource, limits: MimeLimits = MIME_LIMITS): MessageView {
  let parsed: Promise<MimeSummary> | null = null;
  return {
    queueId: src.queueId,
    size: src.size,
    headers: src.block.fields,
    open: () => src.open(),
    mime: () => (parsed ??= parseMime(src.open(), limits)),
  };
}
