/**
 * The baselines the prototype model is judged against, behind the same {@link Classifier} contract:
 * - {@link NearestClassMean}: one prototype per class, the class mean (nearest class mean;
 *   prototypical networks, Snell et al. 2017) — the paper's "single prototype" column;
 * - {@link SoftmaxRegression}: multinomial logistic regression with an L2 penalty — the paper's
 *   "softmax" column;
 * - {@link KNearestNeighbors}: k-nearest neighbours (k = 1 by default), as a reference.
 */
import { toMatrix, type Matrix, type MatrixInput } from '../linalg/matrix.ts';
import { gemm } from '../linalg/gemm.ts';
import { rowSqNorms, sqDistances, softmaxRows } from '../linalg/ops.ts';
import { lbfgs } from '../linalg/optim.ts';
import { rng } from '../linalg/random.ts';
import { argmaxRows, checkXy, scoreOf } from './labels.ts';
import { checkHeader, jsonClasses, jsonFloats, jsonNumber, readOrigin } from './json.ts';
import { medianPairSqDistance } from './scale.ts';
import { checkOptions } from './options.ts';
import { NotFittedError, modelHeader, type Classifier, type FeatureOrigin, type Label, type ModelJSON } from './types.ts';

function labelsOf(scores: Matrix, classes: readonly Label[]): Label[] {
  return Array.from(argmaxRows(scores.data, scores.rows, scores.cols), (c) => classes[c]);
}

/** Options of {@link NearestClassMean}. */
export interface NearestClassMeanOptions {
  /**
   * Scale of the probabilities softmax_l(−‖x − μ_l‖² / 2τ) (predictions do not depend on it).
   * 'auto' = tauScale × median pair squared distance / 2, as in the prototype model. Default 'auto'.
   */
  tau?: number | 'auto';
  tauScale?: number;
  seed?: number;
}

/**
 * One prototype per class: the class mean.
 * @example
 * new NearestClassMean().fit([[0], [1], [9], [10]], ['a', 'a', 'b', 'b']).predict([[2]]) // ['a']
 */
export class NearestClassMean implements Classifier {
  readonly kind = 'NearestClassMean';
  private readonly params: Required<NearestClassMeanOptions>;
  classes_: Label[] = [];
  nFeatures_ = 0;
  origin_: FeatureOrigin | null = null;
  /** L×D class means. */
  means_: Matrix | null = null;
  tau_ = NaN;

  constructor(options: NearestClassMeanOptions = {}) {
    this.params = checkOptions<Required<NearestClassMeanOptions>>(this.kind, options, { tau: 'auto', tauScale: 0.1, seed: 0 },
      { tau: { positiveOr: 'auto' }, tauScale: 'positive', seed: 'integer' });
  }

  getParams(): Record<string, unknown> { return { ...this.params }; }
  score(X: MatrixInput, y: readonly Label[]): number { return scoreOf(this, X, y); }
  isFitted(): boolean { return this.means_ !== null; }

  fit(Xin: MatrixInput, y: readonly Label[]): this {
    const { X, labels } = checkXy(Xin, y);
    const L = labels.classes.length, D = X.cols;
    const sums = new Float64Array(L * D);
    for (let i = 0; i < X.rows; i++) {
      const c = labels.codes[i];
      for (let d = 0; d < D; d++) sums[c * D + d] += X.data[i * D + d];
    }
    const means = new Float32Array(L * D);
    for (let c = 0; c < L; c++) for (let d = 0; d < D; d++) means[c * D + d] = sums[c * D + d] / labels.counts[c];
    this.tau_ = this.params.tau === 'auto'
      ? Math.max(1e-12, (this.params.tauScale * medianPairSqDistance(X, rng(this.params.seed))) / 2)
      : this.params.tau;
    this.classes_ = labels.classes;
    this.nFeatures_ = D;
    this.means_ = { data: means, rows: L, cols: D };
    return this;
  }

