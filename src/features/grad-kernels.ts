/**
 * Kernels the TF.js wasm backend lacks for gradients with respect to a network's input, built from
 * its fast ops. `@tensorflow/tfjs-backend-wasm` 4.22 registers neither
 * `DepthwiseConv2dNativeBackpropInput` (MobileNets' depthwise convolutions) nor
 * `Conv2DBackpropFilter`, which TF.js's fused convolutions ask for even when only the input's
 * gradient is wanted (their custom gradient returns every input's); the latter comes from
 * `src/embedding/kernels.ts`.
 *
 * Depthwise input gradient. The forward pass (one channel, one axis; stride s, top padding t,
 * filter w of size k) is y[i] = Σ_a x[i·s + a − t] w[a]. Hence
 *
 *   dx[p] = Σ_{i,a : i·s + a − t = p} dy[i] w[a] = Σ_b ď[p + b − (k − 1 − t)] w[k − 1 − b]
 *
 * with ď the dilated gradient (ď[i·s] = dy[i], zeros between): a stride-1 'valid' depthwise
 * correlation of ď, padded by k − 1 − t before and whatever makes the output H long after, with
 * the filter rotated by 180°. A channel multiplier m > 1 is m such correlations, summed.
 */
import * as tf from '@tensorflow/tfjs';
import { registerWasmTrainingKernels } from '../embedding/kernels.ts';

/** The attributes TF.js passes to a `DepthwiseConv2dNativeBackpropInput` kernel. */
interface DepthwiseBackpropInputAttrs {
  strides: number | [number, number];
  dilations: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
}

/** `t` with s − 1 zeros inserted between consecutive entries along `axis` (1 or 2) of an NHWC tensor. */
function dilate(t: tf.Tensor4D, s: number, axis: 1 | 2): tf.Tensor4D {
  if (s === 1) return t;
  const [n, h, w, c] = t.shape;
  const z = tf.zeros(t.shape);
  const parts = [t, ...Array.from({ length: s - 1 }, () => z)];
  const stacked = tf.stack(parts, axis + 1); // N×H×s×W×C (axis 1) or N×H×W×s×C (axis 2)
  const long = axis === 1 ? tf.reshape(stacked, [n, h * s, w, c]) : tf.reshape(stacked, [n, h, w * s, c]);
  const len = ((axis === 1 ? h : w) - 1) * s + 1;
  return tf.slice(long, [0, 0, 0, 0], axis === 1 ? [n, len, w, c] : [n, h, len, c]) as tf.Tensor4D;
}

/** Pads (positive) or crops (negative) an NHWC tensor's rows and columns. */
function padOrCrop(t: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
  const p = tf.pad(t, [[0, 0], [Math.max(0, top), Math.max(0, bottom)], [Math.max(0, left), Math.max(0, right)], [0, 0]]);
  const [n, h, w, c] = p.shape;
  const ct = Math.max(0, -top), cb = Math.max(0, -bottom), cl = Math.max(0, -left), cr = Math.max(0, -right);
  return ct || cb || cl || cr ? tf.slice(p, [0, ct, cl, 0], [n, h - ct - cb, w - cl - cr, c]) as tf.Tensor4D : p;
}

/**
 * Input gradient of a depthwise 2-D convolution (NHWC, no dilation) from the forward depthwise
 * convolution (see the module comment). Works on any backend; registered for wasm by
 * {@link registerWasmInputGradientKernels}.
 * @param dy the gradient of the output, N×Ho×Wo×(C·m).
 * @param filter kh×kw×C×m.
 * @returns dx, of `attrs.inputShape`.
 * @throws RangeError for dilated convolutions or shapes that do not match.
 * @example
 * depthwiseConv2dBackpropInput(dy, w, { strides: 2, dilations: 1, pad: 'same', inputShape: [1, 8, 8, 3] }) // 1×8×8×3
 */
export function depthwiseConv2dBackpropInput(dy: tf.Tensor4D, filter: tf.Tensor4D, attrs: DepthwiseBackpropInputAttrs): tf.Tensor4D {
  const [kh, kw, c, m] = filter.shape;
  const info = tf.backend_util.computeConv2DInfo(attrs.inputShape, [kh, kw, c, m], attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode, true);
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) throw new RangeError('depthwiseConv2dBackpropInput: dilated filters are not supported');
  const [n, h, w] = attrs.inputShape;
  if (dy.shape[1] !== info.outHeight || dy.shape[2] !== info.outWidth || dy.shape[3] !== c * m || dy.shape[0] !== n) {
    throw new RangeError(`depthwiseConv2dBackpropInput: dy ${dy.shape} does not match input ${attrs.inputShape} and filter ${filter.shape}`);
  }
  const { top, left } = info.padInfo;
  const sh = info.strideHeight, sw = info.strideWidth;
  return tf.tidy(() => {
    const rotated = tf.reverse(filter, [0, 1]) as tf.Tensor4D;
    const d = dilate(dilate(dy, sh, 1), sw, 2);
    const pt = kh - 1 - top, pl = kw - 1 - left;
    const pb = h + kh - 1 - pt - d.shape[1], pr = w + kw - 1 - pl - d.shape[2];
    const padded = padOrCrop(d, pt, pb, pl, pr);
    if (m === 1) return tf.depthwiseConv2d(padded, rotated, 1, 'valid');
    // dy's channels are c·m + k: one correlation per multiplier index k, summed.
    const byK = tf.reshape(padded, [n, padded.shape[1], padded.shape[2], c, m]);
    let sum: tf.Tensor4D | null = null;
    for (let k = 0; k < m; k++) {
      const part = tf.reshape(tf.slice(byK, [0, 0, 0, 0, k], [-1, -1, -1, -1, 1]), [n, padded.shape[1], padded.shape[2], c]) as tf.Tensor4D;
      const fk = tf.slice(rotated, [0, 0, 0, k], [kh, kw, c, 1]) as tf.Tensor4D;
      const y = tf.depthwiseConv2d(part, fk, 1, 'valid');
      sum = sum ? (tf.add(sum, y) as tf.Tensor4D) : y;
    }
    return sum!;
  });
}

let registered = false;

/**
 * Registers the kernels the wasm backend is missing for input gradients of the bundled networks
 * (`DepthwiseConv2dNativeBackpropInput`, and `Conv2DBackpropFilter` from src/embedding/kernels.ts).
 * Safe to call more than once; leaves kernels already present alone.
 */
export function registerWasmInputGradientKernels(): void {
  if (registered) return;
  registered = true;
  registerWasmTrainingKernels();
  if (tf.getKernel('DepthwiseConv2dNativeBackpropInput', 'wasm') !== undefined) return;
  tf.registerKernel({
    kernelName: 'DepthwiseConv2dNativeBackpropInput',
    backendName: 'wasm',
    kernelFunc: ({ inputs, attrs }) => depthwiseConv2dBackpropInput(
      inputs.dy as tf.Tensor4D, inputs.filter as tf.Tensor4D, attrs as unknown as DepthwiseBackpropInputAttrs),
  });
}
