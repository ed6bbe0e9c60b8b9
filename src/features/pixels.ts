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

/** The non-zero taps of each output, in order, as offsets into flat lists (a zero tap adds nothing: the sums start at +0 and never hold −0). */
interface SparseTaps {
  start: Int32Array;
  idx: Int32Array;
  w: Float64Array;
}

function sparse({ k, idx, w }: Taps): SparseTaps {
  const count = idx.length / k;
  const start = new Int32Array(count + 1);
  let n = 0;
  for (let j = 0; j < count; j++) {
    for (let t = j * k; t < (j + 1) * k; t++) if (w[t] !== 0) n++;
    start[j + 1] = n;
  }
  const s: SparseTaps = { start, idx: new Int32Array(n), w: new Float64Array(n) };
  for (let t = 0, m = 0; t < idx.length; t++) if (w[t] !== 0) { s.idx[m] = idx[t]; s.w[m++] = w[t]; }
  return s;
}

/**
 * An image resized (and cropped), row by row: `row(k, y, values, planes)` receives output row y of
 * plane k of `planes` (one plane for a grey image, else R, G, B), W values 0…255 in float64, in a
 * buffer reused for the next row. Separable: each input row the y taps read is resized along x once, then each
 * output row sums its input rows (the sums in the taps' order, so the values are those of the
 * plane-at-a-time version before it, bit for bit: test/pixels.test.ts).
 */
function resizeRows(img: PixelImage, p: Preprocessing, row: (k: number, y: number, values: Float64Array, planes: number) => void): void {
  const planes = toPlanes(img);
  const { height: H, width: W } = p;
  const { width: w, height: h } = img;
  const { rh, rw, top, left } = resizePlan(h, w, p);
  if (h === H && w === W && rh === H && rw === W) {
    planes.forEach((q, k) => { for (let y = 0; y < H; y++) row(k, y, q.subarray(y * W, (y + 1) * W), planes.length); });
    return;
  }
  const taps = p.alignCorners || (p.resize !== 'bicubic' && !p.antialias) || p.resize === 'nearest' ? tfTaps : pilTaps;
  const tx = sparse(taps(w, rw, left, W, p)), ty = sparse(taps(h, rh, top, H, p));
  const slot = new Int32Array(h).fill(-1);
  let rows = 0;
  for (const r of ty.idx) if (slot[r] < 0) slot[r] = rows++;
  const tmp = new Float64Array(rows * W), out = new Float64Array(W);
  for (let k = 0; k < planes.length; k++) {
    alongX(planes[k], w, slot, tx, tmp);
    for (let y = 0; y < H; y++) {
      alongY(tmp, slot, ty, y, out);
      row(k, y, out, planes.length);
    }
  }
}

/** Each input row that has a slot, resized along x into row `slot[r]` of `tmp` (W values per row). */
function alongX(q: Float64Array, w: number, slot: Int32Array, tx: SparseTaps, tmp: Float64Array): void {
  const { start, idx, w: wt } = tx;
  const W = start.length - 1;
  for (let r = 0; r < slot.length; r++) {
    if (slot[r] < 0) continue;
    const from = r * w, o = slot[r] * W;
    for (let x = 0; x < W; x++) {
      let v = 0;
      for (let t = start[x], e = start[x + 1]; t < e; t++) v += wt[t] * q[from + idx[t]];
      tmp[o + x] = v;
    }
  }
}

/** Output row y: the sum of the rows of `tmp` its taps name, weighted, in the taps' order (from +0: the first term is added to 0, not stored as it is). */
function alongY(tmp: Float64Array, slot: Int32Array, ty: SparseTaps, y: number, out: Float64Array): void {
  const W = out.length;
  const s = ty.start[y], e = ty.start[y + 1];
  if (s === e) { out.fill(0); return; }
  const a0 = ty.w[s], f0 = slot[ty.idx[s]] * W;
  for (let x = 0; x < W; x++) out[x] = 0 + a0 * tmp[f0 + x];
  for (let t = s + 1; t < e; t++) {
    const a = ty.w[t], from = slot[ty.idx[t]] * W;
    for (let x = 0; x < W; x++) out[x] += a * tmp[from + x];
  }
}

