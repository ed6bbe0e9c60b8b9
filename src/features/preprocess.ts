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

/** One image as a H×W×3 float tensor in [0, 255], alpha composited onto white. */
function toRgb(img: PixelImage): tf.Tensor3D {
  const { width: w, height: h, channels: c } = img;
  const px = tf.tensor3d(Float32Array.from(img.data), [h, w, c]);
  if (c === 3) return px;
  if (c === 1) return tf.tile(px, [1, 1, 3]);
  const colour = tf.slice(px, [0, 0, 0], [h, w, c - 1]);
  const a = tf.div(tf.slice(px, [0, 0, c - 1], [h, w, 1]), 255);
  // over white: v·a + 255·(1 − a)
  const over = tf.add(tf.mul(colour, a), tf.mul(tf.sub(1, a), 255)) as tf.Tensor3D;
  return c === 2 ? tf.tile(over, [1, 1, 3]) : over;
}

/**
 * The network input for a batch of images: an N×H×W×3 float32 tensor. Call inside `tf.tidy`.
 * @throws RangeError naming the image index when its pixels are malformed.
 */
export function preprocessBatch(images: readonly PixelImage[], p: Preprocessing): tf.Tensor4D {
  const [lo, hi] = p.range;
  const scale = (hi - lo) / 255;
  const xs = images.map((img, i) => {
    checkPixels(img, `image ${i}`);
    let x: tf.Tensor3D = tf.add(tf.mul(toRgb(img), scale), lo) as tf.Tensor3D;
    if (img.height !== p.height || img.width !== p.width) {
      x = p.resize === 'bilinear'
        ? tf.image.resizeBilinear(x, [p.height, p.width], p.alignCorners)
        : tf.image.resizeNearestNeighbor(x, [p.height, p.width], p.alignCorners);
    }
    return x;
  });
  return tf.stack(xs) as tf.Tensor4D;
}
