// The driver's response scan against its reference, JSON.parse + parseResponse: on the target's
// own bodies it must answer (not fall back), and on any body — random, edge-case or malformed —
// an answer it gives must be the reference's.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HistoryWriter, RAW_VERSIONS } from '../harness/driver/history-writer.ts';
import { scanResponse } from '../harness/driver/response-scan.ts';
import type { HistoryRecord } from '../harness/results/schema.ts';
import type { Operation } from '../scenarios/types.ts';
import { createRng, parseResponse } from '../scenarios/workload.ts';

function reference(op: Operation, status: number, text: string) {
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  const info = parseResponse(op, status, parsed);
  return { versions: info.versions ? JSON.stringify(info.versions) : undefined, value: info.value };
}

/** Checks one body; returns whether the scan answered itself. */
function agrees(op: Operation, status: number, text: string): boolean {
  const got = scanResponse(op, status, text);
  if (got === undefined) return false;
  expect({ body: text, ...got }).toEqual({ body: text, ...reference(op, status, text) });
  return true;
}

describe('scanResponse', () => {
  it("answers the target's own response shapes exactly as the parse does", () => {
    const bodies: [Operation, string][] = [
      ['read-user', '{"user":{"id":17,"name":"user 17","team":3},"versions":{"user:17":4}}'],
      [
        'read-team-members',
        '{"team":{"id":3,"members":[{"id":1},{"id":2}]},"versions":{"team:3":2,"user:1":7,"user:2":1}}',
      ],
      ['read-counter', '{"value":1234,"pending":2,"versions":{}}'],
      ['read-counter', '{"value":-5}'],
      ['incr-counter', '{"value":17,"pending":2}'],
      ['update-user', '{"ok":true,"versions":{"user:9":12}}'],
      ['read-user', ' {\n "versions" : { "user:1" : 1 , "user:2" : 2.50e1 } ,\t"x":null } \n'],
    ];
    for (const [op, body] of bodies) expect(agrees(op, 200, body), body).toBe(true);
  });

  it('gives the reference answer or none on edge cases', () => {
    const cases = [
      '{"versions":{"a":-0,"b":1.50,"c":1e2,"d":1e400,"e":"7","f":null,"g":[1],"h":{"i":1}}}',
      '{"versions":{"a":1,"a":2}}',
      '{"versions":{"2":1,"1":2,"x":3}}',
      '{"versions":{"__proto__":1,"y":2}}',
      '{"versions":{"\\u0061":1,"a":2}}',
      '{"versions":{"é":1,"😀":2}}',
      '{"versions":1}',
      '{"versions":[{"a":1}]}',
      '{"versions":{"a":1},"versions":{"b":2}}',
      '{"value":1e400}',
      '{"value":"12","versions":{"k":123456789012345678901}}',
      '{"\\u0076ersions":{"a":1}}',
      '[{"versions":{"a":1}}]',
      '"versions"',
      '',
      '{}',
      `{"versions":{"a":1},"deep":${'['.repeat(100)}${']'.repeat(100)}}`,
    ];
    for (const body of cases)
      for (const op of ['read-user', 'read-counter'] as Operation[]) {
        agrees(op, 200, body);
        expect(scanResponse(op, 500, body)).toBeUndefined();
      }
  });

  // A seeded generator of JSON texts: values of every kind, keys that are plain, numeric,
  // escaped, non-ASCII or repeated, whitespace anywhere; then broken variants of each.
  const rng = createRng(20261202);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)] as T;
  const space = () => pick(['', '', '', ' ', '\n\t ', '\r\n']);
  const keyText = () =>
    pick([
      'user:1',
      'user:2',
      'team:3',
      'a',
      'value',
      'versions',
      '12',
      '0',
      '__proto__',
      'é',
      'x\\"y',
      'k\\u0041',
    ]);
  function number(): string {
    return pick([
      '0',
      '-0',
      '7',
      '-12',
      '3.25',
      '1e3',
      '2E-2',
      '-1.5e+2',
      '1e400',
      '123456789012345678',
      '0.1',
    ]);
  }
  function value(depth: number): string {
    const r = rng();
    if (depth > 3 || r < 0.35) return number();
    if (r < 0.5) return `"${pick(['', 'v', 'with \\n escape', 'ü'])}"`;
    if (r < 0.6) return pick(['true', 'false', 'null']);
    if (r < 0.75)
      return `[${Array.from({ length: Math.floor(rng() * 3) }, () => space() + value(depth + 1) + space()).join(',')}]`;
    return object(depth + 1);
  }
  function object(depth: number): string {
    const n = Math.floor(rng() * 4);
    const members = Array.from(
      { length: n },
      () => `${space()}"${keyText()}"${space()}:${space()}${value(depth)}`,
    );
    return `{${members.join(',')}${space()}}`;
  }
  function body(): string {
    const members: string[] = [];
    const n = 1 + Math.floor(rng() * 3);
    for (let i = 0; i < n; i++) {
      const r = rng();
      if (r < 0.4) members.push(`"versions":${object(1)}`);
      else if (r < 0.6) members.push(`"value":${value(3)}`);
      else members.push(`"${keyText()}":${value(1)}`);
    }
    return `${space()}{${members.join(',')}}${space()}`;
  }
  function broken(text: string): string {
    const i = Math.floor(rng() * (text.length + 1));
    const r = rng();
    if (r < 0.4) return text.slice(0, i);
    if (r < 0.7)
      return text.slice(0, i) + pick(['"', ',', '}', ']', ':', '\u0001', '-', '.']) + text.slice(i);
    return text.slice(0, i) + text.slice(i + 1);
  }

  it('agrees with the reference on 20,000 random bodies and their broken variants', () => {
    let answered = 0;
    let answeredBroken = 0;
    for (let i = 0; i < 10_000; i++) {
      const op = pick(['read-user', 'read-counter', 'read-team-members'] as Operation[]);
      const text = body();
      if (agrees(op, 200, text)) answered++;
      if (agrees(op, 200, broken(text))) answeredBroken++;
    }
    // The scan must carry most bodies itself, or it saves nothing; a broken one it answers only
    // when the break left valid JSON (e.g. a deleted space), and then agrees above.
    expect(answered).toBeGreaterThan(3_000);
    expect(answeredBroken).toBeLessThan(answered);
  });
});

