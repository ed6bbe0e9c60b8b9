/**
 * Episodic training of the Conv-4 embedding with a prototype layer on top (browser-safe; file
 * I/O is in `io.node.ts`). Two heads, both differentiable end to end through the CNN:
 *
 * - `protonet` — one prototype per class, the mean of its support embeddings, and the loss of
 *   prototypical networks (Snell, Swersky & Zemel 2017): −mean log softmax_l(−‖f(x) − μ_l‖²)
 *   over the episode's query images.
 * - `prototype-layer` — the layer of Drumond, Viéville & Alexandre (2017), with its formulas
 *   unchanged: q_j(x) = softmax_j(−‖f(x) − p_j‖² / 2τ), c_l(x) = softmax_l(w_lᵀ q(x)), loss
 *   −mean log c_y + α‖W‖₁. Each training class owns P prototypes (rows of a global J×D matrix,
 *   J = P·C) and W is the global J×C matrix; they, log τ and the CNN are trained jointly. An
 *   episode uses the rows and columns of its N classes (a sampled softmax); those blocks get
 *   lazy Adam updates. A class's prototypes start as embeddings of its first support images.
 *
 * Every episode draws its classes and images from a generator seeded by (seed, episode), so a
 * resumed run continues exactly as an uninterrupted one would (up to float rounding).
 * See docs/embedding.md.
 */
import * as tf from '@tensorflow/tfjs';
import { checkEpisodeShape, sampleEpisode, type ClassIndex, type EpisodeShape } from '../data/episodes.ts';
import { deriveSeed, rng, type Rng } from '../linalg/random.ts';
import { isNoJitter, jitterInPlace, rotate90, SMALL_JITTER, type JitterOptions } from './augment.ts';
import { Conv4, CONV4_DEFAULTS, type Conv4Options, type Conv4State } from './conv4.ts';
import { Conv4Gemm, protonetLoss, type BlockGrads } from './conv4-gemm.ts';
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
export type EmbeddingHead = 'protonet' | 'prototype-layer';
export const HEADS: readonly EmbeddingHead[] = ['protonet', 'prototype-layer'];

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
  /** prototype-layer head: prototypes per class, penalty α on ‖W‖₁, initial W on own class. */
  prototypesPerClass: number;
  alpha: number;
  initW: number;
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
  if (!Number.isInteger(o.seed)) throw new TypeError(`seed must be an integer, got ${o.seed}`);
  if (o.episode.nQuery < 1 && o.head === 'protonet') throw new RangeError('the protonet head needs at least one query image per class');
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

