/**
 * Model and feature files as the CLI commands `fit`, `predict` and `explain` use them: read with
 * messages that name the file, checked against each other, written atomically.
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadModel } from '../model/io.ts';
import type { Classifier, Label } from '../model/types.ts';
import { PrototypeClassifier } from '../model/prototype.ts';
import { FeatureTransform, Pipeline } from '../model/preprocess.ts';
import { readFeatures, type FeatureSet } from '../data/features.node.ts';
import { writeFileAtomicSync } from '../data/atomic.node.ts';
import { checkOutputFile, type OutputCheck } from '../data/outputs.node.ts';
import { CLIError } from './errors.ts';

/** Reads a saved model. @throws CLIError naming the file when it is missing or not a protolens model. */
export function readModelFile(path: string): Classifier {
  if (!existsSync(path)) throw new CLIError(`${path}: model file not found`);
  try {
    return loadModel(readFileSync(path, 'utf8'));
  } catch (e) {
    if (e instanceof TypeError || e instanceof RangeError) throw new CLIError(`${path}: ${e.message}`);
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
 * @throws CLIError naming the file and the kind found.
 */
export function readPrototypeModel(path: string): InterpretableModel {
  const m = readModelFile(path);
  if (m instanceof PrototypeClassifier) return { saved: m, model: m, transform: null };
  if (m instanceof Pipeline && m.model instanceof PrototypeClassifier) return { saved: m, model: m.model, transform: m.transform };
  const inner = m instanceof Pipeline ? ` (a ${m.model.kind} behind a feature transform)` : '';
  throw new CLIError(`${path}: this is a ${m.kind}${inner}; interpretation needs a PrototypeClassifier (fit one with "protolens fit")`);
}

/**
 * Writes a model as JSON, atomically, where protolens may write it (src/data/outputs.node.ts).
 * @throws OutputRefusedError when `path` is an input, a feature sidecar, or a file protolens did not write (without `check.force`).
 */
export function writeModelFile(path: string, model: Classifier, check: OutputCheck = {}): void {
  checkOutputFile(path, 'model', check);
  writeFileAtomicSync(path, JSON.stringify(model.toJSON()) + '\n');
}

/** Reads a feature file. @throws CLIError with the reader's message (which names the file). */
export function readFeatureFile(path: string): FeatureSet {
  try {
    return readFeatures(path);
  } catch (e) {
    if (e instanceof TypeError || e instanceof RangeError) throw new CLIError(e.message);
    throw e;
  }
}

/**
 * Checks a feature file against a model: same dimension, and (when `labels` is 'required') labels
 * present and all known to the model.
 * @returns the labels unknown to the model (empty when all are known or there are none).
 * @throws CLIError naming both files and what differs.
 */
export function checkFeaturesForModel(fs: FeatureSet, model: Classifier, files: { features: string; model: string },
  labels: 'required' | 'optional'): Label[] {
  if (fs.X.cols !== model.nFeatures_) {
    throw new CLIError(`${files.features}: features have ${fs.X.cols} dimensions but the model ${files.model} was fitted on ${model.nFeatures_}; ` +
      'use features made by the same backbone and layer as the training features');
  }
  if (fs.labels.length === 0) {
    if (labels === 'required') throw new CLIError(`${files.features}: the file has no labels; the report compares prototypes with the true classes, so it needs labelled features`);
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
    throw new CLIError(`${files.features}: ${unknown.length} label(s) unknown to the model ${files.model}: ${shown}${unknown.length > 5 ? ', …' : ''}. ` +
      `The model knows ${model.classes_.length} classes: ${model.classes_.slice(0, 5).map((c) => JSON.stringify(c)).join(', ')}${model.classes_.length > 5 ? ', …' : ''}`);
  }
  return unknown;
}

/**
 * The file's labels in the model's label type: a feature file may store numeric class names as
 * strings (CSV), while the model kept numbers, or the reverse.
 */
export function alignLabels(labels: readonly Label[], model: Classifier): Label[] {
  const byText = new Map(model.classes_.map((c) => [String(c), c]));
  return labels.map((l) => byText.get(String(l)) ?? l);
}
