/**
 * Test-time augmentation by shifts: the feature of an image is the mean of the features of the
 * network input and its copies moved by every (dx, dy) with |dx|, |dy| ≤ `shift` pixels (a
 * (2·shift + 1)² grid: 9 copies at 1, 25 at 2), the edges repeated into the uncovered border. A network trained with
 * small translations (the Conv-4 of `protolens train-embedding` is) gives features that vary
 * with a one-pixel move of a stroke; their mean is steadier, and its class means are closer to
 * the class's other drawings (BENCHMARKS.md, "Issue 15: test-time shifts").
 *
 * The shift is in pixels of the network input, after resizing, so it means the same for any
 * image size. Browser-safe and free of TF.js: the onnxruntime path shifts arrays
 * ({@link shiftArray}); the TF.js path shifts tensors with the same rule (`shiftTensor` in
 * `backbone.ts`, differentiable, so pixel gradients see the same mean).
 */

/** The largest shift accepted, in input pixels. */
export const MAX_TTA_SHIFT = 4;

/**
 * Checks a shift: an integer from 0 (no augmentation) to {@link MAX_TTA_SHIFT}.
 * @throws RangeError naming the value and what was expected.
 * @example
 * checkTtaShift(1) // 1
 */
export function checkTtaShift(shift: number, name = 'tta'): number {
  if (!Number.isInteger(shift) || shift < 0 || shift > MAX_TTA_SHIFT) {
    throw new RangeError(`${name}: expected a shift in input pixels, an integer from 0 (off) to ${MAX_TTA_SHIFT}, got ${shift}`);
  }
  return shift;
}

/**
 * The (dx, dy) moves averaged for a shift: the image itself first, then every other move with
 * |dx|, |dy| ≤ shift, row by row.
 * @example
 * ttaOffsets(0) // [[0, 0]]
 * ttaOffsets(1).length // 9
 * ttaOffsets(2).length // 25
 */
export function ttaOffsets(shift: number): Array<[number, number]> {
  checkTtaShift(shift);
  const out: Array<[number, number]> = [[0, 0]];
  for (let dy = -shift; dy <= shift; dy++) for (let dx = -shift; dx <= shift; dx++) if (dx !== 0 || dy !== 0) out.push([dx, dy]);
  return out;
}

/**
 * Moves a batch of 3-channel images by (dx, dy) pixels (positive: right, down): output pixel
 * (y, x) is input pixel (clamp(y − dy), clamp(x − dx)), so the edges are repeated.
 * @param x - n images, `layout` 'nhwc' (n·h·w·3) or 'nchw' (n·3·h·w).
 * @example
 * shiftArray(new Float32Array([1, 1, 1, 2, 2, 2]), 1, 1, 2, 'nhwc', 1, 0) // [1, 1, 1, 1, 1, 1]
 */
export function shiftArray(x: Float32Array, n: number, h: number, w: number, layout: 'nhwc' | 'nchw', dx: number, dy: number, out = new Float32Array(x.length)): Float32Array {
  const clamp = (v: number, hi: number) => (v < 0 ? 0 : v > hi ? hi : v);
  const plane = h * w;
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < h; y++) {
      const sy = clamp(y - dy, h - 1);
      for (let xx = 0; xx < w; xx++) {
        const sx = clamp(xx - dx, w - 1);
        if (layout === 'nhwc') {
          const o = ((i * h + y) * w + xx) * 3, s = ((i * h + sy) * w + sx) * 3;
          out[o] = x[s]; out[o + 1] = x[s + 1]; out[o + 2] = x[s + 2];
        } else {
          for (let c = 0; c < 3; c++) out[(i * 3 + c) * plane + y * w + xx] = x[(i * 3 + c) * plane + sy * w + sx];
        }
      }
    }
  }
  return out;
}
