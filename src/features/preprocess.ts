/**
 * From decoded pixels to network input, the same way in Node and in the browser.
 *
 * Per image, in this order: alpha composited onto white; grey (1 channel) replicated to three;
 * values scaled from [0, 255] to `range`; bilinear (or nearest) resize to `height × width`
 * (TF.js `resizeBilinear`, with `alignCorners` as in nsfwjs), skipped when the size already
 * matches. The result is an NHWC float32 batch. This is what nsfwjs does for its models
 * (divide by 255, bilinear with aligned corners), so the bundled backbones see their usual input.
 * What TF.js's resize cannot do (a centre crop, an antialiased or bicubic resize, a mean and std:
 * the presets of `pixels.ts`) is done by `pixels.ts`'s plain-TypeScript {@link pixelBatch}.
 */
import * as tf from '@tensorflow/tfjs';
import { checkPixels, isTfjsResizable, pixelBatch, type PixelImage, type Preprocessing } from './pixels.ts';

export { checkPixels, checkPreprocessing, nsfwjsPreprocessing, presetPreprocessing, PRESETS, type PixelImage, type PresetName, type Preprocessing } from './pixels.ts';

/**
 * One image as H×W×3 float32 values in the network's range: grey replicated, alpha composited
 * onto white (v·a + 255·(1 − a) with a = alpha/255), then scaled (v·scale + lo). Computed in
 * JavaScript with float32 rounding after every operation — the same values, bit for bit, as the
 * TF.js ops this replaces — so that a large image costs one float32 copy (12 bytes per pixel)
 * instead of the ~60 bytes per pixel of the intermediate tensors.
 */
export function rgbValues(img: PixelImage, scale: number, lo: number): Float32Array {
  const { width: w, height: h, channels: c, data } = img;
  const n = w * h;
  const out = new Float32Array(n * 3);
  const f = Math.fround;
  const fs = f(scale), flo = f(lo);
  const put = (k: number, v: number): void => { out[k] = f(f(v * fs) + flo); };
  if (c === 1 || c === 3) {
    for (let i = 0; i < n; i++) {
      for (let ch = 0; ch < 3; ch++) put(3 * i + ch, data[c === 1 ? i : 3 * i + ch]);
    }
    return out;
  }
  const colours = c - 1;
  for (let i = 0; i < n; i++) {
    const a = f(data[c * i + colours] / 255);
    const white = f(f(1 - a) * 255);
    for (let ch = 0; ch < 3; ch++) put(3 * i + ch, f(f(data[c * i + (colours === 1 ? 0 : ch)] * a) + white));
  }
  return out;
}

/**
 * The network input for a batch of images: an N×H×W×3 float32 tensor. Call inside `tf.tidy`.
 * Each image's full-size tensor is released as soon as it is resized.
 * @throws RangeError naming the image index when its pixels are malformed.
 */
export function preprocessBatch(images: readonly PixelImage[], p: Preprocessing): tf.Tensor4D {
  if (!isTfjsResizable(p)) return tf.tensor4d(pixelBatch(images, p, 'nhwc'), [images.length, p.height, p.width, 3]);
  const [lo, hi] = p.range;
  const scale = (hi - lo) / 255;
  const xs = images.map((img, i) => {
    checkPixels(img, `image ${i}`);
    return tf.tidy(() => {
      const x = tf.tensor3d(rgbValues(img, scale, lo), [img.height, img.width, 3]);
      if (img.height === p.height && img.width === p.width) return x;
      return p.resize === 'bilinear'
        ? tf.image.resizeBilinear(x, [p.height, p.width], p.alignCorners)
        : tf.image.resizeNearestNeighbor(x, [p.height, p.width], p.alignCorners);
    });
  });
  return tf.stack(xs) as tf.Tensor4D;
}
