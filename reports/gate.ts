/**
 * The gate's verdict as Markdown (PR comment / step summary) and JUnit (one case per rule × cell),
 * with the same escaping as the run reports: metric labels, strategy names and reasons are user
 * text (scenario files, `--strategies label=…`) and must not break a table or an XML attribute.
 */
import type { GateVerdict } from '../harness/gate/compare.ts';
import { escapeMd as m, escapeXml as x } from './common.ts';

/** "2 regressions, 1 cannot judge": the headline of a verdict that is not a pass. */
export function gateTitle(v: GateVerdict): string {
  const parts: string[] = [];
  const n = v.regressions.length;
  if (n > 0 || v.unjudged.length === 0) parts.push(`${n} regression${n === 1 ? '' : 's'}`);
  if (v.unjudged.length > 0) parts.push(`${v.unjudged.length} cannot judge (untrusted)`);
  return parts.join(', ');
}

export function gateMarkdown(v: GateVerdict): string {
  const out: string[] = [];
  out.push(`## cachebench gate: ${v.pass ? '✅ pass' : `❌ ${gateTitle(v)}`}`);
  out.push('');
  if (v.unjudged.length > 0) out.push(...v.unjudged.map((u) => `- ⚠️ ${m(u)}`), '');
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
  const failures = v.rows.filter((r) => r.status === 'regression').length + v.unjudged.length;
  const skipped = v.rows.filter((r) => r.status === 'skipped').length;
  const tests = v.rows.length + v.unjudged.length;
  // An untrusted pair is a failing case of its own: a CI test view must not show it green.
  const unjudgedCases = v.unjudged.map((u) => {
    // "<scenario>/<strategy>: cannot judge …" (scenario names have no '/'; labels may).
    const pair = u.slice(0, u.indexOf(': cannot judge'));
    const slash = pair.indexOf('/');
    const time = seconds(pair.slice(0, slash), pair.slice(slash + 1)).toFixed(3);
    return `    <testcase classname="cachebench.gate" name="${x(`${pair}: validity`)}" time="${time}"><failure message="${x(u)}"/></testcase>`;
  });
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
    `<testsuites name="cachebench gate" tests="${tests}" failures="${failures}" skipped="${skipped}" time="${total}">`,
    `  <testsuite name="cachebench gate" tests="${tests}" failures="${failures}" skipped="${skipped}" time="${total}">`,
    ...unjudgedCases,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
