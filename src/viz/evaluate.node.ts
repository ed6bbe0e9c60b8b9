/**
 * The `evaluate` job on files (Node): a labelled feature file, the prototype model beside its
 * baselines behind the same feature transform, scored on a held-out split or K folds
 * (src/select/evaluate.ts), written as a report folder: report.html (tables and one confusion
 * matrix per classifier), evaluation.json, evaluation.md and confusion-<classifier>.svg, all or
 * nothing, where protolens may write (src/data/outputs.node.ts).
 */
import { resolve } from 'node:path';
import { readFeatures } from '../data/features.node.ts';
import { readPrototypeModel } from '../data/modelfile.node.ts';
import { checkOutputFolder, writeOutputFolder, type OutputCheck } from '../data/outputs.node.ts';
import { PrototypeClassifier, type PrototypeOptions } from '../model/prototype.ts';
import { KNearestNeighbors, NearestClassMean, SoftmaxRegression } from '../model/baselines.ts';
import { FeatureTransform, Pipeline, type PreprocessChoice, type PreprocessMethod } from '../model/preprocess.ts';
import { resolvePreprocess, type FeatureMeta } from '../data/featurefile.ts';
import type { Classifier } from '../model/types.ts';
import { evaluateClassifiers, type Candidate, type Evaluation, type EvaluationSplit } from '../select/evaluate.ts';
import { VERSION } from '../version.ts';
import { confusionSpec, evaluationHtml, evaluationMarkdown } from './evaluation.ts';
import { renderSvg } from './render.ts';

/** The classifiers `evaluate` knows, by the names its options use (those of `bench episodes --classifiers`). */
export const EVALUATE_CLASSIFIERS = ['prototype', 'class-mean', 'softmax', 'knn'] as const;
export type EvaluateClassifier = typeof EVALUATE_CLASSIFIERS[number];

const NAMES: Record<EvaluateClassifier, string> = {
  prototype: 'prototype model', 'class-mean': 'nearest class mean', softmax: 'softmax regression (L2)', knn: '1-nearest neighbour',
};

/**
 * Checks a list of classifier names.
 * @throws RangeError listing the valid names.
 */
export function checkEvaluateClassifiers(names: readonly string[]): EvaluateClassifier[] {
  for (const n of names) {
    if (!(EVALUATE_CLASSIFIERS as readonly string[]).includes(n)) throw new RangeError(`Invalid classifier: ${n}. Should be one of: ${EVALUATE_CLASSIFIERS.join(', ')}`);
  }
  if (names.length === 0) throw new RangeError(`Invalid classifiers: none given. Should be one of: ${EVALUATE_CLASSIFIERS.join(', ')}`);
  return [...new Set(names)] as EvaluateClassifier[];
}

/** What to evaluate and where to write. */
export interface EvaluateFileOptions {
  features: string;
  out: string;
  split: EvaluationSplit;
  seed: number;
  /**
   * Feature transform every classifier is fitted behind (learned on each fit part only); `auto`:
   * the one the feature file recommends, else `sqrt-l2` (`resolvePreprocess`). The evaluation
   * records the method used.
   */
  preprocess: PreprocessChoice;
  /** The prototype model's options (the seed is the evaluation's unless given). */
  model?: PrototypeOptions;
  /**
   * A model file `fit` wrote (a PrototypeClassifier, or a Pipeline with one): its prototype model's
   * settings (e.g. those `fit --cv` chose, with its seed) and its feature transform are evaluated,
   * in place of `model` and `preprocess`.
   */
  settingsFrom?: string;
  /** Which classifiers (default all, the prototype model first). */
  classifiers?: readonly EvaluateClassifier[];
  title?: string;
  command?: string;
  /** Also write the figures as SVG files (default true). */
  svg?: boolean;
  check?: OutputCheck;
  onProgress?: (p: { classifier: number; round: number; rounds: number }) => void;
}