/** Per-run trainable state of the prototype-layer head (global prototypes and W). */
interface LayerState {
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

const B1 = 0.9, B2 = 0.999, EPS = 1e-8;

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
    checkEpisodeShape(data.val, o.valEpisode, 'the validation classes');
    const vr = rng(deriveSeed(o.seed, 0x7a11d));
    this.valEpisodesFixed = Array.from({ length: o.valEpisodes }, () => sampleEpisode(data.val, o.valEpisode, vr));
    if (state) {
      this.net = Conv4.fromState(state.net);
      this.adamM = state.adam.m.map((a, i) => tf.keep(tf.tensor(a, this.net.variables()[i].shape)));
      this.adamV = state.adam.v.map((a, i) => tf.keep(tf.tensor(a, this.net.variables()[i].shape)));
      this.adamT = state.adam.t;
      this.s = { episode: state.episode, seconds: state.seconds, cpuSeconds: state.cpuSeconds ?? NaN, curve: state.curve, best: state.best, evalsSinceBest: state.evalsSinceBest, layer: state.layer, window: state.window };
      if (o.head === 'prototype-layer' && (!state.layer || state.layer.W.length !== this.nLayerRows() * this.classes.members.length)) {
        throw new RangeError('checkpoint: the prototype-layer state does not match the training classes');
      }
    } else {
      this.net = Conv4.create(o.net, rng(deriveSeed(o.seed, 0xc0474)));
      this.adamM = this.net.variables().map((v) => tf.keep(tf.zerosLike(v)));
      this.adamV = this.net.variables().map((v) => tf.keep(tf.zerosLike(v)));
      this.adamT = 0;
      this.s = { episode: 0, seconds: 0, cpuSeconds: 0, curve: [], best: null, evalsSinceBest: 0, layer: o.head === 'prototype-layer' ? this.newLayer() : null, window: { loss: 0, accuracy: 0, episodes: 0, images: 0, seconds: 0 } };
    }
  }

  /** Number of training classes after rotation. */
  get nClasses(): number { return this.classes.members.length; }
  get episode(): number { return this.s.episode; }
  get seconds(): number { return this.s.seconds; }
  get curve(): readonly CurvePoint[] { return this.s.curve; }
  get best(): TrainerState['best'] { return this.s.best; }

  private nLayerRows(): number { return this.options.prototypesPerClass * this.classes.members.length; }

  private newLayer(): LayerState {
    const J = this.nLayerRows(), C = this.classes.members.length, D = this.net.dim;
    return {
      P: new Float32Array(J * D), W: new Float32Array(J * C), ready: new Uint8Array(C), logTau: NaN,
      mP: new Float32Array(J * D), vP: new Float32Array(J * D), mW: new Float32Array(J * C), vW: new Float32Array(J * C),
      mTau: 0, vTau: 0, stepsP: new Int32Array(J),
    };
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

  /** Trains on one episode and returns its loss and accuracy. */
  step(): EpisodeReport {
    const t0 = performance.now(), c0 = cpuNow();
    const o = this.options;
    const { nWay, kShot, nQuery } = o.episode;
    const r = rng(deriveSeed(o.seed, this.s.episode + 1));
    const ep = sampleEpisode(this.classes, o.episode, r);
    const idx = new Int32Array(ep.support.length + ep.query.length);
    idx.set(ep.support); idx.set(ep.query, ep.support.length);
    const nS = ep.support.length;
    const classOf = (i: number) => ep.classes[i < nS ? Math.floor(i / kShot) : Math.floor((i - nS) / nQuery)];
    const S = this.data.size;
    const pixels = this.batchImages(idx, classOf, r);
    const x = o.passes === 'tfjs' ? tf.tensor4d(pixels, [idx.length, S, S, 1]) : null;
    const stats: BatchStats[] = [];
    const vars = this.net.variables();
    let lossValue: number, accuracy: number;
    if (o.head === 'protonet') {
      if (x === null) {
        const { embedding } = this.forwardGemm(pixels, idx.length, stats);
        const res = protonetLoss(embedding, this.net.dim, nWay, kShot, nQuery);
        this.adam(vars, this.gradTensors(this.gemmNet!.backward(res.grad), vars));
        lossValue = res.loss; accuracy = res.correct / (nWay * nQuery);
      } else {
        const labels = tf.tensor1d(Int32Array.from({ length: nWay * nQuery }, (_, i) => Math.floor(i / nQuery)), 'int32');
        const { value, grads, correct } = this.protonetGrads(x, labels, vars, stats, nWay, kShot, nQuery);
        lossValue = value; accuracy = correct / (nWay * nQuery);
        this.adam(vars, grads);
        labels.dispose();
      }
    } else {
      const labels = Int32Array.from({ length: idx.length }, (_, i) => (i < nS ? Math.floor(i / kShot) : Math.floor((i - nS) / nQuery)));
      const res = this.layerStep(x, ep.classes, labels, vars, stats, kShot, pixels);
      lossValue = res.loss; accuracy = res.accuracy;
    }
    x?.dispose();
    this.net.updateRunningStats(stats);
    this.s.episode++;
    const dt = (performance.now() - t0) / 1000;
    this.s.seconds += dt;
    this.s.cpuSeconds += cpuNow() - c0;
    const w = this.s.window;
    w.loss += lossValue; w.accuracy += accuracy; w.episodes++; w.images += idx.length; w.seconds += dt;
    return { episode: this.s.episode, loss: lossValue, accuracy, seconds: this.s.seconds };
  }

  private protonetGrads(x: tf.Tensor4D, labels: tf.Tensor1D, vars: tf.Variable[], stats: BatchStats[], n: number, k: number, q: number) {
    let correct = 0;
    const { value, grads } = tf.variableGrads(() => {
      const e = this.net.embedTrain(x, stats);
      const D = this.net.dim;
      const protos = tf.mean(tf.reshape(tf.slice(e, [0, 0], [n * k, D]), [n, k, D]), 1) as tf.Tensor2D;
      const qe = tf.slice(e, [n * k, 0], [n * q, D]);
      const d = sqDistances(qe, protos);
      const logits = tf.neg(d);
      correct = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'int32')).dataSync()[0];
      return tf.mean(tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(labels, n)), 1))) as tf.Scalar;
    }, vars);
    const v = value.dataSync()[0];
    value.dispose();
    return { value: v, grads: vars.map((vv) => grads[vv.name]), correct };
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
    const lr = this.learningRate() * Math.sqrt(1 - B2 ** this.adamT) / (1 - B1 ** this.adamT);
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
    for (const g of grads) g.dispose();
  }

  /** One step of the prototype-layer head: CNN by Adam, the used blocks of P, W and log τ by lazy Adam. */
  private layerStep(x: tf.Tensor4D | null, epClasses: Int32Array, epLabels: Int32Array, vars: tf.Variable[], stats: BatchStats[], kShot: number, pixels: Float32Array) {
    const nImages = epLabels.length;
    const o = this.options;
    const L = this.s.layer!;
    const Pn = o.prototypesPerClass, D = this.net.dim, C = this.classes.members.length;
    const N = epClasses.length, J = N * Pn;
    const S = this.data.size;
    // Initialise unseen classes' prototypes with inference embeddings of their first images.
    const fresh = Array.from(epClasses).map((c, i) => ({ c, i })).filter(({ c }) => !L.ready[c]);
    if (fresh.length > 0 || Number.isNaN(L.logTau)) {
      const e = this.net.embed(pixels);
      for (const { c, i } of fresh) {
        for (let p = 0; p < Pn; p++) {
          const img = i * kShot + (p % kShot); // support images come first, class-major
          L.P.set(e.subarray(img * D, (img + 1) * D), (c * Pn + p) * D);
          for (let l = 0; l < C; l++) L.W[(c * Pn + p) * C + l] = l === c ? o.initW : 0;
        }
        L.ready[c] = 1;
      }
      if (Number.isNaN(L.logTau)) {
        // τ starts at 0.1 × median squared distance / 2 among this episode's images (as the
        // prototype model's 'auto' rule); it is learned from there.
        const d: number[] = [];
        for (let a = 0; a < nImages; a += 3) for (let b = a + 1; b < nImages; b += 7) {
          let s = 0;
          for (let k = 0; k < D; k++) { const t = e[a * D + k] - e[b * D + k]; s += t * t; }
          d.push(s);
        }
        d.sort((u, v) => u - v);
        L.logTau = Math.log(Math.max(1e-6, 0.1 * d[Math.floor(d.length / 2)] / 2));
      }
    }
    // The episode's blocks: rows of its classes' prototypes, columns of its classes.
    const rows = new Int32Array(J);
    for (let i = 0; i < N; i++) for (let p = 0; p < Pn; p++) rows[i * Pn + p] = epClasses[i] * Pn + p;
    const Psub = new Float32Array(J * D), Wsub = new Float32Array(J * N);
    for (let j = 0; j < J; j++) {
      Psub.set(L.P.subarray(rows[j] * D, (rows[j] + 1) * D), j * D);
      for (let l = 0; l < N; l++) Wsub[j * N + l] = L.W[rows[j] * C + epClasses[l]];
    }
    const pV = tf.variable(tf.tensor2d(Psub, [J, D]), true);
    const wV = tf.variable(tf.tensor2d(Wsub, [J, N]), true);
    const tV = tf.variable(tf.scalar(L.logTau), true);
    const labels = tf.tensor1d(epLabels, 'int32');
    let correct = 0, nll = 0;
    // With the gemm passes the CNN runs outside TF.js: its embeddings enter as a variable whose
    // gradient is then sent back through them.
    const eV = x === null ? tf.variable(tf.tensor2d(this.forwardGemm(pixels, nImages, stats).embedding.slice(), [nImages, D]), true) : null;
    const all = eV === null ? [...vars, pV, wV, tV] : [eV, pV, wV, tV];
    const { value, grads } = tf.variableGrads(() => {
      const e = eV ?? this.net.embedTrain(x!, stats);
      const qLayer = tf.softmax(tf.div(tf.neg(sqDistances(e, pV)), tf.mul(2, tf.exp(tV))));
      const logits = tf.matMul(qLayer, wV);
      correct = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'int32')).dataSync()[0];
      const nllT = tf.mean(tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(labels, N)), 1)));
      nll = nllT.dataSync()[0];
      return tf.add(nllT, tf.mul(o.alpha, tf.sum(tf.abs(wV)))) as tf.Scalar;
    }, all);
    const loss = value.dataSync()[0];
    value.dispose();
    if (eV === null) {
      this.adam(vars, vars.map((v) => grads[v.name]));
    } else {
      const dE = grads[eV.name].dataSync() as Float32Array;
      this.adam(vars, this.gradTensors(this.gemmNet!.backward(dE), vars));
      grads[eV.name].dispose();
      eV.dispose();
    }
    const gP = grads[pV.name].dataSync(), gW = grads[wV.name].dataSync(), gT = grads[tV.name].dataSync()[0];
    for (const v of [pV, wV, tV]) { grads[v.name].dispose(); v.dispose(); }
    labels.dispose();
    // Lazy Adam on the used rows/blocks, bias-corrected by each row's own step count.
    const lr = this.learningRate();
    for (let j = 0; j < J; j++) {
      const row = rows[j];
      const t = ++L.stepsP[row];
      const corr = Math.sqrt(1 - B2 ** t) / (1 - B1 ** t);
      for (let k = 0; k < D; k++) {
        const a = row * D + k, g = gP[j * D + k];
        L.mP[a] = B1 * L.mP[a] + (1 - B1) * g; L.vP[a] = B2 * L.vP[a] + (1 - B2) * g * g;
        L.P[a] -= lr * corr * L.mP[a] / (Math.sqrt(L.vP[a]) + EPS);
      }
      for (let l = 0; l < N; l++) {
        const a = row * C + epClasses[l], g = gW[j * N + l];
        L.mW[a] = B1 * L.mW[a] + (1 - B1) * g; L.vW[a] = B2 * L.vW[a] + (1 - B2) * g * g;
        L.W[a] -= lr * corr * L.mW[a] / (Math.sqrt(L.vW[a]) + EPS);
      }
    }
    L.mTau = B1 * L.mTau + (1 - B1) * gT; L.vTau = B2 * L.vTau + (1 - B2) * gT * gT;
    const tt = this.adamT;
    L.logTau -= lr * (Math.sqrt(1 - B2 ** tt) / (1 - B1 ** tt)) * L.mTau / (Math.sqrt(L.vTau) + EPS);
    void nll;
    return { loss, accuracy: correct / nImages };
  }

  /**
   * Validation accuracy: the fixed validation episodes, classified by the nearest class mean of
   * the inference-mode embeddings (the prototypical-network rule).
   */
  validate(): number {
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
    const improved = this.s.best === null || val > this.s.best.valAccuracy;
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

/** Squared Euclidean distances between the rows of a (n×D) and b (m×D): n×m, via one product. */
export function sqDistances(a: tf.Tensor2D | tf.Tensor, b: tf.Tensor2D | tf.Tensor): tf.Tensor2D {
  const a2 = tf.sum(tf.square(a), 1, true);
  const b2 = tf.reshape(tf.sum(tf.square(b), 1), [1, -1]);
  return tf.relu(tf.add(tf.sub(a2, tf.mul(2, tf.matMul(a, b, false, true))), b2)) as tf.Tensor2D;
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
