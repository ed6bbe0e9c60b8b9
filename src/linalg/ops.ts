/**
 * Small dense kernels on Float32Array: row norms, squared distances, row-wise softmax.
 * No allocation inside loops; callers pass output buffers where it matters.
 */
import { gemm } from './gemm.ts';
import type { Matrix } from './matrix.ts';

/** Squared Euclidean norm of each row of an r×c row-major array. */
export function rowSqNorms(data: Float32Array, rows: number, cols: number, out: Float64Array = new Float64Array(rows)): Float64Array {
  if (fast) {
    fast.rowSqNorms(data, rows, cols, out);
    return out;
  }
  for (let i = 0; i < rows; i++) {
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    const o = i * cols;
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const a = data[o + j], b = data[o + j + 1], c = data[o + j + 2], d = data[o + j + 3];
      s0 += a * a; s1 += b * b; s2 += c * c; s3 += d * d;
    }
    for (; j < cols; j++) s0 += data[o + j] * data[o + j];
    out[i] = s0 + s1 + s2 + s3;
  }
  return out;
}

/**
 * Squared distances ‖x_i − p_j‖² for all pairs, through ‖x‖² + ‖p‖² − 2 x·p with one GEMM.
 * Negative values from cancellation are clamped to 0.
 * @param out - N×J output (row-major).
 */
export function sqDistances(X: Matrix, P: Matrix, xNorms: Float64Array, pNorms: Float64Array,
  out: Float32Array = new Float32Array(X.rows * P.rows)): Float32Array {
  const N = X.rows, J = P.rows;
  gemm(false, true, N, J, X.cols, -2, X.data, X.cols, P.data, P.cols, 0, out, J);
  if (fast) {
    fast.addNormsClamp(out, N, J, xNorms, pNorms);
    return out;
  }
  for (let i = 0; i < N; i++) {
    const o = i * J, xn = xNorms[i];
    for (let j = 0; j < J; j++) {
      const d = out[o + j] + xn + pNorms[j];
      out[o + j] = d > 0 ? d : 0;
    }
  }
  return out;
}

/**
 * Faster versions of this module's float32 loops (the Node adapter installs the native addon's,
 * src/linalg/gemm-native.node.ts). Each must give the same numbers as the loop it replaces: the
 * same operations in the same order, or, for softmax's exp, the same float32 results except in
 * rare rounding ties.
 */
export interface FastOps {
  /** {@link softmaxRows} on float32 data; `scale` is always passed. */
  softmaxRows(data: Float32Array, rows: number, cols: number, scale: number, logZ?: Float64Array): void;
  /** {@link rowSqNorms} into `out`. */
  rowSqNorms(data: Float32Array, rows: number, cols: number, out: Float64Array): void;
  /** The second pass of {@link sqDistances}: g_ij ← max(0, (g_ij + xNorms_i) + pNorms_j), NaN → 0. */
  addNormsClamp(g: Float32Array, rows: number, cols: number, xNorms: Float64Array, pNorms: Float64Array): void;
}

let fast: FastOps | undefined;

/** Installs faster kernels ({@link FastOps}), or restores the JavaScript loops with undefined. Returns the previous ones. */
export function setFastOps(ops: FastOps | undefined): FastOps | undefined {
  const prev = fast;
  fast = ops;
  return prev;
}

/**
 * Row-wise softmax in place, max-subtracted: each row x becomes exp(x − max x) / Σ exp(x − max x).
 * With `scale`, each entry is first replaced by scale·x (rounded to the array's precision), in
 * the same pass. `logZ` (if given) receives log Σ exp of each (scaled) row, the log-sum-exp, for
 * log-likelihoods.
 */
export function softmaxRows(data: Float32Array | Float64Array, rows: number, cols: number, logZ?: Float64Array, scale = 1): void {
  if (fast && data instanceof Float32Array) {
    fast.softmaxRows(data, rows, cols, scale, logZ);
    return;
  }
  for (let i = 0; i < rows; i++) {
    const o = i * cols;
    let m = -Infinity;
    if (scale !== 1) {
      for (let j = 0; j < cols; j++) {
        data[o + j] *= scale;
        const v = data[o + j]; // the stored (rounded) value
        if (v > m) m = v;
      }
    } else {
      for (let j = 0; j < cols; j++) if (data[o + j] > m) m = data[o + j];
    }
    let s = 0;
    for (let j = 0; j < cols; j++) {
      const e = Math.exp(data[o + j] - m);
      data[o + j] = e;
      s += e;
    }
    const inv = 1 / s;
    for (let j = 0; j < cols; j++) data[o + j] *= inv;
    if (logZ) logZ[i] = m + Math.log(s);
  }
}

/** Median of a numeric array (copies). */
export function median(values: ArrayLike<number>): number {
  const a = Float64Array.from(values).sort();
  const n = a.length;
  if (n === 0) return NaN;
  return n % 2 ? a[(n - 1) >> 1] : 0.5 * (a[n / 2 - 1] + a[n / 2]);
}