function candidate(kind: EvaluateClassifier, preprocess: PreprocessMethod, model: PrototypeOptions): Candidate {
  const inner = (): Classifier => kind === 'prototype' ? new PrototypeClassifier(model)
    : kind === 'class-mean' ? new NearestClassMean() : kind === 'softmax' ? new SoftmaxRegression() : new KNearestNeighbors({ k: 1 });
  return { name: NAMES[kind], make: () => (preprocess === 'none' ? inner() : new Pipeline(new FeatureTransform(preprocess), inner())) };
}

/** The prototype model's options and the feature transform: the options' (`auto` resolved on the features' metadata), or a saved model's. */
function settings(o: EvaluateFileOptions, meta: FeatureMeta): { model: PrototypeOptions; preprocess: PreprocessMethod } {
  if (!o.settingsFrom) return { model: { seed: o.seed, ...o.model }, preprocess: resolvePreprocess(o.preprocess, meta, o.features).method };
  const saved = readPrototypeModel(o.settingsFrom);
  return { model: saved.model.getParams() as PrototypeOptions, preprocess: saved.transform?.method ?? 'none' };
}

/**
 * Evaluates and writes the report folder.
 * @throws OutputRefusedError when `out` may not be written (checked before any work); RangeError/
 *   TypeError naming the features' file (missing, unlabelled, a class too small for the split)
 *   or a bad option.
 * @example
 * const { evaluation } = await evaluateFile({ features: 'f.npy', out: 'protolens-out/evaluation', split: { kind: 'folds', folds: 5 }, seed: 0, preprocess: 'sqrt-l2' });
 * evaluation.classifiers[0].accuracy // the prototype model's 5-fold accuracy
 */
export async function evaluateFile(o: EvaluateFileOptions): Promise<{ evaluation: Evaluation; files: string[]; dir: string }> {
  const check: OutputCheck = { ...o.check, inputs: [o.features, ...(o.settingsFrom ? [o.settingsFrom] : []), ...(o.check?.inputs ?? [])] };
  checkOutputFolder(o.out, 'evaluation', check);
  const fs = readFeatures(o.features);
  const { model, preprocess } = settings(o, fs.meta);
  if (fs.labels.length === 0) throw new RangeError(`${o.features}: the file has no labels; an evaluation compares predictions with the true classes`);
  const kinds = o.classifiers ?? EVALUATE_CLASSIFIERS;
  let evaluation: Evaluation;
  try {
    evaluation = evaluateClassifiers(fs.X, fs.labels, kinds.map((k) => candidate(k, preprocess, model)), { split: o.split, seed: o.seed, onProgress: o.onProgress });
  } catch (e) {
    if (e instanceof RangeError) throw new RangeError(`${o.features}: ${e.message}`);
    if (e instanceof TypeError) throw new TypeError(`${o.features}: ${e.message}`);
    throw e;
  }
  // Everything is rendered before the folder is replaced, so a failure leaves an earlier report intact.
  const svgs = await Promise.all(evaluation.classifiers.map((_, i) => renderSvg(confusionSpec(evaluation, i))));
  const title = o.title ?? `Evaluation of ${o.features}`;
  const json = {
    format: 'protolens-evaluation', version: 1, library: `protolens ${VERSION}`, created: new Date().toISOString(),
    command: o.command ?? null, features: { path: o.features, rows: fs.X.rows, cols: fs.X.cols, meta: fs.meta },
    settingsFrom: o.settingsFrom ?? null, preprocess, ...evaluation,
  };
  const files: Record<string, string> = {
    'report.html': evaluationHtml(evaluation, { title, dataFile: o.features, preprocess, command: o.command, library: `protolens ${VERSION}` }, svgs),
    'evaluation.json': JSON.stringify(json, null, 1) + '\n',
    'evaluation.md': evaluationMarkdown(evaluation, title),
  };
  if (o.svg !== false) kinds.forEach((k, i) => { files[`confusion-${k}.svg`] = svgs[i]; });
  const dir = resolve(o.out);
  writeOutputFolder(dir, files, 'evaluation', check);
  return { evaluation, files: Object.keys(files), dir };
}
