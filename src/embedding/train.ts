/**
 * Episodic training of the Conv-4 embedding with a head on top (browser-safe; file I/O is in
 * `io.node.ts`). The heads, all differentiable end to end through the CNN:
 *
 * - `protonet` — one prototype per class, the mean of its support embeddings, and the loss of
 *   prototypical networks (Snell, Swersky & Zemel 2017): −mean log softmax_l(−‖f(x) − μ_l‖²)
 *   over the episode's query images (`protonetLoss`, conv4-gemm.ts).
 * - `prototype-layer` — the layer of Drumond, Viéville & Alexandre (2017), with its formulas
 *   unchanged: q_j(x) = softmax_j(−‖f(x) − p_j‖² / 2τ), c_l(x) = softmax_l(w_lᵀ q(x)), loss
 *   −mean log c_y + α‖W‖₁, with global prototypes and W per training class (optionally a bank
 *   refreshed from the support set at every draw).
 * - `prototype-layer-episode` — the same layer with each episode's prototypes taken from its
 *   support set (k-means centres) and W, τ learned across episodes.
 *
 * The layer heads are in heads.ts and layer-head.ts. Each head turns the episode's embeddings
 * into a loss and its gradient with respect to them; the CNN's passes (`gemm` or `tfjs`) take
 * that gradient back to the weights. Every episode draws its classes and images from a generator
 * seeded by (seed, episode), so a resumed run continues exactly as an uninterrupted one would (up
 * to float rounding). See docs/embedding.md.
 */
import * as tf from '@tensorflow/tfjs';
import { checkEpisodeShape, sampleEpisode, type ClassIndex, type Episode, type EpisodeShape } from '../data/episodes.ts';
import { deriveSeed, rng, type Rng } from '../linalg/random.ts';
import { isNoJitter, jitterInPlace, rotate90, SMALL_JITTER, type JitterOptions } from './augment.ts';
import { Conv4, CONV4_DEFAULTS, type Conv4Options, type Conv4State } from './conv4.ts';
import { Conv4Gemm, protonetLoss, type BlockGrads } from './conv4-gemm.ts';
import {
  ADAM_B1 as B1, ADAM_B2 as B2, ADAM_EPS as EPS, adamCorrection, episodeLayerStep, globalLayerStep, newEpisodeLayer, newGlobalLayer,
  type EpisodeLayerState as EpisodeLayer, type GlobalLayerState as GlobalLayer, type HeadEpisode, type HeadStep, type LayerState,
} from './layer-head.ts';

export type { LayerState } from './layer-head.ts';
import type { BatchStats } from './ops.ts';

/**
 * What computes the CNN's training passes: `gemm` — protolens's own Float32Array passes
 * (conv4-gemm.ts; convolutions as products through the GEMM backend, ~2–5× faster); `tfjs` —
 * TF.js ops with hand-written gradients (ops.ts). Both compute the same function and gradients
 * (tested).
 */
export type ConvPasses = 'gemm' | 'tfjs';
export const CONV_PASSES: readonly ConvPasses[] = ['gemm', 'tfjs'];

/** Which head is trained on top of the CNN. */
export type EmbeddingHead = 'protonet' | 'prototype-layer' | 'prototype-layer-episode';
export const HEADS: readonly EmbeddingHead[] = ['protonet', 'prototype-layer', 'prototype-layer-episode'];

/** Options of a training run. */
export interface TrainOptions {
  head: EmbeddingHead;
  /** Which code computes the CNN's forward and backward passes (same results). */
  passes: ConvPasses;
  /** Training episodes: N-way, K-shot, queries per class. */
  episode: EpisodeShape;
  /** Validation episodes (nearest class mean on the held-out classes). */
  valEpisode: EpisodeShape;
  /** Number of (fixed) validation episodes per evaluation. */
  valEpisodes: number;
  /** Evaluate, checkpoint and maybe stop every this many episodes. */
  evalEvery: number;
  /** Stop after this many evaluations without improvement. */
  patience: number;
  maxEpisodes: number;
  /** Wall-clock budget in minutes (training plus evaluation, summed over resumes). */
  maxMinutes: number;
  /** Adam learning rate and its halving period in episodes. */
  learningRate: number;
  lrHalfLife: number;
  /** Rotations by 90°, 180°, 270° as new training classes. */
  rotations: boolean;
  jitter: JitterOptions;
  /** Layer heads: prototypes per class, penalty α on ‖W‖₁, initial W on own class. */
  prototypesPerClass: number;
  alpha: number;
  initW: number;
  /** `prototype-layer`: β of the bank refresh p ← (1 − β)p + β·support centre at every draw (0: none). */
  bankRate: number;
  /** Layer heads: multiplier of the learning rate for P and W (w for the episode head). */
  layerLrScale: number;
  /** Layer heads: train with the protonet head for this many episodes first (pre-training). */
  protonetEpisodes: number;
  /**
   * Fraction of training episodes whose N classes come from one group (an alphabet, with its
   * rotations), drawn among the groups with at least N classes: harder negatives that share a
   * style. 0: every episode draws from all training classes.
   */
  groupEpisodes: number;
  net: Conv4Options;
  seed: number;
}

