/**
 * The metric under the prototypes: d(x, p) = ‖Ω(x − p)‖² with Ω a linear map learned with the
 * prototypes and the class weights (docs/model.md, "A learned metric"). This module holds its
 * closed-form starting point, shrinkage-LDA whitening of the within-class scatter:
 *
 *   S_w = (1/N) Σ_i (x_i − μ_{y_i})(x_i − μ_{y_i})ᵀ,   s̄ = tr(S_w)/K
 *   Σ   = (1 − λ) S_w + λ s̄ I                          (shrinkage λ ∈ (0, 1])
 *   Σ^{-1/2} whitens the within-class scatter; the whitened class means m̃_l = Σ^{-1/2}(μ_l − μ)
 *   have a between-class scatter S̃_b = Σ_l (n_l/N) m̃_l m̃_lᵀ = U diag(b) Uᵀ (b descending)
 *   Ω₀ = U_rᵀ Σ^{-1/2}                                  (r × K: the r most discriminant whitened directions)
 *
 * With r ≥ K this is a full whitening (a rotation of Σ^{-1/2}); with r < K it keeps the directions
 * along which the class means spread most, i.e. Fisher's LDA scaled to unit within-class variance
 * (Friedman 1989, "Regularized discriminant analysis"; Ledoit & Wolf 2004 for the shrinkage). The
 * nearest class mean under Ω₀ with r ≥ L − 1 is exactly the LDA classifier with equal priors.
 *
 * Browser-safe: plain loops, the GEMM and the small Jacobi eigensolver (K up to a few hundred).
 */
import { symmetricEigen } from '../linalg/eigen.ts';
import { gemm } from '../linalg/gemm.ts';
import type { Matrix } from '../linalg/matrix.ts';

/** Class means (L×K, float64), their weights n_l/N and the weighted overall mean. */
function classMeans(X: Matrix, codes: Int32Array, L: number): { means: Float64Array; weights: Float64Array; mean: Float64Array } {
  const { rows: N, cols: K, data } = X;
  const means = new Float64Array(L * K), counts = new Float64Array(L), mean = new Float64Array(K);
  for (let i = 0; i < N; i++) {
    const c = codes[i];
    counts[c]++;
    for (let k = 0; k < K; k++) { means[c * K + k] += data[i * K + k]; mean[k] += data[i * K + k]; }
  }
  for (let c = 0; c < L; c++) for (let k = 0; k < K; k++) means[c * K + k] /= Math.max(1, counts[c]);
  for (let k = 0; k < K; k++) mean[k] /= N;
  return { means, weights: counts.map((n) => n / N), mean };
}

/**
 * The shrunk within-class covariance Σ = (1 − λ) S_w + λ s̄ I (K×K, float64). When there is no
 * within-class scatter (one sample per class), s̄ falls back to the total scatter's mean variance,
 * so that Σ is a multiple of I and the metric starts Euclidean.
 */
export function shrunkWithinScatter(X: Matrix, codes: Int32Array, L: number, shrinkage: number): Float64Array {
  if (!(shrinkage > 0 && shrinkage <= 1)) throw new RangeError(`shrinkage must be in (0, 1], got ${shrinkage}`);
  const { rows: N, cols: K, data } = X;
  const { means, mean } = classMeans(X, codes, L);
  // Residuals from the class means (N×K); S_w = RᵀR / N through the GEMM.
  const R = new Float32Array(N * K);
  let total = 0;
  for (let i = 0; i < N; i++) {
    const c = codes[i];
    for (let k = 0; k < K; k++) {
      R[i * K + k] = data[i * K + k] - means[c * K + k];
      const t = data[i * K + k] - mean[k];
      total += t * t;
    }
  }
  const S32 = new Float32Array(K * K);
  gemm(true, false, K, K, N, 1 / N, R, K, R, K, 0, S32, K);
  const S = new Float64Array(K * K);
  let trace = 0;
  for (let a = 0; a < K; a++) {
    for (let b = a; b < K; b++) { const v = (S32[a * K + b] + S32[b * K + a]) / 2; S[a * K + b] = v; S[b * K + a] = v; }
    trace += S[a * K + a];
  }
  let sbar = trace / K;
  if (!(sbar > 1e-12 * (total / N / K + 1e-300))) sbar = total / N / K || 1;
  for (let k = 0; k < K * K; k++) S[k] *= 1 - shrinkage;
  for (let a = 0; a < K; a++) S[a * K + a] += shrinkage * sbar;
  return S;
}