/** One image resized (and cropped): one plane (grey) or three (R, G, B) of H×W values 0…255. */
export function resizeImage(img: PixelImage, p: Preprocessing): Float64Array[] {
  const planes: Float64Array[] = [];
  const W = p.width;
  resizeRows(img, p, (k, y, values) => {
    planes[k] ??= new Float64Array(p.height * W);
    planes[k].set(values, y * W);
  });
  return planes;
}

/** One axis of TF.js's aligned-corners resize: per output index, the two input indices and the float32 fraction between them, and the nearest index. */
interface TfjsAxis {
  lo: Int32Array;
  hi: Int32Array;
  frac: Float32Array;
  near: Int32Array;
}

/** TF.js's source coordinates along an axis of `n` inputs and `out` outputs: ratio · index in float32 (the kernel's formula). */
function tfjsAxis(n: number, out: number): TfjsAxis {
  const f = Math.fround;
  const ratio = f(out > 1 ? (n - 1) / (out - 1) : n / out);
  const a: TfjsAxis = { lo: new Int32Array(out), hi: new Int32Array(out), frac: new Float32Array(out), near: new Int32Array(out) };
  for (let i = 0; i < out; i++) {
    const s = f(ratio * i);
    a.lo[i] = Math.max(0, Math.floor(s));
    a.hi[i] = Math.min(n - 1, Math.ceil(s));
    a.frac[i] = f(s - a.lo[i]);
    a.near[i] = Math.min(n - 1, Math.round(s));
  }
  return a;
}

/**
 * The image's planes scaled to the range in float32 (alpha composited onto white first), as
 * TF.js-path protolens computes them (preprocess.ts `rgbValues`): one plane for a grey image, else
 * three. Without alpha a value depends on the byte alone, so the 256 values are computed once.
 * Zeros are +0 (a range starting at −0 would give −0, which the copy into the batch used to turn to +0).
 */
function tfjsPlanes(img: PixelImage, p: Preprocessing): Float32Array[] {
  const f = Math.fround;
  const { width: w, height: h, channels: c, data } = img;
  const [lo, hi] = p.range;
  const fs = f((hi - lo) / 255), flo = f(lo);
  const n = w * h;
  const planes = Array.from({ length: isGrey(img) ? 1 : 3 }, () => new Float32Array(n));
  if (c === 1 || c === 3) {
    const table = new Float32Array(256);
    for (let v = 0; v < 256; v++) table[v] = f(f(v * fs) + flo) + 0;
    planes.forEach((q, k) => { for (let i = 0, s = c === 1 ? 0 : k; i < n; i++, s += c) q[i] = table[data[s]]; });
    return planes;
  }
  planes.forEach((q, k) => {
    for (let i = 0, s = 0; i < n; i++, s += c) {
      const a = f(data[s + c - 1] / 255);
      const v = f(f(data[s + (c === 2 ? 0 : k)] * a) + f(f(1 - a) * 255));
      q[i] = f(f(v * fs) + flo) + 0;
    }
  });
  return planes;
}

/**
 * One plane resized as TF.js's `resizeBilinear(…, alignCorners = true)` computes it, in two
 * passes with the same float32 roundings: each input row that an output row reads is
 * interpolated along x once (`top = tl + (tr − tl)·dx`, the kernel's `top` and `bottom`), then each
 * output row between its two rows (`top + (bottom − top)·dy`).
 */
function tfjsBilinear(q: Float32Array, w: number, h: number, ax: TfjsAxis, ay: TfjsAxis, out: Float32Array): void {
  const f = Math.fround;
  const W = ax.lo.length, H = ay.lo.length;
  const slot = new Int32Array(h).fill(-1);
  let rows = 0;
  for (let y = 0; y < H; y++) {
    if (slot[ay.lo[y]] < 0) slot[ay.lo[y]] = rows++;
    if (slot[ay.hi[y]] < 0) slot[ay.hi[y]] = rows++;
  }
  const tmp = new Float32Array(rows * W);
  const { lo: x0, hi: x1, frac: dx } = ax;
  for (let r = 0; r < h; r++) {
    if (slot[r] < 0) continue;
    const row = r * w, o = slot[r] * W;
    for (let x = 0; x < W; x++) {
      const l = q[row + x0[x]];
      tmp[o + x] = f(l + f(f(q[row + x1[x]] - l) * dx[x]));
    }
  }
  for (let y = 0; y < H; y++) {
    const t = slot[ay.lo[y]] * W, b = slot[ay.hi[y]] * W, dy = ay.frac[y], o = y * W;
    for (let x = 0; x < W; x++) {
      const top = tmp[t + x];
      out[o + x] = f(top + f(f(tmp[b + x] - top) * dy));
    }
  }
}

