/**
 * Augmentation of small square ink images, on Float32Arrays (browser-safe, no TF.js):
 * rotations by multiples of 90° (used as new classes, the standard practice on Omniglot since
 * Santoro et al. 2016) and a small random affine jitter (rotation, scale, shear, shift).
 */
import type { Rng } from '../linalg/random.ts';

/** Writes `src` (S×S) rotated by `quarter`·90° counter-clockwise into `dst` at `offset`. */
export function rotate90(src: ArrayLike<number>, size: number, quarter: number, dst: Float32Array, offset = 0): void {
  const q = ((quarter % 4) + 4) % 4;
  const s1 = size - 1;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      // Output (y, x) takes input at the inverse rotation.
      let sy = y, sx = x;
      if (q === 1) { sy = x; sx = s1 - y; } else if (q === 2) { sy = s1 - y; sx = s1 - x; } else if (q === 3) { sy = s1 - x; sx = y; }
      dst[offset + y * size + x] = src[sy * size + sx];
    }
  }
}

/** Size of the random affine jitter; 0 everywhere turns it off. */
export interface JitterOptions {
  /** Largest rotation, in degrees. */
  rotate: number;
  /** Largest relative change of scale (0.1 = ±10 %). */
  scale: number;
  /** Largest shear (tangent). */
  shear: number;
  /** Largest shift, in pixels. */
  shift: number;
}

export const NO_JITTER: Readonly<JitterOptions> = { rotate: 0, scale: 0, shear: 0, shift: 0 };
/** The jitter used when `--jitter` is on: ±10°, ±10 % scale, ±0.1 shear, ±2 px shift. */
export const SMALL_JITTER: Readonly<JitterOptions> = { rotate: 10, scale: 0.1, shear: 0.1, shift: 2 };

/** True when the jitter does nothing. */
export function isNoJitter(j: JitterOptions): boolean {
  return j.rotate === 0 && j.scale === 0 && j.shear === 0 && j.shift === 0;
}

/**
 * Applies a random affine map about the image centre to `img` (S×S) in place, sampling
 * bilinearly (outside the image = 0, no ink).
 */
export function jitterInPlace(img: Float32Array, offset: number, size: number, j: JitterOptions, r: Rng, scratch: Float32Array): void {
  const u = () => 2 * r.next() - 1;
  const th = (u() * j.rotate * Math.PI) / 180;
  const sc = 1 + u() * j.scale;
  const sh = u() * j.shear;
  const tx = u() * j.shift, ty = u() * j.shift;
  // Forward map A = R(th)·[[1, sh], [0, 1]]·sc; sample the input at A⁻¹(out − c − t) + c.
  const c = Math.cos(th), s = Math.sin(th);
  const a = c * sc, b = (c * sh - s) * sc, d = s * sc, e = (s * sh + c) * sc;
  const det = a * e - b * d;
  const ia = e / det, ib = -b / det, id = -d / det, ie = a / det;
  const mid = (size - 1) / 2;
  scratch.set(img.subarray(offset, offset + size * size));
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const ox = x - mid - tx, oy = y - mid - ty;
      const sx = ia * ox + ib * oy + mid, sy = id * ox + ie * oy + mid;
      const x0 = Math.floor(sx), y0 = Math.floor(sy);
      const fx = sx - x0, fy = sy - y0;
      let v = 0;
      for (let dy = 0; dy <= 1; dy++) {
        const yy = y0 + dy;
        if (yy < 0 || yy >= size) continue;
        const wy = dy ? fy : 1 - fy;
        for (let dx = 0; dx <= 1; dx++) {
          const xx = x0 + dx;
          if (xx < 0 || xx >= size) continue;
          v += wy * (dx ? fx : 1 - fx) * scratch[yy * size + xx];
        }
      }
      img[offset + y * size + x] = v;
    }
  }
}
