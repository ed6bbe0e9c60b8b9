/**
 * The contract every protolens classifier keeps (the prototype model and its baselines).
 *
 * In the style of scikit-learn: the constructor only stores and checks options; `fit(X, y)`
 * learns and returns the estimator; learned state carries a trailing underscore; `predict`,
 * `predictProba` and `explain` throw a clear "not fitted" error before `fit`; `predict` never
 * changes the model. Labels are kept exactly as given (strings or numbers).
 */
import type { Matrix, MatrixInput } from '../linalg/matrix.ts';
import { VERSION } from '../version.ts';

/** A class label, kept as the user gave it. */
export type Label = string | number;

/** Version of the saved-model format written by `toJSON`. */
export const MODEL_FORMAT = 'protolens-model';
export const MODEL_FORMAT_VERSION = 1;

/**
 * What made the features a model was fitted on: the network, its layer and how images became its
 * input. `protolens fit` copies it from the feature file's sidecar; `predict`, `explain`, `serve`
 * and `evaluate` refuse features made otherwise, and `predict --images` embeds images with it.
 * Unknown (null) for features from elsewhere (CSV, JSON lines) and for models saved before it existed.
 */
export interface FeatureOrigin {
  /** The backbone's name: "mobilenet_v2", "inception_v3", or a model folder's name. */
  backbone: string;
  /** The layer (or graph node) whose output is the feature. */
  layer?: string;
  /** SHA-256 of the network's topology and weights: two backbones with the same name but other weights differ here. */
  weightsHash?: string;
  /** Where the network came from: the package and its version, or the model folder's path. */
  source?: string;
  /** Feature dimension. */
  dim?: number;
  /** How the layer's output became a vector: none, global-average, global-max, flatten. */
  pooling?: string;
  /** How images were turned into the network's input (size, resize, value range, colour). */
  preprocessing?: Record<string, unknown>;
  /** Test-time shifts in input pixels: the features were means over the (2·tta + 1)² moves of up to tta pixels (absent: none). */
  tta?: number;
}

/** What every saved model looks like at the top level. */
export interface ModelJSON {
  format: typeof MODEL_FORMAT;
  version: number;
  kind: string;
  params: Record<string, unknown>;
  classes: Label[];
  nFeatures: number;
  /** What made the features the model was fitted on (absent when unknown, and in older files). */
  origin?: FeatureOrigin;
  [key: string]: unknown;
}

/** One classifier: the prototype model or a baseline. */
export interface Classifier {
  /** The class name, e.g. "PrototypeClassifier". Written into saved models. */
  readonly kind: string;
  /** Learned class labels, in the column order of `predictProba`. */
  readonly classes_: readonly Label[];
  /** Dimension of the features seen at fit time. */
  readonly nFeatures_: number;
  /**
   * What made the features it was fitted on (null when unknown). Not learned by `fit(X, y)`,
   * which sees numbers only: set by whoever knows (e.g. `protolens fit`, from the feature file),
   * then saved with the model and restored by `loadModel`.
   */
  origin_: FeatureOrigin | null;
  /** Learns from samples X (N×D) and labels y (length N). Returns this. */
  fit(X: MatrixInput, y: readonly Label[]): this;
  /** Predicted label per sample. */
  predict(X: MatrixInput): Label[];
  /** Class probabilities, N×L, columns in the order of `classes_`. */
  predictProba(X: MatrixInput): Matrix;
  /** Accuracy on (X, y). @throws RangeError when y holds a label not seen in training. */
  score(X: MatrixInput, y: readonly Label[]): number;
  /** The options, as given merged with defaults. */
  getParams(): Record<string, unknown>;
  /** True once fitted. */
  isFitted(): boolean;
  /** A JSON-serialisable snapshot (format + version + kind), readable by `loadModel`. */
  toJSON(): ModelJSON;
}

/** Per-iteration record of a training run. */
export interface IterationRecord {
  /** Outer iteration (0 = after initialisation; the epoch in a streamed fit). */
  iter: number;
  /** Which step produced this value ('epoch': a streamed fit's pass over the data, src/model/streamed.ts). */
  step: 'init' | 'class' | 'prototype' | 'metric' | 'reseed' | 'grow' | 'prune' | 'epoch';
  /** Total objective C = NLL + penalty. */
  loss: number;
  /** −(1/N) Σ log c_{y_i}(x_i). */
  nll: number;
  /** α‖W‖₁ or α‖W‖₂², plus the learned metric's pull towards its start. */
  penalty: number;
  /** Training accuracy at this point. */
  accuracy: number;
  /** J at this point (changes only with adaptive J, at 'grow' records). */
  nPrototypes?: number;
  /**
   * A streamed fit's epoch that raised the objective over all rows to this value and was undone
   * (src/model/streamed.ts): the record's own values are those of the state kept.
   */
  undone?: number;
}

/** Called during training after every step, e.g. to drive a progress bar. */
export type ProgressCallback = (record: IterationRecord, maxIter: number) => void;

/** Error thrown when a model is used before `fit`. */
export class NotFittedError extends Error {
  constructor(kind: string) {
    super(`This ${kind} instance is not fitted yet. Call fit(X, y) before using this method.`);
    this.name = 'NotFittedError';
  }
}

/** The top-level fields every saved model starts with (`origin` only when known). */
export function modelHeader(kind: string, params: Record<string, unknown>, classes: readonly Label[], nFeatures: number,
  origin: FeatureOrigin | null = null): ModelJSON {
  const h: ModelJSON = { format: MODEL_FORMAT, version: MODEL_FORMAT_VERSION, kind, library: `protolens ${VERSION}`, params, classes: classes.slice(), nFeatures };
  if (origin) h.origin = structuredClone(origin);
  return h;
}
