/**
 * Markdown summary sized for a PR comment or a CI step summary (GitHub caps comments at 65,536
 * characters): verdicts, one compact table per scenario, failed budgets, validity warnings.
 * If the full form is too big it drops detail in steps rather than cutting mid-table.
 */
import { formatRelative, METRICS } from '../harness/analysis/metrics.ts';
import type { AnalyzedRun, ScenarioAnalysis } from '../harness/analysis/types.ts';
import type { RunResults } from '../harness/results/schema.ts';
import { columnsFor, effectiveBaseline, escapeMd as m, relativeColumn } from './common.ts';
import { INTERVAL_NOTE, mdValue } from './intervals.ts';
import { leaderboardMarkdown } from './leaderboard.ts';
import { memoryMarkdown, memoryRunMarkdown } from './memory.ts';

export const MARKDOWN_LIMIT = 60_000;

interface Detail {
  columns: number;
  budgetLines: number;
  flagLines: number;
  notes: boolean;
}

function table(s: ScenarioAnalysis, d: Detail): string {
  const cols = columnsFor(s, d.columns);
  const focus = relativeColumn(s, cols);
  const head = `| strategy | ${cols.map((c) => m(METRICS[c].label)).join(' | ')} | vs ${m(s.baselineStrategy)}${focus ? ` (${m(METRICS[focus].label)})` : ''} |`;
  const sep = `|---|${cols.map(() => '--:').join('|')}|--:|`;
  const rows = s.rows.map((r) => {
    const rel =
      r.strategy === s.baselineStrategy ? 'baseline' : focus ? formatRelative(r.relative[focus]) : '–';
    const name = `${r.trusted ? '' : '⚠️ '}${r.strategy === s.baselineStrategy ? `**${m(r.strategy)}**` : m(r.strategy)}`;
    return `| ${name} | ${cols.map((c) => m(mdValue(c, r))).join(' | ')} | ${rel} |`;
  });
  const notes = d.notes
    ? `\n\n<sub>${cols.map((c) => `${m(METRICS[c].label)}: ${m(METRICS[c].how)}`).join(' · ')} · ${m(INTERVAL_NOTE)}</sub>\n`
    : '';
  return [head, sep, ...rows].join('\n') + notes;
}

function build(results: RunResults, analysis: AnalyzedRun, d: Detail): string {
  const r = results.run;
  const run = analysis.run;
  const out: string[] = [];
  const untrusted = run.untrustedCells.length;
  const base = effectiveBaseline(results, run);
  out.push(`## cachebench — ${m(r.id)}`);
  out.push(
    `Profile **${m(r.profile)}** · ${r.scenarios.length} scenario(s) × ${r.strategies.length} strategies × ${r.repeats} repeat(s) · baseline **${m(base.name)}**${base.note ? ` (${m(base.note)})` : ''} · ` +
      `budgets: **${run.budgets.length - run.budgetsFailed}/${run.budgets.length} passed** · ` +
      `trusted cells: **${results.cells.length - untrusted}/${results.cells.length}**`,
  );
  out.push('');
  out.push('| scenario | verdict |\n|---|---|');
  for (const s of run.scenarios) out.push(`| ${m(s.scenario)} | ${m(s.verdict)} |`);
  out.push('');
  for (const s of run.scenarios) {
    out.push(`### ${m(s.scenario)}${s.topology ? ` (topology: ${s.topologyLabel ?? s.topology})` : ''}`);
    if (s.question) out.push(`> ${m(s.question)}`);
    out.push('');
    out.push(`**Verdict:** ${m(s.verdict)}`);
    out.push('');
    out.push(table(s, d));
    out.push('');
    const memory = memoryMarkdown(
      results.cells.filter((c) => c.scenario === s.scenario),
      analysis,
      d.notes,
    );
    if (memory) out.push(memory, '');
  }
  const leaderboard = leaderboardMarkdown(results, analysis);
  if (leaderboard) out.push(leaderboard, '');
  const memoryRun = memoryRunMarkdown(results, analysis);
  if (memoryRun) out.push(memoryRun, '');
  const failed = run.budgets.filter((b) => !b.passed);
  if (failed.length) {
    out.push(`### Failed budgets (${failed.length})`);
    for (const b of failed.slice(0, d.budgetLines))
      out.push(`- \`${m(b.cellId)}\` ${m(b.budget)}: ${m(b.message)}`);
    if (failed.length > d.budgetLines)
      out.push(`- … and ${failed.length - d.budgetLines} more (see junit.xml)`);
    out.push('');
  }
  const flags: string[] = [];
  for (const w of run.warnings) flags.push(`- ⚠️ ${m(w)}`);
  for (const c of results.cells)
    for (const f of analysis.cell(c).validity.flags)
      flags.push(
        `- ${f.severity === 'error' ? '⛔ untrusted' : '⚠️'} \`${m(c.id)}\`: ${m(f.message)} — _${m(f.hint)}_`,
      );
  if (flags.length) {
    out.push(`### Validity (${flags.length})`);
    out.push(...flags.slice(0, d.flagLines));
    if (flags.length > d.flagLines) out.push(`- … and ${flags.length - d.flagLines} more (see report.html)`);
    out.push('');
  }
  const env = r.environment;
  out.push(
    `<sub>Latency is measured from the scheduled send time (open model); fault windows use recorded apply/remove times. ` +
      `node ${m(env.node)} · ${env.cpus}× ${m(env.cpuModel)} · redis ${m(env.redisVersion ?? '?')} · postgres ${m(env.postgresVersion ?? '?')} · git ${m((env.gitSha ?? 'unknown').slice(0, 12))}${env.gitDirty ? ' (dirty)' : ''} · \`${m(r.command)}\`</sub>`,
  );
  return `${out.join('\n')}\n`;
}

const LEVELS: Detail[] = [
  { columns: 8, budgetLines: 40, flagLines: 40, notes: true },
  { columns: 6, budgetLines: 20, flagLines: 20, notes: false },
  { columns: 4, budgetLines: 10, flagLines: 10, notes: false },
  { columns: 3, budgetLines: 5, flagLines: 5, notes: false },
];

export function renderMarkdown(results: RunResults, analysis: AnalyzedRun): string {
  let text = '';
  for (const d of LEVELS) {
    text = build(results, analysis, d);
    if (Buffer.byteLength(text) <= MARKDOWN_LIMIT) return text;
  }
  // Still too big (hundreds of scenarios): keep whole lines up to the limit.
  const note = '\n\n_… truncated to fit a PR comment; see report.html for the rest._\n';
  const lines = text.split('\n');
  let size = Buffer.byteLength(note);
  const kept: string[] = [];
  for (const l of lines) {
    size += Buffer.byteLength(l) + 1;
    if (size > MARKDOWN_LIMIT) break;
    kept.push(l);
  }
  return kept.join('\n') + note;
}
