/**
 * Feature preprocessing fitted on training data only, and the {@link Pipeline} classifier that
 * stores it with a model.
 *
 * Distance-based models (the prototype layer, the class mean, k-NN) measure in the geometry of the
 * feature space, so the way CNN features are scaled decides how well they work (docs/benchmark.md,
 * "Preprocessing"). The steps, always in this order, each optional:
 *  1. signed square root x ← sign(x)·√|x| (power normalisation, Perronnin, Sánchez & Mensink,
 *     "Improving the Fisher kernel for large-scale image classification", ECCV 2010); on the
 *     non-negative outputs of a ReLU network it is the plain element-wise √;
 *  2. centring on the mean of the training samples (after step 1);
 *  3. L2 normalisation of each sample (a zero row stays zero).
 *
 * Browser-safe: no I/O.
 */
import { toMatrix, type Matrix, type MatrixInput } from '../linalg/matrix.ts';
import {
  NotFittedError, modelHeader,
  type Classifier, type FeatureOrigin, type Label, type ModelJSON,
} from './types.ts';
import { scoreOf } from './labels.ts';
import { checkHeader, jsonFloats, readOrigin } from './json.ts';

/** The preprocessing methods, named by their steps. */
export const PREPROCESS_METHODS = ['none', 'l2', 'center-l2', 'sqrt-l2', 'sqrt-center-l2'] as const;

/** One of {@link PREPROCESS_METHODS}. */
export type PreprocessMethod = typeof PREPROCESS_METHODS[number];

/**
 * The preprocessing for features that name none: what `--preprocess auto` falls back to when the
 * feature file records no recommendation (files written before recommendations, CSV and JSONL,
 * user ONNX models that declare none), and the one the bundled ImageNet networks recommend. It measured best on
 * their features (BENCHMARKS.md, "Prototype model with a learned metric"); learned embeddings
 * recommend `none` instead (docs/embedding.md).
 */
export const DEFAULT_PREPROCESS: PreprocessMethod = 'sqrt-l2';

/** What `--preprocess` takes: a method, or `auto`, the one the features recommend ({@link PREPROCESS_CHOICES}). */
export type PreprocessChoice = PreprocessMethod | 'auto';

/**
 * The values of `--preprocess`: `auto` (the default of every command that takes it: the
 * preprocessing the feature file's backbone recommends, else {@link DEFAULT_PREPROCESS}), then the
 * methods.
 */
export const PREPROCESS_CHOICES: readonly PreprocessChoice[] = ['auto', ...PREPROCESS_METHODS];

const STEPS: Record<PreprocessMethod, { sqrt: boolean; center: boolean; l2: boolean }> = {
  none: { sqrt: false, center: false, l2: false },
  l2: { sqrt: false, center: false, l2: true },
  'center-l2': { sqrt: false, center: true, l2: true },
  'sqrt-l2': { sqrt: true, center: false, l2: true },
  'sqrt-center-l2': { sqrt: true, center: true, l2: true },
};

/**
 * Checks a preprocessing method name.
 * @throws RangeError listing the valid names.
 */
export function checkPreprocessMethod(method: unknown): PreprocessMethod {
  if (typeof method !== 'string' || !(PREPROCESS_METHODS as readonly string[]).includes(method)) {
    throw new RangeError(`Invalid preprocessing: ${String(method)}. Should be one of: ${PREPROCESS_METHODS.join(', ')}`);
  }
  return method as PreprocessMethod;
}

/**
 * Checks a `--preprocess` value: a method or `auto`.
 * @throws RangeError listing the valid values.
 * @example
 * checkPreprocessChoice('auto') // 'auto'
 * checkPreprocessChoice('zca') // throws 'Invalid preprocessing: zca. Should be one of: auto, none, l2, center-l2, sqrt-l2, sqrt-center-l2'
 */
export function checkPreprocessChoice(choice: unknown): PreprocessChoice {
  if (typeof choice !== 'string' || !(PREPROCESS_CHOICES as readonly string[]).includes(choice)) {
    throw new RangeError(`Invalid preprocessing: ${String(choice)}. Should be one of: ${PREPROCESS_CHOICES.join(', ')}`);
  }
  return choice as PreprocessChoice;
}

/**
 * Checks a preprocessing a file recommends (a feature sidecar's, a backbone card's), naming the
 * file and the field when it is not a method.
 * @param value The field's value.
 * @param file The file, for the message.
 * @param field The field's path in the file, for the message.
 * @throws RangeError `FILE: "FIELD" is "zca"; expected one of: none, l2, …`.
 * @example
 * checkRecommendedPreprocess('none', 'f.json', 'meta.backbone.recommendedPreprocess') // 'none'
 */
