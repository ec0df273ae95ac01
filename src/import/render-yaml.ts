// Writes an imported config as commented YAML (the `yaml` package's Document API keeps comments):
// a header naming the sources, each plain comment above its key or list entry, and each note (a
// setting not imported) as a "NOT IMPORTED" comment above the connector, domain or rule it came from.
import { Document, isMap, isScalar, isSeq, type Node } from 'yaml';
import type { ImportResult } from './build-config.js';
import type { KeyPath } from './eop-props.js';

/** The node a comment at `path` goes above: a map's key (for a key) or a list's item (for an index). */
function target(doc: Document, path: KeyPath): { commentBefore?: string | null | undefined } | null {
  if (path.length === 0) return doc;
  const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
  const last = path[path.length - 1];
  if (isSeq(parent) && typeof last === 'number') return (parent.items[last] as Node | undefined) ?? null;
  if (isMap(parent)) {
    const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === last);
    return pair && isScalar(pair.key) ? pair.key : null;
  }
  return null;
}

function addComment(doc: Document, path: KeyPath, text: string): void {
  // Fall back to the nearest ancestor that exists (a note on a section that came out empty).
  for (let p = path; ; p = p.slice(0, -1)) {
    const node = target(doc, p);
    if (node) {
      node.commentBefore = node.commentBefore ? `${node.commentBefore}\n${text}` : text;
      return;
    }
    if (p.length === 0) return;
  }
}

export function renderYaml(result: ImportResult, header: string): string {
  const doc = new Document(result.config);
  for (const c of result.comments) addComment(doc, c.path, c.text);
  for (const n of result.notes) addComment(doc, n.path, ` NOT IMPORTED: ${n.message}`);
  const top = doc.commentBefore;
  doc.commentBefore = top ? `${header}\n${top}` : header;
  return doc.toString({ lineWidth: 0 });
}
