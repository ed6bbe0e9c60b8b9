/**
 * The objective of the prototype classifier and its exact gradients, on Float32Array.
 *
 * Notation (see docs/model.md for the derivation):
 *   d_ij = ‖Ω(x_i − p_j)‖²  (Ω = I: the paper's Euclidean layer; Ω = diag(ω); or Ω r×D, learned)
 *   q_ij = softmax_j(−d_ij / 2τ),  z_il = Σ_j q_ij W_jl,  c_il = softmax_l(z_il)
 *   C(P, W, Ω) = −(1/N) Σ_i log c_{i,y_i} + α R(W) + β ‖Ω − Ω₀‖²_F / ‖Ω₀‖²_F,   R = ‖W‖₁ or ‖W‖₂²
 * Gradients:
 *   G = (C − Y)/N                        (N×L)
 *   ∂C/∂W = Qᵀ G + α R'(W)               (J×L)
 *   H = G Wᵀ,  E_ij = q_ij (H_ij − Σ_k q_ik H_ik)   (Σ_j E_ij = 0)
 *   g̃_j = (1/τ) Σ_i E_ij (x_i − p_j) = (1/τ) [(Eᵀ X)_j − (Σ_i E_ij) p_j]
 *   ∂C/∂p_j = ΩᵀΩ g̃_j                     (= g̃_j when Ω = I)
 *   ∂C/∂Ω = (1/τ) Zᵀ E P + Uᵀ G̃ + 2β (Ω − Ω₀)/‖Ω₀‖²,   Z = X Ωᵀ, U = P Ωᵀ
 *
 * All buffers live in a {@link Workspace} allocated once per fit; nothing is allocated per element.
 */
import { gemm } from '../linalg/gemm.ts';
import { rowSqNorms, sqDistances, softmaxRows } from '../linalg/ops.ts';
import type { Matrix } from '../linalg/matrix.ts';

export type Regularization = 'l1' | 'l2';

/**
 * The metric under the prototypes: Euclidean (the paper's), a diagonal scaling ω (D), or a linear
 * map Ω (r×D). `omega0` is the starting point the penalty pulls towards (docs/model.md).
 */
export type Metric =
  | { kind: 'euclidean' }
  | { kind: 'diagonal'; omega: Float32Array; omega0: Float32Array; beta: number }
  | { kind: 'lowrank'; omega: Matrix; omega0: Matrix; beta: number };

/** The data of one fit: X, and X seen through the metric (Z = X Ωᵀ, with its squared row norms). */
export interface Problem {
  X: Matrix;
  codes: Int32Array;
  nClasses: number;
  tau: number;
  alpha: number;
  regularization: Regularization;
  metric: Metric;
  /** X Ωᵀ (X itself when Euclidean); updated by {@link setMetric}. */
  Z: Matrix;
  /** ‖z_i‖². */
  zNorms: Float64Array;
}

/** Reusable buffers for one problem size. */
export interface Workspace {
  /** q_ij after {@link computeQ} (N×J). */
  Q: Float32Array;
  /** c_il after {@link classForward} (N×L); G after {@link classGradient}. */
  C: Float32Array;
  G: Float32Array;
  /** Scratch N×J (H, then E). */
  E: Float32Array;
  /** U = P Ωᵀ after {@link computeQ} (J×r; empty when Euclidean). */
  U: Float32Array;
  pNorms: Float64Array;
  logZ: Float64Array;
  /** z_{i,y_i} before the softmax. */
  zy: Float64Array;
}

/** Rows of `A` (n×D) through the metric: A Ωᵀ (n×r), A ⊙ ω, or A itself. */
export function applyMetric(metric: Metric, A: Matrix, out?: Float32Array): Matrix {
  if (metric.kind === 'euclidean') return A;
  const n = A.rows, D = A.cols;
  if (metric.kind === 'diagonal') {
    const o = out ?? new Float32Array(n * D), w = metric.omega;
    for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) o[i * D + d] = A.data[i * D + d] * w[d];
    return { data: o, rows: n, cols: D };
  }
  const O = metric.omega, r = O.rows;
  const o = out ?? new Float32Array(n * r);
  gemm(false, true, n, r, D, 1, A.data, D, O.data, D, 0, o, r);
  return { data: o, rows: n, cols: r };
}

