/**
 * The trainable state of the prototype-layer heads and one training step of each, on the
 * embeddings of an episode (Float32Array in, gradient with respect to the embeddings out; no
 * tensors). Browser-safe. The formulas are in heads.ts; the designs and why they differ are in
 * docs/embedding.md ("Training").
 *
 * - global (`prototype-layer`): each training class owns P prototypes, rows of a global J×D
 *   matrix, and W is the global J×C matrix. An episode uses its classes' rows and columns (a
 *   sampled softmax) and updates them by lazy Adam. With `bankRate` β > 0 the rows of the
 *   episode's classes are first moved towards the k-means centres of their current support
 *   embeddings, p ← (1 − β)p + β·centre (a bank refreshed at every draw), and `layerLrScale`
 *   multiplies the step of P and W.
 * - episode (`prototype-layer-episode`): the prototypes are the k-means centres of each
 *   class's support embeddings of this episode; W links a prototype to its own class with one
 *   weight w. Only w and τ persist across episodes.
 */
import { autoTau } from '../model/scale.ts';
import { deriveSeed, rng } from '../linalg/random.ts';
import { clusterMeans, clusterMeansBackward, episodeLayerLoss, layerLoss, supportClusters } from './heads.ts';

export const ADAM_B1 = 0.9, ADAM_B2 = 0.999, ADAM_EPS = 1e-8;

/** State of the global prototype layer (field names as in version-1 checkpoints). */
export interface GlobalLayerState {
  kind?: 'global';
  /** J×D prototypes, J = P·C (class c owns rows c·P … c·P+P−1). */
  P: Float32Array;
  /** J×C weights. */
  W: Float32Array;
  /** Whether class c's prototypes have been initialised. */
  ready: Uint8Array;
  logTau: number;
  /** Adam moments for P, W and log τ, and per-row step counts for bias correction. */
  mP: Float32Array; vP: Float32Array; mW: Float32Array; vW: Float32Array;
  mTau: number; vTau: number;
  stepsP: Int32Array;
}

/** State of the per-episode prototype layer: the shared own-class weight w and log τ, with Adam moments. */
export interface EpisodeLayerState {
  kind: 'episode';
  w: number;
  logTau: number;
  mw: number; vw: number; mTau: number; vTau: number;
}

export type LayerState = GlobalLayerState | EpisodeLayerState;

/** What one head step gives the trainer. */
export interface HeadStep {
  loss: number;
  /** Correctly classified samples, out of `total`. */
  correct: number;
  total: number;
  /** ∂loss/∂embeddings, to send back through the CNN. */
  dE: Float32Array;
  /** Applies the head's own parameter updates (call once, after the CNN's gradient is taken). */
  apply: () => void;
}

/** The episode a head step sees: its classes (training-class indices) and shape. */
export interface HeadEpisode {
  classes: Int32Array;
  nWay: number;
  kShot: number;
  nQuery: number;
}

/** Options of the layer heads (a subset of the trainer's). */
export interface LayerHeadOptions {
  prototypesPerClass: number;
  alpha: number;
  initW: number;
  bankRate: number;
  layerLrScale: number;
  /** Seed of the pairs that set the initial τ. */
  seed: number;
}

/** A fresh global layer for C classes of dimension D. */
export function newGlobalLayer(perClass: number, C: number, D: number): GlobalLayerState {
  const J = perClass * C;
  return {
    kind: 'global',
    P: new Float32Array(J * D), W: new Float32Array(J * C), ready: new Uint8Array(C), logTau: NaN,
    mP: new Float32Array(J * D), vP: new Float32Array(J * D), mW: new Float32Array(J * C), vW: new Float32Array(J * C),
    mTau: 0, vTau: 0, stepsP: new Int32Array(J),
  };
}

/** A fresh per-episode layer: w = initW, τ set at the first step. */
export function newEpisodeLayer(initW: number): EpisodeLayerState {
  return { kind: 'episode', w: initW, logTau: NaN, mw: 0, vw: 0, mTau: 0, vTau: 0 };
}

/**
 * log of the initial τ: the prototype model's 'auto' rule (src/model/scale.ts) with tauScale 0.1
 * on the first n embeddings of the first episode, its pairs drawn from a generator seeded by `seed`.
 */
