/** The JSON Schema shipped for editors: current with the zod schema, and true to the catalog. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SCHEMA_FILE, scenarioJsonSchema } from '../scenarios/generate-json-schema.ts';
import { CATALOG_DIR, listScenarios } from '../scenarios/load.ts';

const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8'));
const validate = new Ajv2020({ allErrors: true, strict: false }).compile(schema);
const catalogFile = (name: string) => path.join(CATALOG_DIR, `${name}.yaml`);

describe('scenario.schema.json', () => {
  it('is what the generator makes from scenarios/schema.ts (run `npm run schema` when this fails)', () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(scenarioJsonSchema());
  });

  it.each(listScenarios())('catalog %s references the schema on line 1 and validates', (name) => {
    const text = readFileSync(catalogFile(name), 'utf8');
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../scenario.schema.json');
    const ok = validate(parse(text));
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('rejects a broken scenario and names the fields', () => {
    const doc = parse(readFileSync(catalogFile('hot-key'), 'utf8'));
    doc.load.arrivals = 'bursty';
    doc.load.phases[0].duration = 'soon';
    doc.keys.hotFraction = 1.5;
    doc.cachee = {};
    expect(validate(doc)).toBe(false);
    const where = (validate.errors ?? []).map((e) => `${e.instancePath} ${e.keyword}`);
    expect(where).toContain('/load/arrivals enum');
    expect(where).toContain('/load/phases/0/duration pattern');
    expect(where).toContain(' additionalProperties');
    expect(where.some((w) => w.startsWith('/keys'))).toBe(true);
  });

  it('accepts durations as milliseconds or strings, as the loader does', () => {
    const doc = parse(readFileSync(catalogFile('steady-read'), 'utf8'));
    doc.load.phases[0].duration = 4000;
    expect(validate(doc)).toBe(true);
    doc.load.phases[0].duration = '4s';
    expect(validate(doc)).toBe(true);
  });
});
