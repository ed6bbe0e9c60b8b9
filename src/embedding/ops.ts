/**
 * The training-time building blocks of the Conv-4 embedding, with hand-written gradients laid out
 * for the fast paths of the TF.js wasm backend.
 *
 * Why not `tf.layers` for training: on wasm (4.22, one thread) the stock gradients of a Conv-4
 * block spend most of their time in slow generic kernels, measured at 200 images of 28×28:
 * `Conv2DBackpropInput` (a naive loop, ~10× slower than the forward convolution), `Tile` and
 * axis reductions inside the batch-norm gradient, and `MaxPoolGrad`. Here every reduction over
 * the batch is a matrix product with a row of ones, the input gradient of a convolution is a
 * forward convolution with the flipped filter, and max-pooling's gradient is a mask. The
 * forward values are exactly those of the standard layers (conv → batch norm → ReLU → 2×2 max
 * pool), so the trained weights load into a plain `tf.layers` model (see conv4.ts).
 *
 * Numbers and the comparison with the `cpu` backend: BENCHMARKS.md, "Learned embedding".
 */
import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilter } from './kernels.ts';

/** The argument type of `tf.customGrad` (not exported by the tfjs package). */
type CustomGradientFunc = Parameters<typeof tf.customGrad>[0];

/**
 * 3×3 'same' convolution, stride 1, no bias. Its input gradient is the forward convolution of
 * dy with the filter rotated by 180° and its channel axes swapped; its weight gradient comes
 * from {@link conv2dBackpropFilter}.
 * @param inputGrad false for the first layer, whose input (the image) needs no gradient.
 */
export function conv3x3(x: tf.Tensor4D, w: tf.Tensor4D, inputGrad = true): tf.Tensor4D {
  const f = tf.customGrad(((xx: tf.Tensor, ww: tf.Tensor, save: tf.GradSaveFunc) => {
    save([xx, ww]);
    return {
      value: tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 1, 'same'),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw] = saved as [tf.Tensor4D, tf.Tensor4D];
        const dy4 = dy as tf.Tensor4D;
        const dw = conv2dBackpropFilter(sx, dy4, {
          strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: sw.shape as [number, number, number, number],
        });
        const dx = inputGrad
          ? tf.tidy(() => tf.conv2d(dy4, tf.transpose(tf.reverse(sw, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D, 1, 'same'))
          : tf.zerosLike(sx);
        return [dx, dw];
      },
    };
  }) as unknown as CustomGradientFunc);
  return f(x, w) as tf.Tensor4D;
}

const onesCache = new Map<number, tf.Tensor2D>();
/** A 1×m row of ones, kept between calls (reductions over the batch are products with it). */
function onesRow(m: number): tf.Tensor2D {
  const cached = onesCache.get(m);
  if (cached !== undefined && !cached.isDisposed) return cached;
  const t = tf.keep(tf.ones([1, m])) as tf.Tensor2D;
  onesCache.set(m, t);
  return t;
}

/** Σ over all but the last axis, as (1×M)·(M×C): a 1×C tensor. */
export function sumRows(x: tf.Tensor): tf.Tensor2D {
  const c = x.shape[x.shape.length - 1];
  const m = x.size / c;
  return tf.matMul(onesRow(m), tf.reshape(x, [m, c]));
}

/** Batch statistics of the last call of {@link batchNormTrain}, for the running averages. */
export interface BatchStats {
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

/**
 * Batch normalisation in training mode (statistics of this batch, biased variance, as in
 * `tf.layers.batchNormalization`): y = γ·(x − μ)/√(σ² + ε) + β over all but the channel axis.
 * Gradient (with x̂ the normalised input, r = 1/√(σ²+ε), M the number of values per channel):
 *   dβ = Σ dy,  dγ = Σ dy·x̂,  dx = γ·r/M · (M·dy − dβ − x̂·dγ).
 * @param stats receives the batch mean and variance (kept tensors; the caller disposes them).
 */
export function batchNormTrain(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number, stats?: BatchStats[]): tf.Tensor {
  const c = x.shape[x.shape.length - 1];
  const m = x.size / c;
  const f = tf.customGrad(((xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const mean = tf.div(sumRows(xx), m);
    const xc = tf.sub(xx, mean);
    const variance = tf.div(sumRows(tf.square(xc)), m);
    const r = tf.rsqrt(tf.add(variance, eps));
    const xhat = tf.mul(xc, r);
    if (stats !== undefined) stats.push({ mean: tf.keep(tf.reshape(mean, [c])), variance: tf.keep(tf.reshape(variance, [c])) });
    save([xhat, r, g]);
    return {
      value: tf.add(tf.mul(xhat, g), b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sxhat, sr, sg] = saved;
        const dbeta = sumRows(dy);
        const dgamma = sumRows(tf.mul(dy, sxhat));
        const dx = tf.mul(tf.sub(tf.sub(tf.mul(dy, m), dbeta), tf.mul(sxhat, dgamma)), tf.div(tf.mul(sg, sr), m));
        return [dx, tf.reshape(dgamma, [c]), tf.reshape(dbeta, [c])];
      },
    };
  }) as unknown as CustomGradientFunc);
  return f(x, gamma, beta);
}

/**
 * ReLU then 2×2 max-pooling, stride 2, 'valid' (odd sizes drop their last row/column, as
 * `tf.layers.maxPooling2d` does). Computed as relu(maxPool(x)), which is the same function since
 * ReLU is monotone. The gradient goes to the positions equal to their window's maximum (ties, in
 * practice only at zero, are then cut by the ReLU's own gradient).
 */
export function reluMaxPool2(x: tf.Tensor4D, relu = true): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const h2 = Math.floor(h / 2), w2 = Math.floor(w / 2);
  const f = tf.customGrad(((xx: tf.Tensor, save: tf.GradSaveFunc) => {
    const crop = h2 * 2 === h && w2 * 2 === w ? xx : tf.slice(xx, [0, 0, 0, 0], [n, h2 * 2, w2 * 2, c]);
    const pooled = tf.maxPool(crop as tf.Tensor4D, 2, 2, 'valid');
    const y = relu ? tf.relu(pooled) : pooled;
    // 1 where the input equals its window's maximum and that maximum is positive. Upsampling by
    // nearest neighbour keeps every operand the same shape: broadcasting over a 6-D view was
    // ~40× slower on wasm.
    const up = tf.image.resizeNearestNeighbor(y, [h2 * 2, w2 * 2]);
    const hit = tf.cast(tf.equal(crop, up), 'float32');
    const mask = relu ? tf.mul(hit, tf.cast(tf.greater(up, 0), 'float32')) : hit;
    save([mask]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        let dx: tf.Tensor = tf.mul(saved[0], tf.image.resizeNearestNeighbor(dy as tf.Tensor4D, [h2 * 2, w2 * 2]));
        if (h2 * 2 !== h || w2 * 2 !== w) dx = tf.pad(dx, [[0, 0], [0, h - h2 * 2], [0, w - w2 * 2], [0, 0]]);
        return dx;
      },
    };
  }) as unknown as CustomGradientFunc);
  return f(x) as tf.Tensor4D;
}
