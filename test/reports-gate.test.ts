import { describe, expect, it } from 'vitest';
import type { GateRow, GateVerdict } from '../harness/gate/compare.ts';
import { gateJunit, gateMarkdown } from '../reports/gate.ts';

// Strategy labels come from the command line (`--strategies label=spec`) and scenario names from
// files: the gate's outputs must treat them as text, like the run reports do.
const EVIL = 'x|y <img src=x onerror=alert(1)> & "q"\u0001\nz';

function verdict(): GateVerdict {
  const row = (status: GateRow['status']): GateRow => ({
    scenario: 'hot-key',
    strategy: EVIL,
    metric: 'rebuildsPerExpiry',
    label: 'rebuilds / expiry',
    rule: 'count: +100% + 0.5',
    baseline: '1.00, 1.00',
    current: '6.50, 6.00',
    status,
    reason: status === 'regression' ? `median 6.25 > limit 2.50 <${EVIL}>` : 'within tolerance',
  });
  const rows = [row('regression'), row('pass'), row('skipped')];
  return {
    pass: false,
    rows,
    regressions: [rows[0]!],
    unjudged: [],
    warnings: [`${EVIL}: not in the baseline`],
  };
}

describe('gate reports (through reports/ escaping)', () => {
  it('Markdown: one table row per line, no pipe or HTML from data', () => {
    const md = gateMarkdown(verdict());
    expect(md).toContain('## cachebench gate: ❌ 1 regression');
    const rows = md.split('\n').filter((l) => l.startsWith('| hot-key'));
    expect(rows).toHaveLength(4); // 1 regression + 3 in "All checks"
    // Every data row keeps its table's column count: the pipes of the data are escaped.
    const cols = (l: string) => l.split(/(?<!\\)\|/).length;
    const [regressions, all] = md.split('\n').filter((l) => l.startsWith('| scenario |'));
    expect(cols(rows[0]!)).toBe(cols(regressions!));
    for (const r of rows.slice(1)) expect(cols(r)).toBe(cols(all!));
    expect(md).not.toContain('<img');
    expect(md).toContain('x\\|y &lt;img src=x onerror=alert(1)&gt; &amp; "q"');
    expect(md).toContain('- x\\|y &lt;img');
  });

  it('JUnit: well-formed attributes, control characters dropped, one case per row', () => {
    const xml = gateJunit(verdict());
    expect(xml.match(/<testcase /g)).toHaveLength(3);
    expect(xml).toContain('tests="3" failures="1" skipped="1"');
    expect(xml).not.toContain('\u0001');
    expect(xml).not.toMatch(/<img/);
    expect(xml).toContain('name="hot-key/x|y &lt;img src=x onerror=alert(1)&gt; &amp; &quot;q&quot;');
    // Attribute values never contain a raw quote or '<'.
    for (const [, v] of xml.matchAll(/="([^"]*)"/g)) expect(v).not.toMatch(/[<]/);
  });
});