/** Width of the metric's image: r for a linear map, D otherwise. */
export function metricWidth(metric: Metric, D: number): number {
  return metric.kind === 'lowrank' ? metric.omega.rows : D;
}

/**
 * The problem on X under `metric`; `xNorms` (‖x_i‖², as {@link rowSqNorms} computes them) when
 * already known and the metric is Euclidean.
 */
export function makeProblem(X: Matrix, codes: Int32Array, nClasses: number, tau: number, alpha: number,
  regularization: Regularization, xNorms?: Float64Array, metric: Metric = { kind: 'euclidean' }): Problem {
  const pb: Problem = { X, codes, nClasses, tau, alpha, regularization, metric, Z: X, zNorms: xNorms ?? new Float64Array(0) };
  if (metric.kind === 'euclidean') {
    if (!xNorms) pb.zNorms = rowSqNorms(X.data, X.rows, X.cols);
  } else {
    setMetric(pb, metric);
  }
  return pb;
}

/** Installs `metric` in the problem and recomputes Z = X Ωᵀ and its norms (in place when the width is unchanged). */
export function setMetric(pb: Problem, metric: Metric): void {
  pb.metric = metric;
  if (metric.kind === 'euclidean') { pb.Z = pb.X; pb.zNorms = rowSqNorms(pb.X.data, pb.X.rows, pb.X.cols); return; }
  const width = metricWidth(metric, pb.X.cols);
  const reuse = pb.Z !== pb.X && pb.Z.cols === width ? (pb.Z.data as Float32Array) : undefined;
  pb.Z = applyMetric(metric, pb.X, reuse);
  pb.zNorms = rowSqNorms(pb.Z.data, pb.Z.rows, pb.Z.cols, pb.zNorms.length === pb.X.rows ? pb.zNorms : undefined);
}

/** β ‖Ω − Ω₀‖²_F / ‖Ω₀‖²_F: the pull of the metric towards its closed-form start (0 when Euclidean). */
export function metricPenalty(metric: Metric): number {
  if (metric.kind === 'euclidean' || metric.beta === 0) return 0;
  const a = metric.kind === 'lowrank' ? metric.omega.data : metric.omega;
  const b = metric.kind === 'lowrank' ? metric.omega0.data : metric.omega0;
  let num = 0, den = 0;
  for (let k = 0; k < a.length; k++) { const t = a[k] - b[k]; num += t * t; den += b[k] * b[k]; }
  return den > 0 ? (metric.beta * num) / den : 0;
}

/** Buffers for N samples, J prototypes and L classes; without `gradients`, G and E are left empty (prediction). `width`: the metric's r (0 when Euclidean). */
export function makeWorkspace(N: number, J: number, L: number, gradients = true, width = 0): Workspace {
  return {
    Q: new Float32Array(N * J),
    C: new Float32Array(N * L),
    G: new Float32Array(gradients ? N * L : 0),
    E: new Float32Array(gradients ? N * J : 0),
    U: new Float32Array(J * width),
    pNorms: new Float64Array(J),
    logZ: new Float64Array(N),
    zy: new Float64Array(N),
  };
}

/** Q ← softmax_j(−‖Ω(x_i − p_j)‖² / 2τ) into ws.Q (and U = P Ωᵀ into ws.U). */
export function computeQ(pb: Problem, P: Matrix, ws: Workspace): void {
  const N = pb.X.rows, J = P.rows;
  let U = P;
  if (pb.metric.kind !== 'euclidean') {
    const width = metricWidth(pb.metric, P.cols);
    if (ws.U.length !== J * width) ws.U = new Float32Array(J * width);
    U = applyMetric(pb.metric, P, ws.U);
  }
  rowSqNorms(U.data, J, U.cols, ws.pNorms);
  sqDistances(pb.Z, U, pb.zNorms, ws.pNorms, ws.Q);
  softmaxRows(ws.Q, N, J, undefined, -1 / (2 * pb.tau));
}

/** Penalty α R(W). */
export function penalty(W: ArrayLike<number>, alpha: number, reg: Regularization): number {
  let s = 0;
  if (reg === 'l1') for (let k = 0; k < W.length; k++) s += Math.abs(W[k]);
  else for (let k = 0; k < W.length; k++) s += W[k] * W[k];
  return alpha * s;
}

