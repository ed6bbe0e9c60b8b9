/**
 * Image priors for optimising pixels (feature visualisation: Mahendran & Vedaldi 2015,
 * "Understanding deep image representations by inverting them"; Yosinski et al. 2015,
 * "Understanding neural networks through deep visualization"; Olah, Mordvintsev & Schubert 2017,
 * "Feature visualization"). Without them, gradient steps on the pixels find high-frequency
 * patterns the network responds to but no person would draw.
 *
 * - total variation, smoothed: TV(x) = mean over pixels and channels of
 *   (√((x[i+1,j] − x[i,j])² + β²) − β) + (√((x[i,j+1] − x[i,j])² + β²) − β) (anisotropic, 0 for a
 *   flat image), with its exact gradient;
 * - jitter: the image is rolled by a few pixels (circularly, so the adjoint is the roll back)
 *   before each gradient, so that what it shows must hold under small translations;
 * - blur: a 3×3 binomial (Gaussian-like) filter applied every few steps, a decay of high
 *   frequencies.
 *
 * Images are N×H×W×C row-major, as {@link ../features/pixel-gradient.ts ImageBatch} holds them.
 * Browser-safe, no TF.js.
 */

/** The shape of an image batch (values elsewhere). */
export interface ImageShape {
  n: number;
  height: number;
  width: number;
  channels: number;
}

/**
 * Smoothed anisotropic total variation of each image, averaged over its pixels and channels;
 * adds `weight` × its gradient into `grad` when given.
 * @returns the sum over images of their TV.
 * @example
 * totalVariation(Float32Array.of(0, 1), { n: 1, height: 1, width: 2, channels: 1 }) // (√(1 + β²) − β)/2 ≈ 0.495
 */
export function totalVariation(x: Float32Array, s: ImageShape, grad?: Float32Array, weight = 1, beta = 0.01): number {
  const { n, height: H, width: W, channels: C } = s;
  const per = H * W * C, inv = 1 / per;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const o = i * per;
    for (let y = 0; y < H; y++) {
      for (let xx = 0; xx < W; xx++) {
        for (let c = 0; c < C; c++) {
          const p = o + (y * W + xx) * C + c;
          if (xx + 1 < W) {
            const t = x[p + C] - x[p], r = Math.sqrt(t * t + beta * beta);
            total += (r - beta) * inv;
            if (grad) { const g = (weight * inv * t) / r; grad[p + C] += g; grad[p] -= g; }
          }
          if (y + 1 < H) {
            const t = x[p + W * C] - x[p], r = Math.sqrt(t * t + beta * beta);
            total += (r - beta) * inv;
            if (grad) { const g = (weight * inv * t) / r; grad[p + W * C] += g; grad[p] -= g; }
          }
        }
      }
    }
  }
  return total;
}

/**
 * Each image rolled by (dy[i], dx[i]) pixels, circularly: out[y, x] = in[y − dy, x − dx]. Rolling
 * by the opposite offsets is its inverse and its adjoint.
 * @example
 * roll(Float32Array.of(1, 2, 3), { n: 1, height: 1, width: 3, channels: 1 }, [0], [1]) // [3, 1, 2]
 */
export function roll(x: Float32Array, s: ImageShape, dy: readonly number[], dx: readonly number[]): Float32Array {
  const { n, height: H, width: W, channels: C } = s;
  const out = new Float32Array(x.length), per = H * W * C;
  for (let i = 0; i < n; i++) {
    const o = i * per;
    const oy = ((dy[i] % H) + H) % H, ox = ((dx[i] % W) + W) % W;
    for (let y = 0; y < H; y++) {
      const ty = (y + oy) % H;
      for (let xx = 0; xx < W; xx++) {
        const src = o + (y * W + xx) * C, dst = o + (ty * W + ((xx + ox) % W)) * C;
        for (let c = 0; c < C; c++) out[dst + c] = x[src + c];
      }
    }
  }
  return out;
}

/**
 * Blurs every image in place with the 3×3 binomial filter [1 2 1]ᵀ[1 2 1]/16 mixed with the
 * identity: x ← (1 − a)·x + a·blur(x), edges replicated.
 * @example
 * blur(Float32Array.of(0, 0, 1, 0, 0), { n: 1, height: 1, width: 5, channels: 1 }, 1) // [0, .25, .5, .25, 0]
 */
export function blur(x: Float32Array, s: ImageShape, amount = 1): void {
  const { n, height: H, width: W, channels: C } = s;
  const per = H * W * C, tmp = new Float32Array(per);
  for (let i = 0; i < n; i++) {
    const o = i * per;
    for (let y = 0; y < H; y++) {
      for (let xx = 0; xx < W; xx++) {
        const l = Math.max(0, xx - 1), r = Math.min(W - 1, xx + 1);
        for (let c = 0; c < C; c++) {
          tmp[(y * W + xx) * C + c] = 0.25 * x[o + (y * W + l) * C + c] + 0.5 * x[o + (y * W + xx) * C + c] + 0.25 * x[o + (y * W + r) * C + c];
        }
      }
    }
    for (let y = 0; y < H; y++) {
      const u = Math.max(0, y - 1), d = Math.min(H - 1, y + 1);
      for (let xx = 0; xx < W; xx++) {
        for (let c = 0; c < C; c++) {
          const b = 0.25 * tmp[(u * W + xx) * C + c] + 0.5 * tmp[(y * W + xx) * C + c] + 0.25 * tmp[(d * W + xx) * C + c];
          const p = o + (y * W + xx) * C + c;
          x[p] = (1 - amount) * x[p] + amount * b;
        }
      }
    }
  }
}
