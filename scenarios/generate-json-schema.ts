/**
 * Writes scenarios/scenario.schema.json: the JSON Schema of a scenario file, generated from the
 * zod schema (schema.ts) so editors can complete and check scenario YAML. Run `npm run schema`
 * after changing schema.ts; test/json-schema.test.ts fails while the file is out of date.
 * `--check` exits 1 instead of writing when the file differs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { scenarioFileSchema, TTL_MS_JSON_SCHEMA, ttlMsSchema } from './schema.ts';

export const SCHEMA_FILE = fileURLToPath(new URL('./scenario.schema.json', import.meta.url));

/** Durations are `unknown → transform` in zod (a number of ms or "30s"); say so in JSON Schema. */
const DURATION = {
  anyOf: [
    { type: 'number', minimum: 0 },
    { type: 'string', pattern: '^\\s*(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h)?\\s*$' },
  ],
  description: 'a duration: milliseconds, or a string like "500ms", "30s", "2m", "1h"',
};

export function scenarioJsonSchema(): string {
  const schema = z.toJSONSchema(scenarioFileSchema, {
    io: 'input',
    unrepresentable: 'any',
    override: (ctx) => {
      const def = ctx.zodSchema._zod.def as { type: string; in?: { _zod: { def: { type: string } } } };
      if (ctx.zodSchema === ttlMsSchema) Object.assign(ctx.jsonSchema, TTL_MS_JSON_SCHEMA);
      else if (def.type === 'pipe' && def.in?._zod.def.type === 'unknown')
        Object.assign(ctx.jsonSchema, DURATION);
    },
  });
  // A file's name defaults to its file name (load.ts), so `name` is optional in a file.
  schema.required = (schema.required ?? []).filter((k) => k !== 'name');
  return `${JSON.stringify(
    {
      ...schema,
      title: 'cachebench scenario',
      description:
        'A cachebench scenario file (scenarios/catalog/*.yaml). Generated from scenarios/schema.ts.',
    },
    null,
    2,
  )}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = scenarioJsonSchema();
  let current = '';
  try {
    current = readFileSync(SCHEMA_FILE, 'utf8');
  } catch {}
  if (process.argv.includes('--check')) {
    if (current !== text) {
      process.stderr.write(`${SCHEMA_FILE} is out of date: run npm run schema\n`);
      process.exit(1);
    }
  } else if (current !== text) {
    writeFileSync(SCHEMA_FILE, text);
    process.stdout.write(`wrote ${SCHEMA_FILE}\n`);
  }
}
