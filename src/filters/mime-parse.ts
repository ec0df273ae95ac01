// The one bounded MIME parse of a message, shared by every filter of one DATA (MessageView.mime()).
// @zone-eu/mailsplit splits the stream into nodes; each leaf's content is decoded (base64, QP)
// and kept up to a per-part bound. A limit (total bytes, depth, part count) stops the parse and
// sets `limited`: a filter must not take a parse that stopped early for a clean message.
import type { Readable, Transform } from 'node:stream';
import { Splitter } from '@zone-eu/mailsplit';
import type { MimePart, MimeSummary } from './contract.js';

export interface MimeLimits {
  /** Bytes of the message read at most. */
  readonly maxBytes: number;
  /** Nesting of multiparts and embedded messages. */
  readonly maxDepth: number;
  readonly maxParts: number;
  /** Decoded bytes kept per part (the size is still counted past it). */
  readonly maxPartBytes: number;
}

export const MIME_LIMITS: MimeLimits = { maxBytes: 64 * 1024 * 1024, maxDepth: 16, maxParts: 512, maxPartBytes: 16 * 1024 * 1024 };

interface MailsplitNode {
  type: 'node';
  multipart: string | false;
  rfc822: boolean;
  contentType: string | false;
  filename: string | false;
  disposition: string | false;
  partNr: (number | string)[] | false;
  parentNode: MailsplitNode | false;
  getDecoder(): Transform;
}
type SplitChunk = MailsplitNode | { type: 'body' | 'data'; value: Buffer; node?: MailsplitNode };

interface Leaf {
  node: MailsplitNode;
  depth: number;
  chunks: Buffer[];
  kept: number;
  size: number;
  truncated: boolean;
  decoder: Transform;
  done: Promise<void>;
}

const depthOf = (n: MailsplitNode): number => {
  let d = 0;
  for (let p = n.parentNode; p; p = p.parentNode) d++;
  return d;
};

function startLeaf(node: MailsplitNode, depth: number, maxPartBytes: number): Leaf {
  const decoder = node.getDecoder();
  const leaf: Leaf = { node, depth, chunks: [], kept: 0, size: 0, truncated: false, decoder, done: Promise.resolve() };
  leaf.done = new Promise<void>((resolve) => {
    decoder.on('data', (b: Buffer) => {
      leaf.size += b.length;
      const room = maxPartBytes - leaf.kept;
      if (room <= 0) return void (leaf.truncated = true);
      const take = b.length > room ? b.subarray(0, room) : b;
      if (take.length < b.length) leaf.truncated = true;
      leaf.chunks.push(take);
      leaf.kept += take.length;
    });
    // A broken encoding ends the part where it broke; what was decoded is kept.
    decoder.once('error', () => resolve());
    decoder.once('end', () => resolve());
  });
  return leaf;
}

function toPart(l: Leaf): MimePart {
  return {
    path: l.node.partNr && l.node.partNr.length ? l.node.partNr.join('.') : '1',
    contentType: (l.node.contentType || 'text/plain').toLowerCase(),
    filename: l.node.filename || null,
    disposition: l.node.disposition || null,
    size: l.size,
    depth: l.depth,
    content: Buffer.concat(l.chunks, l.kept),
    truncated: l.truncated,
  };
}

/** Parses `source` (destroyed when a limit stops the parse) into its leaf parts. */
export async function parseMime(source: Readable, limits: MimeLimits = MIME_LIMITS): Promise<MimeSummary> {
  const splitter = new Splitter({ maxHeadSize: 1024 * 1024 });
  const leaves: Leaf[] = [];
  let current: Leaf | null = null;
  let nodes = 0;
  let bytes = 0;
  let limitReason: string | null = null;
  source.on('data', (b: Buffer) => {
    bytes += b.length;
    if (bytes > limits.maxBytes && !limitReason) {
      limitReason = `message larger than ${limits.maxBytes} bytes`;
      source.unpipe(splitter);
      source.destroy();
      splitter.end();
    }
  });
  source.once('error', (err) => splitter.destroy(err));
  source.pipe(splitter);
  const close = () => {
    if (current) current.decoder.end();
    current = null;
  };
  try {
    for await (const chunk of splitter as AsyncIterable<SplitChunk>) {
      if (limitReason) break;
      if (chunk.type === 'node') {
        close();
        nodes++;
        const depth = depthOf(chunk);
        if (nodes > limits.maxParts) limitReason = `more than ${limits.maxParts} MIME parts`;
        else if (depth > limits.maxDepth) limitReason = `MIME nesting deeper than ${limits.maxDepth}`;
        if (limitReason) break;
        // Containers carry no content of their own: multiparts, and an embedded message's envelope node.
        if (chunk.multipart || chunk.rfc822) continue;
        current = startLeaf(chunk, depth, limits.maxPartBytes);
        leaves.push(current);
      } else if (chunk.type === 'body' && current) {
        current.decoder.write(chunk.value);
      }
    }
  } catch (err) {
    limitReason ??= `unparsable MIME structure: ${(err as Error).message}`;
  } finally {
    close();
    if (limitReason) {
      source.unpipe(splitter);
      source.destroy();
      for (const l of leaves) l.decoder.end();
    }
  }
  await Promise.all(leaves.map((l) => l.done));
  return { parts: leaves.map(toPart), limited: limitReason !== null, limitReason };
}