export const TRAIN_DEFAULTS: Readonly<TrainOptions> = {
  head: 'protonet',
  passes: 'gemm',
  episode: { nWay: 30, kShot: 5, nQuery: 5 },
  valEpisode: { nWay: 20, kShot: 5, nQuery: 15 },
  valEpisodes: 200,
  // The defaults of the measured runs (BENCHMARKS.md, "Learned embedding"): evaluations every
  // 250 episodes, the learning rate halved every 2,500, 88 minutes (the 90-minute budget less
  // the final export), rotations and affine jitter both on (each measured to help).
  evalEvery: 250,
  patience: 20,
  maxEpisodes: 100_000,
  maxMinutes: 88,
  learningRate: 1e-3,
  lrHalfLife: 2500,
  rotations: true,
  jitter: SMALL_JITTER,
  prototypesPerClass: 2,
  alpha: 1e-4,
  initW: 5,
  bankRate: 0,
  layerLrScale: 1,
  protonetEpisodes: 0,
  groupEpisodes: 0,
  net: CONV4_DEFAULTS,
  seed: 0,
};

/**
 * Merges options with the defaults and checks them, naming the bad field.
 * @throws RangeError/TypeError listing the valid choices or the expected range.
 */
export function checkTrainOptions(opts: Partial<TrainOptions>): TrainOptions {
  const o: TrainOptions = {
    ...TRAIN_DEFAULTS, ...opts,
    episode: { ...TRAIN_DEFAULTS.episode, ...opts.episode },
    valEpisode: { ...TRAIN_DEFAULTS.valEpisode, ...opts.valEpisode },
    jitter: { ...TRAIN_DEFAULTS.jitter, ...opts.jitter },
    net: { ...TRAIN_DEFAULTS.net, ...opts.net },
  };
  if (!CONV_PASSES.includes(o.passes)) throw new RangeError(`passes must be one of: ${CONV_PASSES.join(', ')}; got ${String(o.passes)}`);
  if (!HEADS.includes(o.head)) throw new RangeError(`head must be one of: ${HEADS.join(', ')}; got ${String(o.head)}`);
  for (const k of ['valEpisodes', 'evalEvery', 'patience', 'maxEpisodes', 'lrHalfLife', 'prototypesPerClass'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new RangeError(`${k} must be a positive integer, got ${o[k]}`);
  }
  for (const k of ['maxMinutes', 'learningRate', 'initW'] as const) {
    if (!(o[k] > 0) || !Number.isFinite(o[k])) throw new RangeError(`${k} must be a positive number, got ${o[k]}`);
  }
  if (!(o.alpha >= 0)) throw new RangeError(`alpha must be ≥ 0, got ${o.alpha}`);
  if (!(o.bankRate >= 0 && o.bankRate <= 1)) throw new RangeError(`bankRate must be in [0, 1], got ${o.bankRate}`);
  if (!(o.layerLrScale > 0) || !Number.isFinite(o.layerLrScale)) throw new RangeError(`layerLrScale must be a positive number, got ${o.layerLrScale}`);
  if (!(o.groupEpisodes >= 0 && o.groupEpisodes <= 1)) throw new RangeError(`groupEpisodes must be in [0, 1], got ${o.groupEpisodes}`);
  if (!Number.isInteger(o.protonetEpisodes) || o.protonetEpisodes < 0) throw new RangeError(`protonetEpisodes must be a non-negative integer, got ${o.protonetEpisodes}`);
  if (!Number.isInteger(o.seed)) throw new TypeError(`seed must be an integer, got ${o.seed}`);
  if (o.episode.nQuery < 1 && (o.head !== 'prototype-layer' || o.protonetEpisodes > 0)) throw new RangeError(`the ${o.head === 'prototype-layer' ? 'protonet pre-training' : o.head + ' head'} needs at least one query image per class`);
  return o;
}

/** One point of the training curve (written at every evaluation). */
export interface CurvePoint {
  episode: number;
  /** Wall-clock seconds of training so far. */
  seconds: number;
  /** CPU seconds this process spent on training so far (Node only; NaN elsewhere). On a shared
   * machine this, not wall time, measures the work done. */
  cpuSeconds: number;
  /** Mean episode loss and accuracy since the previous point. */
  trainLoss: number;
  trainAccuracy: number;
  /** Validation accuracy (nearest class mean, valEpisode shape). */
  valAccuracy: number;
  /** Training throughput since the previous point (images per second, forward and backward). */
  imagesPerSecond: number;
}

/** The data a trainer needs: ink images and which belong to training and validation classes. */
export interface TrainData {
  /** N·S·S ink values (see omniglot.node.ts). */
  pixels: Float32Array;
  size: number;
  /** Base training classes (rotations are added by the trainer). */
  train: ClassIndex;
  val: ClassIndex;
}

/** Called after every episode. */
export interface EpisodeReport {
  episode: number;
  loss: number;
  accuracy: number;
  seconds: number;
}

/** Why training stopped. */
export type StopReason = 'max-episodes' | 'max-minutes' | 'early-stopping' | 'interrupted';

/** Everything a checkpoint holds. */
export interface TrainerState {
  options: TrainOptions;
  episode: number;
  seconds: number;
  curve: CurvePoint[];
  net: Conv4State;
  adam: { m: Float32Array[]; v: Float32Array[]; t: number };
  best: { valAccuracy: number; episode: number; net: Conv4State } | null;
  evalsSinceBest: number;
  layer: LayerState | null;
  /** Running sums since the last curve point. */
  window: { loss: number; accuracy: number; episodes: number; images: number; seconds: number };
  /** CPU seconds of training so far (summed over resumes). */
  cpuSeconds: number;
}

/** CPU seconds used by this process so far (user + system), or NaN outside Node. */
function cpuNow(): number {
  const p = (globalThis as { process?: { cpuUsage?: () => { user: number; system: number } } }).process;
  const u = p?.cpuUsage?.();
  return u ? (u.user + u.system) / 1e6 : NaN;
}

/** A training run: call {@link EmbeddingTrainer.step} until {@link EmbeddingTrainer.shouldStop}. */
export class EmbeddingTrainer {
  readonly options: TrainOptions;
  readonly net: Conv4;
  private readonly data: TrainData;
  /** Virtual training classes: base class and rotation. */
  private readonly classes: ClassIndex;
  private readonly rotationOf: Int8Array;
  /** For group episodes: each group's class index, and its classes' numbers among all training classes. */
  private readonly groups: Array<{ index: ClassIndex; ids: Int32Array }>;
  private readonly valEpisodesFixed: ReturnType<typeof sampleEpisode>[];
  private adamM: tf.Tensor[];
  private adamV: tf.Tensor[];
  private adamT: number;
  private s: Omit<TrainerState, 'net' | 'adam' | 'options'>;

  /**
   * @throws RangeError when the training or validation classes cannot fill an episode (fewer
   *   classes than N, or a class with fewer images than K + queries), naming the class.
   */
  constructor(data: TrainData, options: Partial<TrainOptions>, state?: TrainerState) {
    this.options = checkTrainOptions(state?.options ?? options);
    const o = this.options;
    if (data.size !== o.net.inputSize) throw new RangeError(`images are ${data.size}×${data.size}; the network expects ${o.net.inputSize}×${o.net.inputSize}`);
    this.data = data;
    const rot = o.rotations ? 4 : 1;
    const names: string[] = [], members: ArrayLike<number>[] = [];
    const rotationOf = new Int8Array(data.train.members.length * rot);
    data.train.members.forEach((m, c) => {
      for (let r = 0; r < rot; r++) {
        names.push(r === 0 ? data.train.names[c] : `${data.train.names[c]}@${r * 90}`);
        members.push(m);
        rotationOf[c * rot + r] = r;
      }
    });
    this.classes = { names, members };
    this.rotationOf = rotationOf;
    checkEpisodeShape(this.classes, o.episode, 'the training classes');
    this.groups = o.groupEpisodes > 0 ? trainingGroups(this.classes, o.episode) : [];
    // No validation classes (training on every group with a fixed schedule): no early stopping,
    // and the output network is the last one.
    if (data.val.members.length > 0) checkEpisodeShape(data.val, o.valEpisode, 'the validation classes');
    const vr = rng(deriveSeed(o.seed, 0x7a11d));
    this.valEpisodesFixed = data.val.members.length === 0 ? [] : Array.from({ length: o.valEpisodes }, () => sampleEpisode(data.val, o.valEpisode, vr));
    if (state) {
      this.net = Conv4.fromState(state.net);
      this.adamM = state.adam.m.map((a, i) => tf.keep(tf.tensor(a, this.net.variables()[i].shape)));
      this.adamV = state.adam.v.map((a, i) => tf.keep(tf.tensor(a, this.net.variables()[i].shape)));
      this.adamT = state.adam.t;
      this.s = { episode: state.episode, seconds: state.seconds, cpuSeconds: state.cpuSeconds ?? NaN, curve: state.curve, best: state.best, evalsSinceBest: state.evalsSinceBest, layer: state.layer, window: state.window };
      const L = state.layer;
      const fits = o.head === 'protonet' ? L === null
        : o.head === 'prototype-layer-episode' ? L?.kind === 'episode'
          : L !== null && L.kind !== 'episode' && L.W.length === o.prototypesPerClass * this.nClasses * this.nClasses;
      if (!fits) throw new RangeError(`checkpoint: the layer state does not match the ${o.head} head and the training classes`);
    } else {
      this.net = Conv4.create(o.net, rng(deriveSeed(o.seed, 0xc0474)));
      this.adamM = this.net.variables().map((v) => tf.keep(tf.zerosLike(v)));
      this.adamV = this.net.variables().map((v) => tf.keep(tf.zerosLike(v)));
      this.adamT = 0;
      this.s = { episode: 0, seconds: 0, cpuSeconds: 0, curve: [], best: null, evalsSinceBest: 0, layer: this.newLayer(), window: { loss: 0, accuracy: 0, episodes: 0, images: 0, seconds: 0 } };
    }
  }

  /** Whether there are validation classes (else: no early stopping, the last network is the output). */
  get hasValidation(): boolean { return this.data.val.members.length > 0; }

  /** Number of training classes after rotation. */
  get nClasses(): number { return this.classes.members.length; }
  get episode(): number { return this.s.episode; }
  get seconds(): number { return this.s.seconds; }
  get curve(): readonly CurvePoint[] { return this.s.curve; }
  get best(): TrainerState['best'] { return this.s.best; }

  private newLayer(): LayerState | null {
    const o = this.options;
    if (o.head === 'prototype-layer') return newGlobalLayer(o.prototypesPerClass, this.nClasses, this.net.dim);
    if (o.head === 'prototype-layer-episode') return newEpisodeLayer(o.initW);
    return null;
  }

  /** Builds the N·(K+Q) input images of an episode (support first), rotated and jittered. */
  private batchImages(indices: Int32Array, classOf: (i: number) => number, r: Rng): Float32Array {
    const S = this.data.size, n = indices.length;
    const out = new Float32Array(n * S * S);
    const scratch = new Float32Array(S * S);
    const jitter = !isNoJitter(this.options.jitter);
    for (let i = 0; i < n; i++) {
      const src = this.data.pixels.subarray(indices[i] * S * S, (indices[i] + 1) * S * S);
      rotate90(src, S, this.rotationOf[classOf(i)], out, i * S * S);
      if (jitter) jitterInPlace(out, i * S * S, S, this.options.jitter, r, scratch);
    }
    return out;
  }

  /** The learning rate at the current episode. */
  learningRate(): number {
    return this.options.learningRate * 0.5 ** Math.floor(this.s.episode / this.options.lrHalfLife);
  }

  /** A training episode: from all classes, or (a `groupEpisodes` fraction) from one group's. */
  sampleTrainingEpisode(r: Rng): Episode {
    const o = this.options;
    // No draw at all when the option is off, so that runs without it keep their episodes.
    if (o.groupEpisodes === 0 || r.next() >= o.groupEpisodes) return sampleEpisode(this.classes, o.episode, r);
    const g = this.groups[r.int(this.groups.length)];
    const ep = sampleEpisode(g.index, o.episode, r);
    return { ...ep, classes: ep.classes.map((c) => g.ids[c]) };
  }

  /** The head trained at the current episode (protonet during pre-training). */
  headNow(): EmbeddingHead {
    return this.s.episode < this.options.protonetEpisodes ? 'protonet' : this.options.head;
  }

  /** Trains on one episode and returns its loss and accuracy. */
  step(): EpisodeReport {
    const t0 = performance.now(), c0 = cpuNow();
    const o = this.options;
    const r = rng(deriveSeed(o.seed, this.s.episode + 1));
    const ep = this.sampleTrainingEpisode(r);
    const idx = new Int32Array(ep.support.length + ep.query.length);
    idx.set(ep.support); idx.set(ep.query, ep.support.length);
    const nS = ep.support.length;
    const classOf = (i: number) => ep.classes[i < nS ? Math.floor(i / o.episode.kShot) : Math.floor((i - nS) / o.episode.nQuery)];
    const pixels = this.batchImages(idx, classOf, r);
    const stats: BatchStats[] = [];
    const h = o.passes === 'gemm' ? this.stepGemm(pixels, ep, stats) : this.stepTfjs(pixels, ep, stats);
    this.net.updateRunningStats(stats);
    const accuracy = h.correct / h.total;
    this.s.episode++;
    const dt = (performance.now() - t0) / 1000;
    this.s.seconds += dt;
    this.s.cpuSeconds += cpuNow() - c0;
    const w = this.s.window;
    w.loss += h.loss; w.accuracy += accuracy; w.episodes++; w.images += idx.length; w.seconds += dt;
    return { episode: this.s.episode, loss: h.loss, accuracy, seconds: this.s.seconds };
  }

  /**
   * The head's loss and gradient on the episode's training-mode embeddings `e`. The layer heads'
   * own parameters change only in the returned `apply`.
   */
  private headStep(e: Float32Array, ep: Episode, pixels: Float32Array): HeadStep {
    const o = this.options, D = this.net.dim;
    const { nWay, kShot, nQuery } = o.episode;
    const he: HeadEpisode = { classes: ep.classes, nWay, kShot, nQuery };
    const head = this.headNow();
    const lr = this.learningRate();
    // The CNN's Adam takes its step before `apply` runs: τ (and w) share its bias correction.
    const corr = adamCorrection(this.adamT + 1);
    switch (head) {
      case 'protonet': {
        const res = protonetLoss(e, D, nWay, kShot, nQuery);
        return { loss: res.loss, correct: res.correct, total: nWay * nQuery, dE: res.grad, apply: () => {} };
      }
      case 'prototype-layer':
        // Unseen classes start from inference-mode embeddings of their support images.
        return globalLayerStep(this.s.layer as GlobalLayer, e, D, he, o, this.nClasses, () => this.net.embed(pixels), lr, corr);
      case 'prototype-layer-episode':
        return episodeLayerStep(this.s.layer as EpisodeLayer, e, D, he, o, lr, corr);
      default: {
        const never: never = head;
        throw new RangeError(`unknown head ${String(never)}`);
      }
    }
  }

  /** One step on the gemm passes: forward, head, backward, Adam; then the head's own update. */
  private stepGemm(pixels: Float32Array, ep: Episode, stats: BatchStats[]): HeadStep {
    const n = ep.support.length + ep.query.length;
    const { embedding } = this.forwardGemm(pixels, n, stats);
    const h = this.headStep(embedding, ep, pixels);
    const vars = this.net.variables();
    this.adam(vars, this.gradTensors(this.gemmNet!.backward(h.dE), vars));
    h.apply();
    return h;
  }

  /**
   * One step on TF.js ops: the head enters the graph as one custom op whose gradient is the
   * head's ∂loss/∂embeddings; every tensor is released on any exit.
   */
  private stepTfjs(pixels: Float32Array, ep: Episode, stats: BatchStats[]): HeadStep {
    const n = ep.support.length + ep.query.length, S = this.data.size;
    const vars = this.net.variables();
    let h: HeadStep | null = null;
    const headOp = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
      const e = args[0] as tf.Tensor;
      const step = this.headStep(e.dataSync() as Float32Array, ep, pixels);
      h = step;
      return { value: tf.scalar(step.loss), gradFunc: (dy: tf.Tensor) => tf.mul(dy, tf.tensor(step.dE, e.shape)) };
    });
    const x = tf.tensor4d(pixels, [n, S, S, 1]);
    try {
      const { value, grads } = tf.variableGrads(() => headOp(this.net.embedTrain(x, stats)) as tf.Scalar, vars);
      value.dispose();
      this.adam(vars, vars.map((v) => grads[v.name]));
    } finally {
      x.dispose();
    }
    const done = h as HeadStep | null;
    if (done === null) throw new Error('the head did not run');
    done.apply();
    return done;
  }

  private gemmNet: Conv4Gemm | null = null;

  /**
   * Training-mode forward pass on the gemm passes with the network's current weights; pushes
   * the batch moments (as tensors) to `stats` for the running averages.
   */
  private forwardGemm(pixels: Float32Array, n: number, stats: BatchStats[]): { embedding: Float32Array } {
    const st = this.net.state();
    if (this.gemmNet === null) this.gemmNet = new Conv4Gemm(st);
    else this.gemmNet.state = st;
    const { embedding, moments } = this.gemmNet.forwardTrain(pixels, n);
    for (const m of moments) stats.push({ mean: tf.tensor1d(m.mean), variance: tf.tensor1d(m.variance) });
    return { embedding };
  }

  /** The gemm passes' gradients as tensors in the order of {@link Conv4.variables}. */
  private gradTensors(g: BlockGrads[], vars: tf.Variable[]): tf.Tensor[] {
    return g.flatMap((b, i) => [b.kernel, b.gamma, b.beta].map((a, k) => tf.tensor(a, vars[i * 3 + k].shape)));
  }

  /** Adam update of the CNN variables; disposes the gradients. */
  private adam(vars: tf.Variable[], grads: tf.Tensor[]): void {
    this.adamT++;
    const lr = this.learningRate() * adamCorrection(this.adamT);
    try {
      tf.tidy(() => {
        vars.forEach((v, i) => {
          const g = grads[i];
          const m = tf.add(tf.mul(this.adamM[i], B1), tf.mul(g, 1 - B1));
          const vv = tf.add(tf.mul(this.adamV[i], B2), tf.mul(tf.square(g), 1 - B2));
          v.assign(tf.sub(v, tf.mul(tf.div(m, tf.add(tf.sqrt(vv), EPS)), lr)));
          this.adamM[i].dispose(); this.adamV[i].dispose();
          this.adamM[i] = tf.keep(m); this.adamV[i] = tf.keep(vv);
        });
      });
    } finally {
      for (const g of grads) g.dispose();
    }
  }

  /**
   * Validation accuracy: the fixed validation episodes, classified by the nearest class mean of
   * the inference-mode embeddings (the prototypical-network rule).
   */
  validate(): number {
    if (!this.hasValidation) return NaN;
    const pixels = this.valPixels();
    return episodeAccuracy(this.net.embed(pixels), this.net.dim, this.valEpisodesFixed, this.valLocal!);
  }

  private valLocal: Map<number, number> | null = null;
  private valPixelsCache: Float32Array | null = null;

  /** Pixels of the validation images only (cached), with a map from image index to row. */
  private valPixels(): Float32Array {
    if (this.valPixelsCache) return this.valPixelsCache;
    const S2 = this.data.size ** 2;
    const used = new Map<number, number>();
    for (const m of this.data.val.members) for (let i = 0; i < m.length; i++) if (!used.has(m[i])) used.set(m[i], used.size);
    const out = new Float32Array(used.size * S2);
    for (const [img, row] of used) out.set(this.data.pixels.subarray(img * S2, (img + 1) * S2), row * S2);
    this.valLocal = used;
    this.valPixelsCache = out;
    return out;
  }

  /**
   * Ends a window of `evalEvery` episodes: validates, appends a curve point, tracks the best
   * network. @returns the new curve point and whether it is the best so far.
   */
  evaluate(): { point: CurvePoint; improved: boolean } {
    const t0 = performance.now(), c0 = cpuNow();
    const val = this.validate();
    this.s.seconds += (performance.now() - t0) / 1000;
    this.s.cpuSeconds += cpuNow() - c0;
    const w = this.s.window;
    const point: CurvePoint = {
      episode: this.s.episode, seconds: this.s.seconds, cpuSeconds: this.s.cpuSeconds,
      trainLoss: w.episodes ? w.loss / w.episodes : NaN, trainAccuracy: w.episodes ? w.accuracy / w.episodes : NaN,
      valAccuracy: val, imagesPerSecond: w.seconds > 0 ? w.images / w.seconds : NaN,
    };
    this.s.curve.push(point);
    this.s.window = { loss: 0, accuracy: 0, episodes: 0, images: 0, seconds: 0 };
    // Without validation data every evaluation's network is the output (the schedule decides).
    const improved = !this.hasValidation || this.s.best === null || val > this.s.best.valAccuracy;
    if (improved) {
      this.s.best = { valAccuracy: val, episode: this.s.episode, net: this.net.state() };
      this.s.evalsSinceBest = 0;
    } else {
      this.s.evalsSinceBest++;
    }
    return { point, improved };
  }

  /** Why to stop now, or null to go on. */
  shouldStop(): StopReason | null {
    const o = this.options;
    if (this.s.episode >= o.maxEpisodes) return 'max-episodes';
    if (this.s.seconds >= o.maxMinutes * 60) return 'max-minutes';
    if (this.s.evalsSinceBest >= o.patience) return 'early-stopping';
    return null;
  }

  /** A copy of everything needed to resume. */
  state(): TrainerState {
    return {
      options: this.options, episode: this.s.episode, seconds: this.s.seconds, cpuSeconds: this.s.cpuSeconds, curve: this.s.curve.slice(),
      net: this.net.state(),
      adam: { m: this.adamM.map((t) => t.dataSync().slice() as Float32Array), v: this.adamV.map((t) => t.dataSync().slice() as Float32Array), t: this.adamT },
      best: this.s.best, evalsSinceBest: this.s.evalsSinceBest, layer: this.s.layer, window: { ...this.s.window },
    };
  }

  /** Releases the tensors. */
  dispose(): void {
    this.net.dispose();
    for (const t of [...this.adamM, ...this.adamV]) t.dispose();
  }
}