export function initialLogTau(e: Float32Array, n: number, D: number, seed: number): number {
  return Math.log(autoTau({ data: e.subarray(0, n * D), rows: n, cols: D }, 0.1, rng(deriveSeed(seed, 0x7a4))).tau);
}

/** One Adam step on a scalar; returns [value, m, v]. `corr` is the bias correction √(1−β₂ᵗ)/(1−β₁ᵗ). */
function adamScalar(x: number, g: number, m: number, v: number, lr: number, corr: number): [number, number, number] {
  const m1 = ADAM_B1 * m + (1 - ADAM_B1) * g, v1 = ADAM_B2 * v + (1 - ADAM_B2) * g * g;
  return [x - lr * corr * m1 / (Math.sqrt(v1) + ADAM_EPS), m1, v1];
}

/** Bias correction of Adam after t steps. */
export function adamCorrection(t: number): number {
  return Math.sqrt(1 - ADAM_B2 ** t) / (1 - ADAM_B1 ** t);
}

/**
 * Initialises the global rows of the episode's classes not seen before: prototype p of class c
 * is the embedding of its support image p (mod K), W is `initW` on its own class and 0 elsewhere;
 * and τ on the very first episode.
 * @param inference - the episode's embeddings in inference mode (support first, class-major).
 */
function initGlobalRows(L: GlobalLayerState, ep: HeadEpisode, perClass: number, C: number, D: number, initW: number, seed: number, inference: () => Float32Array): void {
  const fresh = Array.from(ep.classes).map((c, i) => ({ c, i })).filter(({ c }) => !L.ready[c]);
  if (fresh.length === 0 && !Number.isNaN(L.logTau)) return;
  const e = inference();
  for (const { c, i } of fresh) {
    for (let p = 0; p < perClass; p++) {
      const img = i * ep.kShot + (p % ep.kShot);
      L.P.set(e.subarray(img * D, (img + 1) * D), (c * perClass + p) * D);
      for (let l = 0; l < C; l++) L.W[(c * perClass + p) * C + l] = l === c ? initW : 0;
    }
    L.ready[c] = 1;
  }
  if (Number.isNaN(L.logTau)) L.logTau = initialLogTau(e, ep.nWay * (ep.kShot + ep.nQuery), D, seed);
}

/**
 * Pairs each of a class's P bank rows with one of its P cluster centres (greedily, nearest pair
 * first), so that the refresh moves every row towards the centre it already stands for.
 * @returns for bank row m of the class, the index of its centre.
 */
function matchCentres(bank: Float32Array, bo: number, centres: Float32Array, co: number, P: number, D: number): Int32Array {
  const pairs: Array<[number, number, number]> = [];
  for (let a = 0; a < P; a++) for (let b = 0; b < P; b++) {
    let s = 0;
    for (let k = 0; k < D; k++) { const t = bank[bo + a * D + k] - centres[co + b * D + k]; s += t * t; }
    pairs.push([s, a, b]);
  }
  pairs.sort((u, v) => u[0] - v[0]);
  const of = new Int32Array(P).fill(-1), used = new Uint8Array(P);
  for (const [, a, b] of pairs) if (of[a] < 0 && !used[b]) { of[a] = b; used[b] = 1; }
  return of;
}

/**
 * One step of the global layer on an episode's training-mode embeddings `e` (all N·(K+Q) images
 * are samples). Returns the loss and ∂loss/∂e; `apply` refreshes (β > 0) and updates the
 * episode's rows of P and columns of W by lazy Adam, and τ.
 */
