/**
 * The exports (results.csv, results.otlp.json) and JUnit times, rendered from a synthetic run:
 * one CSV row per cell × measured metric with the cell's own interval; OTLP/JSON shaped as the
 * OTLP spec's ExportMetricsServiceRequest; JUnit case times equal to cell durations.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyzeResults } from '../harness/analysis/index.ts';
import { cellMetrics } from '../harness/analysis/metrics.ts';
import { csvField, renderCsv } from '../reports/csv.ts';
import { renderJunit } from '../reports/junit.ts';
import { renderOtlp } from '../reports/otlp.ts';
import { CATALOG_LIKE, synthRun } from './fixtures/synthetic.ts';

const { results } = synthRun({
  scenarios: CATALOG_LIKE.slice(0, 2),
  strategies: ['no-cache', 'cache-aside', '=evil,"x"'],
  repeats: 2,
});
const analysis = analyzeResults(results);

/** RFC 4180 reader: the CSV is parsed, not pattern-matched, so quoting bugs fail here. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let f = '';
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (q) {
      if (c === '"' && text[i + 1] === '"') {
        f += '"';
        i++;
      } else if (c === '"') q = false;
      else f += c;
    } else if (c === '"') q = true;
    else if (c === ',') {
      row.push(f);
      f = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(f);
      rows.push(row);
      row = [];
      f = '';
      i++;
    } else f += c;
  }
  return rows;
}

describe('results.csv', () => {
  const rows = parseCsv(renderCsv(results, analysis));
  const [header, ...body] = rows;
  const col = (name: string) => header!.indexOf(name);

  it('one row per cell × measured metric, values equal to the analysis', () => {
    let expected = 0;
    for (const c of results.cells) {
      const m = cellMetrics(analysis.cell(c));
      for (const [id, v] of Object.entries(m)) {
        if (v === null || !Number.isFinite(v)) continue;
        expected++;
        const row = body.find((r) => r[col('cell_id')] === c.id && r[col('metric')] === id);
        expect(row, `${c.id} ${id}`).toBeDefined();
        expect(Number(row![col('value')])).toBe(v);
      }
    }
    expect(body).toHaveLength(expected);
    for (const r of body) expect(r).toHaveLength(header!.length);
  });

  it('intervals enclose the value; units are named', () => {
    const withCi = body.filter((r) => r[col('interval_lo')] !== '');
    expect(withCi.length).toBeGreaterThan(body.length / 2);
    for (const r of withCi) {
      const v = Number(r[col('value')]);
      expect(Number(r[col('interval_lo')])).toBeLessThanOrEqual(v + 1e-9);
      const hi = r[col('interval_hi')];
      // A right-censored interval (time to 90% never reached) has no upper end: empty, said so.
      if (hi === '') expect(r[col('interval_basis')]).toMatch(/^right-censored/);
      else expect(Number(hi)).toBeGreaterThanOrEqual(v - 1e-9);
    }
    const units = new Set(body.map((r) => r[col('unit')]));
    expect(units).toContain('ms');
    expect(units).toContain('fraction');
  });

  it('user text cannot break a row or run as a spreadsheet formula', () => {
    const evil = body.filter((r) => r[col('strategy')]!.includes('evil'));
    expect(evil.length).toBeGreaterThan(0);
    for (const r of evil) expect(r[col('strategy')]).toBe(`'=evil,"x"`);
    expect(csvField('a"b')).toBe('"a""b"');
  });
});

describe('results.otlp.json', () => {
  const req = JSON.parse(renderOtlp(results, analysis));
  const rm = req.resourceMetrics[0];
  const metrics = rm.scopeMetrics[0].metrics as {
    name: string;
    unit: string;
    gauge: {
      dataPoints: {
        asDouble: number;
        timeUnixNano: string;
        startTimeUnixNano: string;
        attributes: { key: string; value: Record<string, unknown> }[];
      }[];
    };
  }[];

  it('is an ExportMetricsServiceRequest: resource, scope, gauges with typed attributes', () => {
    expect(Object.keys(req)).toEqual(['resourceMetrics']);
    const attrs = Object.fromEntries(
      rm.resource.attributes.map((a: { key: string; value: object }) => [a.key, a.value]),
    );
    expect(attrs['service.name']).toEqual({ stringValue: 'cachebench' });
    expect(attrs['cachebench.run.id']).toEqual({ stringValue: results.run.id });
    expect(rm.scopeMetrics[0].scope.name).toBe('cachebench');
    for (const m of metrics) {
      expect(m.name).toMatch(/^cachebench\.\w+(\.interval\.(lower|upper))?$/);
      for (const p of m.gauge.dataPoints) {
        expect(p.timeUnixNano).toMatch(/^\d{19}$/);
        expect(BigInt(p.timeUnixNano) >= BigInt(p.startTimeUnixNano)).toBe(true);
        expect(Number.isFinite(p.asDouble)).toBe(true);
        for (const a of p.attributes) expect(Object.keys(a.value)).toHaveLength(1);
      }
    }
  });

  it('one data point per cell per metric, equal to the CSV values', () => {
    const p99 = metrics.find((m) => m.name === 'cachebench.p99')!;
    expect(p99.unit).toBe('ms');
    expect(p99.gauge.dataPoints).toHaveLength(results.cells.length);
    for (const c of results.cells) {
      const pt = p99.gauge.dataPoints.find((p) =>
        p.attributes.some((a) => a.key === 'cachebench.cell' && a.value.stringValue === c.id),
      );
      expect(pt?.asDouble).toBe(cellMetrics(analysis.cell(c)).p99);
      expect(pt?.timeUnixNano).toBe(String(BigInt(c.endedAt) * 1_000_000n));
    }
    const lower = metrics.find((m) => m.name === 'cachebench.p99.interval.lower')!;
    expect(lower.gauge.dataPoints.length).toBeGreaterThan(0);
  });
});

describe('junit.xml times', () => {
  it("a case's time is its cell's duration; the suite's the sum over its cells", () => {
    const xml = renderJunit(results, analysis);
    const byClass = new Map<string, Set<string>>();
    for (const m of xml.matchAll(/<testcase classname="([^"]+)" name="[^"]*" time="([\d.]+)"/g)) {
      const set = byClass.get(m[1]!) ?? new Set();
      set.add(m[2]!);
      byClass.set(m[1]!, set);
      expect(Number(m[2])).toBeGreaterThan(0);
    }
    expect(byClass.size).toBeGreaterThan(0);
    const scenario = results.cells[0]!.scenario;
    const cells = results.cells.filter(
      (c) => c.scenario === scenario && analysis.run.budgets.some((b) => b.cellId === c.id),
    );
    const sum = cells.reduce((s, c) => s + (c.endedAt - c.startedAt) / 1000, 0);
    const suite = new RegExp(`<testsuite name="${scenario}"[^>]* time="([\\d.]+)"`).exec(xml);
    expect(Number(suite?.[1])).toBeCloseTo(sum, 3);
  });
});

describe('cachebench report --format', () => {
  const cli = (args: string[]) =>
    spawnSync(process.execPath, [path.join(import.meta.dirname, '../harness/cli.ts'), ...args], {
      encoding: 'utf8',
    });

  it('csv,otlp writes results.csv and results.otlp.json next to results.json', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-export-'));
    try {
      fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify(results));
      const r = cli(['report', dir, '--format', 'csv,otlp']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.trim().split('\n')).toEqual([
        path.join(dir, 'results.csv'),
        path.join(dir, 'results.otlp.json'),
      ]);
      expect(fs.readFileSync(path.join(dir, 'results.csv'), 'utf8')).toBe(renderCsv(results, analysis));
      expect(fs.existsSync(path.join(dir, 'report.html'))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an unknown format: exit 2, one line naming it and the allowed ones', () => {
    const r = cli(['report', '/nonexistent', '--format', 'csv,xlsx']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(
      '--format: "xlsx" is not a format (allowed: html, md, junit, json, csv, otlp)',
    );
  });
});
