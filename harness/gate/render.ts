/** The gate's verdict as Markdown (PR comment / step summary) and JUnit (one case per rule × cell). */
import type { GateVerdict } from './compare.ts';

const mdCell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const xml = (s: string) =>
  s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');

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
        `| ${mdCell(r.scenario)} | ${mdCell(r.strategy)} | ${mdCell(r.label)} | ${mdCell(r.baseline)} | ${mdCell(r.current)} | ${mdCell(r.reason)} |`,
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
      `| ${mdCell(r.scenario)} | ${mdCell(r.strategy)} | ${mdCell(r.label)} | ${icon} ${r.status} | ${mdCell(r.baseline)} | ${mdCell(r.current)} | ${mdCell(r.reason)} |`,
    );
  }
  out.push('', '</details>');
  if (v.warnings.length > 0) out.push('', '**Warnings**', '', ...v.warnings.map((w) => `- ${mdCell(w)}`));
  return `${out.join('\n')}\n`;
}

export function gateJunit(v: GateVerdict): string {
  const failures = v.rows.filter((r) => r.status === 'regression').length;
  const skipped = v.rows.filter((r) => r.status === 'skipped').length;
  const cases = v.rows.map((r) => {
    const name = xml(`${r.scenario}/${r.strategy}: ${r.label}`);
    const body =
      r.status === 'regression'
        ? `<failure message="${xml(r.reason)}">${xml(`${r.rule}\nbaseline: ${r.baseline}\ncurrent: ${r.current}`)}</failure>`
        : r.status === 'skipped'
          ? `<skipped message="${xml(r.reason)}"/>`
          : '';
    return `    <testcase classname="cachebench.gate" name="${name}">${body}</testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="cachebench gate" tests="${v.rows.length}" failures="${failures}" skipped="${skipped}">`,
    `  <testsuite name="cachebench gate" tests="${v.rows.length}" failures="${failures}" skipped="${skipped}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
