/**
 * Dense row-major float32 matrices and the validation of user input into them.
 *
 * Everything numeric in protolens works on {@link Matrix}: a `Float32Array` of
 * `rows * cols` values in row-major order. Inputs from users (`number[][]`,
 * `{data, shape}`) are checked once here, with errors that name the row and
 * column at fault, so that kernels downstream can assume clean data.
 */

/** A dense row-major float32 matrix. `data.length === rows * cols`. */
export interface Matrix {
  readonly data: Float32Array;
  readonly rows: number;
  readonly cols: number;
}

/** What public APIs accept as a matrix. */
export type MatrixInput =
  | Matrix
  | { readonly data: Float32Array | Float64Array | ArrayLike<number>; readonly shape: readonly [number, number] }
  | ReadonlyArray<ArrayLike<number>>;

/**
 * Largest magnitude accepted in a data matrix. Distances and products are computed in float32
 * (largest value 3.4e38): with every |x| ≤ 1e15, a squared distance over up to 8·10⁷ features
 * stays finite. A feature of 3e38 is finite in float32 but its square is not, which turned
 * probabilities into NaN; such values are refused where data enters a model.
 */
export const MAX_MAGNITUDE = 1e15;

/** Allocates a zero matrix. */
export function zeros(rows: number, cols: number): Matrix {
  return { data: new Float32Array(rows * cols), rows, cols };
}

/** Wraps a Float32Array without copying. @throws RangeError when the length does not match. */
export function matrix(data: Float32Array, rows: number, cols: number): Matrix {
  if (data.length !== rows * cols) {
    throw new RangeError(`matrix: expected ${rows}×${cols} = ${rows * cols} values, got ${data.length}`);
  }
  return { data, rows, cols };
}

/** Options for {@link toMatrix}. */
export interface ToMatrixOptions {
  /** Name used in error messages, e.g. "X". */
  name?: string;
  /** Required number of columns, if known (e.g. the training dimension). */
  cols?: number;
  /** Check every value for NaN/Infinity and for magnitudes beyond {@link MAX_MAGNITUDE} (default true). */
  checkFinite?: boolean;
  /** Always copy, even when the input is already a Float32Array matrix (default false). */
  copy?: boolean;
}

function isMatrix(x: unknown): x is Matrix {
  return typeof x === 'object' && x !== null && (x as Matrix).data instanceof Float32Array &&
    typeof (x as Matrix).rows === 'number' && typeof (x as Matrix).cols === 'number';
}

/**
 * Converts and validates user input into a {@link Matrix}.
 *
 * @param x - a `Matrix`, `{data, shape: [rows, cols]}`, or an array of rows.
 * @throws TypeError when the input is not matrix-like.
 * @throws RangeError on ragged rows, a wrong column count, an empty matrix, or a value that is not
 *   finite or beyond ±{@link MAX_MAGNITUDE} (the message names the row and column).
 * @example
 * toMatrix([[1, 2], [3, 4]]) // { data: Float32Array [1, 2, 3, 4], rows: 2, cols: 2 }
 */
