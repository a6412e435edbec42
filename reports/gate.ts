/**
 * The gate's verdict as Markdown (PR comment / step summary) and JUnit (one case per rule × cell),
 * with the same escaping as the run reports: metric labels, strategy names and reasons are user
 * text (scenario files, `--strategies label=…`) and must not break a table or an XML attribute.
 */
import type { GateVerdict } from '../harness/gate/compare.ts';
import { escapeMd as m, escapeXml as x } from './common.ts';

export function gateMarkdown(v: GateVerdict): string {
  const out: string[] = [];
  out.push(
    `## cachebench gate: ${v.pass ? '✅ pass' : `❌ ${v.regressions.length} regression${v.regressions.length === 1 ? '' : 's'}`}`,
  );
  out.push('');
  if (v.regressions.length > 0) {
    out.push('| scenario | strategy | metric | baseline | current | rule |', '|---|---|---|---|---|---|');
    for (const r of v.regressions) {
      out.push(
        `| ${m(r.scenario)} | ${m(r.strategy)} | ${m(r.label)} | ${m(r.baseline)} | ${m(r.current)} | ${m(r.reason)} |`,
      );
    }
    out.push('');
  }
  out.push('<details><summary>All checks</summary>', '');
  out.push(
    '| scenario | strategy | metric | status | baseline | current | detail |',
    '|---|---|---|---|---|---|---|',
  );
  for (const r of v.rows) {
    const icon = r.status === 'pass' ? '✅' : r.status === 'regression' ? '❌' : '⏭️';
    out.push(
      `| ${m(r.scenario)} | ${m(r.strategy)} | ${m(r.label)} | ${icon} ${r.status} | ${m(r.baseline)} | ${m(r.current)} | ${m(r.reason)} |`,
    );
  }
  out.push('', '</details>');
  if (v.warnings.length > 0) out.push('', '**Warnings**', '', ...v.warnings.map((w) => `- ${m(w)}`));
  return `${out.join('\n')}\n`;
}

/**
 * `seconds(scenario, strategy)` is the current run's wall-clock time for that pair (all repeats),
 * the case's `time`; a suite's time is the sum over its distinct pairs. Without it (a comparison of
 * two baseline files, which hold no durations) every time is 0.
 */
export function gateJunit(
  v: GateVerdict,
  seconds: (scenario: string, strategy: string) => number = () => 0,
): string {
  const pairs = new Map(
    v.rows.map((r) => [`${r.scenario}\u0000${r.strategy}`, seconds(r.scenario, r.strategy)]),
  );
  const total = [...pairs.values()].reduce((a, b) => a + b, 0).toFixed(3);
  const failures = v.rows.filter((r) => r.status === 'regression').length;
  const skipped = v.rows.filter((r) => r.status === 'skipped').length;
  const cases = v.rows.map((r) => {
    const name = x(`${r.scenario}/${r.strategy}: ${r.label}`);
    const body =
      r.status === 'regression'
        ? `<failure message="${x(r.reason)}">${x(`${r.rule}\nbaseline: ${r.baseline}\ncurrent: ${r.current}`)}</failure>`
        : r.status === 'skipped'
          ? `<skipped message="${x(r.reason)}"/>`
          : '';
    const time = seconds(r.scenario, r.strategy).toFixed(3);
    return `    <testcase classname="cachebench.gate" name="${name}" time="${time}">${body}</testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="cachebench gate" tests="${v.rows.length}" failures="${failures}" skipped="${skipped}" time="${total}">`,
    `  <testsuite name="cachebench gate" tests="${v.rows.length}" failures="${failures}" skipped="${skipped}" time="${total}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
