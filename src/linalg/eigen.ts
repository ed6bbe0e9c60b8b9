/**
 * Symmetric eigen-decomposition for the small dense matrices protolens meets (PCA Gram matrices,
 * within-class scatter in a sample span or a principal subspace: up to a few hundred rows).
 *
 * Browser-safe: plain loops on Float64Array, and the GEMM for the randomized principal basis.
 */
import { gemm } from './gemm.ts';
import type { Matrix } from './matrix.ts';
import type { Rng } from './random.ts';

/**
 * Cyclic Jacobi eigen-decomposition of a symmetric n×n matrix (row-major, overwritten): exact to
 * rounding whatever the spectrum, O(n³) per sweep, a handful of sweeps.
 * @returns eigenvalues (descending) and eigenvectors as the columns of an n×n row-major array.
 */
export function symmetricEigen(A: Float64Array, n: number): { values: number[]; vectors: Float64Array } {
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  let scale = 0;
  for (let k = 0; k < n * n; k++) scale += A[k] * A[k];
  const eps = 1e-22 * Math.max(scale, 1e-300);
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += A[p * n + q] * A[p * n + q];
    if (off <= eps) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q];
        if (apq === 0) continue;
        const app = A[p * n + p], aqq = A[q * n + q];
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = A[k * n + p], akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = A[p * n + k], aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = V[k * n + p], vkq = V[k * n + q];
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => A[b * n + b] - A[a * n + a]);
  const values = order.map((i) => A[i * n + i]);
  const vectors = new Float64Array(n * n);
  for (let c = 0; c < n; c++) for (let r = 0; r < n; r++) vectors[r * n + c] = V[r * n + order[c]];
  return { values, vectors };
}

/**
 * An orthonormal basis (k×D, rows) of the k leading principal directions of X's rows (centred),
 * by randomized subspace iteration (Halko, Martinsson & Tropp 2011): a Gaussian start with 10
 * extra columns, `iters` power iterations re-orthonormalised each time, then the exact
 * eigen-decomposition of X projected on the subspace. Costs a few N×D×(k+10) products.
 * @throws RangeError when k is not between 1 and D.
 * @example
 * principalBasis(X, 2, rng(0)).rows // 2
 */
export function principalBasis(X: Matrix, k: number, r: Rng, iters = 4): Matrix {
  const { rows: N, cols: D } = X;
  if (!Number.isInteger(k) || k < 1 || k > D) throw new RangeError(`principalBasis: k must be an integer from 1 to ${D}, got ${k}`);
  const m = Math.min(D, k + 10);
  const mean = new Float64Array(D);
  for (let i = 0; i < N; i++) for (let d = 0; d < D; d++) mean[d] += X.data[i * D + d];
  const Xc = new Float32Array(N * D);
  for (let i = 0; i < N; i++) for (let d = 0; d < D; d++) Xc[i * D + d] = X.data[i * D + d] - mean[d] / N;
  // Q: m×D rows, orthonormal.
  let Q = new Float32Array(m * D);
  for (let t = 0; t < Q.length; t++) Q[t] = r.normal();
  orthonormaliseRows(Q, m, D);
  const Y = new Float32Array(N * m);
  for (let it = 0; it < iters; it++) {
    gemm(false, true, N, m, D, 1, Xc, D, Q, D, 0, Y, m); // Y = Xc Qᵀ
    gemm(true, false, m, D, N, 1, Y, m, Xc, D, 0, Q, D); // Q = Yᵀ Xc
    orthonormaliseRows(Q, m, D);
  }
  // Rayleigh–Ritz: eigen-decomposition of (Q Xcᵀ)(Xc Qᵀ), m×m.
  gemm(false, true, N, m, D, 1, Xc, D, Q, D, 0, Y, m);
  const G32 = new Float32Array(m * m);
  gemm(true, false, m, m, N, 1, Y, m, Y, m, 0, G32, m);
  const { vectors: V } = symmetricEigen(Float64Array.from(G32), m);
  const out = new Float32Array(k * D);
  for (let t = 0; t < k; t++) {
    for (let a = 0; a < m; a++) {
      const v = V[a * m + t];
      if (v === 0) continue;
      for (let d = 0; d < D; d++) out[t * D + d] += v * Q[a * D + d];
    }
  }
  Q = out;
  orthonormaliseRows(Q, k, D);
  return { data: Q, rows: k, cols: D };
}

/** Modified Gram–Schmidt on the n rows of A (n×D), twice; a row that vanishes is replaced by zeros. */
function orthonormaliseRows(A: Float32Array, n: number, D: number): void {
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < n; i++) {
      const oi = i * D;
      for (let j = 0; j < i; j++) {
        const oj = j * D;
        let s = 0;
        for (let d = 0; d < D; d++) s += A[oi + d] * A[oj + d];
        for (let d = 0; d < D; d++) A[oi + d] -= s * A[oj + d];
      }
      let nrm = 0;
      for (let d = 0; d < D; d++) nrm += A[oi + d] * A[oi + d];
      const inv = nrm > 1e-20 ? 1 / Math.sqrt(nrm) : 0;
      for (let d = 0; d < D; d++) A[oi + d] *= inv;
    }
  }
}