/**
 * Class layer forward from ws.Q: C ← softmax(Q W) into ws.C. Returns the mean negative
 * log-likelihood and the number of correctly classified samples (argmax; 0 without `count`, which
 * skips that pass over N×L for callers that only need the loss).
 */
export function classForward(pb: Problem, W: Float32Array, J: number, ws: Workspace, count = true): { nll: number; correct: number } {
  const N = pb.X.rows, L = pb.nClasses;
  const C = ws.C;
  gemm(false, false, N, L, J, 1, ws.Q, J, W, L, 0, C, L);
  // z_{i,y_i} before softmax, for the log-likelihood; argmax for accuracy.
  let nll = 0, correct = 0;
  if (count) {
    for (let i = 0; i < N; i++) {
      const o = i * L;
      let best = 0;
      for (let l = 1; l < L; l++) if (C[o + l] > C[o + best]) best = l;
      if (best === pb.codes[i]) correct++;
    }
  }
  const zy = ws.zy;
  for (let i = 0; i < N; i++) zy[i] = C[i * L + pb.codes[i]];
  softmaxRows(C, N, L, ws.logZ);
  for (let i = 0; i < N; i++) nll += ws.logZ[i] - zy[i];
  return { nll: nll / N, correct };
}

/** Class probabilities from ws.Q: C ← softmax(scale · Q W) into ws.C (classForward's C, without its statistics; scale = 1/T when calibrated). */
export function classProbabilities(pb: Problem, W: Float32Array, J: number, ws: Workspace, scale = 1): void {
  const N = pb.X.rows, L = pb.nClasses;
  gemm(false, false, N, L, J, 1, ws.Q, J, W, L, 0, ws.C, L);
  softmaxRows(ws.C, N, L, undefined, scale);
}

/** G ← (C − Y)/N into ws.G, then gradW ← Qᵀ G (without the penalty). */
export function classGradient(pb: Problem, J: number, ws: Workspace, gradW: Float32Array): void {
  const N = pb.X.rows, L = pb.nClasses;
  const G = ws.G, C = ws.C, invN = 1 / N;
  for (let k = 0; k < N * L; k++) G[k] = C[k] * invN;
  for (let i = 0; i < N; i++) G[i * L + pb.codes[i]] -= invN;
  gemm(true, false, J, L, N, 1, ws.Q, J, G, L, 0, gradW, L);
}

/**
 * Prototype gradient from ws.Q and ws.G (call {@link classForward} and {@link classGradient} first):
 * gradP ← g̃ = (1/τ)[Eᵀ X − diag(s) P], the gradient itself when the metric is Euclidean and
 * ∂C/∂P = G̃ ΩᵀΩ otherwise ({@link metricPrototypeGradient}). Leaves E in ws.E and returns
 * S_j = −Σ_i E_ij (the total k-means weight of each prototype, see docs/model.md) in `weightSums`.
 */
export function prototypeGradient(pb: Problem, P: Matrix, W: Float32Array, ws: Workspace,
  gradP: Float32Array, weightSums: Float64Array): void {
  const { X, tau } = pb;
  const N = X.rows, J = P.rows, L = pb.nClasses, D = X.cols;
  const E = ws.E, Q = ws.Q;
  // H = G Wᵀ (N×J).
  gemm(false, true, N, J, L, 1, ws.G, L, W, L, 0, E, J);
  weightSums.fill(0);
  for (let i = 0; i < N; i++) {
    const o = i * J;
    let hbar = 0;
    for (let j = 0; j < J; j++) hbar += Q[o + j] * E[o + j];
    for (let j = 0; j < J; j++) {
      const e = Q[o + j] * (E[o + j] - hbar);
      E[o + j] = e;
      weightSums[j] -= e;
    }
  }
  gemm(true, false, J, D, N, 1 / tau, E, J, X.data, D, 0, gradP, D);
  for (let j = 0; j < J; j++) {
    const s = -weightSums[j] / tau; // Σ_i E_ij / τ
    const o = j * D;
    for (let d = 0; d < D; d++) gradP[o + d] -= s * P.data[o + d];
  }
}

