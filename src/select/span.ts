/**
 * An exact change of basis that makes small fits on wide features fast.
 *
 * Every model protolens compares keeps its parameters in the span of its training samples:
 * prototypes start as k-means centres and move to weighted means of samples (affine combinations,
 * docs/model.md), class means and nearest neighbours are samples or their means, and the weights of
 * an L2-penalised softmax lie in the span of the samples (representer theorem; the bias is free).
 * So with B an orthonormal basis of the row space of the training matrix (r ≤ N rows), a sample x
 * splits into its coordinates x·Bᵀ and a part orthogonal to every parameter. That part adds the
 * same ‖x_⊥‖² to x's distance to every prototype, which the softmax over prototypes ignores, and
 * nothing to any inner product with softmax weights. Fitting and predicting on the r coordinates
 * therefore gives the same model and the same predictions (up to float rounding) as on the D
 * original features, at r/D of the cost: with 5-shot 20-way tasks, 100 instead of 1280–2048 columns.
 *
 * Browser-safe.
 */
import { gemm } from '../linalg/gemm.ts';
import { toMatrix, type Matrix, type MatrixInput } from '../linalg/matrix.ts';

/**
 * Orthonormal basis of the row space of X by modified Gram–Schmidt in float64, run twice per row
 * ("twice is enough", Giraud, Langou & Rozložník 2005). A row whose remainder is below
 * `relTol` × its norm is taken as dependent and adds no direction.
 * @returns r×D matrix whose rows are orthonormal, r = numerical rank of X.
 * @example
 * rowSpaceBasis({ data: Float32Array.from([3, 4, 6, 8]), rows: 2, cols: 2 }) // 1×2: [0.6, 0.8]
 */
export function rowSpaceBasis(Xin: MatrixInput, relTol = 1e-6): Matrix {
  const X = toMatrix(Xin, { name: 'X' });
  const { rows: N, cols: D } = X;
  const basis: Float64Array[] = [];
  const v = new Float64Array(D);
  for (let i = 0; i < N; i++) {
    let n0 = 0;
    for (let d = 0; d < D; d++) { v[d] = X.data[i * D + d]; n0 += v[d] * v[d]; }
    if (n0 === 0) continue;
    for (let pass = 0; pass < 2; pass++) {
      for (const b of basis) {
        let s = 0;
        for (let d = 0; d < D; d++) s += v[d] * b[d];
        for (let d = 0; d < D; d++) v[d] -= s * b[d];
      }
    }
    let n = 0;
    for (let d = 0; d < D; d++) n += v[d] * v[d];
    if (n <= relTol * relTol * n0) continue;
    const inv = 1 / Math.sqrt(n);
    basis.push(v.map((x) => x * inv));
  }
  const out = new Float32Array(basis.length * D);
  basis.forEach((b, k) => out.set(b, k * D));
  return { data: out, rows: basis.length, cols: D };
}

/**
 * Projection onto the row space of the training samples (see the module comment): `fit(X)` finds
 * the basis, `transform(Z)` returns Z's coordinates in it (n×r).
 */
export class SpanProjection {
  basis_: Matrix | null = null;

  /** Learns an orthonormal basis of X's rows. */
  fit(X: MatrixInput): this {
    this.basis_ = rowSpaceBasis(X);
    return this;
  }

  /** Number of coordinates r. */
  get rank(): number {
    return this.basis_?.rows ?? 0;
  }

  /** Coordinates of X's rows in the basis (n×r). @throws Error before fit; RangeError on a wrong width. */
  transform(Xin: MatrixInput): Matrix {
    const B = this.basis_;
    if (!B) throw new Error('SpanProjection is not fitted yet. Call fit(X) before transform.');
    const X = toMatrix(Xin, { name: 'X', cols: B.cols });
    const out = new Float32Array(X.rows * B.rows);
    if (B.rows > 0) gemm(false, true, X.rows, B.rows, X.cols, 1, X.data, X.cols, B.data, B.cols, 0, out, B.rows);
    return { data: out, rows: X.rows, cols: B.rows };
  }
}
