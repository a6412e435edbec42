/**
 * Confidence intervals and significance tests for the report tables, the verdicts and the gate.
 * Hand-written (small, pure, unit-tested against published values) because they are the core of
 * what a verdict may claim. All intervals are two-sided 95 % unless a level is given.
 *
 * - Wilson score interval for a proportion x/n (stays inside [0, 1] and is honest near 0).
 * - Exact (Garwood) Poisson interval for a count, found by bisection on the Poisson CDF.
 * - Student-t interval for the mean of a few repeated values.
 * - One-sided two-proportion z-test and the exact conditional test for two Poisson rates.
 */

/** Two-sided standard-normal quantiles used here (95 %: 1.96). */
export const Z95 = 1.959963984540054;

export interface Interval {
  lo: number;
  hi: number;
}

/** Wilson score interval for x successes in n trials; null when n = 0. */
export function wilson(x: number, n: number, z = Z95): Interval | null {
  if (!(n > 0)) return null;
  const p = x / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  return { lo: x === 0 ? 0 : Math.max(0, centre - half), hi: x === n ? 1 : Math.min(1, centre + half) };
}

function logFactorial(k: number): number {
  // Exact sum for small k, Stirling series beyond (error < 1e-10 for k >= 30).
  if (k < 30) {
    let s = 0;
    for (let i = 2; i <= k; i++) s += Math.log(i);
    return s;
  }
  const x = k + 1;
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * x) - 1 / (360 * x ** 3);
}

/** P(X <= k) for X ~ Poisson(lambda). */
export function poissonCdf(k: number, lambda: number): number {
  if (k < 0) return 0;
  if (lambda === 0) return 1;
  let s = 0;
  for (let i = 0; i <= k; i++) s += Math.exp(i * Math.log(lambda) - lambda - logFactorial(i));
  return Math.min(1, s);
}

function bisect(f: (x: number) => number, lo: number, hi: number): number {
  // f is monotone with a sign change in [lo, hi].
  let a = lo;
  let b = hi;
  const fa = f(a);
  for (let i = 0; i < 200 && b - a > 1e-10 * Math.max(1, b); i++) {
    const m = (a + b) / 2;
    if (Math.sign(f(m)) === Math.sign(fa)) a = m;
    else b = m;
  }
  return (a + b) / 2;
}

/**
 * Exact two-sided Poisson interval for an observed count x: lo solves P(X >= x; lo) = α/2,
 * hi solves P(X <= x; hi) = α/2. Counts above 1000 use the normal approximation with a
 * continuity term (relative error far below the interval's width).
 */
export function poissonExact(x: number, level = 0.95): Interval {
  const a = (1 - level) / 2;
  if (x > 1000) {
    const z = Z95;
    return { lo: Math.max(0, x - z * Math.sqrt(x) - 0.5), hi: x + z * Math.sqrt(x + 1) + 0.5 };
  }
  const top = x + 20 + 10 * Math.sqrt(x + 1);
  const lo = x === 0 ? 0 : bisect((l) => 1 - poissonCdf(x - 1, l) - a, 0, top);
  const hi = bisect((l) => poissonCdf(x, l) - a, 0, top);
  return { lo, hi };
}

/** Two-sided 97.5 % Student-t quantiles for df = 1..30 (beyond: 1.96). */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];
export function tQuantile975(df: number): number {
  return df >= 1 && df <= 30 ? T975[df - 1]! : Z95;
}

export interface MeanInterval extends Interval {
  mean: number;
  n: number;
  sd: number;
}

/** Mean ± t·s/√n of repeated values; null with fewer than 2 values. */
export function meanInterval(values: readonly number[]): MeanInterval | null {
  const n = values.length;
  if (n < 2) return null;
  const mean = values.reduce((s, v) => s + v, 0) / n;
  const sd = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1));
  const half = (tQuantile975(n - 1) * sd) / Math.sqrt(n);
  return { mean, n, sd, lo: mean - half, hi: mean + half };
}

/** Standard-normal survival function P(Z > z) (Abramowitz–Stegun 7.1.26, |error| < 1.5e-7). */
export function normalSf(z: number): number {
  const t = 1 / (1 + 0.3275911 * (Math.abs(z) / Math.SQRT2));
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erfc = poly * Math.exp(-(z * z) / 2);
  return z >= 0 ? erfc / 2 : 1 - erfc / 2;
}

/**
 * One-sided two-proportion z-test (pooled): p-value of "p2 > p1" for x1/n1 (before) and x2/n2
 * (after). 1 when either side is empty or both proportions are 0 or 1 everywhere.
 */
