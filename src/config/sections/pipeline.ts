// Config section: the filter pipeline and the quarantine: `filters`, `quarantine` (issue 9).
// Owns its keys' schema, its part of the runtime Model and the cross-key checks on them, so
// features add config without touching the core schema (schema.ts spreads the keys, compile.ts
// spreads the model part, test/helpers/model-builder.ts uses the defaults).
import type { Config } from '../schema.js';
import type { Report } from '../compile.js';

/** zod shapes of this section's top-level keys (each may be left out: use `section()`). */
export const pipelineKeys = {};

/** This section's part of the frozen runtime Model. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface PipelineModel {}

export function compilePipeline(_config: Config, _report: Report, _warn: Report): PipelineModel {
  return {};
}

/** The model part when every key is left out (for hand-built test models). */
export const PIPELINE_DEFAULTS: PipelineModel = {};
