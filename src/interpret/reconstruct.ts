/**
 * What a prototype looks like: an input image x* whose CNN feature lands on the prototype p_j
 * (docs/interpretation.md, "Reconstructions"). The nearest training images only approximate a
 * prototype, which may sit between them; x* is found by gradient steps on the pixels, from a
 * neutral grey image, through the backbone (src/features/pixel-gradient.ts) and the model
 * (head.ts):
 *
 *   minimise  d_j(x)/2τ + λ·TV(x)       (objective 'distance': ‖Ω(t(f(x)) − p_j)‖² in the model's metric)
 *   or        −log q_j(x) + λ·TV(x)     (objective 'q')
 *
 * over x ∈ [0, 1]^{H×W×C} by Adam, projected onto the box, with the priors feature visualisation
 * found necessary (priors.ts): total variation, a random jitter of a pixel or two before each
 * gradient, a blur every few steps, and a lower-resolution parameterisation: x lives at the data's
 * own resolution (28×28 for digits) and reaches a larger network input through the backbone's
 * bilinear resize. The last steps (`polish`) drop jitter and blur so that the image itself, not a
 * shifted copy, lands on p_j.
 *
 * What is reported is measured on the 8-bit image that is shown, through the backbone's ordinary
 * extraction path (`Backbone.embed`) and the model's own `explain`: q_j, the squared distance to
 * p_j in the model's metric, the best prototype and the predicted class. A reconstruction whose
 * q_j stays below `qTarget` (0.9) says so (`reached: false`).
 */
import type { Backbone } from '../features/backbone.ts';
import { featureGradient, gradientForward, type ImageBatch } from '../features/pixel-gradient.ts';
import type { PixelImage } from '../features/preprocess.ts';
import { deriveSeed, rng } from '../linalg/random.ts';
import { Pipeline, type FeatureTransform } from '../model/preprocess.ts';
import { PrototypeClassifier, type Explanation } from '../model/prototype.ts';
import type { Label } from '../model/types.ts';
import { PrototypeHead } from './head.ts';
import { blur, roll, totalVariation, type ImageShape } from './priors.ts';

/** Options of {@link reconstructPrototypes}. Defaults in {@link RECONSTRUCT_DEFAULTS}. */
export interface ReconstructOptions {
  /** Gradient steps. Default 200 for network inputs up to 64×64 (the learned Conv-4), 80 for larger ones (MobileNetV2, InceptionV3: a step costs ~0.2 s there; see BENCHMARKS.md, "Reconstructions and adversarial readings"). */
  steps?: number;
  /** Adam's step size, in pixel values (the image is in [0, 1]). */
  learningRate?: number;
  /** Height and width of the optimised image; default the network's input size, at most 64 (a lower-resolution parameterisation of larger inputs). */
  size?: [number, number];
  /** 1 (grey, replicated to the network's three channels) or 3. */
  channels?: 1 | 3;
  /** Grey level of the neutral start (plus ±0.01 of seeded noise). */
  start?: number;
  objective?: 'distance' | 'q';
  /** Weight λ of the total variation, against the data term. */
  tv?: number;
  /** Weight of an L2 pull of every pixel towards the start's grey level (a decay towards blank paper when it is 1). */
  decay?: number;
  /** Largest random shift before each gradient, in pixels of the optimised image. */
  jitter?: number;
  /** Blur every this many steps (0: never). */
  blurEvery?: number;
  /** Strength of each blur in [0, 1]. */
  blurAmount?: number;
  /** Fraction of the steps, at the end, without jitter and blur. */
  polish?: number;
  /** q_j a reconstruction must reach to count as reaching its prototype. */
  qTarget?: number;
  /** Seed of the start noise and the jitter, drawn per prototype j from (seed, j) (recorded in each result). */
  seed?: number;
  /** Prototypes optimised together in one batch. Default 32 for inputs up to 64×64, else 2. */
  batch?: number;
  /** Called after every step of every batch. */
  onStep?: (p: { done: number; total: number; batch: number[] }) => void;
}