export function twoProportionGreater(x1: number, n1: number, x2: number, n2: number): number {
  if (!(n1 > 0 && n2 > 0)) return 1;
  const p = (x1 + x2) / (n1 + n2);
  const se = Math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2));
  if (se === 0) return 1;
  return normalSf((x2 / n2 - x1 / n1) / se);
}

function logChoose(n: number, k: number): number {
  return logFactorial(n) - logFactorial(k) - logFactorial(n - k);
}

/** P(X >= k) for X ~ Binomial(n, p), summed in log space. */
export function binomialSf(k: number, n: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  let s = 0;
  for (let i = k; i <= n; i++) s += Math.exp(logChoose(n, i) + i * Math.log(p) + (n - i) * Math.log1p(-p));
  return Math.min(1, s);
}

/**
 * Exact conditional test for two Poisson rates: x1 events over exposure e1 (before), x2 over e2
 * (after). Given x1 + x2, x2 is Binomial(x1 + x2, e2 / (e1 + e2)) when the rates are equal; the
 * p-value of "rate 2 > rate 1" is its upper tail. Totals above 5000 use the normal approximation.
 */
export function poissonRateGreater(x1: number, e1: number, x2: number, e2: number): number {
  if (!(e1 > 0 && e2 > 0)) return 1;
  const n = x1 + x2;
  if (n === 0) return 1;
  const p = e2 / (e1 + e2);
  if (n > 5000) {
    const sd = Math.sqrt(n * p * (1 - p));
    return sd === 0 ? 1 : normalSf((x2 - 0.5 - n * p) / sd);
  }
  return binomialSf(x2, n, p);
}

/** Smallest one-sided exact Mann–Whitney p-value with m and n values a side: 1 / C(m+n, m). */
export function smallestMannWhitneyP(m: number, n: number): number {
  return Math.exp(-logChoose(m + n, m));
}

/** The smallest equal sample size k for which the exact Mann–Whitney test can reach p <= alpha. */
export function repeatsForAlpha(alpha: number): number {
  let k = 1;
  while (smallestMannWhitneyP(k, k) > alpha && k < 50) k++;
  return k;
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7; relative error < 1e-13). */
export function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const y = x - 1;
  let a = c[0]!;
  const t = y + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (y + i);
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(a);
}

/**
 * Student t survival function P(T > t) with df degrees of freedom, by Simpson integration of the
 * density from 0 to |t| (the few-seconds tests of the gate need df as small as 1 or 2, where the
 * normal tail would overstate significance).
 */
export function tSf(t: number, df: number): number {
  if (!Number.isFinite(t)) return t > 0 ? 0 : 1;
  if (df > 200) return normalSf(t);
  const logC = logGamma((df + 1) / 2) - logGamma(df / 2) - 0.5 * Math.log(df * Math.PI);
  const f = (x: number) => Math.exp(logC - ((df + 1) / 2) * Math.log1p((x * x) / df));
  const a = Math.abs(t);
  // Substitute x = a·u over u in [0, 1]; 2000 intervals are exact to ~1e-10 for |t| < 1e3.
  const n = 2000;
  let s = f(0) + f(a);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * f((a * i) / n);
  const half = Math.min(0.5, (s * a) / (3 * n));
  return t >= 0 ? 0.5 - half : 0.5 + half;
}

export interface MedianInterval extends Interval {
  median: number;
  n: number;
  /** The interval's actual coverage (order statistics give a level at or above the one asked). */
  coverage: number;
}

/**
 * Distribution-free interval for the median of independent values: the k-th smallest and k-th
 * largest, k the largest rank with P(Binomial(n, ½) < k) ≤ α/2 (the sign test inverted). No
 * assumption about the values' spread (per-pair ratios of a shared machine have outliers); null
 * with fewer than 6 values, where even [min, max] covers less than 95 %.
 */
export function medianInterval(values: readonly number[], level = 0.95): MedianInterval | null {
  const n = values.length;
  const s = [...values].sort((a, b) => a - b);
  const a = (1 - level) / 2;
  // P(X <= k - 1) = P(X >= n - k + 1) for X ~ Binomial(n, ½).
  const below = (k: number) => binomialSf(n - k + 1, n, 0.5);
  if (n === 0 || below(1) > a) return null;
  let k = 1;
  while (k + 1 <= n / 2 && below(k + 1) <= a) k++;
  const m = n >> 1;
  const median = n % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  return { median, n, lo: s[k - 1]!, hi: s[n - k]!, coverage: 1 - 2 * below(k) };
}
