/**
 * The two-run comparison as HTML: the gate's verdict (baseline vs current) in the report's style,
 * written next to gate.md and to `--html FILE`; user text escaped; a bad `--html` is a usage error
 * before anything is compared or written.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isUsageError } from '../harness/errors.ts';
import type { Baseline, BaselineGroup } from '../harness/gate/baseline.ts';
import { compareBaselines } from '../harness/gate/compare.ts';
import { gateRun } from '../harness/gate/index.ts';
import { loadRules } from '../harness/gate/rules.ts';
import { gateHtml } from '../reports/compare-html.ts';

const EVIL = '<img src=x onerror=alert(1)>';

function baseline(groups: Record<string, Partial<BaselineGroup['metrics']>>): Baseline {
  const g: Record<string, BaselineGroup> = {};
  for (const [key, metrics] of Object.entries(groups)) {
    const [scenario, strategy] = key.split('/') as [string, string];
    g[key] = { scenario, strategy, metrics, untrusted: 0 };
  }
  return {
    format: 'cachebench-baseline',
    version: 1,
    createdAt: '2026-01-01T00:00:00Z',
    source: { runId: 'x', profile: 'quick', instances: 1, seed: 1, command: 'test' },
    groups: g,
  };
}

const base = baseline({
  'hot-key/lock': { rebuildsPerExpiry: [1.0], maxConcurrentRebuilds: [1] },
  [`hot-key/${EVIL}`]: { rebuildsPerExpiry: [1.0] },
  'redis-outage/cache-aside': { staleBeyondTtl: [0] },
});
const cur = baseline({
  'hot-key/lock': { rebuildsPerExpiry: [6.5], maxConcurrentRebuilds: [9] },
  [`hot-key/${EVIL}`]: { rebuildsPerExpiry: [1.0] },
  'redis-outage/cache-aside': { staleBeyondTtl: [0] },
});

describe('gate HTML', () => {
  const v = compareBaselines(base, cur, loadRules());
  const html = gateHtml(v, { baseline: 'base.json', current: `runs/${EVIL}` });

  it('is one self-contained page with no script, user text escaped', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script|<img|<link|src="http/i);
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('says the result, and marks each scenario × strategy cell by its checks', () => {
    expect(html).toContain('<title>cachebench gate — 2 regressions</title>');
    const matrix = html.slice(html.indexOf('<section id="matrix">'), html.indexOf('</section>'));
    const status = [...matrix.matchAll(/data-status="([a-z]+)"/g)].map((m) => m[1]);
    // hot-key: lock regressed, the hostile-named one passed; redis-outage: cache-aside passed.
    expect(status.sort()).toEqual(['pass', 'pass', 'regression']);
    expect(matrix).toContain('rebuilds / expiry');
  });

  it('lists each regression with baseline, current and the rule', () => {
    const reg = html.slice(html.indexOf('<section id="regressions">'));
    const rows = reg.slice(0, reg.indexOf('</section>')).match(/<tr data-status="regression">/g);
    expect(rows).toHaveLength(2);
    for (const r of v.regressions) expect(reg).toContain(`<td>${r.current}</td>`);
  });

  it('a passing comparison has no regressions section', () => {
    const ok = gateHtml(compareBaselines(base, base, loadRules()), { baseline: 'a', current: 'b' });
    expect(ok).toContain('<title>cachebench gate — pass</title>');
    expect(ok).not.toContain('id="regressions"');
  });
});

describe('cachebench compare --html', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-gate-html-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const b = path.join(dir, 'base.json');
  const c = path.join(dir, 'cur.json');
  fs.writeFileSync(b, JSON.stringify(base));
  fs.writeFileSync(c, JSON.stringify(cur));

  it('writes gate.html next to gate.md, and to the --html file', async () => {
    const out = path.join(dir, 'out');
    const file = path.join(dir, 'compare.html');
    const v = await gateRun(b, c, { outDir: out, html: file, print: () => {} });
    expect(v.pass).toBe(false);
    for (const f of ['gate.md', 'gate-junit.xml', 'gate.html'])
      expect(fs.existsSync(path.join(out, f))).toBe(true);
    const page = fs.readFileSync(file, 'utf8');
    expect(page).toBe(fs.readFileSync(path.join(out, 'gate.html'), 'utf8'));
    expect(page).toContain('2 regressions');
  });

  it('a --html in a missing directory or naming a directory is a usage error naming the flag', async () => {
    for (const bad of [path.join(dir, 'nope', 'x.html'), dir]) {
      const err = await gateRun(b, c, { html: bad, print: () => {} }).catch((e) => e);
      expect(isUsageError(err)).toBe(true);
      expect((err as Error).message).toMatch(/^--html: .* \(allowed: a file in an existing directory/);
    }
  });
});