export function toMatrix(x: MatrixInput, options: ToMatrixOptions = {}): Matrix {
  const name = options.name ?? 'X';
  let out: Matrix;
  if (isMatrix(x)) {
    if (x.data.length !== x.rows * x.cols) {
      throw new RangeError(`${name}: data has ${x.data.length} values but rows×cols is ${x.rows}×${x.cols}`);
    }
    out = options.copy ? { data: x.data.slice(), rows: x.rows, cols: x.cols } : x;
  } else if (typeof x === 'object' && x !== null && 'shape' in x && 'data' in x) {
    const shape = (x as { shape: readonly number[] }).shape;
    if (!Array.isArray(shape) || shape.length !== 2) {
      throw new RangeError(`${name}: expected shape [rows, cols], got [${String(shape)}]`);
    }
    const [rows, cols] = shape as [number, number];
    const src = (x as { data: ArrayLike<number> }).data;
    if (src.length !== rows * cols) {
      throw new RangeError(`${name}: shape [${rows}, ${cols}] needs ${rows * cols} values, got ${src.length}`);
    }
    const data = src instanceof Float32Array && !options.copy ? src : Float32Array.from(src);
    out = { data, rows, cols };
  } else if (Array.isArray(x)) {
    const rows = x.length;
    if (rows === 0) throw new RangeError(`${name}: no rows`);
    const first = x[0] as ArrayLike<number> | undefined;
    if (first === undefined || first === null || typeof first.length !== 'number') {
      throw new TypeError(`${name}: row 0 is not an array of numbers`);
    }
    const cols = first.length;
    const data = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) {
      const row = x[i] as ArrayLike<number> | undefined;
      if (row === undefined || row === null || typeof row.length !== 'number') {
        throw new TypeError(`${name}: row ${i} is not an array of numbers`);
      }
      if (row.length !== cols) {
        throw new RangeError(`${name}: ragged rows: row ${i} has ${row.length} values, row 0 has ${cols}`);
      }
      for (let j = 0; j < cols; j++) {
        const v = row[j];
        if (typeof v !== 'number') throw new TypeError(`${name}: row ${i}, column ${j} is not a number (${typeof v})`);
        data[i * cols + j] = v;
      }
    }
    out = { data, rows, cols };
  } else {
    throw new TypeError(`${name}: expected a matrix ({data, shape}, a Matrix or an array of rows), got ${typeof x}`);
  }
  if (out.rows === 0 || out.cols === 0) {
    throw new RangeError(`${name}: empty matrix (${out.rows}×${out.cols})`);
  }
  if (options.cols !== undefined && out.cols !== options.cols) {
    throw new RangeError(`${name}: expected ${options.cols} columns (the dimension the model was fitted on), got ${out.cols}`);
  }
  if (options.checkFinite !== false) {
    const d = out.data;
    for (let k = 0; k < d.length; k++) {
      if (!(Math.abs(d[k]) <= MAX_MAGNITUDE)) throw nonFinite(name, out, k);
    }
  }
  return out;
}

function nonFinite(name: string, m: Matrix, k: number): RangeError {
  const i = Math.floor(k / m.cols);
  const v = m.data[k];
  return new RangeError(`${name}: row ${i}, column ${k - i * m.cols} is ${v}; values must be finite` +
    (Number.isFinite(v) ? ` and within ±1e15 (their squares overflow float32 arithmetic)` : ''));
}

/**
 * The value check of {@link toMatrix} (same message), for callers that already computed the
 * squared row norms in float64 (a float32 squared cannot overflow a double): a row whose norm is
 * at most MAX_MAGNITUDE² holds no value beyond the limit, so only the other rows are scanned.
 * @throws RangeError naming the first value that is not finite or beyond ±{@link MAX_MAGNITUDE}.
 */
export function checkFiniteRows(m: Matrix, rowSqNorms: ArrayLike<number>, name = 'X'): void {
  for (let i = 0; i < m.rows; i++) {
    if (rowSqNorms[i] <= MAX_MAGNITUDE * MAX_MAGNITUDE) continue;
    for (let k = i * m.cols; k < (i + 1) * m.cols; k++) if (!(Math.abs(m.data[k]) <= MAX_MAGNITUDE)) throw nonFinite(name, m, k);
  }
}

/** Returns row `i` as a view (no copy). */
export function row(m: Matrix, i: number): Float32Array {
  return m.data.subarray(i * m.cols, (i + 1) * m.cols);
}

/** Converts a matrix to nested arrays (for JSON and small outputs). */
export function toArrays(m: Matrix): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < m.rows; i++) out.push(Array.from(row(m, i)));
  return out;
}

/** Selects rows by index into a new matrix. */
export function takeRows(m: Matrix, idx: ArrayLike<number>): Matrix {
  const out = zeros(idx.length, m.cols);
  for (let r = 0; r < idx.length; r++) {
    out.data.set(m.data.subarray(idx[r] * m.cols, (idx[r] + 1) * m.cols), r * m.cols);
  }
  return out;
}
