/**
 * The data scale that sets τ when `tau: 'auto'`: τ = tauScale × m / 2, where m is the median
 * squared distance between random pairs of training samples. The prototype layer's sharpness then
 * does not depend on the units of the features (docs/model.md). One rule, used by the prototype
 * model, the class-mean baseline and the embedding trainer.
 *
 * Browser-safe.
 */
import type { Matrix } from '../linalg/matrix.ts';
import { median } from '../linalg/ops.ts';
import type { Rng } from '../linalg/random.ts';

/**
 * Median of squared distances between `maxPairs` random pairs of distinct rows (all pairs when fewer).
 * @example
 * medianPairSqDistance({ data: Float32Array.from([0, 0, 3, 4]), rows: 2, cols: 2 }, rng(0)) // 25
 */
export function medianPairSqDistance(X: Matrix, r: Rng, maxPairs = 2000): number {
  const N = X.rows, D = X.cols, x = X.data;
  const nPairs = Math.min(maxPairs, (N * (N - 1)) / 2);
  const vals = new Float64Array(nPairs);
  for (let t = 0; t < nPairs; t++) {
    const i = r.int(N);
    let k = r.int(N - 1);
    if (k >= i) k++;
    let s = 0;
    for (let d = 0; d < D; d++) { const v = x[i * D + d] - x[k * D + d]; s += v * v; }
    vals[t] = s;
  }
  return median(vals);
}

/**
 * τ by the 'auto' rule, and the rule in words (recorded in saved models). Falls back to τ = 1
 * when all sampled pairs coincide.
 * @example
 * autoTau(X, 0.1, rng(0)) // { tau: 1.25, median: 25, rule: 'auto: tauScale (0.1) × median pair squared distance (25.00) / 2' }
 */
export function autoTau(X: Matrix, tauScale: number, r: Rng): { tau: number; median: number; rule: string } {
  const m = medianPairSqDistance(X, r);
  return {
    tau: m > 0 ? (tauScale * m) / 2 : 1,
    median: m,
    rule: `auto: tauScale (${tauScale}) × median pair squared distance (${m.toPrecision(4)}) / 2`,
  };
}
