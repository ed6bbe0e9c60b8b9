/**
 * Principal components of a set of rows, sized for interpretation: the few leading axes of a
 * feature space of a few thousand dimensions, never a D×D covariance.
 *
 * - Small sets (n ≤ {@link GRAM_LIMIT}) go through the n×n Gram matrix of the centred rows and a
 *   cyclic Jacobi eigensolver: exact, whatever the dimension.
 * - Larger sets use block subspace iteration with Rayleigh–Ritz (Golub & Van Loan, "Matrix
 *   Computations", §8.2.4) on the centred data, two GEMMs per iteration, never forming the
 *   covariance: (X − 1μᵀ)ᵀ(X − 1μᵀ)V = Xᵀ((X − 1μᵀ)V) because 1ᵀ(X − 1μᵀ) = 0.
 *
 * Browser-safe (no Node imports). Signs of components are arbitrary in PCA; here the entry of
 * largest magnitude of each component is made positive, so results are reproducible.
 */
import { gemm } from '../linalg/gemm.ts';
import type { Matrix } from '../linalg/matrix.ts';
import { rng } from '../linalg/random.ts';
import { symmetricEigen } from '../linalg/eigen.ts';

export { symmetricEigen };

/** Below this many rows the exact Gram-matrix route is used. */
export const GRAM_LIMIT = 160;

/** The leading principal axes of a set of rows. */
export interface PCAResult {
  /** Column means (length D). */
  mean: Float64Array;
  /** k×D unit vectors, leading first (rows). */
  components: Matrix;
  /** Variance along each component (eigenvalues of the covariance, divisor n − 1), leading first. */
  variances: number[];
  /** Sum of the variances of all coordinates (trace of the covariance). */
  totalVariance: number;
  /** variances[i] / totalVariance (0 when the total is 0). */
  explainedRatio: number[];
  /** Number of rows used. */
  n: number;
}

/** Options of {@link pca}. */
export interface PCAOptions {
  /** Seed of the random start of subspace iteration. Default 0. */
  seed?: number;
  /** Maximum subspace iterations. Default 100. */
  maxIter?: number;
  /** Stop when no leading eigenvalue changes by more than tol × the largest in an iteration. Default 1e-5. */
  tol?: number;
}

function columnMeans(X: Matrix): Float64Array {
  const { rows: n, cols: D, data } = X;
  const mean = new Float64Array(D);
  for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) mean[d] += data[i * D + d];
  for (let d = 0; d < D; d++) mean[d] /= n;
  return mean;
}

function centred(X: Matrix, mean: Float64Array): Float32Array {
  const { rows: n, cols: D, data } = X;
  const out = new Float32Array(n * D);
  for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) out[i * D + d] = data[i * D + d] - mean[d];
  return out;
}

/** Makes the entry of largest magnitude of each row positive (in place). */
function fixSigns(C: Float32Array, k: number, D: number): void {
  for (let r = 0; r < k; r++) {
    let best = 0;
    for (let d = 1; d < D; d++) if (Math.abs(C[r * D + d]) > Math.abs(C[r * D + best])) best = d;
    if (C[r * D + best] < 0) for (let d = 0; d < D; d++) C[r * D + d] = -C[r * D + d];
  }
}

/**
 * The k leading principal components of the rows of X.
 *
 * @param k - number of components (clamped to min(n − 1, D); at least 0).
 * @throws RangeError when X has no rows or k is not a non-negative integer.
 * @example
 * const r = pca({ data: Float32Array.from([0, 0, 2, 0, 4, 0]), rows: 3, cols: 2 }, 1);
 * r.variances // [4], r.explainedRatio // [1], r.components.data // [1, 0]
 */
export function pca(X: Matrix, k: number, options: PCAOptions = {}): PCAResult {
  const { rows: n, cols: D } = X;
  if (n < 1) throw new RangeError('pca: X has no rows');
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`pca: k must be a non-negative integer, got ${k}`);
  const mean = columnMeans(X);
  const Xc = centred(X, mean);
  let total = 0;
  for (let t = 0; t < Xc.length; t++) total += Xc[t] * Xc[t];
  const denom = Math.max(1, n - 1);
  total /= denom;
  const kk = Math.max(0, Math.min(k, n - 1, D));
  const comps = new Float32Array(k * D);
  const variances = new Array<number>(k).fill(0);
  if (kk > 0 && total > 0) {
    if (n <= GRAM_LIMIT) gramRoute(Xc, n, D, kk, denom, comps, variances);
    else subspaceRoute(Xc, n, D, kk, denom, comps, variances, options);
  }
  fixSigns(comps, k, D);
  return {
    mean,
    components: { data: comps, rows: k, cols: D },
    variances,
    totalVariance: total,
    explainedRatio: variances.map((v) => (total > 0 ? v / total : 0)),
    n,
  };
}

