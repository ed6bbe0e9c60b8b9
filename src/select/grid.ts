/**
 * Hyper-parameter selection on a held-out validation set: grids, their expansion, and the choice
 * of the best candidate. The test data never enters here. Browser-safe.
 */
import type { Matrix, MatrixInput } from '../linalg/matrix.ts';
import { codesFor } from '../model/labels.ts';
import type { Classifier, Label } from '../model/types.ts';

/** A grid: each option name with the values to try. */
export type ParamGrid = Record<string, readonly unknown[]>;

/**
 * All combinations of a grid, in order (the last option varies fastest).
 * @throws RangeError when an option has no values.
 * @example
 * expandGrid({ a: [1, 2], b: ['x', 'y'] })
 * // [{a: 1, b: 'x'}, {a: 1, b: 'y'}, {a: 2, b: 'x'}, {a: 2, b: 'y'}]
 */
export function expandGrid(grid: ParamGrid): Record<string, unknown>[] {
  let out: Record<string, unknown>[] = [{}];
  for (const [name, values] of Object.entries(grid)) {
    if (!Array.isArray(values) || values.length === 0) throw new RangeError(`grid: option "${name}" needs at least one value`);
    out = out.flatMap((p) => values.map((v) => ({ ...p, [name]: v })));
  }
  return out;
}

/** How a candidate did on the validation set. */
export interface ValidationScore {
  accuracy: number;
  /** Mean −log p(true class), probabilities clipped at 1e-15. */
  logLoss: number;
}

/**
 * Accuracy and log-loss of a fitted classifier on (X, y).
 * @throws RangeError when y holds a label the model has not seen.
 */
export function validationScore(model: Classifier, X: MatrixInput, y: readonly Label[]): ValidationScore {
  const codes = codesFor(y, model.classes_);
  const P: Matrix = model.predictProba(X);
  const L = P.cols;
  let correct = 0, loss = 0;
  for (let i = 0; i < P.rows; i++) {
    const o = i * L;
    let best = 0;
    for (let l = 1; l < L; l++) if (P.data[o + l] > P.data[o + best]) best = l;
    if (best === codes[i]) correct++;
    loss -= Math.log(Math.max(1e-15, P.data[o + codes[i]]));
  }
  return { accuracy: correct / P.rows, logLoss: loss / P.rows };
}

/**
 * Index of the best score: highest accuracy; among equal accuracies the lowest log-loss (the
 * validation sets are small, so accuracies tie often); then the earliest candidate.
 * @throws RangeError on an empty list.
 * @example
 * bestIndex([{ accuracy: .8, logLoss: .5 }, { accuracy: .8, logLoss: .4 }]) // 1
 */
export function bestIndex(scores: readonly ValidationScore[]): number {
  if (scores.length === 0) throw new RangeError('bestIndex: no candidates');
  let best = 0;
  for (let k = 1; k < scores.length; k++) {
    const a = scores[k], b = scores[best];
    if (a.accuracy > b.accuracy + 1e-12 || (Math.abs(a.accuracy - b.accuracy) <= 1e-12 && a.logLoss < b.logLoss)) best = k;
  }
  return best;
}

/** The outcome of {@link gridSearch}. */
export interface GridSearchResult {
  best: Record<string, unknown>;
  bestScore: ValidationScore;
  candidates: Array<{ params: Record<string, unknown>; score: ValidationScore }>;
}

/**
 * Fits one model per grid point on (train) and keeps the best on (validation), by {@link bestIndex}.
 * @param make - builds an unfitted classifier from one grid point.
 * @example
 * gridSearch((p) => new SoftmaxRegression(p), { l2: [1e-3, 1e-1] }, fitSet, valSet).best // { l2: … }
 */
export function gridSearch(make: (params: Record<string, unknown>) => Classifier, grid: ParamGrid,
  train: { X: MatrixInput; y: readonly Label[] }, validation: { X: MatrixInput; y: readonly Label[] }): GridSearchResult {
  const candidates = expandGrid(grid).map((params) => {
    const model = make(params).fit(train.X, train.y);
    return { params, score: validationScore(model, validation.X, validation.y) };
  });
  const k = bestIndex(candidates.map((c) => c.score));
  return { best: candidates[k].params, bestScore: candidates[k].score, candidates };
}
