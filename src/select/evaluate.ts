/**
 * Held-out evaluation of the prototype model beside its baselines: a seeded, stratified
 * train/test split or K folds; for each classifier the accuracy, the confusion matrix (summed
 * over the folds: every sample is scored once, by a model that never saw it) and, per class,
 * precision, recall, F1 and support, with their macro averages.
 *
 * Definitions, for class c with confusion counts C[t][p] (t the true class, p the predicted one):
 * precision_c = C[c][c] / Σ_t C[t][c], recall_c = C[c][c] / Σ_p C[c][p],
 * F1_c = 2·precision_c·recall_c / (precision_c + recall_c); a ratio over zero samples is 0, as in
 * scikit-learn's `zero_division=0`. Macro averages weigh classes equally. Accuracy = Σ_c C[c][c] / N.
 *
 * Browser-safe: no I/O.
 */
import { takeRows, toMatrix, type Matrix, type MatrixInput } from '../linalg/matrix.ts';
import { encodeLabels } from '../model/labels.ts';
import type { Classifier, Label } from '../model/types.ts';
import { stratifiedSplit } from '../data/synthetic.ts';
import { foldRows, stratifiedFolds } from './cv.ts';

/** Per-class figures. */
export interface ClassMetrics {
  label: Label;
  precision: number;
  recall: number;
  f1: number;
  /** True samples of the class. */
  support: number;
}

/** What one classifier scored. */
export interface ClassifierEvaluation {
  /** Its name in reports ("prototype", "nearest class mean", …). */
  name: string;
  /** Its settings, as its getParams() reports them. */
  params: Record<string, unknown>;
  accuracy: number;
  /** Accuracy on each fold (one entry for a train/test split). */
  foldAccuracy: number[];
  macro: { precision: number; recall: number; f1: number };
  perClass: ClassMetrics[];
  /** L×L counts: row = true class, column = predicted class, in the order of `classes`. */
  confusion: number[][];
  /** Fit time summed over the folds, in seconds. */
  fitSeconds: number;
}

/** How the data are split. */
export type EvaluationSplit = { kind: 'holdout'; testSize: number } | { kind: 'folds'; folds: number };

/** The whole evaluation. */
export interface Evaluation {
  split: EvaluationSplit;
  seed: number;
  classes: Label[];
  samples: number;
  /** Samples scored (the test part of a split; all of them with folds). */
  scored: number;
  classifiers: ClassifierEvaluation[];
}

/** A classifier to evaluate: a name and a factory (a fresh, unfitted model per fold). */
export interface Candidate {
  name: string;
  make(): Classifier;
}

/**
 * The confusion matrix of predictions: counts[t][p] for true class t and predicted class p, in the
 * order of `classes`.
 * @throws RangeError naming the label when a truth or a prediction is not one of `classes`.
 * @example
 * confusionMatrix(['a', 'a', 'b'], ['a', 'b', 'b'], ['a', 'b']) // [[1, 1], [0, 1]]
 */
export function confusionMatrix(truth: readonly Label[], predicted: readonly Label[], classes: readonly Label[]): number[][] {
  if (truth.length !== predicted.length) throw new RangeError(`confusion matrix: ${truth.length} true labels but ${predicted.length} predictions`);
  const index = new Map(classes.map((c, k) => [`${typeof c}:${String(c)}`, k]));
  const at = (l: Label, what: string): number => {
    const k = index.get(`${typeof l}:${String(l)}`);
    if (k === undefined) throw new RangeError(`confusion matrix: ${what} ${JSON.stringify(l)} is not one of the classes`);
    return k;
  };
  const C = classes.map(() => new Array<number>(classes.length).fill(0));
  for (let i = 0; i < truth.length; i++) C[at(truth[i], 'true label')][at(predicted[i], 'prediction')]++;
  return C;
}

/**
 * Accuracy, per-class precision/recall/F1/support and macro averages of a confusion matrix (see
 * the module comment for the definitions).
 * @example
 * classMetrics([[1, 1], [0, 1]], ['a', 'b']).perClass[1] // { label: 'b', precision: 0.5, recall: 1, f1: 0.667, support: 1 } (f1 = 2/3)
 */