export function globalLayerStep(L: GlobalLayerState, e: Float32Array, D: number, ep: HeadEpisode, o: LayerHeadOptions, nClasses: number,
  inference: () => Float32Array, lr: number, tauCorrection: number): HeadStep {
  const Pn = o.prototypesPerClass, C = nClasses, N = ep.nWay, J = N * Pn;
  initGlobalRows(L, ep, Pn, C, D, o.initW, o.seed, inference);
  const rows = new Int32Array(J);
  for (let i = 0; i < N; i++) for (let p = 0; p < Pn; p++) rows[i * Pn + p] = ep.classes[i] * Pn + p;
  const Psub = new Float32Array(J * D), Wsub = new Float32Array(J * N);
  for (let j = 0; j < J; j++) {
    Psub.set(L.P.subarray(rows[j] * D, (rows[j] + 1) * D), j * D);
    for (let l = 0; l < N; l++) Wsub[j * N + l] = L.W[rows[j] * C + ep.classes[l]];
  }
  // The bank refresh: p ← (1 − β)p + β·centre, each row towards its matched centre.
  const beta = o.bankRate;
  const cl = beta > 0 && ep.kShot >= Pn ? supportClusters(e, D, N, ep.kShot, Pn) : null;
  let centreOf: Int32Array | null = null;
  if (cl) {
    const centres = clusterMeans(e, D, cl);
    centreOf = new Int32Array(J);
    for (let i = 0; i < N; i++) {
      const m = matchCentres(Psub, i * Pn * D, centres, i * Pn * D, Pn, D);
      for (let p = 0; p < Pn; p++) {
        const j = i * Pn + p, c = i * Pn + m[p];
        centreOf[j] = c;
        for (let k = 0; k < D; k++) Psub[j * D + k] = (1 - beta) * Psub[j * D + k] + beta * centres[c * D + k];
      }
    }
  }
  const n = N * (ep.kShot + ep.nQuery);
  const samples = Int32Array.from({ length: n }, (_, i) => i);
  const nS = N * ep.kShot;
  const labels = Int32Array.from({ length: n }, (_, i) => (i < nS ? Math.floor(i / ep.kShot) : Math.floor((i - nS) / ep.nQuery)));
  const r = layerLoss(e, D, samples, labels, Psub, Wsub, N, L.logTau, o.alpha);
  if (cl && centreOf) {
    // The refreshed prototypes depend on the support embeddings through β·centre.
    const dCentres = new Float32Array(J * D);
    for (let j = 0; j < J; j++) for (let k = 0; k < D; k++) dCentres[centreOf[j] * D + k] += r.dP[j * D + k];
    clusterMeansBackward(dCentres, D, cl, beta, r.dE);
  }
  const apply = (): void => {
    const step = lr * o.layerLrScale;
    for (let j = 0; j < J; j++) {
      const row = rows[j];
      const corr = adamCorrection(++L.stepsP[row]);
      for (let k = 0; k < D; k++) {
        const a = row * D + k;
        L.P[a] = Psub[j * D + k];
        [L.P[a], L.mP[a], L.vP[a]] = adamScalar(L.P[a], r.dP[j * D + k], L.mP[a], L.vP[a], step, corr);
      }
      for (let l = 0; l < N; l++) {
        const a = row * C + ep.classes[l];
        [L.W[a], L.mW[a], L.vW[a]] = adamScalar(L.W[a], r.dW[j * N + l], L.mW[a], L.vW[a], step, corr);
      }
    }
    [L.logTau, L.mTau, L.vTau] = adamScalar(L.logTau, r.dLogTau, L.mTau, L.vTau, lr, tauCorrection);
  };
  return { loss: r.loss, correct: r.correct, total: n, dE: r.dE, apply };
}

/**
 * One step of the per-episode layer on an episode's training-mode embeddings (the queries are
 * the samples). `apply` updates w and τ by Adam.
 */
export function episodeLayerStep(L: EpisodeLayerState, e: Float32Array, D: number, ep: HeadEpisode, o: LayerHeadOptions, lr: number, correction: number): HeadStep {
  if (Number.isNaN(L.logTau)) L.logTau = initialLogTau(e, ep.nWay * (ep.kShot + ep.nQuery), D, o.seed);
  const r = episodeLayerLoss(e, D, ep.nWay, ep.kShot, ep.nQuery, o.prototypesPerClass, L.w, L.logTau, o.alpha);
  const apply = (): void => {
    [L.w, L.mw, L.vw] = adamScalar(L.w, r.dw, L.mw, L.vw, lr * o.layerLrScale, correction);
    [L.logTau, L.mTau, L.vTau] = adamScalar(L.logTau, r.dLogTau, L.mTau, L.vTau, lr, correction);
  };
  return { loss: r.loss, correct: r.correct, total: ep.nWay * ep.nQuery, dE: r.dE, apply };
}