export function checkRecommendedPreprocess(value: unknown, file: string, field: string): PreprocessMethod {
  if (typeof value !== 'string' || !(PREPROCESS_METHODS as readonly string[]).includes(value)) {
    throw new RangeError(`${file}: "${field}" is ${JSON.stringify(value)}; expected one of: ${PREPROCESS_METHODS.join(', ')}`);
  }
  return value as PreprocessMethod;
}

/** The saved form of a {@link FeatureTransform}. */
export interface FeatureTransformJSON {
  kind: 'FeatureTransform';
  method: PreprocessMethod;
  nFeatures: number;
  /** Training mean (after the square root), when the method centres. */
  mean?: number[];
}

/**
 * A feature transform learned on training samples: signed √, centring, L2 normalisation
 * (see the module comment), as chosen by `method`.
 * @example
 * const t = new FeatureTransform('center-l2').fit([[1, 0], [3, 0]]); // mean (2, 0)
 * t.transform([[2, 5]]).data // Float32Array [0, 1]
 */
export class FeatureTransform {
  readonly kind = 'FeatureTransform';
  readonly method: PreprocessMethod;
  nFeatures_ = 0;
  /** Training mean after the square root (centring methods only). */
  mean_: Float32Array | null = null;
  private fitted = false;

  /** @throws RangeError on an unknown method. */
  constructor(method: PreprocessMethod = 'none') {
    this.method = checkPreprocessMethod(method);
  }

  /** The steps in words, for reports. */
  describe(): string {
    const s = STEPS[this.method];
    const parts = [s.sqrt && 'signed square root', s.center && 'centre on the training mean', s.l2 && 'L2-normalise'].filter(Boolean);
    return parts.length ? parts.join(', ') : 'none (raw features)';
  }

  isFitted(): boolean {
    return this.fitted;
  }

  /** Learns the training mean when the method centres. Returns this. @throws RangeError/TypeError on invalid X. */
  fit(Xin: MatrixInput): this {
    const X = toMatrix(Xin, { name: 'X' });
    const { rows: N, cols: D } = X;
    this.nFeatures_ = D;
    if (STEPS[this.method].center) {
      const sums = new Float64Array(D);
      const sqrt = STEPS[this.method].sqrt;
      for (let i = 0; i < N; i++) {
        const o = i * D;
        for (let d = 0; d < D; d++) sums[d] += sqrt ? signedSqrt(X.data[o + d]) : X.data[o + d];
      }
      this.mean_ = Float32Array.from(sums, (s) => s / N);
    } else {
      this.mean_ = null;
    }
    this.fitted = true;
    return this;
  }

  /** Applies the transform to a copy of X (X is never changed). @throws NotFittedError before fit; RangeError on a wrong width. */
  transform(Xin: MatrixInput): Matrix {
    if (!this.fitted) throw new NotFittedError(this.kind);
    const X = toMatrix(Xin, { name: 'X', cols: this.nFeatures_ });
    const { rows: N, cols: D } = X;
    const s = STEPS[this.method];
    const out = Float32Array.from(X.data);
    for (let i = 0; i < N; i++) {
      const o = i * D;
      if (s.sqrt) for (let d = 0; d < D; d++) out[o + d] = signedSqrt(out[o + d]);
      if (s.center) { const m = this.mean_!; for (let d = 0; d < D; d++) out[o + d] -= m[d]; }
      if (s.l2) {
        let n2 = 0;
        for (let d = 0; d < D; d++) n2 += out[o + d] * out[o + d];
        if (n2 > 0) { const inv = 1 / Math.sqrt(n2); for (let d = 0; d < D; d++) out[o + d] *= inv; }
      }
    }
    return { data: out, rows: N, cols: D };
  }

  /** Takes over the learned state of another transform of the same method (a refit that succeeded). @internal */
  adopt(other: FeatureTransform): void {
    if (other.method !== this.method) throw new RangeError(`FeatureTransform: cannot adopt a ${other.method} transform into a ${this.method} one`);
    this.nFeatures_ = other.nFeatures_;
    this.mean_ = other.mean_;
    this.fitted = other.fitted;
  }

  /** `fit(X)` then `transform(X)`. */
  fitTransform(X: MatrixInput): Matrix {
    return this.fit(X).transform(X);
  }

  toJSON(): FeatureTransformJSON {
    if (!this.fitted) throw new NotFittedError(this.kind);
    const out: FeatureTransformJSON = { kind: this.kind, method: this.method, nFeatures: this.nFeatures_ };
    if (this.mean_) out.mean = Array.from(this.mean_);
    return out;
  }

