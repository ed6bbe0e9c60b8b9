/**
 * The objective of the prototype classifier and its exact gradients, on Float32Array.
 *
 * Notation (see docs/model.md for the derivation):
 *   d_ij = ‖x_i − p_j‖²,  q_ij = softmax_j(−d_ij / 2τ),  z_il = Σ_j q_ij W_jl,  c_il = softmax_l(z_il)
 *   C(P, W) = −(1/N) Σ_i log c_{i,y_i} + α R(W),   R = ‖W‖₁ or ‖W‖₂²
 * Gradients:
 *   G = (C − Y)/N                        (N×L)
 *   ∂C/∂W = Qᵀ G + α R'(W)               (J×L)
 *   H = G Wᵀ,  E_ij = q_ij (H_ij − Σ_k q_ik H_ik)
 *   ∂C/∂p_j = (1/τ) Σ_i E_ij (x_i − p_j) = (1/τ) [(Eᵀ X)_j − (Σ_i E_ij) p_j]
 *
 * All buffers live in a {@link Workspace} allocated once per fit; nothing is allocated per element.
 */
import { gemm } from '../linalg/gemm.ts';
import { rowSqNorms, sqDistances, softmaxRows } from '../linalg/ops.ts';
import type { Matrix } from '../linalg/matrix.ts';

export type Regularization = 'l1' | 'l2';

/** The fixed data of one fit. */
export interface Problem {
  X: Matrix;
  xNorms: Float64Array;
  codes: Int32Array;
  nClasses: number;
  tau: number;
  alpha: number;
  regularization: Regularization;
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
  pNorms: Float64Array;
  logZ: Float64Array;
  /** z_{i,y_i} before the softmax. */
  zy: Float64Array;
}

/** The problem on X; `xNorms` (‖x_i‖², as {@link rowSqNorms} computes them) when already known. */
export function makeProblem(X: Matrix, codes: Int32Array, nClasses: number, tau: number, alpha: number,
  regularization: Regularization, xNorms = rowSqNorms(X.data, X.rows, X.cols)): Problem {
  return { X, xNorms, codes, nClasses, tau, alpha, regularization };
}

/** Buffers for N samples, J prototypes and L classes; without `gradients`, G and E are left empty (prediction). */
export function makeWorkspace(N: number, J: number, L: number, gradients = true): Workspace {
  return {
    Q: new Float32Array(N * J),
    C: new Float32Array(N * L),
    G: new Float32Array(gradients ? N * L : 0),
    E: new Float32Array(gradients ? N * J : 0),
    pNorms: new Float64Array(J),
    logZ: new Float64Array(N),
    zy: new Float64Array(N),
  };
}

/** Q ← softmax_j(−‖x_i − p_j‖² / 2τ) into ws.Q. */
export function computeQ(pb: Problem, P: Matrix, ws: Workspace): void {
  const { X, tau } = pb;
  const N = X.rows, J = P.rows;
  rowSqNorms(P.data, J, P.cols, ws.pNorms);
  sqDistances(X, P, pb.xNorms, ws.pNorms, ws.Q);
  softmaxRows(ws.Q, N, J, undefined, -1 / (2 * tau));
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
 * log-likelihood and the number of correctly classified samples (argmax).
 */
export function classForward(pb: Problem, W: Float32Array, J: number, ws: Workspace): { nll: number; correct: number } {
  const N = pb.X.rows, L = pb.nClasses;
  const C = ws.C;
  gemm(false, false, N, L, J, 1, ws.Q, J, W, L, 0, C, L);
  // z_{i,y_i} before softmax, for the log-likelihood; argmax for accuracy.
  let nll = 0, correct = 0;
  for (let i = 0; i < N; i++) {
    const o = i * L;
    let best = 0;
    for (let l = 1; l < L; l++) if (C[o + l] > C[o + best]) best = l;
    if (best === pb.codes[i]) correct++;
  }
  const zy = ws.zy;
  for (let i = 0; i < N; i++) zy[i] = C[i * L + pb.codes[i]];
  softmaxRows(C, N, L, ws.logZ);
  for (let i = 0; i < N; i++) nll += ws.logZ[i] - zy[i];
  return { nll: nll / N, correct };
}

/** Class probabilities from ws.Q: C ← softmax(Q W) into ws.C (classForward's C, without its statistics). */
export function classProbabilities(pb: Problem, W: Float32Array, J: number, ws: Workspace): void {
  const N = pb.X.rows, L = pb.nClasses;
  gemm(false, false, N, L, J, 1, ws.Q, J, W, L, 0, ws.C, L);
  softmaxRows(ws.C, N, L);
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
 * gradP ← (1/τ)[Eᵀ X − diag(s) P]. Also returns S_j = −Σ_i E_ij (the total k-means weight of each
 * prototype, see docs/model.md) in `weightSums`.
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

/** Full objective at (P, W): fills ws.Q and ws.C. */
export function objective(pb: Problem, P: Matrix, W: Float32Array, ws: Workspace): { loss: number; nll: number; penalty: number; correct: number } {
  computeQ(pb, P, ws);
  const { nll, correct } = classForward(pb, W, P.rows, ws);
  const pen = penalty(W, pb.alpha, pb.regularization);
  return { loss: nll + pen, nll, penalty: pen, correct };
}

/**
 * Objective and both gradients (penalty included in gradW; for L1 the subgradient α·sign(W), 0 at 0).
 * Used by tests against finite differences and by the prototype step.
 */
export function objectiveAndGradients(pb: Problem, P: Matrix, W: Float32Array, ws: Workspace,
  gradP: Float32Array, gradW: Float32Array, weightSums = new Float64Array(P.rows)): { loss: number; nll: number; penalty: number; correct: number } {
  const r = objective(pb, P, W, ws);
  classGradient(pb, P.rows, ws, gradW);
  prototypeGradient(pb, P, W, ws, gradP, weightSums);
  const a = pb.alpha;
  if (pb.regularization === 'l2') for (let k = 0; k < W.length; k++) gradW[k] += 2 * a * W[k];
  else for (let k = 0; k < W.length; k++) gradW[k] += a * Math.sign(W[k]);
  return r;
}
