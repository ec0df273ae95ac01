// The building blocks of the config schema: parsed values, EOP-spelled enums, units and
// defaults. Its own module so that the feature sections (sections/*.ts), which schema.ts
// imports, can use them without an import cycle reaching an uninitialised binding.
import { z } from 'zod';
import { compileDomainPattern, normaliseDomain } from '../domain/match.js';
import { parseDuration, parseSize } from './units.js';

const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v);

/**
 * A value parsed by `fn`; its thrown Error becomes the issue message at this key path. A default
 * written in config units needs `.prefault('60s')`: zod 4's `.default` takes the parsed value (ms).
 */
export function parsed<T>(fn: (v: string) => T, accept: 'string' | 'string-or-number' = 'string') {
  // The JSON Schema (`sluice schema`) describes what the admin writes, so say which YAML types fit.
  const written = accept === 'string' ? { type: 'string' } : { type: ['string', 'number'] };
  return z.unknown().meta(written).transform((v, ctx): T => {
    const ok = typeof v === 'string' || (accept === 'string-or-number' && typeof v === 'number');
    if (!ok) {
      const expected = accept === 'string' ? 'a string' : 'a string or number';
      ctx.addIssue({ code: 'custom', message: v === undefined ? 'Required' : `expected ${expected}, got ${describe(v)}` });
      return z.NEVER;
    }
    try {
      return fn(v as string);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });
}

/** EOP spells enumerated values one way; we accept any case and normalise to that spelling. */
export function eopEnum<T extends string>(values: readonly [T, ...T[]]) {
  const byLower = new Map<string, T>(values.map((v) => [v.toLowerCase(), v]));
  const list = values.join(', ');
  return z.preprocess(
    (v) => (typeof v === 'string' ? (byLower.get(v.trim().toLowerCase()) ?? v) : v),
    z.enum(values as [T, ...T[]], {
      // undefined: a missing key keeps the default (load.ts turns it into "required key is missing").
      error: (issue) => (issue.code === 'invalid_value' ? `"${String(issue.input)}" must be one of ${list}` : undefined),
    }),
  );
}

export const domainName = (what: string) =>
  parsed((v) => {
    const d = normaliseDomain(v.trim());
    if (!d) throw new Error(`"${v}" is not a valid ${what} (no wildcards, no trailing dot)`);
    return d;
  });

/** A certificate or TLS name: "mail.contoso.com" or "*.contoso.com", but never a bare "*". */
export const certName = parsed((v) => {
  const p = compileDomainPattern(v);
  if (p.kind === 'any') throw new Error(`"${v}" is too broad: use a name or "*.domain"`);
  return p;
});

export const flag = (dflt: boolean) => z.boolean({ error: (issue) => (issue.input === undefined ? undefined : 'expected true or false') }).default(dflt);
export const count = (dflt: number) => z.number().int().positive().default(dflt);
export const filePath = z.string().trim().min(1, 'a file path must not be empty');
export const size = parsed(parseSize, 'string-or-number');
export const duration = parsed((v) => {
  const ms = parseDuration(v);
  if (ms <= 0) throw new Error(`"${v}" must be longer than zero`);
  return ms;
}, 'string-or-number');
/** A duration that may be 0 (off). */
export const durationOrZero = parsed(parseDuration, 'string-or-number');
export const port = (min: number) => z.number().int().min(min).max(65535);
/**
 * A config section whose every key has a default, so the whole section may be left out. Use this
 * instead of `.default({})` on objects: zod 4's `.default` returns its value without parsing it, so
 * the inner defaults would be skipped; `.prefault` parses `{}` as if the admin had written it.
 */
export const section = <T extends z.ZodTypeAny>(schema: T) => schema.prefault({} as z.input<T>);
