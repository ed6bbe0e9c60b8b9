/**
 * The preprocessing as it was before it was rewritten for speed (src/features/pixels.ts at 30fbee9:
 * `isGrey`, `toPlanes`, the taps, `resizePlan`, `resizePlane`, `resizeImage`, `tfjsResize` and
 * `pixelBatch`, copied unchanged). The tests compare today's pixelBatch with this one value for
 * value: that code gave TF.js's input bit for bit (test/onnx.test.ts) and the features recorded in
 * BENCHMARKS.md, so any change of output would be a change of features.
 * Do not edit: it is the reference, not the implementation.
 */
import { checkPixels, isTfjsResizable, type Layout, type PixelImage, type Preprocessing } from '../../src/features/pixels.ts';

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
function resizePlan(h: number, w: number, p: Preprocessing): { rh: number; rw: number; top: number; left: number } {
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
function resizeImage(img: PixelImage, p: Preprocessing): Float64Array[] {
  const planes = toPlanes(img);
  const { height: H, width: W } = p;
  const { rh, rw, top, left } = resizePlan(img.height, img.width, p);
  if (img.height === H && img.width === W && rh === H && rw === W) return planes;
  const taps = p.alignCorners || (p.resize !== 'bicubic' && !p.antialias) || p.resize === 'nearest' ? tfTaps : pilTaps;
  const tx = taps(img.width, rw, left, W, p), ty = taps(img.height, rh, top, H, p);
  return planes.map((q) => resizePlane(q, img.width, img.height, tx, ty, W, H));
}

function tfjsResize(img: PixelImage, p: Preprocessing): Float32Array[] {
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

/** pixelBatch at 30fbee9. */
export function referencePixelBatch(images: readonly PixelImage[], p: Preprocessing, layout: Layout): Float32Array {
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
