/** "did you mean …?" for a misspelt key: the closest allowed name by edit distance, if close. */

function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[y.length]!;
}

/** ` (did you mean "ttlMs"?)` or '' when nothing allowed is within a third of the key's length. */
export function didYouMean(key: string, allowed: Iterable<string>): string {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const a of allowed) {
    const d = distance(key, a);
    if (d < bestD) {
      best = a;
      bestD = d;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(key.length / 3))
    ? ` (did you mean ${JSON.stringify(best)}?)`
    : '';
}
