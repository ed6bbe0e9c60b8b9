/**
 * Checks a GEMM implementation against a float64 reference: operands with NaN in the padding of
 * A and B (a kernel that reads outside the window fails), a sentinel in C's padding (a kernel
 * that writes there fails) and NaN in C when β = 0 (which must be ignored). Shared by the tests
 * of every backend (test/gemm.test.ts, test/gemm-native.test.ts).
 */
import assert from 'node:assert/strict';
import type { GemmFn } from '../../src/linalg/gemm.ts';
import { rng } from '../../src/linalg/random.ts';

export interface Case {
  transA: boolean; transB: boolean; m: number; n: number; k: number;
  alpha: number; beta: number;
  /** Extra columns of padding in each stored row (leading dimension = width + pad). */
  pad: number;
}

/** What the padding of C holds (and must still hold after the product). */
const PAD_C = -7777;

/**
 * Stored operands with NaN in the padding of A and B (a kernel that reads outside the window
 * fails), a sentinel in C's (a kernel that writes there fails) and,
 * when β = 0, NaN in C (which must be ignored). Returns the float64 reference and, per entry,
 * the scale Σ|α a b| + |β c| that float32 rounding errors are relative to.
 */
export function setup(c: Case, seed: number) {
  const r = rng(seed);
  const [ar, ac] = c.transA ? [c.k, c.m] : [c.m, c.k];
  const [br, bc] = c.transB ? [c.n, c.k] : [c.k, c.n];
  const lda = ac + c.pad, ldb = bc + c.pad, ldc = c.n + c.pad;
  const fill = (rows: number, cols: number, ld: number, val: () => number, padValue = NaN) => {
    const a = new Float32Array(Math.max(0, (rows - 1) * ld + cols) + c.pad).fill(padValue);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) a[i * ld + j] = val();
    return a;
  };
  const A = fill(ar, ac, lda, () => r.next() * 2 - 1);
  const B = fill(br, bc, ldb, () => r.next() * 2 - 1);
  const C = fill(c.m, c.n, ldc, () => (c.beta === 0 ? NaN : r.next() * 2 - 1), PAD_C);
  const ref = new Float64Array(c.m * c.n), scale = new Float64Array(c.m * c.n);
  for (let i = 0; i < c.m; i++) {
    for (let j = 0; j < c.n; j++) {
      let s = 0, sa = 0;
      for (let p = 0; p < c.k; p++) {
        const a = c.transA ? A[p * lda + i] : A[i * lda + p];
        const b = c.transB ? B[j * ldb + p] : B[p * ldb + j];
        s += a * b;
        sa += Math.abs(a * b);
      }
      const c0 = c.beta === 0 ? 0 : C[i * ldc + j];
      ref[i * c.n + j] = c.alpha * s + c.beta * c0;
      scale[i * c.n + j] = Math.abs(c.alpha) * sa + Math.abs(c.beta * c0);
    }
  }
  return { A, B, C, lda, ldb, ldc, ref, scale };
}

export function check(fn: GemmFn, c: Case, seed = 1): void {
  const { A, B, C, lda, ldb, ldc, ref, scale } = setup(c, seed);
  fn(c.transA, c.transB, c.m, c.n, c.k, c.alpha, A, lda, B, ldb, c.beta, C, ldc);
  const what = `${c.transA ? 'T' : 'N'}${c.transB ? 'T' : 'N'} m=${c.m} n=${c.n} k=${c.k} α=${c.alpha} β=${c.beta} pad=${c.pad}`;
  for (let i = 0; i < c.m; i++) {
    for (let j = 0; j < c.n; j++) {
      const got = C[i * ldc + j], want = ref[i * c.n + j];
      const tol = 1e-5 * scale[i * c.n + j] + 1e-30;
      if (!(Math.abs(got - want) <= tol)) assert.fail(`${what}: C[${i},${j}] = ${got}, expected ${want} ± ${tol}`);
    }
    // Padding between rows of C is left untouched.
    for (let j = c.n; j < ldc && i * ldc + j < C.length; j++) {
      assert.equal(C[i * ldc + j], PAD_C, `${what}: padding C[${i},${j}] was written`);
    }
  }
}

export const SIZES: Array<[number, number, number]> = [
  [1, 1, 1], [1, 5, 3], [3, 1, 5], [5, 3, 1], [3, 17, 5], [17, 63, 5], [63, 17, 129], [129, 65, 63],
  [1, 129, 300], [129, 1, 17], [65, 63, 257],
];
export const FLAGS: Array<[boolean, boolean]> = [[false, false], [false, true], [true, false], [true, true]];
export const SCALARS: Array<[number, number]> = [[1, 0], [-2, 0], [0.5, 1], [1, -0.5]];

export function cases(pads: number[]): Case[] {
  const out: Case[] = [];
  let t = 0;
  for (const [m, n, k] of SIZES) {
    for (const [transA, transB] of FLAGS) {
      for (const pad of pads) {
        const [alpha, beta] = SCALARS[t++ % SCALARS.length];
        out.push({ transA, transB, m, n, k, alpha, beta, pad });
      }
    }
  }
  return out;
}
