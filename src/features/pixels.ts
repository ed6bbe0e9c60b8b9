/**
 * From decoded pixels to network input in plain TypeScript (no TF.js): what ONNX backbones are
 * fed, in Node and in the browser, and what TF.js backbones are fed when the preprocessing asks
 * for more than TF.js's resize offers (a preset, a crop, an antialiased or bicubic resize, a mean
 * and standard deviation).
 *
 * Per image, in this order:
 * 1. alpha composited onto white, grey replicated to three channels (values 0…255);
 * 2. resized, separably, one axis then the other:
 *    - `alignCorners` (TF.js's `resizeBilinear`/`resizeNearestNeighbor(…, alignCorners = true)`,
 *      what nsfwjs does): corner pixels map onto corner pixels;
 *    - otherwise pixel centres map onto pixel centres ("half-pixel", PyTorch's
 *      `align_corners=False`, TF2's `tf.image.resize`);
 *    - `antialias` (PIL's resampling, what torchvision's `Resize` does on images): when shrinking,
 *      the filter is widened by the shrink factor so every input pixel counts; `bicubic` is PIL's
 *      cubic filter (a = −0.5);
 *    with `shorterSide`, the image is first resized so that its shorter side has that length
 *    (aspect ratio kept) and the centre `height × width` is cropped (torchvision's `Resize` then
 *    `CenterCrop`); only the cropped pixels are computed;
 * 3. scaled from 0…255 to `range`, then `(x − mean) / std` per channel when given;
 * 4. written as N×3×H×W (`nchw`, ONNX's convention) or N×H×W×3 (`nhwc`, TF.js's).
 *
 * The maths is done in float64 and stored as float32; PIL rounds its resized pixels to bytes, we
 * do not (a difference of at most half a grey level). The exception is what TF.js's own resize
 * does (the `tfjs` preset: aligned corners, no crop, mean or std; {@link tfjsResize}): there the
 * values are scaled first and interpolated in float32 with TF.js's formula, so that a network fed
 * either way sees the same numbers, bit for bit (test/onnx.test.ts), and the bundled networks on
 * onnxruntime differ from TF.js by the networks' arithmetic alone.
 */

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
  resize: 'bilinear' | 'nearest' | 'bicubic';
  /** Corner pixels map onto corner pixels (TF.js `alignCorners`); false: pixel centres onto pixel centres. */
  alignCorners: boolean;
  /** Pixel value 0 maps to range[0], 255 to range[1]. */
  range: [number, number];
  /** Always 3 input channels: grey is replicated, alpha composited onto white. */
  colour: 'rgb; grey replicated; alpha over white';
  /** Resize so that the shorter side has this length (aspect kept), then crop the centre height × width. */
  shorterSide?: number;
  /** PIL-style resampling: the filter widened when shrinking (torchvision on PIL images). */
  antialias?: boolean;
  /** Per-channel (R, G, B) mean subtracted after the range scaling. */
  mean?: [number, number, number];
  /** Per-channel (R, G, B) standard deviation divided by after the mean. */
  std?: [number, number, number];
  /** The preset the values came from (`tfjs`, `torchvision`, `keras`, `clip`), for people. */
  preset?: string;
}

/** Memory layout of a batch: channels first (ONNX) or last (TF.js). */
export type Layout = 'nchw' | 'nhwc';

/** The preprocessing of the nsfwjs models at a given input size. */
export function nsfwjsPreprocessing(size: number): Preprocessing {
  return { height: size, width: size, resize: 'bilinear', alignCorners: true, range: [0, 1], colour: 'rgb; grey replicated; alpha over white' };
}

/** Names of the preprocessing presets. */
export const PRESETS = ['tfjs', 'torchvision', 'keras', 'clip'] as const;
export type PresetName = (typeof PRESETS)[number];

const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];
const CLIP_MEAN: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