describe('HistoryWriter with scanned versions', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cachebench-scan-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("writes the versions text as the line's versions field, parsed back equal", async () => {
    const file = path.join(dir, 'h.ndjson');
    const w = new HistoryWriter(file);
    const body = '{"team":{"id":3},"versions":{"team:3":2,"user:1":7}}';
    const scanned = scanResponse('read-team-members', 200, body);
    expect(scanned?.versions).toBeDefined();
    const rec = {
      op: 'read-team-members',
      kind: 'read',
      key: 'team:3',
      scheduled: 1,
      start: 2,
      end: 3,
      status: 200,
      instance: 0,
    };
    w.write({ ...rec, [RAW_VERSIONS]: scanned?.versions } as HistoryRecord);
    w.write({ ...rec, status: 204 } as HistoryRecord);
    await w.close();
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0]).toEqual({ ...rec, versions: { 'team:3': 2, 'user:1': 7 } });
    expect(lines[1]).toEqual({ ...rec, status: 204 });
  });

  it('keeps every line whole across 64 KB chunks, with non-ASCII text and a line bigger than a chunk', async () => {
    const file = path.join(dir, 'many.ndjson');
    const w = new HistoryWriter(file);
    const want: unknown[] = [];
    for (let i = 0; i < 3000; i++) {
      // Every 7th carries a versions object far longer than the rest of its line.
      const extra = i % 7 === 0 ? Array.from({ length: 60 }, (_, k) => `,"team:${k}":${k}`).join('') : '';
      const versions = `{"user:${i}":${i},"é€😀:${i}":1${extra}}`;
      const rec = {
        op: 'read-user',
        kind: 'read',
        key: `user:${i}`,
        scheduled: i,
        start: i,
        end: i + 0.5,
        status: 200,
        instance: i % 3,
      };
      w.write({
        ...rec,
        ...(i === 1500 ? { error: 'x'.repeat(70_000) } : {}),
        [RAW_VERSIONS]: versions,
      } as HistoryRecord);
      want.push({
        ...rec,
        ...(i === 1500 ? { error: 'x'.repeat(70_000) } : {}),
        versions: JSON.parse(versions),
      });
    }
    await w.close();
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(3000);
    expect(lines.map((l) => JSON.parse(l))).toEqual(want);
  });
});
