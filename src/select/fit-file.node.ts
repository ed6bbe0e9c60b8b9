/**
 * The `fit` job on files (Node): read a labelled feature file, learn the feature transform, fit the
 * prototype model with the given settings or choose them by cross-validation on every core, and
 * save the model (behind its transform) where protolens may write.
 */
import { readFeatures } from '../data/features.node.ts';
import { writeModelFile } from '../data/modelfile.node.ts';
import type { OutputCheck } from '../data/outputs.node.ts';
import { featureOrigin } from '../data/origin.ts';
import { checkOutputFile } from '../data/outputs.node.ts';
import { FeatureTransform, Pipeline, type PreprocessChoice, type PreprocessMethod } from '../model/preprocess.ts';
import { resolvePreprocess } from '../data/featurefile.ts';
import { PrototypeClassifier, type PrototypeOptions } from '../model/prototype.ts';
import type { ProgressCallback } from '../model/types.ts';
import type { CalibrationRecord } from '../model/calibration.ts';
import type { NoveltyScoreKind } from '../model/novelty.ts';
import { PrototypeClassifierCV, type SearchGrid, type SearchRecord } from './cv.ts';
import { workerRunner } from './cv-workers.node.ts';
import { calibrateByCrossFitting } from './calibrate.ts';

/** What to fit and where. */
export interface FitFileOptions {
  features: string;
  out: string;
  /**
   * Feature transform learned on these features and saved with the model; `auto`: the one the
   * feature file recommends (its backbone's card), else `sqrt-l2` (`resolvePreprocess`).
   */
  preprocess: PreprocessChoice;
  /** Model options (with `cv`: the options every candidate shares). */
  model: PrototypeOptions;
  /** Choose the settings by stratified K-fold cross-validation over `grid`. */
  cv?: { folds: number; grid?: Partial<SearchGrid>; threads?: number; onJob?: (done: number, total: number) => void };
  /**
   * Fit the class layer's temperature and the rejection threshold on out-of-fold outputs
   * (src/select/calibrate.ts): with `cv`, of the chosen setting on the search's folds; otherwise
   * of `folds` fits of the same settings.
   */
  calibrate?: { folds?: number; score?: NoveltyScoreKind; targetFalseRejection?: number; onFold?: (done: number, total: number) => void };
  check?: OutputCheck;
  onProgress?: ProgressCallback;
}

/** What was fitted. */
export interface FitFileResult {
  model: PrototypeClassifier;
  transform: FeatureTransform | null;
  /** The preprocessing used (`auto` resolved), and where it came from: the options, the feature file's recommendation, or the default. */
  preprocess: PreprocessMethod;
  preprocessSource: 'given' | 'features' | 'default';
  rows: number;
  cols: number;
  seconds: number;
  search: SearchRecord | null;
  calibration: CalibrationRecord | null;
}

/**
 * Fits and saves a model.
 * @throws RangeError/TypeError naming the features file (missing, unlabelled, bad rows, a
 *   recommended preprocessing that is not a method) or a bad option; OutputRefusedError when
 *   `out` may not be written.
 * @example
 * const r = await fitFile({ features: 'f.npy', out: 'model.json', preprocess: 'sqrt-l2', model: {}, cv: { folds: 5 } });
 * r.search!.candidates[r.search!.chosen].mean // cross-validated accuracy of the chosen setting
 * (await fitFile({ features: 'conv4.npy', out: 'm.json', preprocess: 'auto', model: {} })).preprocess // 'none' (omniglot_conv4's features)
 */
export async function fitFile(o: FitFileOptions): Promise<FitFileResult> {
  checkOutputFile(o.out, 'model', { ...o.check, inputs: [o.features, ...(o.check?.inputs ?? [])] });
  const fs = readFeatures(o.features);
  if (fs.labels.length === 0) throw new RangeError(`${o.features}: the file has no labels; fitting needs one label per row`);
  const pre = resolvePreprocess(o.preprocess, fs.meta, o.features);
  const transform = pre.method === 'none' ? null : new FeatureTransform(pre.method);
  const t0 = performance.now();
  let model: PrototypeClassifier, search: SearchRecord | null = null, calibration: CalibrationRecord | null = null;
  try {
    const X = transform ? transform.fitTransform(fs.X) : fs.X;
    const seed = o.model.seed ?? 0;
    if (o.cv) {
      const cv = new PrototypeClassifierCV({ folds: o.cv.folds, seed, grid: o.cv.grid, base: o.model });
      await cv.fitWith(workerRunner(o.cv.threads, o.cv.onJob), X, fs.labels);
      model = cv.best_!;
      search = cv.search_;
    } else {
      model = new PrototypeClassifier(o.model).fit(X, fs.labels, o.onProgress);
    }
    if (o.calibrate) {
      // With --cv: the chosen setting's fold fits (the search's folds and seeds); otherwise the model's own settings.
      const chosen = search ? (({ prototypesPerClass: _ppc, ...p }) => p)(search.candidates[search.chosen].params) : undefined;
      const { onFold, ...c } = o.calibrate;
      calibration = calibrateByCrossFitting(model, X, fs.labels, {
        ...c, folds: search ? search.folds : c.folds, seed, params: chosen ? { ...chosen, seed } : undefined, onFold,
      });
    }
  } catch (e) {
    if (e instanceof RangeError) throw new RangeError(`${o.features}: ${e.message}`);
    if (e instanceof TypeError) throw new TypeError(`${o.features}: ${e.message}`);
    throw e;
  }
  // The saved model records what made its features, so that features made otherwise are refused later.
  const saved = transform ? new Pipeline(transform, model) : model;
  saved.origin_ = featureOrigin(fs.meta);
  writeModelFile(o.out, saved, { ...o.check, inputs: [o.features, ...(o.check?.inputs ?? [])] });
  return { model, transform, preprocess: pre.method, preprocessSource: pre.source, rows: fs.X.rows, cols: fs.X.cols, seconds: (performance.now() - t0) / 1000, search, calibration };
}

/** A setting in words, for the search summary: `lowrank metric, 2 prototypes/class, L2 α 1e-5, τ auto × 1, shrinkage 0.2`. */
export function describeSetting(p: SearchRecord['candidates'][number]['params']): string {
  const parts = [`${p.metric ?? 'euclidean'} metric`, `${p.prototypesPerClass} prototype${p.prototypesPerClass > 1 ? 's' : ''}/class`,
    `${(p.regularization ?? 'l2').toUpperCase()} α ${p.alpha}`, p.tau === 'auto' ? `τ auto × ${p.tauScale ?? 'default'}` : `τ ${p.tau}`];
  if (p.metric === 'lowrank' && p.metricRank) parts.push(`rank ≤ ${p.metricRank}`);
  if (p.metric && p.metric !== 'euclidean' && p.shrinkage !== undefined) parts.push(`shrinkage ${p.shrinkage}`);
  return parts.join(', ');
}
