/**
 * The gate's verdict as one self-contained HTML page (baseline vs current), in the run report's
 * style: the overall result, a scenario × strategy matrix of check results, the regressions with
 * both values and the rule, and every check. No script; user text (labels, strategy names,
 * reasons, paths) is escaped.
 */
import type { GateRow, GateVerdict } from '../harness/gate/compare.ts';
import { escapeHtml as e, slug } from './common.ts';
import { gateTitle } from './gate.ts';
import { REPORT_CSS } from './html.ts';

export interface CompareSides {
  /** What the user passed: a baseline file or run directory, and the current run. */
  baseline: string;
  current: string;
}

const STATUS_BADGE: Record<GateRow['status'], string> = {
  pass: '<span class="badge ok">pass</span>',
  regression: '<span class="badge bad">regression</span>',
  skipped: '<span class="badge">skipped</span>',
};

function groupBy<T>(xs: T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    let list = m.get(k);
    if (!list) {
      list = [];
      m.set(k, list);
    }
    list.push(x);
  }
  return m;
}

/** Scenario × strategy: how many checks passed, regressed, were skipped; regressed metrics named. */
function matrix(v: GateVerdict): string {
  const scenarios = [...new Set(v.rows.map((r) => r.scenario))];
  const strategies = [...new Set(v.rows.map((r) => r.strategy))];
  const cells = groupBy(v.rows, (r) => `${r.scenario}\u0000${r.strategy}`);
  const head = `<tr><th class="l">scenario</th>${strategies.map((s) => `<th class="c">${e(s)}</th>`).join('')}</tr>`;
  const body = scenarios
    .map((sc) => {
      const tds = strategies.map((st) => {
        const rows = cells.get(`${sc}\u0000${st}`) ?? [];
        if (!rows.length) return '<td class="c">–</td>';
        const bad = rows.filter((r) => r.status === 'regression');
        const passed = rows.filter((r) => r.status === 'pass').length;
        const skipped = rows.filter((r) => r.status === 'skipped').length;
        const status = bad.length ? 'regression' : passed ? 'pass' : 'skipped';
        const cls = bad.length ? 'sc-fail' : passed ? 'sc-pass' : '';
        return `<td class="c ${cls}" data-status="${status}">${STATUS_BADGE[status]}<span class="ans">${passed} passed${bad.length ? `, ${bad.length} regressed` : ''}${skipped ? `, ${skipped} skipped` : ''}</span>${
          bad.length ? `<span class="rel">${e(bad.map((r) => r.label).join(', '))}</span>` : ''
        }</td>`;
      });
      return `<tr><td class="l"><a href="#g-${slug(sc)}">${e(sc)}</a></td>${tds.join('')}</tr>`;
    })
    .join('');
  return `<div class="tw"><table class="scorecard">${head}${body}</table></div>`;
}

function rowsTable(rows: GateRow[], withScenario: boolean): string {
  const head = `<tr>${withScenario ? '<th class="l">scenario</th>' : ''}<th class="l">strategy</th><th class="l">metric</th><th>status</th><th>baseline</th><th>current</th><th class="l">detail</th><th class="l">rule</th></tr>`;
  const body = rows
    .map(
      (r) =>
        `<tr data-status="${r.status}">${withScenario ? `<td class="l">${e(r.scenario)}</td>` : ''}<td class="l">${e(r.strategy)}</td><td class="l">${e(r.label)}</td><td>${STATUS_BADGE[r.status]}</td><td>${e(r.baseline)}</td><td>${e(r.current)}</td><td class="l small">${e(r.reason)}</td><td class="l small">${e(r.rule)}</td></tr>`,
    )
    .join('');
  return `<div class="tw"><table>${head}${body}</table></div>`;
}

export function gateHtml(v: GateVerdict, sides: CompareSides): string {
  const regressions = v.regressions.length;
  const title = v.pass ? 'pass' : gateTitle(v);
  const byScenario = groupBy(v.rows, (r) => r.scenario);
  const counts = {
    pass: v.rows.filter((r) => r.status === 'pass').length,
    skipped: v.rows.filter((r) => r.status === 'skipped').length,
  };
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>cachebench gate — ${e(title)}</title><style>${REPORT_CSS}</style></head>
<body><main>
<h1>cachebench gate: ${v.pass ? '<span style="color:var(--ok)">pass</span>' : `<span style="color:var(--bad)">${e(title)}</span>`}</h1>
<p class="sub">Baseline <span class="mono">${e(sides.baseline)}</span> → current <span class="mono">${e(sides.current)}</span></p>
<div class="cards">
<div class="card ${v.pass ? 'ok' : 'bad'}"><b>${regressions}</b><span>regressions</span></div>
<div class="card ok"><b>${counts.pass}</b><span>checks passed</span></div>
<div class="card ${counts.skipped ? 'warn' : 'ok'}"><b>${counts.skipped}</b><span>checks skipped</span></div>
<div class="card ${v.warnings.length ? 'warn' : 'ok'}"><b>${v.warnings.length}</b><span>warnings</span></div>
</div>
<section id="matrix"><h2>Scenario × strategy</h2>${matrix(v)}
<ul class="notes"><li>Each cell: the gate's checks of that scenario and strategy, current run against the baseline (rules: correctness first, then DB load, hit ratio and stampede size with a significance test plus a minimum effect, latency with a Mann–Whitney test; see docs/gate.md).</li></ul></section>
${regressions ? `<section id="regressions"><h2>Regressions</h2>${rowsTable(v.regressions, true)}</section>` : ''}
${v.unjudged.length ? `<section id="unjudged"><h2>Cannot judge</h2><ul class="flags">${v.unjudged.map((u) => `<li><span class="badge bad">untrusted</span> ${e(u)}</li>`).join('')}</ul></section>` : ''}
${v.warnings.length ? `<section id="warnings"><h2>Warnings</h2><ul class="flags">${v.warnings.map((w) => `<li><span class="badge warn">warning</span> ${e(w)}</li>`).join('')}</ul></section>` : ''}
<section id="checks"><h2>All checks</h2>
${[...byScenario.entries()].map(([sc, rows]) => `<h3 id="g-${slug(sc)}">${e(sc)}</h3>${rowsTable(rows, false)}`).join('\n')}
</section>
<p class="small">Generated by cachebench compare. This file has no script.</p>
</main></body></html>
`;
}