/**
 * Shrinkage-LDA whitening Ω₀ (r×K) of the samples X (N×K) with class codes (see the module comment).
 * @param rank - rows of Ω₀ (capped at K).
 * @throws RangeError for a shrinkage outside (0, 1] or a rank below 1.
 * @example
 * // Two classes along x, noise 10× larger along y: Ω₀'s first row weighs x far more than y.
 * ldaWhitening(X, codes, 2, 0.1, 2)
 */
export function ldaWhitening(X: Matrix, codes: Int32Array, L: number, shrinkage: number, rank: number): Matrix {
  if (!Number.isInteger(rank) || rank < 1) throw new RangeError(`rank must be a positive integer, got ${rank}`);
  const K = X.cols, r = Math.min(rank, K);
  const sigma = shrunkWithinScatter(X, codes, L, shrinkage);
  const { values: e, vectors: V } = symmetricEigen(sigma, K);
  // Σ^{-1/2} = V diag(e^{-1/2}) Vᵀ (eigenvalues are ≥ λ s̄ > 0; clamp against rounding).
  const emin = Math.max(e[0] * 1e-12, 1e-300);
  const isq = e.map((v) => 1 / Math.sqrt(Math.max(v, emin)));
  const W = new Float64Array(K * K);
  for (let a = 0; a < K; a++) {
    for (let b = a; b < K; b++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += V[a * K + k] * isq[k] * V[b * K + k];
      W[a * K + b] = s; W[b * K + a] = s;
    }
  }
  const { means, weights, mean } = classMeans(X, codes, L);
  // Whitened, centred class means (L×K), then their weighted scatter S̃_b (K×K).
  const M = new Float64Array(L * K);
  for (let c = 0; c < L; c++) {
    for (let a = 0; a < K; a++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += W[a * K + k] * (means[c * K + k] - mean[k]);
      M[c * K + a] = s;
    }
  }
  const Sb = new Float64Array(K * K);
  for (let c = 0; c < L; c++) {
    const w = weights[c];
    for (let a = 0; a < K; a++) {
      const ma = w * M[c * K + a];
      if (ma === 0) continue;
      for (let b = a; b < K; b++) Sb[a * K + b] += ma * M[c * K + b];
    }
  }
  for (let a = 0; a < K; a++) for (let b = 0; b < a; b++) Sb[a * K + b] = Sb[b * K + a];
  const { vectors: U } = symmetricEigen(Sb, K);
  // Ω₀ = U_rᵀ W: row t is Σ_a U[a, t] W[a, :].
  const out = new Float32Array(r * K);
  for (let t = 0; t < r; t++) {
    for (let b = 0; b < K; b++) {
      let s = 0;
      for (let a = 0; a < K; a++) s += U[a * K + t] * W[a * K + b];
      out[t * K + b] = s;
    }
  }
  return { data: out, rows: r, cols: K };
}

/**
 * The diagonal variant's start: ω_k = 1 / √Σ_kk, the per-feature within-class standard deviation
 * after shrinkage (diagonal LDA).
 */
export function diagonalWhitening(X: Matrix, codes: Int32Array, L: number, shrinkage: number): Float32Array {
  const K = X.cols;
  const S = shrunkWithinScatter(X, codes, L, shrinkage);
  const out = new Float32Array(K);
  for (let k = 0; k < K; k++) out[k] = 1 / Math.sqrt(Math.max(S[k * K + k], 1e-300));
  return out;
}