/**
 * The training classes grouped by alphabet (the label's part before "/", rotations included),
 * keeping the groups with at least N classes.
 * @throws RangeError when no group has N classes (naming the largest).
 */
export function trainingGroups(classes: ClassIndex, shape: EpisodeShape): Array<{ index: ClassIndex; ids: Int32Array }> {
  const byGroup = new Map<string, number[]>();
  classes.names.forEach((n, c) => {
    const g = n.includes('/') ? n.slice(0, n.indexOf('/')) : n;
    const list = byGroup.get(g) ?? [];
    list.push(c);
    byGroup.set(g, list);
  });
  const out = [...byGroup.values()].filter((ids) => ids.length >= shape.nWay)
    .map((ids) => ({ ids: Int32Array.from(ids), index: { names: ids.map((c) => classes.names[c]), members: ids.map((c) => classes.members[c]) } }));
  if (out.length === 0) {
    const [g, ids] = [...byGroup.entries()].sort((a, b) => b[1].length - a[1].length)[0];
    throw new RangeError(`group episodes: no training group has ${shape.nWay} classes; the largest, "${g}", has ${ids.length}`);
  }
  return out;
}

/**
 * Accuracy of nearest-class-mean classification over episodes, on precomputed embeddings.
 * @param emb - rows × dim embeddings; `rowOf` maps an image index to its row.
 */
export function episodeAccuracy(emb: Float32Array, dim: number, episodes: ReadonlyArray<ReturnType<typeof sampleEpisode>>, rowOf: Map<number, number>): number {
  let correct = 0, total = 0;
  for (const ep of episodes) {
    const n = ep.classes.length, k = ep.support.length / n, q = ep.query.length / n;
    const means = new Float64Array(n * dim);
    for (let i = 0; i < ep.support.length; i++) {
      const c = Math.floor(i / k), row = rowOf.get(ep.support[i])!;
      for (let d = 0; d < dim; d++) means[c * dim + d] += emb[row * dim + d] / k;
    }
    for (let i = 0; i < ep.query.length; i++) {
      const row = rowOf.get(ep.query[i])!;
      let best = -1, bestD = Infinity;
      for (let c = 0; c < n; c++) {
        let s = 0;
        for (let d = 0; d < dim; d++) { const t = emb[row * dim + d] - means[c * dim + d]; s += t * t; }
        if (s < bestD) { bestD = s; best = c; }
      }
      if (best === Math.floor(i / q)) correct++;
      total++;
    }
  }
  return total ? correct / total : NaN;
}
