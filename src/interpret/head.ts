/**
 * The prototype model as a differentiable function of a CNN feature vector y: what the
 * reconstruction and the adversarial search (reconstruct.ts, adversarial.ts) chain onto the
 * backbone's gradient with respect to the pixels. Browser-safe, float64, no TF.js.
 *
 *   u = t(y)           the model's feature transform (src/model/preprocess.ts), in its order:
 *                      s = sign(y)·√|y|,  c = s − m,  u = c/‖c‖  (each step optional)
 *   z = Ω u            the model's metric (identity, ω ⊙ u, or the r×D map Ω); U_j = Ω p_j
 *   d_j = ‖z − U_j‖²,  q_j = softmax_j(−d_j/2τ),  s_l = Σ_j q_j W_jl,  c = softmax(s)
 *
 * Objectives, with their gradients with respect to z (g_j = −(z − U_j)/τ, ḡ = Σ_j q_j g_j):
 *
 *   distance to p_j       d_j                                ∂/∂z = 2 (z − U_j)
 *   −log q_j              d_j/2τ + log Σ_k e^{−d_k/2τ}       ∂/∂z = (Σ_k q_k U_k − U_j)/τ
 *   prototype margin      (d_k − d_j0)/2τ, k the runner-up    ∂/∂z = (U_j0 − U_k)/τ   (linear in z)
 *   class margin          s_l0 − s_l, l the runner-up         ∂/∂z = Σ_j (W_j,l0 − W_j,l) q_j (g_j − ḡ)
 *
 * A margin is positive while the sample keeps its best prototype (class) and negative once another
 * wins. Back to y: ∂u = Ωᵀ∂z (ω ⊙ ∂z), ∂c = (∂u − u(u·∂u))/‖c‖, ∂y = ∂s / (2√(|y| + ε)).
 * The square root's derivative is unbounded at 0, where ReLU features often sit: ε (1e-6 times
 * the mean |y| of the prototypes' scale, at least 1e-12) keeps the gradient finite; values are
 * computed exactly.
 */
import type { PrototypeClassifier } from '../model/prototype.ts';
import type { FeatureTransform } from '../model/preprocess.ts';
import type { Label } from '../model/types.ts';

/** The model at one feature vector. */
export interface HeadPoint {
  /** Transformed feature (D). */
  u: Float64Array;
  /** ‖c‖ before L2 normalisation (1 when the transform does not normalise). */
  cNorm: number;
  /** The feature as given (D), for the square root's derivative. */
  y: Float64Array;
  /** In the metric's space (r). */
  z: Float64Array;
  /** Squared distances d_j (J). */
  d: Float64Array;
  /** q_j (J). */
  q: Float64Array;
  /** Class logits s_l = Σ_j q_j W_jl (L). */
  s: Float64Array;
  /** Class probabilities (L). */
  c: Float64Array;
  /** argmax_j q_j and argmax_l c_l. */
  best: number;
  cls: number;
}

/** An objective's value at a point, its gradient with respect to z, and the runner-up it compares with (margins). */
export interface HeadObjective {
  value: number;
  dz: Float64Array;
  other?: number;
}

/** The model part (transform, metric, prototype and class layers) as a differentiable function of a feature vector. */
export class PrototypeHead {
  readonly D: number;
  readonly J: number;
  readonly L: number;
  /** Width of the metric's space. */
  readonly r: number;
  readonly tau: number;
  readonly classes: readonly Label[];
  private readonly U: Float64Array;
  private readonly W: Float64Array;
  private readonly sqrt: boolean;
  private readonly center: Float64Array | null;
  private readonly l2: boolean;
  private readonly eps: number;