/** ∂C/∂P from g̃ (the output of {@link prototypeGradient}): G̃ ΩᵀΩ, in place (nothing to do when Euclidean). */
export function metricPrototypeGradient(pb: Problem, gradP: Float32Array, J: number): void {
  const m = pb.metric, D = pb.X.cols;
  if (m.kind === 'euclidean') return;
  if (m.kind === 'diagonal') {
    for (let j = 0; j < J; j++) for (let d = 0; d < D; d++) gradP[j * D + d] *= m.omega[d] * m.omega[d];
    return;
  }
  const r = m.omega.rows, T = new Float32Array(J * r);
  gemm(false, true, J, r, D, 1, gradP, D, m.omega.data, D, 0, T, r);
  gemm(false, false, J, D, r, 1, T, r, m.omega.data, D, 0, gradP, D);
}

/**
 * ∂C/∂Ω (penalty included) into `gradOmega`, from the state {@link prototypeGradient} left: E in
 * ws.E, U = P Ωᵀ in ws.U, g̃ in `gTilde`, S_j in `weightSums`.
 *   low rank: (1/τ) Zᵀ E P + Uᵀ G̃ + 2β(Ω − Ω₀)/‖Ω₀‖²
 *   diagonal: ω_d [2 Σ_j g̃_jd p_jd + (1/τ) Σ_j s_j p_jd²] + 2β(ω − ω₀)_d/‖ω₀‖²,  s_j = Σ_i E_ij = −S_j
 */
export function metricGradient(pb: Problem, P: Matrix, ws: Workspace, gTilde: Float32Array, weightSums: Float64Array,
  gradOmega: Float32Array): void {
  const m = pb.metric, N = pb.X.rows, J = P.rows, D = P.cols, tau = pb.tau;
  if (m.kind === 'euclidean') return;
  let o0: Float32Array, o: Float32Array;
  if (m.kind === 'diagonal') {
    o = m.omega; o0 = m.omega0;
    for (let d = 0; d < D; d++) {
      let a = 0, b = 0;
      for (let j = 0; j < J; j++) {
        const p = P.data[j * D + d];
        a += gTilde[j * D + d] * p;
        b += -weightSums[j] * p * p;
      }
      gradOmega[d] = o[d] * (2 * a + b / tau);
    }
  } else {
    o = m.omega.data; o0 = m.omega0.data;
    const r = m.omega.rows;
    const T = new Float32Array(r * J);
    gemm(true, false, r, J, N, 1 / tau, pb.Z.data, r, ws.E, J, 0, T, J);
    gemm(false, false, r, D, J, 1, T, J, P.data, D, 0, gradOmega, D);
    gemm(true, false, r, D, J, 1, ws.U, r, gTilde, D, 1, gradOmega, D);
  }
  if (m.beta > 0) {
    let den = 0;
    for (let k = 0; k < o0.length; k++) den += o0[k] * o0[k];
    if (den > 0) for (let k = 0; k < o.length; k++) gradOmega[k] += (2 * m.beta * (o[k] - o0[k])) / den;
  }
}

/** Full objective at (P, W) under the problem's metric: fills ws.Q and ws.C. `penalty` is α R(W) + the metric's pull. */
export function objective(pb: Problem, P: Matrix, W: Float32Array, ws: Workspace): { loss: number; nll: number; penalty: number; correct: number } {
  computeQ(pb, P, ws);
  const { nll, correct } = classForward(pb, W, P.rows, ws);
  const pen = penalty(W, pb.alpha, pb.regularization) + metricPenalty(pb.metric);
  return { loss: nll + pen, nll, penalty: pen, correct };
}

/**
 * Objective and every gradient (penalty included in gradW; for L1 the subgradient α·sign(W), 0 at
 * 0; gradOmega only under a metric). Used by tests against finite differences.
 */
export function objectiveAndGradients(pb: Problem, P: Matrix, W: Float32Array, ws: Workspace,
  gradP: Float32Array, gradW: Float32Array, weightSums = new Float64Array(P.rows), gradOmega?: Float32Array): { loss: number; nll: number; penalty: number; correct: number } {
  const r = objective(pb, P, W, ws);
  classGradient(pb, P.rows, ws, gradW);
  prototypeGradient(pb, P, W, ws, gradP, weightSums);
  if (gradOmega) metricGradient(pb, P, ws, gradP, weightSums, gradOmega);
  metricPrototypeGradient(pb, gradP, P.rows);
  const a = pb.alpha;
  if (pb.regularization === 'l2') for (let k = 0; k < W.length; k++) gradW[k] += 2 * a * W[k];
  else for (let k = 0; k < W.length; k++) gradW[k] += a * Math.sign(W[k]);
  return r;
}
