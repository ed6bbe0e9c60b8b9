/**
 * Reference baselines for the benchmark: the class mean and the softmax classifier fitted in the
 * same shrinkage-LDA-whitened space the learned metric starts from (src/model/metric.ts). They show
 * what the metric alone gives, so that the prototype model's row shows what its layer adds.
 * Not a product model: it is not saved.
 *
 * Browser-safe.
 */
import { gemm } from '../linalg/gemm.ts';
import { toMatrix, type Matrix, type MatrixInput } from '../linalg/matrix.ts';
import { ldaWhitening } from '../model/metric.ts';
import { checkXy, scoreOf } from '../model/labels.ts';
import { NotFittedError, type Classifier, type FeatureOrigin, type Label, type ModelJSON } from '../model/types.ts';

/**
 * `inner` fitted on X Ω₀ᵀ, with Ω₀ the full-rank shrinkage-LDA whitening of the training samples.
 * @example
 * new WhitenedClassifier(new NearestClassMean(), 0.2).fit(X, y).predict(Xtest)
 */
export class WhitenedClassifier implements Classifier {
  readonly kind = 'WhitenedClassifier';
  origin_: FeatureOrigin | null = null;
  omega_: Matrix | null = null;

  constructor(readonly inner: Classifier, readonly shrinkage: number) {
    if (!(shrinkage > 0 && shrinkage <= 1)) throw new RangeError(`WhitenedClassifier: shrinkage must be in (0, 1], got ${shrinkage}`);
  }

  get classes_(): readonly Label[] { return this.inner.classes_; }
  get nFeatures_(): number { return this.omega_?.cols ?? 0; }
  getParams(): Record<string, unknown> { return { inner: this.inner.kind, ...this.inner.getParams(), shrinkage: this.shrinkage }; }
  isFitted(): boolean { return this.omega_ !== null; }

  private whiten(Xin: MatrixInput): Matrix {
    const O = this.omega_;
    if (!O) throw new NotFittedError(this.kind);
    const X = toMatrix(Xin, { name: 'X', cols: O.cols });
    const out = new Float32Array(X.rows * O.rows);
    gemm(false, true, X.rows, O.rows, X.cols, 1, X.data, X.cols, O.data, O.cols, 0, out, O.rows);
    return { data: out, rows: X.rows, cols: O.rows };
  }

  fit(Xin: MatrixInput, y: readonly Label[]): this {
    const { X, labels } = checkXy(Xin, y);
    const O = ldaWhitening(X, labels.codes, labels.classes.length, this.shrinkage, X.cols);
    const prev = this.omega_;
    this.omega_ = O;
    try {
      this.inner.fit(this.whiten(X), y);
    } catch (e) {
      this.omega_ = prev;
      throw e;
    }
    return this;
  }

  predict(X: MatrixInput): Label[] { return this.inner.predict(this.whiten(X)); }
  predictProba(X: MatrixInput): Matrix { return this.inner.predictProba(this.whiten(X)); }
  score(X: MatrixInput, y: readonly Label[]): number { return scoreOf(this, X, y); }
  /** A snapshot for comparisons (tests); `loadModel` does not read it: this is a benchmark reference, not a saved model. */
  toJSON(): ModelJSON {
    if (!this.omega_) throw new NotFittedError(this.kind);
    const inner = this.inner.toJSON();
    return { ...inner, kind: this.kind, params: this.getParams(), omega: Array.from(this.omega_.data), inner };
  }
}
