/**
 * Mann–Whitney U (Wilcoxon rank-sum), one-sided: is `b` stochastically larger than `a`?
 * Hand-written because it is the gate's core and small: exact distribution for small samples
 * without ties (the usual CI case: 3–10 repeats a side), normal approximation with tie and
 * continuity correction otherwise. No distributional assumption on latencies, which are skewed.
 */
import { normalSf } from '../analysis/intervals.ts';

export interface UTestResult {
  u: number;
  /** P(U >= observed | no difference): small means `b` is larger. */
  pValue: number;
  exact: boolean;
}

function ranks(values: number[]): { ranks: number[]; ties: number[] } {
  const idx = values.map((v, i) => [v, i] as const).sort((x, y) => x[0] - y[0]);
  const r = new Array<number>(values.length);
  const ties: number[] = [];
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1]![0] === idx[i]![0]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) r[idx[k]![1]] = avg;
    if (j > i) ties.push(j - i + 1);
    i = j + 1;
  }
  return { ranks: r, ties };
}

/** Number of arrangements of m a's and n b's giving each U (U counts pairs with b > a). */
function exactUDistribution(m: number, n: number): number[] {
  // f[m][n][u] built iteratively; sizes here are tiny (m*n <= 400).
  const memo = new Map<string, number[]>();
  const f = (mm: number, nn: number): number[] => {
    if (mm === 0 || nn === 0) return [1];
    const key = `${mm},${nn}`;
    const hit = memo.get(key);
    if (hit) return hit;
    // The largest value is a b (it beats all mm a's) or an a (beats no b).
    const withB = f(mm, nn - 1);
    const withA = f(mm - 1, nn);
    const out = new Array<number>(mm * nn + 1).fill(0);
    withB.forEach((c, u) => {
      out[u + mm]! += c;
    });
    withA.forEach((c, u) => {
      out[u]! += c;
    });
    memo.set(key, out);
    return out;
  };
  return f(m, n);
}

export function mannWhitneyGreater(a: number[], b: number[]): UTestResult {
  const m = a.length;
  const n = b.length;
  if (m === 0 || n === 0) return { u: 0, pValue: 1, exact: false };
  const { ranks: r, ties } = ranks([...a, ...b]);
  const rankSumB = r.slice(m).reduce((s, x) => s + x, 0);
  const u = rankSumB - (n * (n + 1)) / 2;
  if (ties.length === 0 && m * n <= 400) {
    const dist = exactUDistribution(m, n);
    const total = dist.reduce((s, c) => s + c, 0);
    let tail = 0;
    for (let k = Math.ceil(u); k < dist.length; k++) tail += dist[k]!;
    return { u, pValue: tail / total, exact: true };
  }
  const N = m + n;
  const tieTerm = ties.reduce((s, t) => s + (t ** 3 - t), 0) / (N * (N - 1));
  const sigma = Math.sqrt(((m * n) / 12) * (N + 1 - tieTerm));
  if (sigma === 0) return { u, pValue: 1, exact: false };
  const z = (u - (m * n) / 2 - 0.5) / sigma;
  return { u, pValue: normalSf(z), exact: false };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