export const RECONSTRUCT_DEFAULTS = {
  steps: 200, learningRate: 0.05, channels: 1 as 1 | 3, start: 0.5, objective: 'distance' as 'distance' | 'q',
  tv: 0.5, decay: 0, jitter: 1, blurEvery: 4, blurAmount: 0.5, polish: 0.25, qTarget: 0.9, seed: 0,
};

/** An 8-bit image, row-major, interleaved channels. */
export interface SmallImage {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

/** One prototype's reconstruction and what it reaches. */
export interface Reconstruction {
  prototype: number;
  /** The prototype's winning class (argmax of its row of W). */
  winningClass: Label;
  image: SmallImage;
  /** q_j of the image (8-bit, through the backbone's extraction path). */
  q: number;
  /** ‖t(f(x*)) − p_j‖² in the model's metric. */
  sqDistance: number;
  /** argmax_k q_k of the image, and its predicted class. */
  bestPrototype: number;
  predicted: Label;
  /** q ≥ qTarget. */
  reached: boolean;
  qTarget: number;
  steps: number;
  seconds: number;
  seed: number;
  /** Every tenth step and the last: d_j and q_j of the image the step evaluated. */
  history: Array<{ step: number; sqDistance: number; q: number }>;
}

/** A prototype model, alone or behind its feature transform (a saved Pipeline). */
export type InterpretedModel = PrototypeClassifier | Pipeline;

/** The prototype classifier and the transform in front of it. @throws TypeError for any other classifier. */
export function unwrapModel(model: InterpretedModel): { model: PrototypeClassifier; transform: FeatureTransform | null } {
  if (model instanceof PrototypeClassifier) return { model, transform: null };
  if (model instanceof Pipeline && model.model instanceof PrototypeClassifier) return { model: model.model, transform: model.transform };
  throw new TypeError(`expected a PrototypeClassifier (alone or in a Pipeline), got a ${(model as { kind?: string }).kind ?? typeof model}`);
}

type Resolved = Required<Omit<ReconstructOptions, 'size' | 'batch' | 'onStep'>> & { size: [number, number]; batch: number };

function resolveOptions(backbone: Backbone, o: ReconstructOptions): Resolved {
  const p = backbone.preprocessing;
  const r = { ...RECONSTRUCT_DEFAULTS, ...o } as Resolved;
  r.size = o.size ?? [Math.min(p.height, 64), Math.min(p.width, 64)];
  const small = p.height * p.width <= 64 * 64;
  r.batch = o.batch ?? (small ? 32 : 2);
  // Chosen on prototypes 0–2 of the digits demo's MobileNetV2 model (q_j = 1.000 from step 70), confirmed on the others in its report.
  r.steps = o.steps ?? (small ? RECONSTRUCT_DEFAULTS.steps : 80);
  const posInt = (k: string, v: number) => { if (!Number.isInteger(v) || v < 1) throw new RangeError(`reconstruct: ${k} must be a positive integer, got ${v}`); };
  posInt('steps', r.steps); posInt('batch', r.batch); posInt('size[0]', r.size[0]); posInt('size[1]', r.size[1]);
  if (!(r.learningRate > 0)) throw new RangeError(`reconstruct: learningRate must be positive, got ${r.learningRate}`);
  if (r.channels !== 1 && r.channels !== 3) throw new RangeError(`reconstruct: channels must be 1 or 3, got ${String(r.channels)}`);
  if (r.objective !== 'distance' && r.objective !== 'q') throw new RangeError(`reconstruct: objective must be one of: distance, q; got ${String(r.objective)}`);
  for (const k of ['start', 'blurAmount', 'polish', 'qTarget'] as const) {
    if (!(r[k] >= 0 && r[k] <= 1)) throw new RangeError(`reconstruct: ${k} must be in [0, 1], got ${r[k]}`);
  }
  for (const k of ['tv', 'decay', 'jitter', 'blurEvery'] as const) if (!(r[k] >= 0)) throw new RangeError(`reconstruct: ${k} must be non-negative, got ${r[k]}`);
  if (!Number.isInteger(r.seed)) throw new RangeError(`reconstruct: seed must be an integer, got ${r.seed}`);
  return r;
}

/** The 8-bit version of an image batch's image i. */
export function toSmallImage(x: Float32Array, s: ImageShape, i: number): SmallImage {
  const per = s.height * s.width * s.channels;
  const data = new Uint8Array(per);
  for (let k = 0; k < per; k++) data[k] = Math.round(255 * Math.min(1, Math.max(0, x[i * per + k])));
  return { width: s.width, height: s.height, channels: s.channels as 1 | 3, data };
}

/** Adam on a flat parameter vector (Kingma & Ba 2015), bias-corrected. */
class Adam {
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private t = 0;
  constructor(n: number, private readonly lr: number) {
    this.m = new Float32Array(n);
    this.v = new Float32Array(n);
  }
  step(x: Float32Array, g: Float32Array): void {
    this.t++;
    const b1 = 0.9, b2 = 0.999, c1 = 1 - b1 ** this.t, c2 = 1 - b2 ** this.t;
    for (let k = 0; k < x.length; k++) {
      this.m[k] = b1 * this.m[k] + (1 - b1) * g[k];
      this.v[k] = b2 * this.v[k] + (1 - b2) * g[k] * g[k];
      x[k] -= (this.lr * (this.m[k] / c1)) / (Math.sqrt(this.v[k] / c2) + 1e-8);
    }
  }
}

/** Optimises one batch of prototypes' images (see the module comment); returns the final images and their history. */
async function optimiseBatch(head: PrototypeHead, backbone: Backbone, targets: number[], o: Resolved, seed: number,
  onStep: (done: number) => void): Promise<{ x: Float32Array; shape: ImageShape; history: Reconstruction['history'][] }> {
  const shape: ImageShape = { n: targets.length, height: o.size[0], width: o.size[1], channels: o.channels };
  // One generator per prototype, from (seed, j): a prototype's image does not depend on the batch it was in.
  const rs = targets.map((j) => rng(deriveSeed(seed, j)));
  const per = shape.height * shape.width * shape.channels;
  const x = new Float32Array(shape.n * per);
  for (let k = 0; k < x.length; k++) x[k] = o.start + 0.01 * (2 * rs[Math.floor(k / per)].next() - 1);
  const adam = new Adam(x.length, o.learningRate);
  const history: Reconstruction['history'][] = targets.map(() => []);
  const free = Math.round(o.steps * (1 - o.polish));
  const D = head.D;
  for (let step = 0; step < o.steps; step++) {
    const jitter = step < free && o.jitter > 0;
    const dy = rs.map((r) => (jitter ? r.int(2 * o.jitter + 1) - o.jitter : 0));
    const dx = rs.map((r) => (jitter ? r.int(2 * o.jitter + 1) - o.jitter : 0));
    const xj = jitter ? roll(x, shape, dy, dx) : x;
    const batch: ImageBatch = { data: xj, ...shape, channels: o.channels };
    const { grad } = featureGradient(backbone, batch, (F) => {
      const G = new Float32Array(F.length);
      let loss = 0;
      targets.forEach((j, i) => {
        const pt = head.at(F, i * D);
        const ob = o.objective === 'q' ? head.negLogQ(pt, j) : head.distance(pt, j);
        const w = o.objective === 'q' ? 1 : 1 / (2 * head.tau);
        for (let a = 0; a < ob.dz.length; a++) ob.dz[a] *= w;
        head.backward(pt, ob.dz, G, i * D);
        loss += w * ob.value;
        if (step % 10 === 0 || step === o.steps - 1) history[i].push({ step, sqDistance: pt.d[j], q: pt.q[j] });
      });
      return { loss, grad: G };
    });
    const g = jitter ? roll(grad, shape, dy.map((v) => -v), dx.map((v) => -v)) : grad;
    if (o.tv > 0) totalVariation(x, shape, g, o.tv);
    if (o.decay > 0) { const w = o.decay / (shape.height * shape.width * shape.channels); for (let k = 0; k < x.length; k++) g[k] += w * (x[k] - o.start); }
    adam.step(x, g);
    for (let k = 0; k < x.length; k++) x[k] = Math.min(1, Math.max(0, x[k]));
    if (o.blurEvery > 0 && step < free && (step + 1) % o.blurEvery === 0) blur(x, shape, o.blurAmount);
    onStep(step + 1);
    await new Promise((resolve) => setTimeout(resolve, 0)); // let a server answer between steps
  }
  return { x, shape, history };
}

/**
 * Reconstructs the input of each prototype in `prototypes` (see the module comment), in batches.
 * Needs a backbone that gives gradients (TF.js); the images are those the backbone's
 * preprocessing turns into its input, at `size` with `channels`.
 * @param model - the fitted model the features were classified by, alone or in its Pipeline.
 * @param backbone - the backbone that made the model's features.
 * @param prototypes - prototype indices, or 'all'.
 * @throws NoGradientError for a backbone without gradients (ONNX); RangeError for a prototype
 *   index out of range, a backbone whose dimension is not the model's, or a bad option (named).
 * @example
 * const [r] = await reconstructPrototypes(model, backbone, [3]); // r.q ≥ 0.9 when r.reached
 */
export async function reconstructPrototypes(model: InterpretedModel, backbone: Backbone, prototypes: readonly number[] | 'all',
  options: ReconstructOptions = {}): Promise<Reconstruction[]> {
  gradientForward(backbone);
  const { model: m, transform } = unwrapModel(model);
  const head = new PrototypeHead(m, transform);
  if (transform ? transform.nFeatures_ !== backbone.info.dim : head.D !== backbone.info.dim) {
    throw new RangeError(`the backbone "${backbone.info.name}" gives ${backbone.info.dim} features but the model takes ${transform?.nFeatures_ ?? head.D}`);
  }
  const js = prototypes === 'all' ? Array.from({ length: head.J }, (_, j) => j) : prototypes.slice();
  for (const j of js) if (!Number.isInteger(j) || j < 0 || j >= head.J) throw new RangeError(`prototype ${j} is out of range: the model has ${head.J} prototypes (0–${head.J - 1})`);
  const o = resolveOptions(backbone, options);
  const out: Reconstruction[] = [];
  const total = js.length * o.steps;
  for (let b = 0; b < js.length; b += o.batch) {
    const targets = js.slice(b, b + o.batch);
    const t0 = performance.now();
    const { x, shape, history } = await optimiseBatch(head, backbone, targets, o, o.seed, (done) => options.onStep?.({ done: b * o.steps + done * targets.length, total, batch: targets }));
    const seconds = (performance.now() - t0) / 1000;
    const images = targets.map((_, i) => toSmallImage(x, shape, i));
    const measured = await measureImages(m, transform, backbone, images);
    targets.forEach((j, i) => {
      const e = measured[i];
      const mine = e.prototypes.find((p) => p.index === j)!;
      out.push({
        prototype: j, winningClass: m.links(j).winningClass, image: images[i], q: mine.q, sqDistance: mine.sqDistance,
        bestPrototype: e.prototypes[0].index, predicted: e.label, reached: mine.q >= o.qTarget, qTarget: o.qTarget,
        steps: o.steps, seconds: seconds / targets.length, seed: o.seed, history: history[i],
      });
    });
  }
  return out;
}

/**
 * The model's explanation of 8-bit images, through the backbone's extraction path (the one
 * `protolens extract` uses) and the model's transform.
 */
export async function measureImages(model: PrototypeClassifier, transform: FeatureTransform | null, backbone: Backbone, images: readonly SmallImage[]): Promise<Explanation[]> {
  const F = await backbone.embed(images.map((im): PixelImage => ({ width: im.width, height: im.height, channels: im.channels, data: im.data })));
  const D = backbone.info.dim;
  const X = { data: F, rows: images.length, cols: D };
  const T = transform ? transform.transform(X) : X;
  const J = model.prototypes_!.rows;
  return images.map((_, i) => model.explain(T.data.subarray(i * T.cols, (i + 1) * T.cols), J));
}

/**
 * One prototype's reconstruction ({@link reconstructPrototypes} with one index).
 * @example
 * const r = await reconstructPrototype(model, backbone, 0, { steps: 150, seed: 1 });
 * // r.image: 28×28 grey bytes; r.q, r.sqDistance, r.reached
 */
export async function reconstructPrototype(model: InterpretedModel, backbone: Backbone, j: number, options: ReconstructOptions = {}): Promise<Reconstruction> {
  const [r] = await reconstructPrototypes(model, backbone, [j], options);
  return r;
}
