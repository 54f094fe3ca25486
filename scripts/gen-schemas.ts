/**
 * Generates `schemas/v1/messages.schema.json` from the TypeScript message types in
 * `schemas/v1/messages.ts` with typescript-json-schema. `npm run gen:schemas` writes the file;
 * `schemas/v1/schema.test.ts` fails when the committed file is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as TJS from 'typescript-json-schema';

export const SOURCE = fileURLToPath(new URL('../schemas/v1/messages.ts', import.meta.url));
export const TARGET = fileURLToPath(new URL('../schemas/v1/messages.schema.json', import.meta.url));

/** Root types of the generated schema; ajv compiles `#/definitions/<name>` for each. */
export const ROOTS = ['ClientMessage', 'ServerMessage'] as const;

export function generateSchemaText(): string {
  const program = TJS.getProgramFromFiles([SOURCE], { strict: true, skipLibCheck: true });
  const generator = TJS.buildGenerator(program, {
    required: true,
    strictNullChecks: true,
    noExtraProps: false, // VER-7: unknown properties are ignored, not rejected
    ref: true,
    aliasRef: false,
    topRef: false,
    uniqueNames: false,
    validationKeywords: ['TJS-type'],
  });
  if (!generator) throw new Error('typescript-json-schema could not build a generator (type errors in messages.ts?)');
  const schema = generator.getSchemaForSymbols([...ROOTS]);
  schema.$id = 'https://mooring.dev/schemas/v1/messages.schema.json';
  schema.title = 'Mooring protocol v1 messages (generated from schemas/v1/messages.ts; do not edit)';
  return JSON.stringify(schema, null, 2) + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = generateSchemaText();
  let old = '';
  try { old = readFileSync(TARGET, 'utf8'); } catch { /* first run */ }
  writeFileSync(TARGET, text);
  console.log(old === text ? `unchanged: ${TARGET}` : `wrote ${TARGET}`);
}
