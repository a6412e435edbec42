/**
 * Number formatting for every human-facing output: the report renderers, budget messages, the
 * gate and the terminal. One module so a value reads the same everywhere ("12.3 ms" in the
 * table, the budget line and the progress log). A missing value is always '–'.
 */

/** The units a metric can carry (analysis/metrics.ts METRICS). */
export type Unit = '' | 'ms' | 's' | '%' | '/s' | '×';

export const MISSING = '–';

const absent = (v: number | null | undefined): v is null | undefined =>
  v === null || v === undefined || !Number.isFinite(v);

/** Fixed decimals; '–' when absent or not finite. */
export function fixed(v: number | null | undefined, digits = 1): string {
  return absent(v) ? MISSING : v.toFixed(digits);
}

/** A fraction as a percentage with fixed decimals (0.25 → "25.0%"). */
export function percent(v: number | null | undefined, digits = 1): string {
  return absent(v) ? MISSING : `${(v * 100).toFixed(digits)}%`;
}

/** Integers as they are; other values with `digits` decimals. */
export function count(v: number | null | undefined, digits = 3): string {
  return absent(v) ? MISSING : Number.isInteger(v) ? String(v) : v.toFixed(digits);
}

export function millis(v: number | null | undefined, digits = 1): string {
  return absent(v) ? MISSING : `${v.toFixed(digits)} ms`;
}

export function seconds(v: number | null | undefined, digits = 1): string {
  return absent(v) ? MISSING : `${v.toFixed(digits)} s`;
}

export function bytes(n: number | null | undefined): string {
  if (absent(n)) return MISSING;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export function isoTime(ms: number | undefined): string {
  return absent(ms) ? MISSING : new Date(ms).toISOString().replace('.000Z', 'Z');
}

/**
 * A value in a comparison table: precision follows the magnitude so small and large values both
 * stay readable in a narrow column (percentages ×100; ms with 2, 1 or 0 decimals).
 */
export function formatValue(unit: Unit, v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return MISSING;
  // The open end of a right-censored interval (a time never reached before the load ended).
  if (v === Number.POSITIVE_INFINITY) return '∞';
  if (unit === '%') return `${(v * 100).toFixed(v !== 0 && Math.abs(v) < 0.001 ? 3 : v < 0.1 ? 2 : 1)}%`;
  if (unit === 'ms') return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ms`;
  if (unit === 's') return `${v.toFixed(1)} s`;
  if (unit === '×') return `${v.toFixed(2)}×`;
  if (unit === '/s') return `${v.toFixed(0)}/s`;
  if (Number.isInteger(v)) return String(v);
  return v < 10 ? v.toFixed(2) : v.toFixed(1);
}

/** A ratio to the baseline ("1.25×"). */
export function formatRatio(r: number | null | undefined): string {
  return absent(r) ? MISSING : `${r.toFixed(r < 10 ? 2 : 1)}×`;
}

/**
 * The topology as a report labels it: `cluster (3 masters × 1 replica)`, `cluster (3 masters, no
 * replicas)`; the machine-readable value (`cells[].topology`) stays the bare name. Without a
 * recorded shape (results from before it), the scenario's `replicasPerMaster` says what it can.
 */
export function topologyLabel(
  topology: string,
  shape?: { masters: number; replicas: number },
  replicasPerMaster?: number,
): string {
  if (topology !== 'cluster') return topology;
  if (!shape)
    return replicasPerMaster ? `cluster (${replicasPerMaster} replica per master)` : 'cluster (no replicas)';
  const m = `${shape.masters} master${shape.masters === 1 ? '' : 's'}`;
  if (shape.replicas === 0) return `cluster (${m}, no replicas)`;
  if (shape.replicas % shape.masters === 0) {
    const each = shape.replicas / shape.masters;
    return `cluster (${m} × ${each} replica${each === 1 ? '' : 's'})`;
  }
  return `cluster (${m}, ${shape.replicas} replicas)`;
}