export function classMetrics(C: readonly (readonly number[])[], classes: readonly Label[]): Pick<ClassifierEvaluation, 'accuracy' | 'macro' | 'perClass'> {
  const L = classes.length;
  let total = 0, correct = 0;
  const perClass: ClassMetrics[] = [];
  for (let c = 0; c < L; c++) {
    let row = 0, col = 0;
    for (let k = 0; k < L; k++) { row += C[c][k]; col += C[k][c]; }
    total += row;
    correct += C[c][c];
    const precision = col ? C[c][c] / col : 0, recall = row ? C[c][c] / row : 0;
    perClass.push({ label: classes[c], precision, recall, f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0, support: row });
  }
  const mean = (f: (m: ClassMetrics) => number) => perClass.reduce((s, m) => s + f(m), 0) / L;
  return { accuracy: total ? correct / total : 0, macro: { precision: mean((m) => m.precision), recall: mean((m) => m.recall), f1: mean((m) => m.f1) }, perClass };
}

/** The fit and scored rows of each round: one for a split, K for folds. */
function rounds(y: readonly Label[], split: EvaluationSplit, seed: number): Array<{ fit: number[]; held: number[] }> {
  if (split.kind === 'holdout') {
    if (!(split.testSize > 0 && split.testSize < 1)) throw new RangeError(`evaluation: the test size must be a fraction in (0, 1), got ${split.testSize}`);
    const s = stratifiedSplit(y, split.testSize, seed);
    if (s.test.length === 0) throw new RangeError('evaluation: the test part is empty (every class needs at least 2 samples)');
    return [{ fit: s.train, held: s.test }];
  }
  if (!Number.isInteger(split.folds) || split.folds < 2) throw new RangeError(`evaluation: folds must be an integer ≥ 2, got ${split.folds}`);
  const { fold, folds } = stratifiedFolds(y, split.folds, seed);
  return Array.from({ length: folds }, (_, k) => foldRows(fold, k));
}

/** Options of {@link evaluateClassifiers}. */
export interface EvaluateOptions {
  split: EvaluationSplit;
  /** Seed of the split (recorded in the result). */
  seed: number;
  /** Called after each fit: classifier index, round, rounds. */
  onProgress?: (p: { classifier: number; round: number; rounds: number }) => void;
}

/**
 * Evaluates each candidate on the same rounds (the same split or folds, decided by `seed`):
 * fitted on the fit rows of a round, scored on its held rows, counts summed over the rounds.
 * @throws RangeError for a bad split, a class too small to be both fitted and scored, or the
 *   candidates' own errors.
 * @example
 * const e = evaluateClassifiers(X, y, [{ name: 'nearest class mean', make: () => new NearestClassMean() }], { split: { kind: 'folds', folds: 5 }, seed: 0 });
 * e.classifiers[0].confusion // 5-fold confusion matrix, every sample counted once
 */
export function evaluateClassifiers(Xin: MatrixInput, y: readonly Label[], candidates: readonly Candidate[], o: EvaluateOptions): Evaluation {
  const X: Matrix = toMatrix(Xin);
  if (y.length !== X.rows) throw new RangeError(`evaluation: ${y.length} labels for ${X.rows} samples`);
  const classes = encodeLabels(y).classes;
  const plan = rounds(y, o.split, o.seed);
  const results = candidates.map((cand, ci): ClassifierEvaluation => {
    const truth: Label[] = [], predicted: Label[] = [];
    const foldAccuracy: number[] = [];
    let fitSeconds = 0, params: Record<string, unknown> = {};
    plan.forEach((r, k) => {
      const model = cand.make();
      params = model.getParams();
      const t0 = performance.now();
      model.fit(takeRows(X, r.fit), r.fit.map((i) => y[i]));
      fitSeconds += (performance.now() - t0) / 1000;
      const p = model.predict(takeRows(X, r.held));
      let right = 0;
      r.held.forEach((i, j) => { truth.push(y[i]); predicted.push(p[j]); if (String(p[j]) === String(y[i])) right++; });
      foldAccuracy.push(right / r.held.length);
      o.onProgress?.({ classifier: ci, round: k, rounds: plan.length });
    });
    const confusion = confusionMatrix(truth, predicted, classes);
    return { name: cand.name, params, ...classMetrics(confusion, classes), foldAccuracy, confusion, fitSeconds };
  });
  return { split: o.split, seed: o.seed, classes, samples: X.rows, scored: plan.reduce((s, r) => s + r.held.length, 0), classifiers: results };
}
