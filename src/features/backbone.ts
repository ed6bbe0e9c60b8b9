/**
 * A CNN cut at a chosen layer, giving one feature vector per image. Browser-safe: the network
 * comes as TF.js `ModelArtifacts` (model.json contents plus weight bytes); the Node adapter
 * (`load.node.ts`) reads them from the nsfwjs package, from a converted copy in the cache, or
 * from a user's model folder.
 *
 * The feature of an image is the chosen layer's output: rank 2 (N×D) as is, rank 4 (N×H×W×C)
 * global-average-pooled (or max-pooled, or flattened, as `pool` says) to N×C, any other rank
 * flattened. ONNX models are loaded by `onnx-backbone.ts` into the same {@link Backbone}. Tensors never leave this module:
 * {@link Backbone.embed} returns a Float32Array and leaves the tensor count unchanged.
 */
import * as tf from '@tensorflow/tfjs';
import type { PoolMode } from './onnx-backbone.ts';
import { registerWasmInputGradientKernels } from './grad-kernels.ts';
import { differentiableForward, type DifferentiableForward } from './input-gradient.ts';
import { checkTtaShift, ttaOffsets } from './tta.ts';
import { checkPreprocessing, preprocessBatch, type PixelImage, type Preprocessing } from './preprocess.ts';
import type { PreprocessMethod } from '../model/preprocess.ts';

/** What identifies a backbone's features: recorded in feature files and part of the cache key. */
export interface BackboneInfo {
  /** "mobilenet_v2", "inception_v3", or a user model's folder name. */
  name: string;
  /** Layer (layers model) or node (graph model) whose output is the feature. */
  layer: string;
  /** Feature dimension. */
  dim: number;
  /** How the layer output becomes a vector. */
  pooling: 'none' | 'global-average' | 'global-max' | 'flatten';
  /** SHA-256 of the model topology and weights (hex). */
  weightsHash: string;
  /** Where the weights came from (for people, not parsed). */
  source: string;
  /** A TF.js layers or graph model, or an ONNX model run by onnxruntime (`onnx-backbone.ts`). */
  kind: 'layers' | 'graph' | 'onnx';
  /** Test-time shifts (`tta.ts`): the feature is the mean over the input moved by up to tta pixels each way ((2·tta + 1)² copies); absent = 0, none. */
  tta?: number;
  /**
   * The feature preprocessing the backbone's card recommends for classifiers on its features
   * (`--preprocess auto`; docs/features.md): `none` for the embeddings protolens trains,
   * `sqrt-l2` for the bundled ImageNet networks; absent when the backbone names none (a user's
   * ONNX or TF.js model). Not part of the cache key: it does not change the features.
   */
  recommendedPreprocess?: PreprocessMethod;
}

/** A loaded network cut at its feature layer. */
export interface Backbone {
  readonly info: BackboneInfo;
  readonly preprocessing: Preprocessing;
  /**
   * Features of a batch of images as one row-major Float32Array (images.length × dim).
   * @throws RangeError naming the image index for malformed pixels.
   */
  embed(images: readonly PixelImage[]): Promise<Float32Array>;
  /**
   * The network as TF.js ops, from its input (N×H×W×3, as {@link preprocessBatch} makes it) to
   * the features (N×dim), for gradients with respect to the pixels (src/interpret/pixels.ts).
   * Inference mode (batch norm on its running statistics). Call inside `tf.tidy` or `tf.grad`.
   * Absent for backbones that give no gradients.
   */
  readonly forward?: (x: tf.Tensor4D) => tf.Tensor2D;
  /** Releases the model's weights. */
  dispose(): void;
}

/** How to cut and describe a model when loading it. */
export interface BackboneOptions {
  name: string;
  /** Feature layer or node; default: the model's output. */
  layer?: string;
  /** How a rank-4 (N×H×W×C) output becomes a vector: averaged (default) or maximised over H×W, or flattened. */
  pool?: PoolMode;
  preprocessing: Preprocessing;
  weightsHash: string;
  source: string;
  /** Test-time shifts, in input pixels (`tta.ts`); 0 or absent: none. */
  tta?: number;
  /** The feature preprocessing the backbone's card recommends ({@link BackboneInfo.recommendedPreprocess}). */
  recommendedPreprocess?: PreprocessMethod;
}

