// Config section: the filter pipeline and the quarantine: `filters`, `quarantine` (issue 9).
// Owns its keys' schema, its part of the runtime Model and the cross-key checks on them, so
// features add config without touching the core schema (schema.ts spreads the keys, compile.ts
// spreads the model part, test/helpers/model-builder.ts uses the defaults).
import { z } from 'zod';
import type { Config } from '../schema.js';
import type { Report } from '../compile.js';
import { duration, section } from '../schema-parts.js';

const DAY_MS = 86_400_000;
/** EOP keeps quarantined mail 1–30 days, 15 by default. */
const RETENTION_MIN_DAYS = 1;
const RETENTION_MAX_DAYS = 30;

/** zod shapes of this section's top-level keys (each may be left out: use `section()`). */
export const pipelineKeys = {
  filters: section(z.object({ timeout: duration.prefault('30s') }).strict()),
  quarantine: section(z.object({ retention: duration.prefault('15d') }).strict()),
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