  /**
   * @param model - a fitted prototype classifier.
   * @param transform - the feature transform in front of it (a saved Pipeline's), or null.
   * @throws Error when the model is not fitted; RangeError when the transform's width differs from the model's.
   */
  constructor(readonly model: PrototypeClassifier, readonly transform: FeatureTransform | null = null) {
    if (!model.prototypes_ || !model.W_) throw new Error('PrototypeHead: the model is not fitted; call fit first');
    const P = model.prototypes_;
    this.D = P.cols; this.J = P.rows; this.L = model.classes_.length; this.tau = model.tau_;
    this.classes = model.classes_;
    if (transform && transform.nFeatures_ !== this.D) throw new RangeError(`PrototypeHead: the transform takes ${transform.nFeatures_} features, the model ${this.D}`);
    const method = transform?.method ?? 'none';
    this.sqrt = method.includes('sqrt');
    this.l2 = method.includes('l2');
    this.center = method.includes('center') && transform?.mean_ ? Float64Array.from(transform.mean_) : null;
    const m = model.metric_;
    this.r = m.kind === 'lowrank' ? m.omega.rows : this.D;
    this.U = new Float64Array(this.J * this.r);
    for (let j = 0; j < this.J; j++) this.toMetric(P.data.subarray(j * this.D, (j + 1) * this.D), this.U.subarray(j * this.r, (j + 1) * this.r));
    this.W = Float64Array.from(model.W_.data);
    let scale = 0;
    for (let k = 0; k < P.data.length; k++) scale += Math.abs(P.data[k]);
    this.eps = Math.max(1e-12, (1e-6 * scale) / P.data.length);
  }

  /** z = Ω u (or ω ⊙ u, or u) into `out`. */
  private toMetric(u: ArrayLike<number>, out: Float64Array): void {
    const m = this.model.metric_, D = this.D;
    if (m.kind === 'euclidean') { for (let d = 0; d < D; d++) out[d] = u[d]; return; }
    if (m.kind === 'diagonal') { for (let d = 0; d < D; d++) out[d] = u[d] * m.omega[d]; return; }
    const O = m.omega.data;
    for (let a = 0; a < this.r; a++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += O[a * D + d] * u[d];
      out[a] = s;
    }
  }

  /**
   * The model at feature vector `y` (D values from `offset`).
   * @example
   * const pt = head.at(features, i * head.D); pt.q[j] // q_j of sample i, as model.prototypeActivations gives it
   */
  at(y: ArrayLike<number>, offset = 0): HeadPoint {
    const { D, J, L, r } = this;
    const yy = new Float64Array(D), u = new Float64Array(D);
    for (let d = 0; d < D; d++) {
      const v = y[offset + d];
      yy[d] = v;
      u[d] = this.sqrt ? (v >= 0 ? Math.sqrt(v) : -Math.sqrt(-v)) : v;
    }
    if (this.center) for (let d = 0; d < D; d++) u[d] -= this.center[d];
    let cNorm = 1;
    if (this.l2) {
      let n2 = 0;
      for (let d = 0; d < D; d++) n2 += u[d] * u[d];
      cNorm = Math.sqrt(n2);
      if (cNorm > 0) for (let d = 0; d < D; d++) u[d] /= cNorm;
    }
    const z = new Float64Array(r);
    this.toMetric(u, z);
    const d2 = new Float64Array(J), q = new Float64Array(J);
    let best = 0;
    for (let j = 0; j < J; j++) {
      let s = 0;
      for (let a = 0; a < r; a++) { const t = z[a] - this.U[j * r + a]; s += t * t; }
      d2[j] = s;
      if (s < d2[best]) best = j;
    }
    softmaxInto(d2, -1 / (2 * this.tau), q);
    const s = new Float64Array(L);
    for (let j = 0; j < J; j++) for (let l = 0; l < L; l++) s[l] += q[j] * this.W[j * L + l];
    const c = new Float64Array(L);
    softmaxInto(s, 1, c);
    let cls = 0;
    for (let l = 1; l < L; l++) if (s[l] > s[cls]) cls = l;
    return { u, cNorm, y: yy, z, d: d2, q, s, c, best, cls };
  }

  /** d_j and its gradient with respect to z. */
  distance(pt: HeadPoint, j: number): HeadObjective {
    const dz = new Float64Array(this.r);
    for (let a = 0; a < this.r; a++) dz[a] = 2 * (pt.z[a] - this.U[j * this.r + a]);
    return { value: pt.d[j], dz };
  }