  /** Squared distances to each class mean (N×L). */
  distances(Xin: MatrixInput): Matrix {
    if (!this.means_) throw new NotFittedError(this.kind);
    const X = toMatrix(Xin, { name: 'X', cols: this.nFeatures_ });
    const M = this.means_;
    const out = sqDistances(X, M, rowSqNorms(X.data, X.rows, X.cols), rowSqNorms(M.data, M.rows, M.cols));
    return { data: out, rows: X.rows, cols: M.rows };
  }

  predictProba(X: MatrixInput): Matrix {
    const Dm = this.distances(X);
    const s = -1 / (2 * this.tau_);
    for (let k = 0; k < Dm.data.length; k++) Dm.data[k] *= s;
    softmaxRows(Dm.data, Dm.rows, Dm.cols);
    return Dm;
  }

  predict(X: MatrixInput): Label[] {
    const Dm = this.distances(X);
    for (let k = 0; k < Dm.data.length; k++) Dm.data[k] = -Dm.data[k];
    return labelsOf(Dm, this.classes_);
  }

  toJSON(): ModelJSON {
    if (!this.means_) throw new NotFittedError(this.kind);
    return { ...modelHeader(this.kind, this.getParams(), this.classes_, this.nFeatures_, this.origin_), tau: this.tau_, means: Array.from(this.means_.data) };
  }

  static fromJSON(json: ModelJSON): NearestClassMean {
    checkHeader(json, 'NearestClassMean');
    const m = new NearestClassMean(json.params as NearestClassMeanOptions);
    m.classes_ = jsonClasses(json);
    m.origin_ = readOrigin(json);
    m.nFeatures_ = json.nFeatures;
    m.means_ = { data: jsonFloats(json, 'means', json.classes.length * json.nFeatures), rows: json.classes.length, cols: json.nFeatures };
    m.tau_ = jsonNumber(json, 'tau', 'scale');
    return m;
  }
}

/** Options of {@link SoftmaxRegression}. */
export interface SoftmaxRegressionOptions {
  /** L2 penalty weight λ in mean NLL + λ‖W‖₂² (the bias is not penalised). Default 1e-3. */
  l2?: number;
  /** L-BFGS iterations. Default 300. */
  maxIter?: number;
  /** Relative tolerance on the loss decrease. Default 1e-7. */
  tol?: number;
}

/**
 * Multinomial logistic regression (softmax classifier) with an L2 penalty, fitted by L-BFGS.
 * @example
 * new SoftmaxRegression({ l2: 1e-4 }).fit([[0], [1], [9], [10]], ['a', 'a', 'b', 'b']).predict([[8]]) // ['b']
 */
export class SoftmaxRegression implements Classifier {
  readonly kind = 'SoftmaxRegression';
  private readonly params: Required<SoftmaxRegressionOptions>;
  classes_: Label[] = [];
  nFeatures_ = 0;
  origin_: FeatureOrigin | null = null;
  /** D×L weights. */
  coef_: Matrix | null = null;
  /** L biases. */
  intercept_: Float32Array = new Float32Array(0);
  nIter_ = 0;

  constructor(options: SoftmaxRegressionOptions = {}) {
    this.params = checkOptions<Required<SoftmaxRegressionOptions>>(this.kind, options, { l2: 1e-3, maxIter: 300, tol: 1e-7 },
      { l2: 'non-negative', maxIter: 'non-negative integer', tol: 'non-negative' });
  }

  getParams(): Record<string, unknown> { return { ...this.params }; }
  score(X: MatrixInput, y: readonly Label[]): number { return scoreOf(this, X, y); }
  isFitted(): boolean { return this.coef_ !== null; }

