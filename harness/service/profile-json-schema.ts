/**
 * Writes scenarios/service-profile.schema.json: the JSON Schema of a service profile, generated
 * from the zod schema (profile.ts) so editors can complete and check a cachebench.yaml. Run
 * `npm run schema` after changing profile.ts; test/service-profile.test.ts fails while the file is
 * out of date. `--check` exits 1 instead of writing when the file differs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { serviceProfileSchema } from './profile.ts';

export const PROFILE_SCHEMA_FILE = fileURLToPath(
  new URL('../../scenarios/service-profile.schema.json', import.meta.url),
);

const DURATION = {
  anyOf: [
    { type: 'number', exclusiveMinimum: 0 },
    { type: 'string', pattern: '^\\s*(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h)?\\s*$' },
  ],
  description: 'a duration: milliseconds, or a string like "500ms", "30s", "2m"',
};

export function profileJsonSchema(): string {
  const schema = z.toJSONSchema(serviceProfileSchema, {
    io: 'input',
    unrepresentable: 'any',
    override: (ctx) => {
      const def = ctx.zodSchema._zod.def as { type: string; in?: { _zod: { def: { type: string } } } };
      if (def.type === 'pipe' && def.in?._zod.def.type === 'unknown') Object.assign(ctx.jsonSchema, DURATION);
    },
  });
  return `${JSON.stringify(
    {
      ...schema,
      title: 'cachebench service profile',
      description:
        'How cachebench starts, seeds and drives your service (docs/service-mode.md). Generated from harness/service/profile.ts.',
    },
    null,
    2,
  )}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = profileJsonSchema();
  let current = '';
  try {
    current = readFileSync(PROFILE_SCHEMA_FILE, 'utf8');
  } catch {}
  if (process.argv.includes('--check')) {
    if (current !== text) {
      process.stderr.write(`${PROFILE_SCHEMA_FILE} is out of date: run npm run schema\n`);
      process.exit(1);
    }
  } else if (current !== text) {
    writeFileSync(PROFILE_SCHEMA_FILE, text);
    process.stdout.write(`wrote ${PROFILE_SCHEMA_FILE}\n`);
  }
}
