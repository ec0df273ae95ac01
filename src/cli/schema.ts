// `sluice schema [-o FILE]`: prints the configuration's JSON Schema (draft 2020-12), or writes it
// to FILE. `npm run schema` regenerates the shipped config/sluice.schema.json this way.
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { configJsonSchemaText } from '../config/json-schema.js';

export async function runSchema(argv: string[]): Promise<number> {
  let output: string | undefined;
  try {
    ({ output } = parseArgs({ args: argv, strict: true, options: { output: { type: 'string', short: 'o' } } }).values);
  } catch (err) {
    process.stderr.write(`sluice schema: ${(err as Error).message}\nUsage: sluice schema [-o FILE]\n`);
    return 1;
  }
  const text = configJsonSchemaText();
  if (output === undefined) process.stdout.write(text);
  else await writeFile(output, text);
  return 0;
}