  fit(Xin: MatrixInput, y: readonly Label[]): this {
    const { X, labels } = checkXy(Xin, y);
    const N = X.rows, D = X.cols, L = labels.classes.length;
    const lam = this.params.l2;
    const W = new Float32Array(D * L), Z = new Float32Array(N * L), gW = new Float32Array(D * L);
    const codes = labels.codes;
    const fg = (w: Float64Array, g: Float64Array): number => {
      for (let k = 0; k < D * L; k++) W[k] = w[k];
      gemm(false, false, N, L, D, 1, X.data, D, W, L, 0, Z, L);
      let nll = 0;
      for (let i = 0; i < N; i++) {
        const o = i * L;
        let m = -Infinity;
        for (let l = 0; l < L; l++) { const z = Z[o + l] + w[D * L + l]; Z[o + l] = z; if (z > m) m = z; }
        let s = 0;
        for (let l = 0; l < L; l++) s += Math.exp(Z[o + l] - m);
        const lse = m + Math.log(s);
        nll += lse - Z[o + codes[i]];
        for (let l = 0; l < L; l++) Z[o + l] = Math.exp(Z[o + l] - lse) / N;
        Z[o + codes[i]] -= 1 / N;
      }
      gemm(true, false, D, L, N, 1, X.data, D, Z, L, 0, gW, L);
      let pen = 0;
      for (let k = 0; k < D * L; k++) { g[k] = gW[k] + 2 * lam * w[k]; pen += w[k] * w[k]; }
      for (let l = 0; l < L; l++) {
        let s = 0;
        for (let i = 0; i < N; i++) s += Z[i * L + l];
        g[D * L + l] = s;
      }
      return nll / N + lam * pen;
    };
    const r = lbfgs(fg, new Float64Array(D * L + L), { maxIter: this.params.maxIter, ftol: this.params.tol, gtol: 1e-8 });
    this.coef_ = { data: Float32Array.from(r.x.subarray(0, D * L)), rows: D, cols: L };
    this.intercept_ = Float32Array.from(r.x.subarray(D * L));
    this.nIter_ = r.iterations;
    this.classes_ = labels.classes;
    this.nFeatures_ = D;
    return this;
  }

  /** Logits X W + b (N×L). */
  decisionFunction(Xin: MatrixInput): Matrix {
    if (!this.coef_) throw new NotFittedError(this.kind);
    const X = toMatrix(Xin, { name: 'X', cols: this.nFeatures_ });
    const L = this.classes_.length;
    const Z = new Float32Array(X.rows * L);
    gemm(false, false, X.rows, L, X.cols, 1, X.data, X.cols, this.coef_.data, L, 0, Z, L);
    for (let i = 0; i < X.rows; i++) for (let l = 0; l < L; l++) Z[i * L + l] += this.intercept_[l];
    return { data: Z, rows: X.rows, cols: L };
  }

  predictProba(X: MatrixInput): Matrix {
    const Z = this.decisionFunction(X);
    softmaxRows(Z.data, Z.rows, Z.cols);
    return Z;
  }

  predict(X: MatrixInput): Label[] {
    return labelsOf(this.decisionFunction(X), this.classes_);
  }

  toJSON(): ModelJSON {
    if (!this.coef_) throw new NotFittedError(this.kind);
    return { ...modelHeader(this.kind, this.getParams(), this.classes_, this.nFeatures_, this.origin_), coef: Array.from(this.coef_.data), intercept: Array.from(this.intercept_) };
  }

  static fromJSON(json: ModelJSON): SoftmaxRegression {
    checkHeader(json, 'SoftmaxRegression');
    const m = new SoftmaxRegression(json.params as SoftmaxRegressionOptions);
    const D = json.nFeatures, L = json.classes.length;
    m.classes_ = jsonClasses(json);
    m.origin_ = readOrigin(json);
    m.nFeatures_ = D;
    m.coef_ = { data: jsonFloats(json, 'coef', D * L), rows: D, cols: L };
    m.intercept_ = jsonFloats(json, 'intercept', L);
    return m;
  }
}

/** Options of {@link KNearestNeighbors}. */
export interface KNearestNeighborsOptions {
  /** Number of neighbours. Default 1. */
  k?: number;
}

/**
 * k-nearest neighbours under the Euclidean distance; ties in the vote go to the class of the
 * nearest neighbour among the tied classes.
 */
