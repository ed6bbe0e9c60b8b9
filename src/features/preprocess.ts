/**
 * From decoded pixels to network input, the same way in Node and in the browser.
 *
 * Per image, in this order: alpha composited onto white; grey (1 channel) replicated to three;
 * values scaled from [0, 255] to `range`; bilinear (or nearest) resize to `height × width`
 * (TF.js `resizeBilinear`, with `alignCorners` as in nsfwjs), skipped when the size already
 * matches. The result is an NHWC float32 batch. This is what nsfwjs does for its models
 * (divide by 255, bilinear with aligned corners), so the bundled backbones see their usual input.
 */
import * as tf from '@tensorflow/tfjs';

/** Decoded pixels, row-major, interleaved channels (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA). */
export interface PixelImage {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  data: Uint8Array | Uint8ClampedArray;
}

/** How images are turned into network input. Recorded with every feature file. */
export interface Preprocessing {
  height: number;
  width: number;
  resize: 'bilinear' | 'nearest';
  /** TF.js `alignCorners` flag of the resize. */
  alignCorners: boolean;
  /** Pixel value 0 maps to range[0], 255 to range[1]. */
  range: [number, number];
  /** Always 3 input channels: grey is replicated, alpha composited onto white. */
  colour: 'rgb; grey replicated; alpha over white';
}

/** The preprocessing of the nsfwjs models at a given input size. */
export function nsfwjsPreprocessing(size: number): Preprocessing {
  return { height: size, width: size, resize: 'bilinear', alignCorners: true, range: [0, 1], colour: 'rgb; grey replicated; alpha over white' };
}

/**
 * Checks a preprocessing description, naming the bad field.
 * @throws RangeError on sizes that are not positive integers, an unknown resize, a bad range.
 */
export function checkPreprocessing(p: Preprocessing): Preprocessing {
  for (const k of ['height', 'width'] as const) {
    if (!Number.isInteger(p[k]) || p[k] < 1 || p[k] > 4096) throw new RangeError(`preprocessing.${k} must be an integer in 1..4096, got ${p[k]}`);
  }
  if (p.resize !== 'bilinear' && p.resize !== 'nearest') throw new RangeError(`preprocessing.resize must be one of: bilinear, nearest; got ${String(p.resize)}`);
  if (!Array.isArray(p.range) || p.range.length !== 2 || !p.range.every(Number.isFinite) || p.range[0] === p.range[1]) {
    throw new RangeError(`preprocessing.range must be two different finite numbers, got ${JSON.stringify(p.range)}`);
  }
  return p;
}

/** Checks a decoded image and names `where` in the message. */
export function checkPixels(img: PixelImage, where: string): void {
  const { width, height, channels, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`${where}: image size ${width}×${height} is not positive`);
  }
  if (![1, 2, 3, 4].includes(channels)) throw new RangeError(`${where}: ${channels} channels; expected 1, 2, 3 or 4`);
  if (data.length !== width * height * channels) {
    throw new RangeError(`${where}: ${data.length} bytes for ${width}×${height}×${channels}`);
  }
}

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
