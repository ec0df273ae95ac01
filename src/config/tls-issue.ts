// A TLS file problem found at reload (missing, unreadable, key not matching the certificate)
// reported like every other config error: file:line:col of the key that names the file.
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import type { Model } from '../domain/model.js';
import { formatIssues } from './load.js';
import { formatPath, locatePath } from './locate.js';
import type { KeyPath } from './compile.js';

/** The key path of the server.tls entry whose file the message names (server.tls when none does). */
function keyOf(tls: Model['server']['tls'], message: string): KeyPath {
  if (message.includes(tls.cert)) return ['server', 'tls', 'cert'];
  if (message.includes(tls.key)) return ['server', 'tls', 'key'];
  const i = tls.clientCa.findIndex((f) => message.includes(f));
  return i >= 0 ? ['server', 'tls', 'clientCa', i] : ['server', 'tls'];
}

export async function formatTlsIssue(file: string, tls: Model['server']['tls'], message: string): Promise<string> {
  const path = keyOf(tls, message);
  try {
    const lines = new LineCounter();
    const doc = parseDocument(await readFile(file, 'utf8'), { lineCounter: lines });
    const { line, column } = locatePath(doc, lines, path);
    return formatIssues([{ file, path: formatPath(path), line, column, message }]);
  } catch {
    return formatIssues([{ file, path: formatPath(path), line: 0, column: 0, message }]);
  }
}