/**
 * A preset's preprocessing at an input size (default: the preset's own, 224×224):
 * - `tfjs`: bilinear resize with aligned corners to the input size, values 0…1 (nsfwjs, protolens's TF.js networks);
 * - `torchvision`: shorter side to 256/224 of the input (256 for 224, 342 for 299), centre crop,
 *   antialiased bilinear, values 0…1, ImageNet mean and std (torchvision's classification models);
 * - `keras`: half-pixel bilinear to the input size, values −1…1 (`keras.applications` MobileNet, Inception…);
 * - `clip`: shorter side to the input size, centre crop, antialiased bicubic, values 0…1, CLIP's mean and std.
 * @throws RangeError listing the presets for an unknown name.
 * @example
 * presetPreprocessing('torchvision').shorterSide // 256
 */
export function presetPreprocessing(name: string, size: [number, number] = [224, 224]): Preprocessing {
  const [height, width] = size;
  const base = { height, width, colour: 'rgb; grey replicated; alpha over white' as const, preset: name };
  switch (name as PresetName) {
    case 'tfjs': return { ...nsfwjsPreprocessing(height), width, preset: name };
    case 'torchvision':
      return { ...base, resize: 'bilinear', alignCorners: false, antialias: true, shorterSide: Math.round(Math.max(height, width) * 256 / 224), range: [0, 1], mean: IMAGENET_MEAN, std: IMAGENET_STD };
    case 'keras': return { ...base, resize: 'bilinear', alignCorners: false, range: [-1, 1] };
    case 'clip':
      return { ...base, resize: 'bicubic', alignCorners: false, antialias: true, shorterSide: Math.max(height, width), range: [0, 1], mean: CLIP_MEAN, std: CLIP_STD };
    default: throw new RangeError(`unknown preprocessing preset "${name}"; expected one of: ${PRESETS.join(', ')}`);
  }
}

function checkTriple(p: Preprocessing, k: 'mean' | 'std'): void {
  const v = p[k];
  if (v === undefined) return;
  if (!Array.isArray(v) || v.length !== 3 || !v.every(Number.isFinite) || (k === 'std' && !v.every((x) => x > 0))) {
    throw new RangeError(`preprocessing.${k} must be three finite numbers (R, G, B)${k === 'std' ? ', all positive' : ''}, got ${JSON.stringify(v)}`);
  }
}

/**
 * Checks a preprocessing description, naming the bad field.
 * @throws RangeError on sizes that are not positive integers, an unknown resize, a bad range,
 *   mean or std, a crop larger than the resized image, or aligned corners with a filter that has none.
 */
export function checkPreprocessing(p: Preprocessing): Preprocessing {
  for (const k of ['height', 'width'] as const) {
    if (!Number.isInteger(p[k]) || p[k] < 1 || p[k] > 4096) throw new RangeError(`preprocessing.${k} must be an integer in 1..4096, got ${p[k]}`);
  }
  if (!['bilinear', 'nearest', 'bicubic'].includes(p.resize)) throw new RangeError(`preprocessing.resize must be one of: bilinear, nearest, bicubic; got ${String(p.resize)}`);
  if (!Array.isArray(p.range) || p.range.length !== 2 || !p.range.every(Number.isFinite) || p.range[0] === p.range[1]) {
    throw new RangeError(`preprocessing.range must be two different finite numbers, got ${JSON.stringify(p.range)}`);
  }
  checkTriple(p, 'mean');
  checkTriple(p, 'std');
  if (p.shorterSide !== undefined && (!Number.isInteger(p.shorterSide) || p.shorterSide < Math.max(p.height, p.width) || p.shorterSide > 8192)) {
    throw new RangeError(`preprocessing.shorterSide must be an integer from max(height, width) = ${Math.max(p.height, p.width)} to 8192 (the crop must fit), got ${p.shorterSide}`);
  }
  if (p.alignCorners && (p.antialias || p.resize === 'bicubic')) {
    throw new RangeError('preprocessing.alignCorners works with the bilinear and nearest resizes without antialias; set alignCorners to false');
  }
  return p;
}

