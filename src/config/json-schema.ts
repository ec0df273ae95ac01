// The configuration's JSON Schema for editors and validators, generated from the zod schema so the
// two cannot drift: the input side (what an admin writes: "35MB", "60s", EOP's enum spellings),
// with the `.describe()` texts. `sluice schema` prints it; config/sluice.schema.json ships it.
import { z } from 'zod';
import { configSchema } from './schema.js';

/** Where the repository keeps the generated schema (`npm run schema` rewrites it). */
export const SHIPPED_SCHEMA_PATH = 'config/sluice.schema.json';

export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, {
    io: 'input',
    target: 'draft-2020-12',
    // Refinements and transforms have no JSON form; their input side is still described.
    unrepresentable: 'any',
  });
  const { $schema, ...rest } = schema;
  return {
    $schema,
    title: 'Sluice configuration',
    description: 'The YAML configuration of the Sluice SMTP relay gateway (sluice start --config FILE).',
    ...rest,
  };
}

/** Stable text: two-space indent and a final newline, so the shipped file diffs cleanly. */
export function configJsonSchemaText(): string {
  return JSON.stringify(configJsonSchema(), null, 2) + '\n';
}
