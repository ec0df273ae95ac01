// Maps between key paths (["outboundConnectors", 1, "smartHosts", 0]) and places in the YAML
// source, so that every config problem can name its line. Reads the yaml Document's node ranges;
// pure apart from that.
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { KeyPath } from './compile.js';

export interface Place {
  line: number;
  column: number;
}

const keyName = (key: unknown): string => (isScalar(key) ? String(key.value) : String(key));
const start = (node: unknown): number | undefined => (node as Node | null)?.range?.[0];

function deref(doc: Document, node: unknown): unknown {
  return isAlias(node) ? node.resolve(doc) : node;
}

/** "inboundConnectors[0].senderIPAddresses[1]" */
export function formatPath(path: KeyPath): string {
  return path.map((seg, i) => (typeof seg === 'number' ? `[${seg}]` : i === 0 ? seg : `.${seg}`)).join('');
}

/**
 * Where a key path sits: the key's line for a map entry, the item's line for a list entry.
 * A path that does not exist (a missing required key) stops at the deepest parent that does.
 */
export function locatePath(doc: Document, lines: LineCounter, path: KeyPath): Place {
  let node: unknown = doc.contents;
  let offset = start(node) ?? 0;
  for (const seg of path) {
    node = deref(doc, node);
    if (isMap(node)) {
      const pair = node.items.find((p) => keyName(p.key) === String(seg));
      if (!pair) break;
      offset = start(pair.key) ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (item === undefined) break;
      offset = start(item) ?? offset;
      node = item;
    } else {
      break;
    }
  }
  const { line, col } = lines.linePos(offset);
  return { line, column: col };
}

const contains = (node: unknown, offset: number): boolean => {
  const range = (node as Node | null)?.range;
  return range != null && offset >= range[0] && offset <= range[2];
};

/** The key path of the innermost node at `offset` (for YAML errors such as a duplicate key). */
export function pathAtOffset(doc: Document, offset: number): KeyPath {
  const path: (string | number)[] = [];
  let node: unknown = doc.contents;
  for (;;) {
    if (isMap(node)) {
      const pair = node.items.find((p) => start(p.key) === offset || contains(p.value, offset));
      if (!pair) return path;
      path.push(keyName(pair.key));
      if (start(pair.key) === offset) return path;
      node = pair.value;
    } else if (isSeq(node)) {
      const i = node.items.findIndex((item) => contains(item, offset));
      if (i < 0) return path;
      path.push(i);
      node = node.items[i];
    } else {
      return path;
    }
  }
}
