/**
 * A tiny convolutional network written as ONNX bytes by protolens's own writer (no torch, no
 * file in the repository), and the same network computed independently in plain loops.
 *
 * image N×3×12×12 → Conv 6@3×3 pad 1 (c1) → Relu (relu1) → MaxPool 2×2 (pool1, N×6×6×6)
 * → Conv 5@3×3 (c2, N×5×4×4) → Relu (relu2) → GlobalAveragePool (gap) → Flatten (flat, N×5)
 * → Gemm 3 (logits, N×3).
 */
import assert from 'node:assert/strict';
import { writeOnnx, type ModelSpec } from '../../src/features/onnx-graph.ts';

/** The largest absolute difference between two equally long arrays (asserts the lengths). */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** Deterministic weights: sin of the index, scaled. */
function weights(n: number, seed: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => scale * Math.sin(seed * 7.31 + i * 1.7));
}

export const W1 = weights(6 * 3 * 3 * 3, 1, 0.4), B1 = weights(6, 2, 0.1);
export const W2 = weights(5 * 6 * 3 * 3, 3, 0.3), B2 = weights(5, 4, 0.1);
export const W3 = weights(3 * 5, 5, 0.5), B3 = weights(3, 6, 0.1);

/** The network's graph; `inputShape` changes the declared input (a symbolic size, another layout). */
export function tinyNetSpec(inputShape: Array<number | string> = ['N', 3, 12, 12]): ModelSpec {
  return {
    nodes: [
      { op: 'Conv', inputs: ['image', 'W1', 'B1'], outputs: ['c1'], attrs: { pads: { ints: [1, 1, 1, 1] }, kernel_shape: { ints: [3, 3] } } },
      { op: 'Relu', inputs: ['c1'], outputs: ['relu1'] },
      { op: 'MaxPool', inputs: ['relu1'], outputs: ['pool1'], attrs: { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } } },
      { op: 'Conv', inputs: ['pool1', 'W2', 'B2'], outputs: ['c2'], attrs: { kernel_shape: { ints: [3, 3] } } },
      { op: 'Relu', inputs: ['c2'], outputs: ['relu2'] },
      { op: 'GlobalAveragePool', inputs: ['relu2'], outputs: ['gap'] },
      { op: 'Flatten', inputs: ['gap'], outputs: ['flat'] },
      { op: 'Gemm', inputs: ['flat', 'W3', 'B3'], outputs: ['logits'], attrs: { transB: { i: 1 } } },
    ],
    inputs: [{ name: 'image', shape: inputShape }],
    outputs: [{ name: 'logits' }],
    initializers: [
      { name: 'W1', dims: [6, 3, 3, 3], data: W1 }, { name: 'B1', dims: [6], data: B1 },
      { name: 'W2', dims: [5, 6, 3, 3], data: W2 }, { name: 'B2', dims: [5], data: B2 },
      { name: 'W3', dims: [3, 5], data: W3 }, { name: 'B3', dims: [3], data: B3 },
    ],
  };
}

/** The tiny network as ONNX bytes. */
export function tinyNet(inputShape?: Array<number | string>): Uint8Array {
  return writeOnnx(tinyNetSpec(inputShape));
}

/** A C×H×W map. */
export interface Map3 { c: number; h: number; w: number; v: Float64Array }

/** Convolution with `pad` zeros around, stride 1, in float64 loops. */
export function conv(x: Map3, W: Float32Array, b: Float32Array, out: number, k: number, pad: number): Map3 {
  const h = x.h + 2 * pad - k + 1, w = x.w + 2 * pad - k + 1;
  const v = new Float64Array(out * h * w);
  for (let o = 0; o < out; o++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) {
    let s = b[o];
    for (let c = 0; c < x.c; c++) for (let u = 0; u < k; u++) for (let t = 0; t < k; t++) {
      const y = i + u - pad, z = j + t - pad;
      if (y >= 0 && y < x.h && z >= 0 && z < x.w) s += W[((o * x.c + c) * k + u) * k + t] * x.v[(c * x.h + y) * x.w + z];
    }
    v[(o * h + i) * w + j] = s;
  }
  return { c: out, h, w, v };
}

export const relu = (x: Map3): Map3 => ({ ...x, v: x.v.map((a) => Math.max(0, a)) });

export function maxPool2(x: Map3): Map3 {
  const h = x.h >> 1, w = x.w >> 1;
  const v = new Float64Array(x.c * h * w);
  for (let c = 0; c < x.c; c++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) {
    let m = -Infinity;
    for (let u = 0; u < 2; u++) for (let t = 0; t < 2; t++) m = Math.max(m, x.v[(c * x.h + 2 * i + u) * x.w + 2 * j + t]);
    v[(c * h + i) * w + j] = m;
  }
  return { c: x.c, h, w, v };
}

/** relu2 (5×4×4) of one 3×12×12 input, computed without onnxruntime. */
export function relu2Of(input: Map3): Map3 {
  return relu(conv(maxPool2(relu(conv(input, W1, B1, 6, 3, 1))), W2, B2, 5, 3, 0));
}