/** True when the artifacts describe a graph model (TF.js converter "graph-model" format). */
export function isGraphModel(a: tf.io.ModelArtifacts): boolean {
  const topo = a.modelTopology as Record<string, unknown> | undefined;
  return a.format === 'graph-model' || (topo !== undefined && Array.isArray(topo.node));
}

/** The layer names of a layers model or the node names of a graph model, from its topology. */
export function layerNames(a: tf.io.ModelArtifacts): string[] {
  const topo = a.modelTopology as Record<string, any> | undefined;
  if (!topo) return [];
  if (Array.isArray(topo.node)) return topo.node.map((n: { name: string }) => n.name);
  const cfg = topo.model_config ?? topo;
  const layers = cfg?.config?.layers ?? cfg?.config ?? [];
  return Array.isArray(layers) ? layers.map((l: { config?: { name?: string }; name?: string }) => l.name ?? l.config?.name ?? '?') : [];
}

function unknownLayer(layer: string, names: string[], name: string): RangeError {
  const shown = names.length > 60 ? [...names.slice(0, 20), '…', ...names.slice(-20)] : names;
  return new RangeError(`${name}: no layer named "${layer}". Available layers (${names.length}): ${shown.join(', ')}`);
}

function toVectors(y: tf.Tensor, pool: PoolMode): { v: tf.Tensor2D; pooling: BackboneInfo['pooling'] } {
  if (y.rank === 2) return { v: y as tf.Tensor2D, pooling: 'none' };
  if (y.rank === 4 && pool === 'avg') return { v: tf.mean(y, [1, 2]) as tf.Tensor2D, pooling: 'global-average' };
  if (y.rank === 4 && pool === 'max') return { v: tf.max(y, [1, 2]) as tf.Tensor2D, pooling: 'global-max' };
  return { v: tf.reshape(y, [y.shape[0], -1]) as tf.Tensor2D, pooling: 'flatten' };
}

/** Moves along one axis (1 = rows, 2 = columns) by `d`, repeating the edge. */
function shiftAxis(x: tf.Tensor4D, axis: 1 | 2, d: number): tf.Tensor4D {
  if (d === 0) return x;
  const size = x.shape[axis];
  const k = Math.min(Math.abs(d), size);
  const begin = (at: number): [number, number, number, number] => (axis === 1 ? [0, at, 0, 0] : [0, 0, at, 0]);
  const len = (l: number): [number, number, number, number] => (axis === 1 ? [-1, l, -1, -1] : [-1, -1, l, -1]);
  const reps = (r: number): [number, number, number, number] => (axis === 1 ? [1, r, 1, 1] : [1, 1, r, 1]);
  if (d > 0) {
    const edge = tf.tile(tf.slice(x, begin(0), len(1)), reps(k));
    return k === size ? edge as tf.Tensor4D : tf.concat([edge, tf.slice(x, begin(0), len(size - k))], axis) as tf.Tensor4D;
  }
  const edge = tf.tile(tf.slice(x, begin(size - 1), len(1)), reps(k));
  return k === size ? edge as tf.Tensor4D : tf.concat([tf.slice(x, begin(k), len(size - k)), edge], axis) as tf.Tensor4D;
}

/**
 * `shiftArray` (tta.ts) on an N×H×W×C tensor, with ops that have gradients (slice, tile, concat).
 * Call inside `tf.tidy`.
 */
export function shiftTensor(x: tf.Tensor4D, dx: number, dy: number): tf.Tensor4D {
  return shiftAxis(shiftAxis(x, 1, dy), 2, dx);
}

