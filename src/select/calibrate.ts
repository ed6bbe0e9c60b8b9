/**
 * Calibration where users fit (docs/openset.md, "Calibration"): the temperature of the class layer
 * and the rejection threshold need samples the model was not fitted on. `protolens fit
 * --calibrate` and `--cv` get them by K-fold cross-fitting: each fold is left out once, a model
 * with the same settings is fitted on the other folds, and its logits and novelty scores on the
 * fold left out are kept (out-of-fold outputs, as in scikit-learn's cross_val_predict); the
 * temperature and the threshold are fitted on all of them and given to the model fitted on all
 * the data. With `--cv`, the fold models are those of the chosen setting (the same folds and seeds
 * as the search). No sample ever calibrates a model that was fitted on it.
 *
 * Browser-safe: the fits run one after the other.
 */
import { takeRows, type Matrix, type MatrixInput } from '../linalg/matrix.ts';
import { deriveSeed } from '../linalg/random.ts';
import { checkXy } from '../model/labels.ts';
import { PrototypeClassifier, type PrototypeOptions } from '../model/prototype.ts';
import type { CalibrationOptions, CalibrationRecord, HeldOutOutputs } from '../model/calibration.ts';
import { DEFAULT_NOVELTY_SCORE, checkNoveltyScore } from '../model/novelty.ts';
import type { Label } from '../model/types.ts';
import { foldRows, stratifiedFolds } from './cv.ts';

/** Options of {@link calibrateByCrossFitting}. */
export interface CrossFitOptions extends Omit<CalibrationOptions, 'source'> {
  /** Number of folds (fewer when the smallest class has fewer samples). Default 5. */
  folds?: number;
  /** Seed of the folds; fold k's model is seeded by deriveSeed(seed, k), as in cross-validation. Default: the model's seed. */
  seed?: number;
  /** Options of the fold models. Default: the model's own (its `getParams()`). */
  params?: PrototypeOptions;
  /** Called after each fold's fit. */
  onFold?: (done: number, total: number) => void;
}

/**
 * Out-of-fold logits and novelty scores: for each fold k, a model with `params` (seeded by
 * deriveSeed(seed, k)) fitted on the other folds, applied to fold k.
 * @throws RangeError when a class has fewer than 2 samples, or the fits' errors.
 * @example
 * const held = outOfFoldOutputs(X, y, stratifiedFolds(y, 5, 0), { nPrototypes: 20 }, 0, 'relative');
 * held.logits.rows === y.length // true
 */
export function outOfFoldOutputs(X: Matrix, y: readonly Label[], folds: { fold: Int32Array; folds: number }, params: PrototypeOptions,
  seed: number, score = DEFAULT_NOVELTY_SCORE, onFold?: (done: number, total: number) => void): HeldOutOutputs & { classes: Label[] } {
  const { labels } = checkXy(X, y);
  const L = labels.classes.length, N = X.rows;
  const logits = new Float32Array(N * L), novelty = new Float64Array(N);
  for (let k = 0; k < folds.folds; k++) {
    const { fit, held } = foldRows(folds.fold, k);
    const yFit = fit.map((i) => y[i]);
    const model = new PrototypeClassifier({ ...params, seed: deriveSeed(seed, k) }).fit(takeRows(X, fit), yFit);
    const Xh = takeRows(X, held);
    const z = model.decisionFunction(Xh), s = model.novelty(Xh, score).score;
    // A fold model may lack a class with very few samples: its logit column stays at −∞ (never the answer).
    const col = labels.classes.map((c) => model.classes_.indexOf(c));
    held.forEach((i, r) => {
      for (let l = 0; l < L; l++) logits[i * L + l] = col[l] >= 0 ? z.data[r * z.cols + col[l]] : -1e30;
      novelty[i] = s[r];
    });
    onFold?.(k + 1, folds.folds);
  }
  return { logits: { data: logits, rows: N, cols: L }, codes: labels.codes, novelty, classes: labels.classes };
}

/**
 * Calibrates a model fitted on (X, y) with out-of-fold outputs of models fitted like it on K − 1
 * folds of the same data; the model's labels do not change.
 * @returns the record, also kept in the model (`calibration_`, saved with it).
 * @throws RangeError when the model was not fitted on these classes, a class has fewer than 2
 *   samples, or for a bad option.
 * @example
 * const m = new PrototypeClassifier().fit(X, y);
 * calibrateByCrossFitting(m, X, y, { folds: 5 }).ece // { before: 0.08, after: 0.02 }
 */
export function calibrateByCrossFitting(model: PrototypeClassifier, Xin: MatrixInput, y: readonly Label[], options: CrossFitOptions = {}): CalibrationRecord {
  const { X } = checkXy(Xin, y);
  const folds = stratifiedFolds(y, options.folds ?? 5, options.seed ?? Number(model.getParams().seed ?? 0));
  const params = options.params ?? (model.getParams() as PrototypeOptions);
  const score = checkNoveltyScore(options.score ?? DEFAULT_NOVELTY_SCORE);
  const held = outOfFoldOutputs(X, y, folds, params, options.seed ?? Number(params.seed ?? 0), score, options.onFold);
  if (held.classes.length !== model.classes_.length || held.classes.some((c, l) => c !== model.classes_[l])) {
    throw new RangeError('calibration: the model was fitted on other classes than the samples given');
  }
  const { folds: _f, seed: _s, params: _p, onFold: _o, ...calibration } = options;
  return model.applyCalibration(held, { ...calibration, score }, `out-of-fold outputs of ${folds.folds}-fold cross-fitting (${X.rows} samples)`);
}