  /** −log q_j and its gradient with respect to z. */
  negLogQ(pt: HeadPoint, j: number): HeadObjective {
    const { r, J } = this;
    const dz = new Float64Array(r);
    for (let k = 0; k < J; k++) for (let a = 0; a < r; a++) dz[a] += pt.q[k] * this.U[k * r + a];
    for (let a = 0; a < r; a++) dz[a] = (dz[a] - this.U[j * r + a]) / this.tau;
    return { value: -Math.log(Math.max(pt.q[j], 1e-300)), dz };
  }

  /** (d_k − d_j0)/2τ with k the nearest other prototype: positive while j0 is the best prototype. */
  prototypeMargin(pt: HeadPoint, j0: number): HeadObjective {
    const { r, J } = this;
    let k = -1;
    for (let j = 0; j < J; j++) if (j !== j0 && (k < 0 || pt.d[j] < pt.d[k])) k = j;
    const dz = new Float64Array(r);
    for (let a = 0; a < r; a++) dz[a] = (this.U[j0 * r + a] - this.U[k * r + a]) / this.tau;
    return { value: (pt.d[k] - pt.d[j0]) / (2 * this.tau), dz, other: k };
  }

  /** s_l0 − s_l with l the most probable other class: positive while l0 is the predicted class. */
  classMargin(pt: HeadPoint, l0: number): HeadObjective {
    const { r, J, L } = this;
    let l1 = -1;
    for (let l = 0; l < L; l++) if (l !== l0 && (l1 < 0 || pt.s[l] > pt.s[l1])) l1 = l;
    // g_j = −(z − U_j)/τ; ∂q_j/∂z = q_j (g_j − ḡ); the margin's weight on q_j is a_j = W_j,l0 − W_j,l1.
    const gbar = new Float64Array(r);
    for (let j = 0; j < J; j++) for (let a = 0; a < r; a++) gbar[a] -= (pt.q[j] * (pt.z[a] - this.U[j * r + a])) / this.tau;
    const dz = new Float64Array(r);
    for (let j = 0; j < J; j++) {
      const w = (this.W[j * L + l0] - this.W[j * L + l1]) * pt.q[j];
      if (w === 0) continue;
      for (let a = 0; a < r; a++) dz[a] += w * (-(pt.z[a] - this.U[j * r + a]) / this.tau - gbar[a]);
    }
    return { value: pt.s[l0] - pt.s[l1], dz, other: l1 };
  }

  /**
   * The gradient with respect to the feature vector y of an objective whose gradient with respect
   * to z is `dz`, written into `out` (D values from `offset`).
   */
  backward(pt: HeadPoint, dz: Float64Array, out: Float32Array, offset = 0): void {
    const { D, r } = this;
    const m = this.model.metric_;
    const du = new Float64Array(D);
    if (m.kind === 'euclidean') du.set(dz);
    else if (m.kind === 'diagonal') for (let d = 0; d < D; d++) du[d] = dz[d] * m.omega[d];
    else {
      const O = m.omega.data;
      for (let a = 0; a < r; a++) { const g = dz[a]; if (g !== 0) for (let d = 0; d < D; d++) du[d] += O[a * D + d] * g; }
    }
    if (this.l2 && pt.cNorm > 0) {
      let dot = 0;
      for (let d = 0; d < D; d++) dot += pt.u[d] * du[d];
      for (let d = 0; d < D; d++) du[d] = (du[d] - pt.u[d] * dot) / pt.cNorm;
    }
    for (let d = 0; d < D; d++) {
      out[offset + d] = this.sqrt ? du[d] / (2 * Math.sqrt(Math.abs(pt.y[d]) + this.eps)) : du[d];
    }
  }
}

/** out ← softmax(scale · v), subtracting the maximum first. */
function softmaxInto(v: Float64Array, scale: number, out: Float64Array): void {
  let m = -Infinity;
  for (let k = 0; k < v.length; k++) m = Math.max(m, scale * v[k]);
  let s = 0;
  for (let k = 0; k < v.length; k++) { out[k] = Math.exp(scale * v[k] - m); s += out[k]; }
  for (let k = 0; k < v.length; k++) out[k] /= s;
}
