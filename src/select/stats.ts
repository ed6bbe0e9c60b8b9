/**
 * Summary statistics for benchmark tables: mean and standard deviation over subsets, and the
 * paired Student t-test over the same subsets (@stdlib/stats-ttest). Browser-safe.
 */
import ttest from '@stdlib/stats-ttest';

/** Mean and sample standard deviation (n − 1 in the denominator; 0 for a single value). */
export function meanStd(values: readonly number[]): { mean: number; std: number; n: number } {
  const n = values.length;
  if (n === 0) return { mean: NaN, std: NaN, n };
  const mean = values.reduce((s, v) => s + v, 0) / n;
  const v = n > 1 ? values.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, std: Math.sqrt(v), n };
}

/** Result of {@link pairedTTest}. */
export interface PairedTest {
  /** Mean of x − y. */
  meanDiff: number;
  /** Two-sided p-value. */
  p: number;
  statistic: number;
  df: number;
}

/**
 * Two-sided paired t-test of x against y (same subsets, same order).
 * When every difference is 0 the samples are identical and p = 1; when every difference is the
 * same non-zero value, p = 0 (the t statistic is infinite).
 * @throws RangeError when the lengths differ or there are fewer than 2 pairs.
 * @example
 * pairedTTest([.8, .9, .7, .85], [.7, .8, .75, .8]).p // ≈ 0.2522
 */
export function pairedTTest(x: readonly number[], y: readonly number[]): PairedTest {
  if (x.length !== y.length) throw new RangeError(`pairedTTest: ${x.length} values against ${y.length}; pairs must match`);
  if (x.length < 2) throw new RangeError(`pairedTTest: needs at least 2 pairs, got ${x.length}`);
  const d = x.map((v, i) => v - y[i]);
  const { mean, std } = meanStd(d);
  if (std <= 1e-15 * Math.max(1, Math.abs(mean))) {
    return { meanDiff: mean, p: Math.abs(mean) <= 1e-15 ? 1 : 0, statistic: mean === 0 ? 0 : Math.sign(mean) * Infinity, df: x.length - 1 };
  }
  const r = ttest(x as number[], y as number[]);
  return { meanDiff: r.mean, p: r.pValue, statistic: r.statistic, df: r.df };
}
