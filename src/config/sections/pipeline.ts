// Config section: the filter pipeline and the quarantine: `filters`, `quarantine` (issue 9).
// Owns its keys' schema, its part of the runtime Model and the cross-key checks on them, so
// features add config without touching the core schema (schema.ts spreads the keys, compile.ts
// spreads the model part, test/helpers/model-builder.ts uses the defaults).
import { z } from 'zod';
import type { Config } from '../schema.js';
import type { Report } from '../compile.js';
import { parseDuration } from '../units.js';

// Nothing is imported from schema.ts at run time: schema.ts imports this file, and load.ts
// reaches this file first (load → compile → here), so any value from schema.ts would be
// uninitialised here and this file's keys uninitialised there (a module cycle).
const positiveDuration = z.union([z.string(), z.number()]).transform((v, ctx): number => {
  try {
    const ms = parseDuration(v);
    if (ms > 0) return ms;
    ctx.addIssue({ code: 'custom', message: `"${v}" must be longer than zero` });
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
  return z.NEVER;
});
/** A section that may be left out: same as schema.ts `section()`, built here for the same reason. */
const optionalSection = <T extends z.ZodTypeAny>(schema: T) => z.preprocess((v) => v ?? {}, schema);

const DAY_MS = 86_400_000;
/** EOP keeps quarantined mail 1–30 days, 15 by default. */
const RETENTION_MIN_DAYS = 1;
const RETENTION_MAX_DAYS = 30;

/** zod shapes of this section's top-level keys (each may be left out: use `section()`). */
export const pipelineKeys = {
  filters: optionalSection(z.object({ timeout: positiveDuration.default('30s') }).strict()),
  quarantine: optionalSection(z.object({ retention: positiveDuration.default('15d') }).strict()),
};

/** This section's part of the frozen runtime Model. */
export interface PipelineModel {
  /** The whole pipeline's time budget per message (and per session's connection stage). */
  filters: { timeoutMs: number };
  quarantine: { retentionMs: number };
}

export function compilePipeline(config: Config, report: Report, _warn: Report): PipelineModel {
  const retentionMs = config.quarantine.retention;
  if (retentionMs < RETENTION_MIN_DAYS * DAY_MS || retentionMs > RETENTION_MAX_DAYS * DAY_MS) {
    report(['quarantine', 'retention'], `must be between ${RETENTION_MIN_DAYS}d and ${RETENTION_MAX_DAYS}d (EOP keeps quarantined mail 1 to 30 days)`);
  }
  return { filters: { timeoutMs: config.filters.timeout }, quarantine: { retentionMs } };
}

/** The model part when every key is left out (for hand-built test models). */
export const PIPELINE_DEFAULTS: PipelineModel = { filters: { timeoutMs: 30_000 }, quarantine: { retentionMs: 15 * DAY_MS } };