/**
 * An image as TF.js-path protolens computes it (preprocess.ts: `rgbValues`, then TF.js's
 * `resizeBilinear` / `resizeNearestNeighbor` with aligned corners), in the same float32 steps, so
 * that a network fed by either sees the same numbers, bit for bit: values scaled to the range
 * first (alpha composited onto white), then each output pixel interpolated with the kernel's
 * formula (source coordinate = ratio · index; top = tl + (tr − tl)·dx, and so on). The source
 * indices and fractions of each output row and column are computed once per image. One plane for
 * a grey image, else three.
 * @example
 * tfjsResize({ width: 2, height: 1, channels: 1, data: Uint8Array.of(0, 255) }, { ...nsfwjsPreprocessing(3), height: 1 })
 * // [Float32Array [0, 0.5, 1]]
 */
export function tfjsResize(img: PixelImage, p: Preprocessing): Float32Array[] {
  const { width: w, height: h } = img;
  const planes = tfjsPlanes(img, p);
  const { height: H, width: W } = p;
  if (h === H && w === W) return planes;
  const ax = tfjsAxis(w, W), ay = tfjsAxis(h, H);
  return planes.map((q) => {
    const out = new Float32Array(H * W);
    if (p.resize !== 'nearest') tfjsBilinear(q, w, h, ax, ay, out);
    else for (let y = 0; y < H; y++) for (let x = 0, r = ay.near[y] * w; x < W; x++) out[y * W + x] = q[r + ax.near[x]];
    return out;
  });
}

/** out[at + i·step] = px[i]·a + b, rounded once to float32. */
function scaleRow(px: Float64Array, out: Float32Array, at: number, step: number, a: number, b: number): void {
  for (let x = 0, o = at; x < px.length; x++, o += step) out[o] = px[x] * a + b;
}

/**
 * The network input of a batch: N×3×H×W (`nchw`) or N×H×W×3 (`nhwc`) float32, preprocessed as `p` says.
 * @param out - where to write it (its first N·3·H·W values; a fixed-batch model's zero-padded
 *   input, say); default a new array of that length.
 * @throws RangeError naming the image index when its pixels are malformed, or when `out` is too short.
 * @example
 * pixelBatch([{ width: 1, height: 1, channels: 1, data: Uint8Array.of(255) }], presetPreprocessing('keras', [1, 1]), 'nchw')
 * // Float32Array [1, 1, 1]
 */
export function pixelBatch(images: readonly PixelImage[], p: Preprocessing, layout: Layout, out = new Float32Array(images.length * p.height * p.width * 3)): Float32Array {
  const { height: H, width: W } = p;
  const plane = H * W;
  if (out.length < images.length * plane * 3) throw new RangeError(`pixelBatch: out holds ${out.length} values; ${images.length} images of 3×${H}×${W} need ${images.length * plane * 3}`);
  const [lo, hi] = p.range;
  const scale = (hi - lo) / 255;
  const mean = p.mean ?? [0, 0, 0], std = p.std ?? [1, 1, 1];
  const tfjs = isTfjsResizable(p);
  images.forEach((img, n) => {
    checkPixels(img, `image ${n}`);
    const base = n * plane * 3;
    if (tfjs) {
      // TF.js's own settings are computed as its kernels do, in float32 (values already scaled).
      const planes = tfjsResize(img, p);
      for (let c = 0; c < 3; c++) {
        const px = planes[planes.length === 1 ? 0 : c];
        if (layout === 'nchw') out.set(px, base + c * plane);
        else for (let i = 0, o = base + c; i < plane; i++, o += 3) out[o] = px[i];
      }
      return;
    }
    // Each resized row, still in float64, is scaled and normalised into the batch: one rounding to float32.
    resizeRows(img, p, (k, y, px, planes) => {
      for (let c = planes === 1 ? 0 : k; c < (planes === 1 ? 3 : k + 1); c++) {
        const at = layout === 'nchw' ? base + c * plane + y * W : base + 3 * y * W + c;
        scaleRow(px, out, at, layout === 'nchw' ? 1 : 3, scale / std[c], (lo - mean[c]) / std[c]);
      }
    });
  });
  return out;
}
