/**
 * Label handling and input checks shared by every classifier.
 */
import { toMatrix, type Matrix, type MatrixInput } from '../linalg/matrix.ts';
import type { Label } from './types.ts';

/** Sorted distinct labels and each sample's class index. */
export interface EncodedLabels {
  classes: Label[];
  codes: Int32Array;
  counts: Int32Array;
}

function checkLabel(v: unknown, i: number): asserts v is Label {
  if (typeof v === 'string') return;
  if (typeof v === 'number' && Number.isFinite(v)) return;
  throw new TypeError(`y: label ${i} is ${typeof v === 'number' ? v : typeof v}; labels must be strings or finite numbers`);
}

/**
 * Encodes labels as 0..L−1 in sorted order (numbers numerically, strings by code unit).
 * @throws TypeError on mixed or invalid label types.
 * @throws RangeError when there are fewer than 2 classes.
 */
export function encodeLabels(y: readonly Label[]): EncodedLabels {
  if (!Array.isArray(y)) throw new TypeError('y: expected an array of labels');
  y.forEach(checkLabel);
  const kinds = new Set(y.map((v) => typeof v));
  if (kinds.size > 1) throw new TypeError('y: labels mix strings and numbers; use one type');
  const distinct = Array.from(new Set(y));
  if (kinds.has('number')) (distinct as number[]).sort((a, b) => a - b);
  else (distinct as string[]).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (distinct.length < 2) {
    throw new RangeError(`The number of classes has to be greater than one; got ${distinct.length} class`);
  }
  const index = new Map<Label, number>(distinct.map((c, i) => [c, i]));
  const codes = new Int32Array(y.length);
  const counts = new Int32Array(distinct.length);
  for (let i = 0; i < y.length; i++) {
    const c = index.get(y[i])!;
    codes[i] = c;
    counts[c]++;
  }
  return { classes: distinct, codes, counts };
}

/** Validates X and y together for `fit`. */
export function checkXy(X: MatrixInput, y: readonly Label[]): { X: Matrix; labels: EncodedLabels } {
  const M = toMatrix(X, { name: 'X' });
  if (!Array.isArray(y)) throw new TypeError('y: expected an array of labels');
  if (y.length !== M.rows) {
    throw new RangeError(`X has ${M.rows} rows but y has ${y.length} labels; they must match`);
  }
  return { X: M, labels: encodeLabels(y) };
}

/** Maps labels to indices of known classes. @throws RangeError naming an unknown label. */
export function codesFor(y: readonly Label[], classes: readonly Label[]): Int32Array {
  const index = new Map<Label, number>(classes.map((c, i) => [c, i]));
  const out = new Int32Array(y.length);
  for (let i = 0; i < y.length; i++) {
    const c = index.get(y[i]);
    if (c === undefined) {
      throw new RangeError(`y: label ${JSON.stringify(y[i])} at position ${i} was not seen in training; known classes: ${classes.slice(0, 10).map((v) => JSON.stringify(v)).join(', ')}${classes.length > 10 ? ', …' : ''}`);
    }
    out[i] = c;
  }
  return out;
}

/** Row-wise argmax. */
export function argmaxRows(data: Float32Array | Float64Array, rows: number, cols: number): Int32Array {
  const out = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    let best = 0, bv = -Infinity;
    const o = i * cols;
    for (let j = 0; j < cols; j++) if (data[o + j] > bv) { bv = data[o + j]; best = j; }
    out[i] = best;
  }
  return out;
}

/** Fraction of equal entries. */
export function accuracy(pred: readonly Label[], truth: readonly Label[]): number {
  if (pred.length !== truth.length) throw new RangeError(`accuracy: ${pred.length} predictions for ${truth.length} labels`);
  let ok = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === truth[i]) ok++;
  return pred.length ? ok / pred.length : NaN;
}

/**
 * Accuracy of `model` on (X, y); every label of y must be a known class.
 * @throws RangeError naming the first unknown label, or on a length mismatch.
 */
export function scoreOf(model: { classes_: readonly Label[]; predict(X: MatrixInput): Label[] }, X: MatrixInput, y: readonly Label[]): number {
  if (!Array.isArray(y)) throw new TypeError('y: expected an array of labels');
  if (model.classes_.length) codesFor(y, model.classes_);
  const pred = model.predict(X);
  if (pred.length !== y.length) throw new RangeError(`X has ${pred.length} rows but y has ${y.length} labels; they must match`);
  return accuracy(pred, y);
}
