/**
 * Budget checks: the scenario's thresholds (scenarios/types.ts Budgets) against one analysed
 * cell. A budget passes when value <= limit; a metric that could not be measured fails, because
 * a gate that passes on missing data is a gate that never fires.
 */
import type { Budgets } from '../../scenarios/types.ts';
import type { CellResult } from '../results/schema.ts';
import { lostIncrementsOf } from './fail-open.ts';
import type { BudgetCheck, CellAnalysis } from './types.ts';

type BudgetKey = keyof Budgets;

interface BudgetDef {
  metric: string;
  value(a: CellAnalysis): { value: number | null; note?: string; passIfNull?: boolean };
  fmt(v: number): string;
}

const ms = (v: number) => `${v.toFixed(1)} ms`;
const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const num = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(3));

export const BUDGETS: Record<BudgetKey, BudgetDef> = {
  p99Ms: { metric: 'p99 latency (ms, from schedule)', value: (a) => ({ value: a.latency.p99 }), fmt: ms },
  errorRate: { metric: 'error rate', value: (a) => ({ value: a.latency.errorRate }), fmt: pct },
  dbQueriesPerRequest: {
    metric: 'DB queries per HTTP request',
    value: (a) => ({ value: a.dbLoad.queriesPerRequest }),
    fmt: num,
  },
  rebuildsPerExpiry: {
    metric: 'mean rebuilds per expiry of the hot key',
    value: (a) => {
      if (a.stampede.applies === false)
        return {
          value: null,
          note: 'the cache served no read: expiry episodes do not apply',
          passIfNull: true,
        };
      if (a.stampede.rebuildsPerExpiry === null)
        return { value: null, note: 'no rebuilds happened', passIfNull: true };
      return { value: a.stampede.rebuildsPerExpiry };
    },
    fmt: num,
  },
  staleBeyondTtl: {
    metric: 'reads stale beyond the TTL',
    value: (a) =>
      a.staleness ? { value: a.staleness.staleBeyondTtl } : { value: null, note: 'history not analysed' },
    fmt: num,
  },
  readErrorsDuringFaults: {
    metric: 'read errors inside fault windows',
    value: (a) => {
      const applied = a.failOpen.windows.filter((w) => w.applied);
      if (!a.failOpen.windows.length)
        return { value: null, note: 'no fault in this scenario', passIfNull: true };
      if (!applied.length) return { value: null, note: 'no fault was applied' };
      return { value: a.failOpen.readErrorsDuringFaults };
    },
    fmt: num,
  },
  recoverySeconds: {
    metric: 'recovery time (s)',
    value: (a) => {
      const applied = a.failOpen.windows.filter((w) => w.applied);
      if (!a.failOpen.windows.length)
        return { value: null, note: 'no fault in this scenario', passIfNull: true };
      if (!applied.length) return { value: null, note: 'no fault was applied' };
      if (!a.failOpen.allRecovered) return { value: null, note: 'did not recover before the load ended' };
      return { value: (a.failOpen.maxRecoveryMs ?? 0) / 1000 };
    },
    fmt: (v) => `${v.toFixed(1)} s`,
  },
  lostIncrements: {
    metric: 'acknowledged increments lost',
    value: (a) => {
      const wb = a.failOpen.writeBehind;
      if (!wb) return { value: null, note: 'no counter increments in this cell', passIfNull: true };
      return { value: lostIncrementsOf(wb) };
    },
    fmt: num,
  },
};

export function budgetsOf(cell: CellResult): Budgets {
  const b = (cell.scenario_spec as { budgets?: unknown }).budgets;
  return b && typeof b === 'object' ? (b as Budgets) : {};
}

export function checkBudgets(cell: CellResult, a: CellAnalysis): BudgetCheck[] {
  const out: BudgetCheck[] = [];
  for (const [key, limit] of Object.entries(budgetsOf(cell))) {
    const def = BUDGETS[key as BudgetKey];
    if (!def || typeof limit !== 'number') continue;
    const { value, note, passIfNull } = def.value(a);
    const passed = value === null ? !!passIfNull : value <= limit;
    const shown = value === null ? (note ?? 'not measured') : def.fmt(value);
    out.push({
      cellId: cell.id,
      scenario: cell.scenario,
      strategy: cell.strategy,
      repeat: cell.repeat,
      budget: key,
      metric: def.metric,
      limit,
      value,
      passed,
      message:
        value === null
          ? `${def.metric}: ${shown} (budget ${def.fmt(limit)}${passed ? ', not applicable' : ''})`
          : `${def.metric}: ${shown} ${passed ? '<=' : '>'} budget ${def.fmt(limit)}`,
    });
  }
  return out;
}
