/**
 * Features of images given as numbers, and the gradient of a function of those features with
 * respect to the pixels: what reconstructions and adversarial readings (src/interpret) need from
 * the CNN. Browser-safe; tensors stay inside this module (typed arrays in and out).
 *
 * An image batch is N×H×W×C values in [0, 1] (C = 1 grey or 3 RGB), the pixel bytes divided by
 * 255. It reaches the network exactly as {@link preprocessBatch} takes decoded pixels there: grey
 * replicated to three channels, scaled to the network's value range, resized (bilinear with the
 * backbone's `alignCorners`, or nearest) to its input size. So an image at the data's own
 * resolution (28×28 digits) is a lower-resolution parameterisation of a 224×224 network input,
 * and the gradient flows back through the resize.
 *
 * One forward pass per gradient: the features are read inside the gradient scope, handed to the
 * caller's `lossGradient` (plain arrays), and its gradient g enters as the constant of
 * Σ features ⊙ g, whose gradient with respect to the pixels is Jᵀg.
 */
import * as tf from '@tensorflow/tfjs';
import type { Backbone } from './backbone.ts';
import type { Preprocessing } from './preprocess.ts';

/** N images as numbers in [0, 1], row-major N×H×W×C. */
export interface ImageBatch {
  data: Float32Array;
  n: number;
  height: number;
  width: number;
  channels: 1 | 3;
}

/** A backbone that cannot give gradients with respect to its input (an ONNX model). */
export class NoGradientError extends RangeError {
  constructor(readonly backbone: string, readonly kind: string) {
    super(`backbone "${backbone}" (${kind === 'onnx' ? 'an ONNX model run by onnxruntime' : `a ${kind} model`}) gives no gradients with respect to its input, ` +
      'so prototypes cannot be reconstructed and adversarial readings cannot be searched with it; use a TF.js backbone ' +
      '(mobilenet_v2, inception_v3, or a TF.js model folder such as one written by protolens train-embedding)');
    this.name = 'NoGradientError';
  }
}

/**
 * The differentiable forward pass of a backbone.
 * @throws NoGradientError when the backbone has none (ONNX models); RangeError when its
 *   preprocessing has no differentiable form here.
 */
export function gradientForward(backbone: Backbone): (x: tf.Tensor4D) => tf.Tensor2D {
  if (!backbone.forward) throw new NoGradientError(backbone.info.name, backbone.info.kind);
  const p = backbone.preprocessing;
  if (p.mean !== undefined || p.std !== undefined || p.shorterSide !== undefined || p.resize === 'bicubic' || p.antialias) {
    throw new RangeError(`backbone "${backbone.info.name}": its preprocessing (a mean and std, a centre crop, or an antialiased or bicubic resize) has no differentiable form here; ` +
      'reconstructions and adversarial readings take the plain bilinear or nearest resize of TF.js backbones');
  }
  return backbone.forward;
}

/**
 * Checks an image batch, naming the field.
 * @throws RangeError for non-integer sizes, channels other than 1 or 3, or a data length that does not match.
 */
export function checkImageBatch(b: ImageBatch, where = 'images'): ImageBatch {
  for (const k of ['n', 'height', 'width'] as const) {
    if (!Number.isInteger(b[k]) || b[k] < 1) throw new RangeError(`${where}: ${k} must be a positive integer, got ${b[k]}`);
  }
  if (b.channels !== 1 && b.channels !== 3) throw new RangeError(`${where}: channels must be 1 or 3, got ${String(b.channels)}`);
  const want = b.n * b.height * b.width * b.channels;
  if (b.data.length !== want) throw new RangeError(`${where}: ${b.data.length} values for ${b.n}×${b.height}×${b.width}×${b.channels} = ${want}`);
  return b;
}

/** The network input of an image tensor (N×H×W×C in [0, 1]), as {@link preprocessBatch} makes it from pixels. */
function networkInput(x: tf.Tensor4D, p: Preprocessing): tf.Tensor4D {
  const [lo, hi] = p.range;
  let t: tf.Tensor4D = x.shape[3] === 1 ? tf.tile(x, [1, 1, 1, 3]) : x;
  t = tf.add(tf.mul(t, hi - lo), lo);
  if (t.shape[1] !== p.height || t.shape[2] !== p.width) {
    t = p.resize === 'bilinear'
      ? tf.image.resizeBilinear(t, [p.height, p.width], p.alignCorners)
      : tf.image.resizeNearestNeighbor(t, [p.height, p.width], p.alignCorners);
  }
  return t;
}

/**
 * Features of an image batch through the differentiable path (N×dim, row-major).
 * @throws NoGradientError for a backbone without one; RangeError for a malformed batch.
 * @example
 * batchFeatures(backbone, { data: new Float32Array(28 * 28).fill(1), n: 1, height: 28, width: 28, channels: 1 }) // Float32Array(dim)
 */
export function batchFeatures(backbone: Backbone, batch: ImageBatch): Float32Array {
  const f = gradientForward(backbone);
  checkImageBatch(batch);
  const y = tf.tidy(() => f(networkInput(tf.tensor4d(batch.data, [batch.n, batch.height, batch.width, batch.channels]), backbone.preprocessing)));
  try {
    return (y.dataSync() as Float32Array).slice();
  } finally {
    y.dispose();
  }
}

/** What {@link featureGradient} returns. */
export interface FeatureGradient {
  /** N×dim features of the batch. */
  features: Float32Array;
  /** The loss `lossGradient` reported. */
  loss: number;
  /** Its gradient with respect to the batch's values (same layout as the batch). */
  grad: Float32Array;
}

/**
 * One forward and one backward pass: the features of the batch, a loss of them and its gradient
 * with respect to the pixels.
 * @param lossGradient - from the N×dim features, the loss and its gradient with respect to them (N×dim).
 * @throws NoGradientError for a backbone without gradients; RangeError for a malformed batch or
 *   a gradient of the wrong length.
 * @example
 * // ∂/∂x of the sum of the first feature of each image
 * featureGradient(bb, batch, (f) => { const g = new Float32Array(f.length); for (let i = 0; i < batch.n; i++) g[i * dim] = 1; return { loss: 0, grad: g }; })
 */
export function featureGradient(backbone: Backbone, batch: ImageBatch,
  lossGradient: (features: Float32Array) => { loss: number; grad: Float32Array }): FeatureGradient {
  const f = gradientForward(backbone);
  checkImageBatch(batch);
  const dim = backbone.info.dim;
  let features = new Float32Array(0);
  let loss = NaN;
  const x = tf.tensor4d(batch.data, [batch.n, batch.height, batch.width, batch.channels]);
  try {
    const g = tf.grad((t: tf.Tensor) => {
      const y = f(networkInput(t as tf.Tensor4D, backbone.preprocessing));
      features = (y.dataSync() as Float32Array).slice();
      const r = lossGradient(features);
      if (r.grad.length !== batch.n * dim) throw new RangeError(`lossGradient: gradient of ${r.grad.length} values, expected ${batch.n}×${dim}`);
      loss = r.loss;
      return tf.sum(tf.mul(y, tf.tensor2d(r.grad, [batch.n, dim])));
    })(x);
    try {
      return { features, loss, grad: (g.dataSync() as Float32Array).slice() };
    } finally {
      g.dispose();
    }
  } finally {
    x.dispose();
  }
}
