// The zod building blocks every config section uses (key paths in messages, EOP enum spellings,
// units). A leaf module: sections import it without importing schema.ts, which spreads the
// sections' keys and so cannot be imported by them without an import cycle.
import { z } from 'zod';
import { normaliseDomain } from '../domain/match.js';
import { parseDuration, parseSize } from './units.js';

const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v);

/** A value parsed by `fn`; its thrown Error becomes the issue message at this key path. */
export function parsed<T>(fn: (v: string) => T, accept: 'string' | 'string-or-number' = 'string') {
  return z.unknown().transform((v, ctx): T => {
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
      errorMap: (issue, ctx) => ({
        message: issue.code === 'invalid_enum_value' ? `"${String(issue.received)}" must be one of ${list}` : ctx.defaultError,
      }),
    }),
  );
}

export const domainName = (what: string) =>
  parsed((v) => {
    const d = normaliseDomain(v.trim());
    if (!d) throw new Error(`"${v}" is not a valid ${what} (no wildcards, no trailing dot)`);
    return d;
  });

export const flag = (dflt: boolean) => z.boolean({ invalid_type_error: 'expected true or false' }).default(dflt);
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
 * instead of `.default({})` on objects: zod 3 and zod 4 differ there (zod 4 needs `.prefault`).
 */
export const section = <T extends z.ZodTypeAny>(schema: T) => schema.default({});