/** True when TF.js's own resize does this preprocessing (no crop, filter or normalisation it lacks). */
export function isTfjsResizable(p: Preprocessing): boolean {
  return p.alignCorners && p.resize !== 'bicubic' && !p.antialias && p.shorterSide === undefined && p.mean === undefined && p.std === undefined;
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

/** True for one or two channels, or three equal ones (what decoders give for grey PNGs). */
function isGrey(img: PixelImage): boolean {
  const { width: w, height: h, channels: c, data } = img;
  if (c <= 2) return true;
  for (let i = 0, s = 0; i < w * h; i++, s += c) if (data[s] !== data[s + 1] || data[s] !== data[s + 2]) return false;
  return true;
}

/**
 * The image as planes of values 0…255, alpha composited onto white: one plane when the image is
 * grey (one or two channels, or three equal ones, as decoders give for grey PNGs), else three.
 */
function toPlanes(img: PixelImage): Float64Array[] {
  const { width: w, height: h, channels: c, data } = img;
  const n = w * h;
  const grey = isGrey(img);
  const planes = Array.from({ length: grey ? 1 : 3 }, () => new Float64Array(n));
  const alpha = c === 2 || c === 4;
  for (let k = 0; k < planes.length; k++) {
    const p = planes[k];
    for (let i = 0, s = k; i < n; i++, s += c) {
      if (!alpha) { p[i] = data[s]; continue; }
      const a = data[i * c + c - 1] / 255;
      p[i] = data[s] * a + 255 * (1 - a);
    }
  }
  return planes;
}

/** For each output index, the input indices and weights it sums (`k` per output, zero-padded). */
interface Taps {
  k: number;
  idx: Int32Array;
  w: Float64Array;
}

/** Nearest or 2-tap bilinear exactly as TF.js computes them (aligned corners or half-pixel centres). */
function tfTaps(n: number, out: number, first: number, count: number, p: Preprocessing): Taps {
  const align = p.alignCorners && out > 1;
  const ratio = (align ? n - 1 : n) / (align ? out - 1 : out);
  const k = p.resize === 'nearest' ? 1 : 2;
  const idx = new Int32Array(count * k), w = new Float64Array(count * k);
  for (let j = 0; j < count; j++) {
    const i = first + j;
    const src = p.alignCorners ? ratio * i : ratio * (i + 0.5) - 0.5;
    if (k === 1) {
      idx[j] = Math.min(n - 1, p.alignCorners ? Math.round(src) : Math.floor(ratio * (i + 0.5)));
      w[j] = 1;
      continue;
    }
    const lo = Math.max(0, Math.floor(src)), hi = Math.min(n - 1, Math.ceil(src)), f = src - lo;
    idx[2 * j] = lo; w[2 * j] = 1 - f; idx[2 * j + 1] = hi; w[2 * j + 1] = f;
  }
  return { k, idx, w };
}

const FILTERS = {
  bilinear: { support: 1, f: (x: number) => (Math.abs(x) < 1 ? 1 - Math.abs(x) : 0) },
  bicubic: {
    support: 2,
    f: (x: number) => {
      const a = -0.5, t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
};

/** PIL's resampling taps (ImagingResample's precompute_coeffs): centre-to-centre, filter widened by the shrink factor when `antialias`. */
function pilTaps(n: number, out: number, first: number, count: number, p: Preprocessing): Taps {
  const { support: s0, f } = FILTERS[p.resize === 'bicubic' ? 'bicubic' : 'bilinear'];
  const scale = n / out;
  const fs = p.antialias ? Math.max(scale, 1) : 1;
  const support = s0 * fs;
  const k = Math.ceil(support) * 2 + 1;
  const idx = new Int32Array(count * k), w = new Float64Array(count * k);
  for (let j = 0; j < count; j++) {
    const centre = (first + j + 0.5) * scale;
    const lo = Math.max(0, Math.floor(centre - support + 0.5)), hi = Math.min(n, Math.floor(centre + support + 0.5));
    let total = 0;
    for (let t = 0; t < hi - lo && t < k; t++) { const v = f((t + lo - centre + 0.5) / fs); w[j * k + t] = v; idx[j * k + t] = lo + t; total += v; }
    for (let t = 0; t < k; t++) { if (total !== 0) w[j * k + t] /= total; if (t >= hi - lo) idx[j * k + t] = lo; }
  }
  return { k, idx, w };
}

/** Python's round() of x.5 to the nearest even integer, as torchvision's CenterCrop uses. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The resized size and the crop's offset for an image of h × w. */
export function resizePlan(h: number, w: number, p: Preprocessing): { rh: number; rw: number; top: number; left: number } {
  if (p.shorterSide === undefined) return { rh: p.height, rw: p.width, top: 0, left: 0 };
  const s = p.shorterSide;
  // torchvision's Resize(int): the longer side is int(s · long / short).
  const [rh, rw] = h <= w ? [s, Math.floor(s * w / h)] : [Math.floor(s * h / w), s];
  return { rh, rw, top: roundHalfEven((rh - p.height) / 2), left: roundHalfEven((rw - p.width) / 2) };
}

/** One plane resized with the taps along x then y: H×W values. */
function resizePlane(src: Float64Array, w: number, h: number, tx: Taps, ty: Taps, W: number, H: number): Float64Array {
  const tmp = new Float64Array(h * W);
  const { k: kx, idx: ix, w: wx } = tx;
  for (let y = 0; y < h; y++) {
    const row = y * w, o = y * W;
    for (let x = 0; x < W; x++) {
      let v = 0;
      for (let t = x * kx, e = t + kx; t < e; t++) v += wx[t] * src[row + ix[t]];
      tmp[o + x] = v;
    }
  }
  const out = new Float64Array(H * W);
  const { k: ky, idx: iy, w: wy } = ty;
  for (let y = 0; y < H; y++) {
    const dst = y * W;
    for (let t = y * ky, e = t + ky; t < e; t++) {
      const wt = wy[t];
      if (wt === 0) continue;
      const from = iy[t] * W;
      for (let x = 0; x < W; x++) out[dst + x] += wt * tmp[from + x];
    }
  }
  return out;
}

/** One image resized (and cropped): one plane (grey) or three (R, G, B) of H×W values 0…255. */
export function resizeImage(img: PixelImage, p: Preprocessing): Float64Array[] {
  const planes = toPlanes(img);
  const { height: H, width: W } = p;
  const { rh, rw, top, left } = resizePlan(img.height, img.width, p);
  if (img.height === H && img.width === W && rh === H && rw === W) return planes;
  const taps = p.alignCorners || (p.resize !== 'bicubic' && !p.antialias) || p.resize === 'nearest' ? tfTaps : pilTaps;
  const tx = taps(img.width, rw, left, W, p), ty = taps(img.height, rh, top, H, p);
  return planes.map((q) => resizePlane(q, img.width, img.height, tx, ty, W, H));
}

/**
 * An image as TF.js-path protolens computes it (preprocess.ts: `rgbValues`, then TF.js's
 * `resizeBilinear` / `resizeNearestNeighbor` with aligned corners), in the same float32 steps, so
 * that a network fed by either sees the same numbers (to a few float32 ulps): values scaled to the
 * range first (alpha composited onto white), then each output pixel interpolated with the
 * kernel's formula (source coordinate = ratio · index; top = tl + (tr − tl)·dx, and so on).
 * One plane for a grey image, else three.
 * @example
 * tfjsResize({ width: 2, height: 1, channels: 1, data: Uint8Array.of(0, 255) }, { ...nsfwjsPreprocessing(3), height: 1 })
 * // [Float32Array [0, 0.5, 1]]
 */
export function tfjsResize(img: PixelImage, p: Preprocessing): Float32Array[] {
  const f = Math.fround;
  const { width: w, height: h, channels: c, data } = img;
  const [lo, hi] = p.range;
  const fs = f((hi - lo) / 255), flo = f(lo);
  const grey = isGrey(img);
  const planes = Array.from({ length: grey ? 1 : 3 }, (_, k) => {
    const q = new Float32Array(w * h);
    for (let i = 0; i < w * h; i++) {
      let v = data[i * c + (c <= 2 ? 0 : k)];
      if (c === 2 || c === 4) { const a = f(data[i * c + c - 1] / 255); v = f(f(v * a) + f(f(1 - a) * 255)); }
      q[i] = f(f(v * fs) + flo);
    }
    return q;
  });
  const { height: H, width: W } = p;
  if (h === H && w === W) return planes;
  const ry = f(H > 1 ? (h - 1) / (H - 1) : h / H), rx = f(W > 1 ? (w - 1) / (W - 1) : w / W);
  return planes.map((q) => {
    const out = new Float32Array(H * W);
    for (let y = 0; y < H; y++) {
      const sy = f(ry * y);
      const y0 = Math.max(0, Math.floor(sy)), y1 = Math.min(h - 1, Math.ceil(sy)), dy = f(sy - y0);
      for (let x = 0; x < W; x++) {
        const sx = f(rx * x);
        if (p.resize === 'nearest') { out[y * W + x] = q[Math.min(h - 1, Math.round(sy)) * w + Math.min(w - 1, Math.round(sx))]; continue; }
        const x0 = Math.max(0, Math.floor(sx)), x1 = Math.min(w - 1, Math.ceil(sx)), dx = f(sx - x0);
        const tl = q[y0 * w + x0], tr = q[y0 * w + x1], bl = q[y1 * w + x0], br = q[y1 * w + x1];
        const top = f(tl + f(f(tr - tl) * dx)), bottom = f(bl + f(f(br - bl) * dx));
        out[y * W + x] = f(top + f(f(bottom - top) * dy));
      }
    }
    return out;
  });
}

/**
 * The network input of a batch: N×3×H×W (`nchw`) or N×H×W×3 (`nhwc`) float32, preprocessed as `p` says.
 * @throws RangeError naming the image index when its pixels are malformed.
 * @example
 * pixelBatch([{ width: 1, height: 1, channels: 1, data: Uint8Array.of(255) }], presetPreprocessing('keras', [1, 1]), 'nchw')
 * // Float32Array [1, 1, 1]
 */
export function pixelBatch(images: readonly PixelImage[], p: Preprocessing, layout: Layout): Float32Array {
  const { height: H, width: W } = p;
  const plane = H * W;
  const out = new Float32Array(images.length * plane * 3);
  const [lo, hi] = p.range;
  const scale = (hi - lo) / 255;
  const mean = p.mean ?? [0, 0, 0], std = p.std ?? [1, 1, 1];
  const tfjs = isTfjsResizable(p);
  images.forEach((img, n) => {
    checkPixels(img, `image ${n}`);
    // TF.js's own settings are computed as its kernels do, in float32 (values already scaled).
    const planes = tfjs ? tfjsResize(img, p) : resizeImage(img, p);
    const base = n * plane * 3;
    for (let c = 0; c < 3; c++) {
      const a = tfjs ? 1 : scale / std[c], b = tfjs ? 0 : (lo - mean[c]) / std[c];
      const px = planes[planes.length === 1 ? 0 : c];
      if (layout === 'nchw') for (let i = 0, o = base + c * plane; i < plane; i++) out[o + i] = px[i] * a + b;
      else for (let i = 0, o = base + c; i < plane; i++, o += 3) out[o] = px[i] * a + b;
    }
  });
  return out;
}
