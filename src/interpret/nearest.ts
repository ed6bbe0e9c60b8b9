/**
 * The k nearest samples, for the analysis (each prototype's nearest training samples) and the
 * explorer (the samples nearest to a new image). Pure and browser-safe.
 */

/**
 * Indices of the `k` smallest of the `n` values `value(0..n−1)`, smallest first; ties keep the
 * lower index first. One pass, keeping the best k in order (O(n·k), for the small k shown).
 * @example
 * nearestIndices(5, 2, (i) => [3, 1, 2, 1, 0][i]) // [4, 1]
 */
export function nearestIndices(n: number, k: number, value: (i: number) => number): number[] {
  const kk = Math.min(k, n);
  const best: number[] = [];
  const bestValue: number[] = [];
  if (kk <= 0) return best;
  for (let i = 0; i < n; i++) {
    const v = value(i);
    if (best.length === kk && v >= bestValue[kk - 1]) continue;
    let pos = best.length;
    while (pos > 0 && bestValue[pos - 1] > v) pos--;
    best.splice(pos, 0, i);
    bestValue.splice(pos, 0, v);
    if (best.length > kk) { best.pop(); bestValue.pop(); }
  }
  return best;
}
