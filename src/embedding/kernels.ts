/**
 * Kernels the TF.js wasm backend lacks for training a CNN, built from its fast ops.
 *
 * `@tensorflow/tfjs-backend-wasm` 4.22 registers `Conv2D` and `Conv2DBackpropInput` but not
 * `Conv2DBackpropFilter`, so taking the gradient of a convolution's weights on wasm throws. For a
 * kh×kw filter the weight gradient is a sum over the kh·kw offsets (a, b):
 *
 *   dW[a, b, :, :] = Σ_{n,i,j} xpad[n, i·s + a, j·s + b, :]ᵀ · dy[n, i, j, :]
 *
 * i.e. one (Cin × M)·(M × Cout) product per offset, with M = N·Ho·Wo. We slice the padded input
 * at each offset, transpose it explicitly to Cin × M and call the plain matMul: the wasm
 * `matMul(a, b, transposeA=true)` path is about 10× slower (≈2 vs ≈20 GFLOP/s measured, see
 * BENCHMARKS.md "Learned embedding").
 */
import * as tf from '@tensorflow/tfjs';

/** The attributes TF.js passes to a `Conv2DBackpropFilter` kernel. */
interface BackpropFilterAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

/**
 * Weight gradient of a 2-D convolution (NHWC, no dilation), from slices and plain products.
 * Works on any backend; registered for wasm by {@link registerWasmTrainingKernels}.
 * @param x the convolution's input, N×H×W×Cin.
 * @param dy the gradient of its output, N×Ho×Wo×Cout.
 * @returns dW, kh×kw×Cin×Cout.
 * @throws RangeError for NCHW data or shapes that do not match the filter.
 */
export function conv2dBackpropFilter(x: tf.Tensor4D, dy: tf.Tensor4D, attrs: BackpropFilterAttrs): tf.Tensor4D {
  if (attrs.dataFormat === 'NCHW') throw new RangeError('conv2dBackpropFilter: only NHWC data is supported, got NCHW');
  const [kh, kw, cin, cout] = attrs.filterShape;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape, attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
  const [n, , , xc] = x.shape;
  if (xc !== cin || dy.shape[3] !== cout || dy.shape[1] !== info.outHeight || dy.shape[2] !== info.outWidth) {
    throw new RangeError(`conv2dBackpropFilter: x ${x.shape} and dy ${dy.shape} do not match filter ${attrs.filterShape}`);
  }
  const { top, bottom, left, right } = info.padInfo;
  const ho = info.outHeight, wo = info.outWidth, sh = info.strideHeight, sw = info.strideWidth;
  const m = n * ho * wo;
  return tf.tidy(() => {
    const xp = top || bottom || left || right ? tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]) : x;
    const dy2 = tf.reshape(dy, [m, cout]);
    const parts: tf.Tensor[] = [];
    for (let a = 0; a < kh; a++) {
      for (let b = 0; b < kw; b++) {
        const xs = sh === 1 && sw === 1
          ? tf.slice(xp, [0, a, b, 0], [n, ho, wo, cin])
          : tf.stridedSlice(xp, [0, a, b, 0], [n, a + (ho - 1) * sh + 1, b + (wo - 1) * sw + 1, cin], [1, sh, sw, 1]);
        // Cin×M times M×Cout, with the transpose done as a memory op (fast matMul path).
        parts.push(tf.matMul(tf.transpose(tf.reshape(xs, [m, cin])), dy2));
      }
    }
    return tf.reshape(tf.stack(parts), [kh, kw, cin, cout]) as tf.Tensor4D;
  });
}

let registered = false;

/**
 * Registers the training kernels the wasm backend is missing (`Conv2DBackpropFilter`). Safe to
 * call more than once; does nothing for kernels already present.
 */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registered = true;
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm') !== undefined) return;
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: ({ inputs, attrs }) => conv2dBackpropFilter(
      inputs.x as tf.Tensor4D, inputs.dy as tf.Tensor4D, attrs as unknown as BackpropFilterAttrs),
  });
}