export class KNearestNeighbors implements Classifier {
  readonly kind = 'KNearestNeighbors';
  private readonly params: Required<KNearestNeighborsOptions>;
  classes_: Label[] = [];
  nFeatures_ = 0;
  origin_: FeatureOrigin | null = null;
  private X_: Matrix | null = null;
  private codes_: Int32Array = new Int32Array(0);

  constructor(options: KNearestNeighborsOptions = {}) {
    this.params = checkOptions<Required<KNearestNeighborsOptions>>(this.kind, options, { k: 1 }, { k: 'positive integer' });
  }

  getParams(): Record<string, unknown> { return { ...this.params }; }
  score(X: MatrixInput, y: readonly Label[]): number { return scoreOf(this, X, y); }
  isFitted(): boolean { return this.X_ !== null; }

  fit(Xin: MatrixInput, y: readonly Label[]): this {
    const { X, labels } = checkXy(Xin, y);
    this.X_ = toMatrix(X, { copy: true, checkFinite: false });
    this.codes_ = labels.codes;
    this.classes_ = labels.classes;
    this.nFeatures_ = X.cols;
    return this;
  }

  private votes(Xin: MatrixInput): { proba: Matrix; nearest: Int32Array } {
    if (!this.X_) throw new NotFittedError(this.kind);
    const X = toMatrix(Xin, { name: 'X', cols: this.nFeatures_ });
    const T = this.X_, N = X.rows, M = T.rows, L = this.classes_.length;
    const k = Math.min(this.params.k, M);
    const Dm = sqDistances(X, T, rowSqNorms(X.data, N, X.cols), rowSqNorms(T.data, M, T.cols));
    const out = new Float32Array(N * L);
    const nearestCode = new Int32Array(N);
    const order = Array.from({ length: M }, (_, t) => t);
    for (let i = 0; i < N; i++) {
      const o = i * M;
      const nearest = order.slice().sort((a, b) => Dm[o + a] - Dm[o + b] || a - b).slice(0, k);
      for (let r = 0; r < k; r++) out[i * L + this.codes_[nearest[r]]] += 1 / k;
      nearestCode[i] = this.codes_[nearest[0]];
    }
    return { proba: { data: out, rows: N, cols: L }, nearest: nearestCode };
  }

  /** Vote fractions among the k nearest training samples (N×L). */
  predictProba(X: MatrixInput): Matrix {
    return this.votes(X).proba;
  }

  /** Majority class among the k nearest; ties go to the class of the nearest neighbour among them. */
  predict(X: MatrixInput): Label[] {
    const { proba, nearest } = this.votes(X);
    const L = proba.cols;
    return Array.from({ length: proba.rows }, (_, i) => {
      let best = nearest[i];
      for (let l = 0; l < L; l++) if (proba.data[i * L + l] > proba.data[i * L + best] + 1e-9) best = l;
      return this.classes_[best];
    });
  }

  toJSON(): ModelJSON {
    if (!this.X_) throw new NotFittedError(this.kind);
    return { ...modelHeader(this.kind, this.getParams(), this.classes_, this.nFeatures_, this.origin_), nSamples: this.X_.rows, X: Array.from(this.X_.data), codes: Array.from(this.codes_) };
  }

  static fromJSON(json: ModelJSON): KNearestNeighbors {
    checkHeader(json, 'KNearestNeighbors');
    const m = new KNearestNeighbors(json.params as KNearestNeighborsOptions);
    const n = jsonNumber(json, 'nSamples', 'positive integer');
    m.classes_ = jsonClasses(json);
    m.origin_ = readOrigin(json);
    m.nFeatures_ = json.nFeatures;
    m.X_ = { data: jsonFloats(json, 'X', n * json.nFeatures), rows: n, cols: json.nFeatures };
    const codes = jsonFloats(json, 'codes', n);
    codes.forEach((c, i) => {
      if (!Number.isInteger(c) || c < 0 || c >= m.classes_.length) throw new RangeError(`model: field "codes" value ${i} is ${c}; expected a class index from 0 to ${m.classes_.length - 1}`);
    });
    m.codes_ = Int32Array.from(codes);
    return m;
  }
}