  /** Restores a transform written by `toJSON`. @throws TypeError/RangeError on a wrong kind, method or mean length. */
  static fromJSON(json: FeatureTransformJSON): FeatureTransform {
    if (typeof json !== 'object' || json === null || json.kind !== 'FeatureTransform') {
      throw new TypeError(`transform: kind is ${JSON.stringify((json as { kind?: unknown } | null)?.kind)}, expected "FeatureTransform"`);
    }
    const t = new FeatureTransform(json.method);
    if (!Number.isInteger(json.nFeatures) || json.nFeatures < 1) {
      throw new RangeError(`transform: field "nFeatures" must be a positive integer, got ${JSON.stringify(json.nFeatures)}`);
    }
    t.nFeatures_ = json.nFeatures;
    if (STEPS[t.method].center) {
      t.mean_ = jsonFloats(json as unknown as ModelJSON, 'mean', json.nFeatures);
    }
    t.fitted = true;
    return t;
  }
}

function signedSqrt(v: number): number {
  return v >= 0 ? Math.sqrt(v) : -Math.sqrt(-v);
}

/**
 * A classifier behind a feature transform: `fit` learns the transform on the training samples
 * only, then fits the model on the transformed samples; prediction transforms, then predicts.
 * Saved and restored as one model (kind "Pipeline") through `loadModel`.
 * @example
 * const m = new Pipeline(new FeatureTransform('sqrt-center-l2'), new NearestClassMean());
 * m.fit(X, y).predict(Xtest)
 */
export class Pipeline implements Classifier {
  readonly kind = 'Pipeline';
  /** What made the raw features, before the transform (see {@link Classifier.origin_}). */
  origin_: FeatureOrigin | null = null;

  /** @param transform - unfitted or fitted; `fit` refits it. @param model - the classifier behind it. */
  constructor(readonly transform: FeatureTransform, readonly model: Classifier) {
    if (!(transform instanceof FeatureTransform)) throw new TypeError('Pipeline: transform must be a FeatureTransform');
    if (!model || typeof model.fit !== 'function' || typeof model.predictProba !== 'function') {
      throw new TypeError('Pipeline: model must be a Classifier');
    }
  }

  get classes_(): readonly Label[] { return this.model.classes_; }
  get nFeatures_(): number { return this.transform.nFeatures_; }

  isFitted(): boolean { return this.transform.isFitted() && this.model.isFitted(); }

  getParams(): Record<string, unknown> {
    return { preprocess: this.transform.method, model: this.model.kind, modelParams: this.model.getParams() };
  }

  /** Fits the transform and the model; if either fails, both stay as they were. */
  fit(X: MatrixInput, y: readonly Label[]): this {
    const t = new FeatureTransform(this.transform.method).fit(X);
    this.model.fit(t.transform(X), y);
    this.transform.adopt(t);
    return this;
  }

  private guard(): void {
    if (!this.isFitted()) throw new NotFittedError(this.kind);
  }

  predict(X: MatrixInput): Label[] {
    this.guard();
    return this.model.predict(this.transform.transform(X));
  }

  predictProba(X: MatrixInput): Matrix {
    this.guard();
    return this.model.predictProba(this.transform.transform(X));
  }

  score(X: MatrixInput, y: readonly Label[]): number {
    return scoreOf(this, X, y);
  }

  toJSON(): ModelJSON {
    this.guard();
    return {
      ...modelHeader(this.kind, this.getParams(), this.classes_, this.nFeatures_, this.origin_),
      transform: this.transform.toJSON(),
      model: this.model.toJSON(),
    };
  }

  /**
   * Restores a pipeline written by `toJSON`.
   * @param load - restores the inner model (pass `loadModel` from io.ts).
   * @throws TypeError/RangeError on a wrong header, transform or inner model.
   */
  static fromJSON(json: ModelJSON, load: (inner: ModelJSON) => Classifier): Pipeline {
    checkHeader(json, 'Pipeline');
    const transform = FeatureTransform.fromJSON(json.transform as FeatureTransformJSON);
    if (typeof json.model !== 'object' || json.model === null) throw new TypeError('model: field "model" must hold the inner model');
    const model = load(json.model as ModelJSON);
    if (transform.nFeatures_ !== json.nFeatures) {
      throw new RangeError(`model: the transform takes ${transform.nFeatures_} features but the pipeline says ${json.nFeatures}`);
    }
    if (model.nFeatures_ !== transform.nFeatures_) {
      throw new RangeError(`model: the inner model takes ${model.nFeatures_} features but the transform gives ${transform.nFeatures_}`);
    }
    const p = new Pipeline(transform, model);
    p.origin_ = readOrigin(json);
    return p;
  }
}
