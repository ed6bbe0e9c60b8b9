/**
 * Saved models as files (Node): read with messages that name the file, checked against a feature
 * file, written atomically where protolens may write (src/data/outputs.node.ts). What `fit`,
 * `predict`, `explain` and the demo read and write.
 */
import { loadModel } from '../model/io.ts';
import type { Classifier, Label, ModelJSON } from '../model/types.ts';
import { PrototypeClassifier } from '../model/prototype.ts';
import { FeatureTransform, Pipeline } from '../model/preprocess.ts';
import type { FeatureSet } from './featurefile.ts';
import { describeOrigin, featureOrigin, originDifference } from './origin.ts';
import { writeFileAtomicSync } from './atomic.node.ts';
import { readInputFile } from './files.node.ts';
import { parseJsonBytes } from './json.ts';
import { checkOutputFile, type OutputCheck } from './outputs.node.ts';

/**
 * Reads a saved model (any protolens classifier, or a Pipeline).
 * The JSON is read from the file's bytes with bounded depth and memory ({@link parseJsonBytes}).
 * @throws RangeError naming the file when it is missing, a folder or unreadable; TypeError/RangeError
 *   naming the file when it is not valid JSON or not a protolens model.
 * @example
 * readModelFile('model.json').kind // 'PrototypeClassifier'
 */
export function readModelFile(path: string): Classifier {
  const bytes = readInputFile(path, 'model file');
  try {
    return loadModel(parseJsonBytes(bytes, 'model: not valid JSON') as ModelJSON);
  } catch (e) {
    if (e instanceof TypeError) throw new TypeError(`${path}: ${e.message}`);
    if (e instanceof RangeError) throw new RangeError(`${path}: ${e.message}`);
    throw e;
  }
}

/** A prototype model, with the feature transform in front of it when it was saved as a Pipeline. */
export interface InterpretableModel {
  /** The model as saved (checks of the features' dimension go against it). */
  saved: Classifier;
  /** The prototype model, which works in the transformed space. */
  model: PrototypeClassifier;
  /** Applied to the features before the prototype model (none for a plain PrototypeClassifier). */
  transform: FeatureTransform | null;
}

/**
 * Reads a saved model that must be a PrototypeClassifier, alone or behind a feature transform (a
 * Pipeline, as `protolens fit --preprocess` writes).
 * @throws TypeError naming the file and the kind found; the errors of {@link readModelFile}.
 * @example
 * const { model, transform } = readPrototypeModel('model.json'); // transform null for a plain model
 */
export function readPrototypeModel(path: string): InterpretableModel {
  const m = readModelFile(path);
  if (m instanceof PrototypeClassifier) return { saved: m, model: m, transform: null };
  if (m instanceof Pipeline && m.model instanceof PrototypeClassifier) return { saved: m, model: m.model, transform: m.transform };
  const inner = m instanceof Pipeline ? ` (a ${m.model.kind} behind a feature transform)` : '';
  throw new TypeError(`${path}: this is a ${m.kind}${inner}; interpretation needs a PrototypeClassifier (fit one with "protolens fit")`);
}

/**
 * Writes a model as JSON, atomically, where protolens may write it (src/data/outputs.node.ts).
 * @throws OutputRefusedError when `path` is an input, a feature sidecar, or a file protolens did not write (without `check.force`).
 * @example
 * writeModelFile('model.json', model, { inputs: ['f.npy'] });
 */
export function writeModelFile(path: string, model: Classifier, check: OutputCheck = {}): void {
  checkOutputFile(path, 'model', check);
  writeFileAtomicSync(path, JSON.stringify(model.toJSON()) + '\n');
}

/**
 * Checks a feature file against a model: made the same way (the backbone, layer and input size the
 * model recorded, when both sides record them: src/data/origin.ts), same dimension, and (when
 * `labels` is 'required') labels present and all known to the model.
 * @returns the labels unknown to the model (empty when all are known or there are none).
 * @throws RangeError naming both files and what differs.
 * @example
 * checkFeaturesForModel(fs, model, { features: 'f.npy', model: 'm.json' }, 'optional') // [] when all labels are known
 */
export function checkFeaturesForModel(fs: FeatureSet, model: Classifier, files: { features: string; model: string },
  labels: 'required' | 'optional'): Label[] {
  const made = featureOrigin(fs.meta);
  const difference = model.origin_ && made ? originDifference(model.origin_, made) : null;
  if (difference) {
    throw new RangeError(`${files.features}: features made by ${describeOrigin(made!)}, but the model ${files.model} was fitted on features made by ` +
      `${describeOrigin(model.origin_!)} (${difference}); extract the features with the model's backbone, layer and input size`);
  }
  if (fs.X.cols !== model.nFeatures_) {
    throw new RangeError(`${files.features}: features have ${fs.X.cols} dimensions but the model ${files.model} was fitted on ${model.nFeatures_}; ` +
      'use features made by the same backbone and layer as the training features');
  }
  if (fs.labels.length === 0) {
    if (labels === 'required') throw new RangeError(`${files.features}: the file has no labels; the report compares prototypes with the true classes, so it needs labelled features`);
    return [];
  }
  const known = new Set(model.classes_.map((c) => String(c)));
  const unknown: Label[] = [];
  const firstAt = new Map<string, number>();
  fs.labels.forEach((l, i) => {
    if (!known.has(String(l)) && !firstAt.has(String(l))) { firstAt.set(String(l), i); unknown.push(l); }
  });
  if (unknown.length && labels === 'required') {
    const shown = unknown.slice(0, 5).map((l) => `${JSON.stringify(l)} (row ${firstAt.get(String(l))})`).join(', ');
    throw new RangeError(`${files.features}: ${unknown.length} label(s) unknown to the model ${files.model}: ${shown}${unknown.length > 5 ? ', …' : ''}. ` +
      `The model knows ${model.classes_.length} classes: ${model.classes_.slice(0, 5).map((c) => JSON.stringify(c)).join(', ')}${model.classes_.length > 5 ? ', …' : ''}`);
  }
  return unknown;
}

/**
 * The file's labels in the model's label type: a feature file may store numeric class names as
 * strings (CSV), while the model kept numbers, or the reverse.
 * @example
 * alignLabels(['1', 'a'], modelWithClasses([1, 'a'])) // [1, 'a']
 */
export function alignLabels(labels: readonly Label[], model: Pick<Classifier, 'classes_'>): Label[] {
  const byText = new Map(model.classes_.map((c) => [String(c), c]));
  return labels.map((l) => byText.get(String(l)) ?? l);
}
