// Loads a YAML config into the frozen Model: YAML → zod schema → cross-field compile. Collects
// every problem it can find and throws one ConfigError (code E_CONFIG) listing them all, each
// with the file, the key path and the 1-based line and column.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { z, ZodArray, ZodDefault, ZodNullable, ZodObject, ZodOptional, ZodPipe, ZodPrefault, ZodTransform, type ZodType } from 'zod';
import { SluiceError } from '../domain/errors.js';
import type { Model } from '../domain/model.js';
import { compileConfig, type KeyPath, type PathIssue } from './compile.js';
import { formatPath, locatePath, pathAtOffset } from './locate.js';
import { configSchema } from './schema.js';
import { isPostgresSource } from '../cluster/config-merge.js';

export interface ConfigIssue {
  file: string;
  path: string;
  line: number;
  column: number;
  message: string;
}

/** One line per issue: "config/x.yaml:12:7: inboundConnectors[0].senderIPAddresses[1]: ..." */
export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues
    .map((i) => {
      const where = i.line > 0 ? `${i.file}:${i.line}:${i.column}` : i.file;
      return `${where}: ${i.path ? `${i.path}: ` : ''}${i.message}`;
    })
    .join('\n');
}

export class ConfigError extends SluiceError {
  declare readonly code: 'E_CONFIG';
  constructor(readonly issues: ConfigIssue[]) {
    super('E_CONFIG', `invalid configuration:\n${formatIssues(issues)}`);
    this.name = 'ConfigError';
  }
}

/** The object schema reached by following `path` through defaults, nullables, pipes and arrays. */
function schemaAt(schema: ZodType, path: KeyPath): ZodType | undefined {
  let s: ZodType | undefined = schema;
  for (let i = 0; s && i <= path.length; ) {
    if (s instanceof ZodDefault || s instanceof ZodPrefault) s = s.unwrap() as ZodType;
    else if (s instanceof ZodNullable || s instanceof ZodOptional) s = s.unwrap() as ZodType;
    // A transform's shape is its input; a preprocess (transform first) is shaped by what follows it.
    else if (s instanceof ZodPipe) s = (s.in instanceof ZodTransform ? s.out : s.in) as ZodType;
    else if (i === path.length) return s;
    else if (s instanceof ZodArray && typeof path[i] === 'number') (s = s.element as ZodType), i++;
    else if (s instanceof ZodObject) (s = (s.shape as Record<string, ZodType>)[String(path[i])]), i++;
    else return undefined;
  }
  return s;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/** A typo deserves a hint: the closest known key within two edits (case differences are free). */
function unknownKeyMessage(key: string, parent: KeyPath): string {
  const s = schemaAt(configSchema, parent);
  const known = s instanceof ZodObject ? Object.keys(s.shape as object) : [];
  const scored = known.map((k) => ({ k, d: editDistance(key.toLowerCase(), k.toLowerCase()) }));
  const best = scored.sort((x, y) => x.d - y.d)[0];
  const hint = best && best.d <= 2 ? ` (did you mean "${best.k}"?)` : '';
  return `unknown key "${key}"${hint}`;
}

/** zod 4 paths may hold symbols; config paths never do (YAML keys are strings). */
const keyPath = (path: readonly PropertyKey[]): KeyPath => path.map((k) => (typeof k === 'number' ? k : String(k)));

function fromZod(issue: z.core.$ZodIssue): PathIssue[] {
  const path = keyPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ path: [...path, key], message: unknownKeyMessage(key, path) }));
  }
  const message = issue.message === MISSING ? 'required key is missing' : issue.message;
  return [{ path, message }];
}

/** zod 4 words a missing key as a type error ("expected string, received undefined"); say it plainly. */
const MISSING = 'Required';
const missingKey = (issue: z.core.$ZodRawIssue): string | undefined =>
  issue.input === undefined && issue.code === 'invalid_type' ? MISSING : undefined;

function located(doc: Document, lines: LineCounter, file: string, issues: readonly PathIssue[]): ConfigIssue[] {
  return issues
    .map((i) => ({ file, path: formatPath(i.path), ...locatePath(doc, lines, i.path), message: i.message }))
    .sort((a, b) => a.line - b.line || a.column - b.column);
}

export interface LoadedConfig {
  model: Model;
  /** Settings that load but are probably not meant, located like errors; `check` and `start` print them. */
  warnings: ConfigIssue[];
}

/** Parses and compiles config text; `file` names it in messages and becomes Model.source (absolute). */
export function loadConfigText(text: string, file: string): Model {
  return loadConfigTextWithWarnings(text, file).model;
}

export function loadConfigTextWithWarnings(text: string, file: string): LoadedConfig {
  return loadParsed(parseConfigYaml(text, file), file);
}

function loadParsed(parsed: ParsedYaml, file: string): LoadedConfig {
  if (parsed.raw === null || parsed.raw === undefined) {
    throw new ConfigError([{ file, path: '', line: 1, column: 1, message: 'the file is empty; expected a mapping with at least "server"' }]);
  }
  return compileRawConfig(parsed.raw, resolve(file), parsed.locate);
}

/** A YAML document as plain data, and how to place issues on its key paths (file, line, column). */
export interface ParsedYaml {
  raw: unknown;
  locate(issues: readonly PathIssue[]): ConfigIssue[];
}

export function parseConfigYaml(text: string, file: string): ParsedYaml {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const { line, col } = lines.linePos(e.pos[0]);
        const path = pathAtOffset(doc, e.pos[0]);
        const message = e.code === 'DUPLICATE_KEY' ? 'duplicate key (each key may appear once per mapping)' : e.message;
        return { file, path: formatPath(path), line, column: col, message };
      }),
    );
  }
  try {
    return { raw: doc.toJS({ maxAliasCount: 100 }), locate: (issues) => located(doc, lines, file, issues) };
  } catch (err) {
    throw new ConfigError([{ file, path: '', line: 1, column: 1, message: (err as Error).message }]);
  }
}

/** Schema and cross-key checks on plain data; `locate` names where each issue is (one file or several layered ones). */
export function compileRawConfig(raw: unknown, source: string, locate: (issues: readonly PathIssue[]) => ConfigIssue[]): LoadedConfig {
  const parsed = configSchema.safeParse(raw, { error: missingKey });
  if (!parsed.success) throw new ConfigError(sortIssues(locate(parsed.error.issues.flatMap(fromZod))));
  const compiled = compileConfig(parsed.data, source);
  if (!compiled.ok) throw new ConfigError(sortIssues(locate(compiled.issues)));
  return { model: compiled.model, warnings: locate(compiled.warnings) };
}

const sortIssues = (issues: ConfigIssue[]): ConfigIssue[] => issues.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column);

/** Reads and loads a config file; an unreadable file is a ConfigError with line 0. */
export async function loadConfigFile(file: string): Promise<Model> {
  return (await loadConfigFileWithWarnings(file)).model;
}

/** A config file's text; an unreadable file is a ConfigError with line 0. */
export async function readConfigText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new ConfigError([{ file, path: '', line: 0, column: 0, message: `cannot read the config file: ${reason}` }]);
  }
}

export async function loadConfigFileWithWarnings(file: string): Promise<LoadedConfig> {
  const text = await readConfigText(file);
  // With config.source: postgres the file holds only the bootstrap keys: the tools (check, queue,
  // route…) see what the replica runs from its last good copy; the daemon reads the database.
  const parsed = parseConfigYaml(text, file);
  if (isPostgresSource(parsed.raw)) return (await import('../cluster/config-layered.js')).loadFromLastGood(parsed, file);
  return loadParsed(parsed, file);
}