function gramRoute(Xc: Float32Array, n: number, D: number, k: number, denom: number, comps: Float32Array, variances: number[]): void {
  const G32 = new Float32Array(n * n);
  gemm(false, true, n, n, D, 1, Xc, D, Xc, D, 0, G32, n);
  const G = Float64Array.from(G32);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) { const v = 0.5 * (G[i * n + j] + G[j * n + i]); G[i * n + j] = v; G[j * n + i] = v; }
  const { values, vectors } = symmetricEigen(G, n);
  for (let c = 0; c < k; c++) {
    const lam = Math.max(0, values[c]);
    variances[c] = lam / denom;
    if (lam <= 0) continue;
    // v = Xcᵀ u / ‖Xcᵀ u‖ with ‖Xcᵀ u‖² = λ.
    const inv = 1 / Math.sqrt(lam);
    for (let i = 0; i < n; i++) {
      const u = vectors[i * n + c] * inv;
      if (u === 0) continue;
      for (let d = 0; d < D; d++) comps[c * D + d] += u * Xc[i * D + d];
    }
  }
}

/** Orthonormalises the rows of a b×D array (modified Gram–Schmidt); dependent rows are replaced by random ones. */
function orthonormalRows(V: Float32Array, b: number, D: number, r: ReturnType<typeof rng>): void {
  for (let i = 0; i < b; i++) {
    for (let attempt = 0; attempt < 3; attempt++) {
      for (let j = 0; j < i; j++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += V[i * D + d] * V[j * D + d];
        for (let d = 0; d < D; d++) V[i * D + d] -= dot * V[j * D + d];
      }
      let nrm = 0;
      for (let d = 0; d < D; d++) nrm += V[i * D + d] * V[i * D + d];
      nrm = Math.sqrt(nrm);
      if (nrm > 1e-6) { for (let d = 0; d < D; d++) V[i * D + d] /= nrm; break; }
      for (let d = 0; d < D; d++) V[i * D + d] = r.normal();
    }
  }
}

function subspaceRoute(Xc: Float32Array, n: number, D: number, k: number, denom: number, comps: Float32Array,
  variances: number[], options: PCAOptions): void {
  const r = rng(options.seed ?? 0);
  const maxIter = options.maxIter ?? 100, tol = options.tol ?? 1e-5;
  const b = Math.min(D, n - 1, Math.max(2 * k, k + 8));
  const V = new Float32Array(b * D); // rows = basis vectors
  for (let t = 0; t < V.length; t++) V[t] = r.normal();
  orthonormalRows(V, b, D, r);
  const Y = new Float32Array(n * b);
  const Z = new Float32Array(b * D);
  let prev = new Array<number>(b).fill(Infinity);
  let values: number[] = prev;
  let rot: Float64Array = new Float64Array(b * b);
  for (let it = 0; it < maxIter; it++) {
    gemm(false, true, n, b, D, 1, Xc, D, V, D, 0, Y, b); // Y = Xc Vᵀ (n×b)
    // Rayleigh–Ritz: B = YᵀY / denom = V C Vᵀ.
    const B = new Float64Array(b * b);
    for (let i = 0; i < n; i++) {
      for (let p = 0; p < b; p++) {
        const yp = Y[i * b + p];
        for (let q = p; q < b; q++) B[p * b + q] += yp * Y[i * b + q];
      }
    }
    for (let p = 0; p < b; p++) for (let q = p; q < b; q++) { B[p * b + q] /= denom; B[q * b + p] = B[p * b + q]; }
    const eig = symmetricEigen(B, b);
    values = eig.values;
    rot = eig.vectors;
    let done = it > 0;
    for (let c = 0; c < k; c++) {
      if (Math.abs(values[c] - prev[c]) > tol * Math.max(Math.abs(values[0]), 1e-300)) done = false;
    }
    prev = values;
    if (done || it === maxIter - 1) break;
    gemm(true, false, b, D, n, 1, Y, b, Xc, D, 0, Z, D); // Z = Yᵀ Xc (b×D) = V C (n−1)
    V.set(Z);
    orthonormalRows(V, b, D, r);
  }
  // Ritz vectors: rows of rotᵀ V.
  for (let c = 0; c < k; c++) {
    variances[c] = Math.max(0, values[c]);
    for (let p = 0; p < b; p++) {
      const w = rot[p * b + c];
      for (let d = 0; d < D; d++) comps[c * D + d] += w * V[p * D + d];
    }
  }
}

/**
 * Coordinates of rows on given components: (x − mean)·component for each row.
 * @returns n×k matrix.
 */
export function project(X: Matrix, p: Pick<PCAResult, 'mean' | 'components'>): Matrix {
  const { rows: n, cols: D } = X;
  const k = p.components.rows;
  if (p.components.cols !== D) throw new RangeError(`project: rows have ${D} values, components ${p.components.cols}`);
  const Xc = centred(X, p.mean);
  const out = new Float32Array(n * k);
  if (k > 0) gemm(false, true, n, k, D, 1, Xc, D, p.components.data, D, 0, out, k);
  return { data: out, rows: n, cols: k };
}