/**
 * The mean over {@link ttaOffsets} of `f(shifted input)`. Call inside `tf.tidy`.
 * @example
 * tf.tidy(() => ttaMean(x, 1, (t) => features(t))) // N×D
 */
export function ttaMean(x: tf.Tensor4D, shift: number, f: (x: tf.Tensor4D) => tf.Tensor2D): tf.Tensor2D {
  const offsets = ttaOffsets(shift);
  if (offsets.length === 1) return f(x);
  let sum: tf.Tensor2D | null = null;
  for (const [dx, dy] of offsets) {
    const v = f(shiftTensor(x, dx, dy));
    sum = sum === null ? v : tf.add(sum, v) as tf.Tensor2D;
  }
  return tf.div(sum!, offsets.length) as tf.Tensor2D;
}

/**
 * Builds a {@link Backbone} from model artifacts.
 * @throws RangeError listing the available layers when `options.layer` is not one of them.
 */
export async function loadBackbone(artifacts: tf.io.ModelArtifacts, options: BackboneOptions): Promise<Backbone> {
  const prep = checkPreprocessing(options.preprocessing);
  const pool = options.pool ?? 'avg';
  const shift = checkTtaShift(options.tta ?? 0, `${options.name}: tta`);
  const graph = isGraphModel(artifacts);
  const names = layerNames(artifacts);
  if (options.layer !== undefined && !names.includes(options.layer)) throw unknownLayer(options.layer, names, options.name);
  let run: (x: tf.Tensor4D) => tf.Tensor;
  let forward: (x: tf.Tensor4D) => tf.Tensor;
  let release: () => void;
  let layer: string;
  if (graph) {
    const gm = await tf.loadGraphModel(tf.io.fromMemory(artifacts));
    layer = options.layer ?? gm.outputNodes[0];
    const node = layer;
    run = (x) => gm.execute(x, node) as tf.Tensor;
    forward = run;
    release = () => gm.dispose();
  } else {
    const lm = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
    layer = options.layer ?? lm.layers[lm.layers.length - 1].name;
    const out = lm.getLayer(layer).output;
    if (Array.isArray(out)) throw new RangeError(`${options.name}: layer "${layer}" has several outputs; choose a layer with one`);
    const cut = layer === lm.layers[lm.layers.length - 1].name ? lm : tf.model({ inputs: lm.inputs, outputs: out });
    run = (x) => cut.predict(x) as tf.Tensor;
    // apply() is the plain op graph; the layers answer with input-gradient-only ops while it runs.
    let diff: DifferentiableForward | undefined;
    forward = (x) => (diff ??= differentiableForward(lm, (t) => cut.apply(t, { training: false }) as tf.Tensor))(x);
    release = () => { diff?.dispose(); lm.dispose(); };
  }
  // One warm-up image gives the dimension and compiles what needs compiling.
  const probe = tf.tidy(() => {
    const y = run(tf.zeros([1, prep.height, prep.width, 3]));
    const { v, pooling } = toVectors(y, pool);
    return { v, pooling };
  });
  const dim = probe.v.shape[1];
  const pooling = probe.pooling;
  probe.v.dispose();
  const info: BackboneInfo = { name: options.name, layer, dim, pooling, weightsHash: options.weightsHash, source: options.source, kind: graph ? 'graph' : 'layers', ...(shift ? { tta: shift } : {}),
    ...(options.recommendedPreprocess ? { recommendedPreprocess: options.recommendedPreprocess } : {}) };
  return {
    info,
    preprocessing: prep,
    async embed(images) {
      if (images.length === 0) return new Float32Array(0);
      const v = tf.tidy(() => ttaMean(preprocessBatch(images, prep), shift, (x) => toVectors(run(x), pool).v));
      try {
        return (v.dataSync() as Float32Array).slice();
      } finally {
        v.dispose();
      }
    },
    forward: (x) => {
      registerWasmInputGradientKernels();
      return ttaMean(x, shift, (t) => toVectors(forward(t), pool).v);
    },
    dispose: release,
  };
}
