/**
 * Budget checks: the scenario's thresholds (scenarios/types.ts Budgets) against one analysed
 * cell. A budget is keyed by metric id (metrics.ts) and reads the value cellMetrics computed, so
 * a budget and a report table can never disagree about a number. A budget passes when
 * value <= limit; a metric that could not be measured fails, because a gate that passes on
 * missing data is a gate that never fires — unless the metric does not apply to the cell (no
 * fault in the scenario, no counter increments, no cache read), which passes and says so.
 */
import { BUDGET_ALIASES, type BudgetMetric } from '../../scenarios/types.ts';
import { count, millis, percent, seconds } from '../results/format.ts';
import type { CellResult } from '../results/schema.ts';
import { cellMetrics } from './metrics.ts';
import type { BudgetCheck, CellAnalysis } from './types.ts';

/** Why a metric has no value: `applies: false` passes the budget, anything else fails it. */
interface Absence {
  note: string;
  applies: boolean;
}

interface BudgetDef {
  /** How the budget line names the metric. */
  metric: string;
  /** Budget lines show limits and values at a fixed precision (a table adapts it to the magnitude). */
  fmt(v: number): string;
  /** Why the value is null in this cell. */
  absence?(a: CellAnalysis): Absence;
}

const fmtMs = (v: number) => millis(v, 1);
const fmtPct = (v: number) => percent(v, 2);
const fmtNum = (v: number) => count(v, 3);

/** Fault-window metrics: not applicable without faults; a fault that never applied is a failure. */
function faultAbsence(a: CellAnalysis): Absence {
  if (!a.failOpen.windows.length) return { note: 'no fault in this scenario', applies: false };
  if (!a.failOpen.windows.some((w) => w.applied)) return { note: 'no fault was applied', applies: true };
  return { note: 'did not recover before the load ended', applies: true };
}

export const BUDGETS: Record<BudgetMetric, BudgetDef> = {
  p99: { metric: 'p99 latency (ms, from schedule)', fmt: fmtMs },
  errorRate: { metric: 'error rate', fmt: fmtPct },
  queriesPerRequest: { metric: 'DB queries per HTTP request', fmt: fmtNum },
  rebuildsPerExpiry: {
    metric: 'mean rebuilds per expiry of the hot key',
    fmt: fmtNum,
    absence: (a) =>
      a.stampede.applies === false
        ? { note: 'the cache served no read: expiry episodes do not apply', applies: false }
        : { note: 'no rebuilds happened', applies: false },
  },
  duplicateRebuilds: {
    metric: 'rebuilds that began while another rebuild of the same key was loading',
    fmt: fmtNum,
    absence: (a) =>
      a.stampede.applies === false
        ? { note: 'the cache served no read: expiry episodes do not apply', applies: false }
        : { note: 'no rebuilds happened', applies: false },
  },
  staleBeyondTtl: {
    metric: 'reads stale beyond the TTL',
    fmt: fmtNum,
    absence: () => ({ note: 'history not analysed', applies: true }),
  },
  servedAfterDelete: {
    metric: 'reads served after their delete completed',
    fmt: fmtNum,
    absence: (a) =>
      a.staleness
        ? { note: 'no delete completed in this cell', applies: false }
        : { note: 'history not analysed', applies: true },
  },
  faultReadErrors: { metric: 'read errors inside fault windows', fmt: fmtNum, absence: faultAbsence },
  recoverySeconds: { metric: 'recovery time (s)', fmt: (v) => seconds(v, 1), absence: faultAbsence },
  lostIncrements: {
    metric: 'acknowledged increments lost',
    fmt: fmtNum,
    absence: () => ({ note: 'no counter increments in this cell', applies: false }),
  },
};

/** The metric a budget key names: a metric id, or an older key kept as an alias. */
export function budgetMetric(key: string): BudgetMetric | undefined {
  if (key in BUDGETS) return key as BudgetMetric;
  return BUDGET_ALIASES[key as keyof typeof BUDGET_ALIASES];
}

/** Budget key → limit as the cell recorded it: files written before the rename carry alias keys. */
export function budgetsOf(cell: CellResult): Record<string, number | undefined> {
  return cell.scenario_spec.budgets ?? {};
}

export function checkBudgets(cell: CellResult, a: CellAnalysis): BudgetCheck[] {
  const out: BudgetCheck[] = [];
  const metrics = cellMetrics(a);
  for (const [key, limit] of Object.entries(budgetsOf(cell))) {
    const id = budgetMetric(key);
    if (!id || typeof limit !== 'number') continue;
    const def = BUDGETS[id];
    const measured = metrics[id];
    const absence = measured === null ? (def.absence?.(a) ?? { note: 'not measured', applies: true }) : null;
    const passed = absence ? !absence.applies : measured! <= limit;
    out.push({
      cellId: cell.id,
      scenario: cell.scenario,
      strategy: cell.strategy,
      repeat: cell.repeat,
      budget: key,
      metric: def.metric,
      limit,
      value: measured,
      passed,
      message: absence
        ? `${def.metric}: ${absence.note} (budget ${def.fmt(limit)}${passed ? ', not applicable' : ''})`
        : `${def.metric}: ${def.fmt(measured!)} ${passed ? '<=' : '>'} budget ${def.fmt(limit)}`,
    });
  }
  return out;
}
