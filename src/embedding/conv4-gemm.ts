/**
 * Conv-4 training passes on Float32Array, with every convolution as one matrix product through
 * protolens's GEMM (src/linalg/gemm.ts: WebAssembly SIMD in the browser, the threaded or native
 * backend that the Node adapters install). Browser-safe; no TF.js.
 *
 * Why: TF.js's wasm backend trains Conv-4 at ~100 images/s on one core (BENCHMARKS.md, "Training
 * throughput"): its element-wise kernels make a pass over memory per operation, and it has one
 * thread. Here a block is
 *
 *   im2col → Z = Col·K → batch norm (statistics in one pass) → ReLU + 2×2 max-pool (one pass,
 *   remembering each window's winner)
 *
 * and its gradient is
 *
 *   route dOut to the winners → batch-norm backward in closed form → dK = Colᵀ·dZ →
 *   dCol = dZ·Kᵀ → col2im (not for the first block, whose input is the image).
 *
 * The function is exactly the one of conv4.ts / `tf.layers` (conv 'same' without bias, batch norm
 * with batch statistics and biased variance, ReLU, 2×2 'valid' max-pool), and the weights are
 * the same arrays ({@link Conv4State}: kernels in TF.js's HWIO layout), so a network trained
 * here exports unchanged. `test/embedding-engine.test.ts` checks forward values and gradients
 * against TF.js.
 *
 * Layout: NHWC, row-major. A kernel of shape [3, 3, Cin, F] is the (9·Cin)×F matrix whose row
 * (ky·3 + kx)·Cin + c holds the weights of input channel c at offset (ky − 1, kx − 1); im2col
 * writes each output pixel's 3×3×Cin neighbourhood in that order.
 */
import { gemm } from '../linalg/gemm.ts';
import type { Conv4State } from './conv4.ts';

/** Gradients of one block's trainable arrays (same shapes as the weights). */
export interface BlockGrads {
  kernel: Float32Array;
  gamma: Float32Array;
  beta: Float32Array;
}

/** Batch mean and (biased) variance per channel of one block's convolution output. */
export interface BlockMoments {
  mean: Float32Array;
  variance: Float32Array;
}

/** What the forward pass keeps of one block for the backward pass. */
interface BlockCache {
  n: number;
  /** Input side and channels; output side after pooling. */
  side: number;
  cin: number;
  outSide: number;
  /** Index into Col/Z's buffers, so that the workspace can be shared. */
  col: Float32Array;
  /** Convolution output, and its batch mean and 1/√(σ² + ε) per channel (x̂ = (z − μ)·r). */
  z: Float32Array;
  mean: Float32Array;
  invStd: Float32Array;
  /** For each pooled output value, the flat index (pixel·F + f) of its window's winner in Z, or −1 when ReLU cut it. */
  winner: Int32Array;
}

/** Grows-only scratch buffers, reused from step to step (the large ones are ~100 MB). */
class Conv4Buffers {
  private readonly f32 = new Map<string, Float32Array>();
  private readonly i32 = new Map<string, Int32Array>();
  floats(name: string, n: number): Float32Array {
    let b = this.f32.get(name);
    if (b === undefined || b.length < n) { b = new Float32Array(n); this.f32.set(name, b); }
    return b.subarray(0, n);
  }
  ints(name: string, n: number): Int32Array {
    let b = this.i32.get(name);
    if (b === undefined || b.length < n) { b = new Int32Array(n); this.i32.set(name, b); }
    return b.subarray(0, n);
  }
}

/**
 * im2col of an n×s×s×cin NHWC batch for a 3×3 'same' convolution: (n·s·s)×(9·cin), zero outside.
 * For each output pixel and kernel row, the three taps are one contiguous span of the input row.
 */
export function im2col3x3(x: Float32Array, n: number, s: number, cin: number, col: Float32Array): void {
  const rowLen = s * cin;
  let o = 0;
  for (let b = 0; b < n; b++) {
    const img = b * s * rowLen;
    for (let y = 0; y < s; y++) {
      for (let xx = 0; xx < s; xx++) {
        const left = xx > 0 ? 1 : 0, right = xx < s - 1 ? 1 : 0;
        const span = (1 + left + right) * cin;
        for (let yy = y - 1; yy <= y + 1; yy++) {
          if (yy < 0 || yy >= s) {
            for (let t = 0; t < 3 * cin; t++) col[o++] = 0;
            continue;
          }
          if (left === 0) for (let t = 0; t < cin; t++) col[o++] = 0;
          let i = img + yy * rowLen + (xx - left) * cin;
          for (let t = 0; t < span; t++) col[o++] = x[i++];
          if (right === 0) for (let t = 0; t < cin; t++) col[o++] = 0;
        }
      }
    }
  }
}

/** The adjoint of {@link im2col3x3}: adds each column entry back to its input position (dx is overwritten). */
export function col2im3x3(col: Float32Array, n: number, s: number, cin: number, dx: Float32Array): void {
  const rowLen = s * cin;
  dx.fill(0, 0, n * s * rowLen);
  let o = 0;
  for (let b = 0; b < n; b++) {
    const img = b * s * rowLen;
    for (let y = 0; y < s; y++) {
      for (let xx = 0; xx < s; xx++) {
        const left = xx > 0 ? 1 : 0, right = xx < s - 1 ? 1 : 0;
        const span = (1 + left + right) * cin;
        for (let yy = y - 1; yy <= y + 1; yy++) {
          if (yy < 0 || yy >= s) { o += 3 * cin; continue; }
          if (left === 0) o += cin;
          let i = img + yy * rowLen + (xx - left) * cin;
          for (let t = 0; t < span; t++) dx[i++] += col[o++];
          if (right === 0) o += cin;
        }
      }
    }
  }
}

/** Σ z and Σ z² per channel of an M×F matrix, into s1 and s2 (overwritten). */
function channelSums(z: Float32Array, M: number, F: number, s1: Float64Array, s2: Float64Array): void {
  s1.fill(0); s2.fill(0);
  for (let r = 0, i = 0; r < M; r++) for (let f = 0; f < F; f++, i++) { const v = z[i]; s1[f] += v; s2[f] += v * v; }
}

/**
 * ReLU + 2×2 max-pool ('valid') of y = a·z + b per channel, on an n×s×s×F batch:
 * out = max(0, max over the window of y), and `winner` = flat index in z of the window's
 * maximum, or −1 where the ReLU cuts it.
 */
function affineReluPool(z: Float32Array, n: number, s: number, F: number, a: Float32Array, b: Float32Array, out: Float32Array, winner: Int32Array): void {
  const so = Math.floor(s / 2);
  let oi = 0;
  for (let im = 0; im < n; im++) {
    for (let oy = 0; oy < so; oy++) {
      for (let ox = 0; ox < so; ox++) {
        const p00 = ((im * s + 2 * oy) * s + 2 * ox) * F;
        const p01 = p00 + F, p10 = p00 + s * F, p11 = p10 + F;
        for (let f = 0; f < F; f++, oi++) {
          const af = a[f], bf = b[f];
          let best = af * z[p00 + f] + bf, at = p00 + f;
          let v = af * z[p01 + f] + bf;
          if (v > best) { best = v; at = p01 + f; }
          v = af * z[p10 + f] + bf;
          if (v > best) { best = v; at = p10 + f; }
          v = af * z[p11 + f] + bf;
          if (v > best) { best = v; at = p11 + f; }
          if (best > 0) { out[oi] = best; winner[oi] = at; } else { out[oi] = 0; winner[oi] = -1; }
        }
      }
    }
  }
}

/** dz = c1 + c2·z per channel (M×F), then dz[winner[i]] += scale·dOut[i] for the first nOut entries. */
function bnBackward(z: Float32Array, M: number, F: number, c1: Float32Array, c2: Float32Array, scale: Float32Array,
  dOut: Float32Array, nOut: number, winner: Int32Array, dz: Float32Array): void {
  for (let r = 0, i = 0; r < M; r++) for (let f = 0; f < F; f++, i++) dz[i] = c1[f] + c2[f] * z[i];
  for (let i = 0; i < nOut; i++) { const at = winner[i]; if (at >= 0) dz[at] += scale[at % F] * dOut[i]; }
}

/**
 * Batch-norm parameter gradients when dY is non-zero only at the pooling winners:
 * dβ_f = Σ dOut_i and dγ_f = Σ dOut_i·x̂(winner_i), x̂ = (z − μ)·r (dbeta, dgamma overwritten).
 */
function winnerSums(dOut: Float32Array, nOut: number, winner: Int32Array, z: Float32Array, F: number,
  mean: Float32Array, invStd: Float32Array, dbeta: Float64Array, dgamma: Float64Array): void {
  dbeta.fill(0); dgamma.fill(0);
  for (let i = 0; i < nOut; i++) {
    const at = winner[i];
    if (at < 0) continue;
    const f = at % F, g = dOut[i];
    dbeta[f] += g;
    dgamma[f] += g * (z[at] - mean[f]) * invStd[f];
  }
}

/** The element-wise passes of the engine; another implementation may be installed with {@link setConvKernels}. */
export interface ConvKernels {
  name: string;
  im2col3x3: typeof im2col3x3;
  col2im3x3: typeof col2im3x3;
  channelSums: typeof channelSums;
  affineReluPool: typeof affineReluPool;
  bnBackward: typeof bnBackward;
  winnerSums: typeof winnerSums;
}

/** The portable JavaScript kernels (the default). */
export const jsConvKernels: ConvKernels = { name: 'js', im2col3x3, col2im3x3, channelSums, affineReluPool, bnBackward, winnerSums };

let kernels: ConvKernels = jsConvKernels;

/** Installs the element-wise kernels every engine uses from now on (e.g. the native ones of kernels.node.ts). */
export function setConvKernels(k: ConvKernels): void { kernels = k; }

/** Name of the element-wise kernels in use. */
export function convKernelsName(): string { return kernels.name; }

/**
 * A Conv-4 network's passes over plain arrays. It reads the weights of the {@link Conv4State}
 * it is given at every call (so the caller may update them in place between steps) and never
 * changes them.
 */
export class Conv4Gemm {
  readonly dim: number;
  private readonly ws = new Conv4Buffers();
  private cache: BlockCache[] = [];
  /** When set, milliseconds per phase ('im2col', 'gemm', 'bn', 'pool', …) are added to it (for benchmarks). */
  profile: Map<string, number> | null = null;
  private t = 0;

  /** Ends the current phase: adds the time since the previous mark to `profile[name]`. */
  private mark(name: string): void {
    if (this.profile === null) return;
    const now = performance.now();
    if (this.t > 0) this.profile.set(name, (this.profile.get(name) ?? 0) + now - this.t);
    this.t = now;
  }

  /** The weights in use; may be replaced between steps. */
  state: Conv4State;

  constructor(state: Conv4State) {
    this.state = state;
    const o = state.options;
    let s = o.inputSize;
    for (let i = 0; i < o.blocks; i++) s = Math.floor(s / 2);
    this.dim = o.filters * s * s;
  }

  /**
   * Training-mode forward pass (batch statistics) of n ink images (n·S·S values).
   * @returns the n×dim embeddings (a view into the workspace, valid until the next call) and
   *   each block's batch moments.
   * @throws RangeError when the input length is not n·S·S.
   */
  forwardTrain(x: Float32Array, n: number): { embedding: Float32Array; moments: BlockMoments[] } {
    return this.forward(x, n, true);
  }

  /** Inference-mode embeddings (running statistics), in batches: a new n×dim array. */
  embed(x: Float32Array, batch = 500): Float32Array {
    const s2 = this.state.options.inputSize ** 2;
    if (x.length % s2 !== 0) throw new RangeError(`expected a multiple of ${s2} values, got ${x.length}`);
    const n = x.length / s2;
    const out = new Float32Array(n * this.dim);
    for (let i = 0; i < n; i += batch) {
      const m = Math.min(batch, n - i);
      out.set(this.forward(x.subarray(i * s2, (i + m) * s2), m, false).embedding, i * this.dim);
    }
    return out;
  }

  private forward(x: Float32Array, n: number, train: boolean): { embedding: Float32Array; moments: BlockMoments[] } {
    const o = this.state.options;
    let s = o.inputSize;
    if (x.length !== n * s * s) throw new RangeError(`expected ${n}×${s}×${s} = ${n * s * s} input values, got ${x.length}`);
    const F = o.filters, eps = o.bnEpsilon;
    const moments: BlockMoments[] = [];
    // Inference uses buffers of its own, so that it never disturbs a pending backward pass.
    const tag = train ? '' : 'infer-';
    const cache: BlockCache[] = [];
    let h = x, cin = 1;
    for (let bi = 0; bi < o.blocks; bi++) {
      const blk = this.state.blocks[bi];
      const M = n * s * s, w = 9 * cin;
      const col = this.ws.floats(`${tag}col${bi}`, M * w);
      this.mark(`other ${bi}`);
      kernels.im2col3x3(h, n, s, cin, col);
      this.mark(`im2col ${bi}`);
      const z = this.ws.floats(`${tag}z${bi}`, M * F);
      gemm(false, false, M, F, w, 1, col, w, blk.kernel, F, 0, z, F);
      this.mark(`gemm forward ${bi}`);
      // Batch norm: statistics of this batch (training) or the running ones.
      const mean = new Float32Array(F), variance = new Float32Array(F), invStd = new Float32Array(F);
      if (train) {
        const s1 = new Float64Array(F), s2 = new Float64Array(F);
        kernels.channelSums(z, M, F, s1, s2);
        for (let f = 0; f < F; f++) {
          const mu = s1[f] / M;
          mean[f] = mu;
          variance[f] = Math.max(0, s2[f] / M - mu * mu);
        }
        moments.push({ mean, variance });
      } else {
        mean.set(blk.movingMean);
        variance.set(blk.movingVariance);
      }
      for (let f = 0; f < F; f++) invStd[f] = 1 / Math.sqrt(variance[f] + eps);
      // ReLU + max-pool of y = γ·(z − μ)·r + β = a·z + b, remembering each window's winner.
      // z itself is kept: x̂ is recomputed from it in the backward pass.
      const a = new Float32Array(F), bb = new Float32Array(F);
      for (let f = 0; f < F; f++) { a[f] = blk.gamma[f] * invStd[f]; bb[f] = blk.beta[f] - a[f] * mean[f]; }
      this.mark(`bn forward ${bi}`);
      const so = Math.floor(s / 2);
      const out = this.ws.floats(`${tag}h${bi}`, n * so * so * F);
      const winner = this.ws.ints(`${tag}win${bi}`, n * so * so * F);
      kernels.affineReluPool(z, n, s, F, a, bb, out, winner);
      this.mark(`relu+pool forward ${bi}`);
      cache.push({ n, side: s, cin, outSide: so, col, z, mean, invStd, winner });
      h = out; s = so; cin = F;
    }
    if (train) this.cache = cache;
    return { embedding: h, moments };
  }

  /**
   * Backward pass of the last {@link forwardTrain}: gradients of the loss with respect to every
   * block's kernel, γ and β, given its gradient with respect to the n×dim embeddings.
   * @throws Error when no training forward pass precedes it; RangeError for a wrong length.
   */
  backward(dEmbedding: Float32Array): BlockGrads[] {
    if (this.cache.length !== this.state.options.blocks) throw new Error('backward() needs a forwardTrain() first');
    const F = this.state.options.filters;
    const n = this.cache[0].n;
    if (dEmbedding.length !== n * this.dim) throw new RangeError(`expected ${n}×${this.dim} gradient values, got ${dEmbedding.length}`);
    const grads: BlockGrads[] = new Array(this.cache.length);
    let dOut = dEmbedding;
    for (let bi = this.cache.length - 1; bi >= 0; bi--) {
      const c = this.cache[bi], blk = this.state.blocks[bi];
      const s = c.side, M = n * s * s, w = 9 * c.cin;
      // Batch norm, with dY (M×F) non-zero only at the windows' winners (one per pooled value):
      // dβ = Σ dY, dγ = Σ dY·x̂ over the winners; then dZ = γr·(dY − dβ/M − x̂·dγ/M), written
      // as the dense affine part c1 + c2·z plus dY scaled at the winners.
      const z = c.z, mean = c.mean, invStd = c.invStd, winner = c.winner;
      const dbeta = new Float64Array(F), dgamma = new Float64Array(F);
      kernels.winnerSums(dOut, dOut.length, winner, z, F, mean, invStd, dbeta, dgamma);
      this.mark(`pool backward ${bi}`);
      const scale = new Float32Array(F), c1 = new Float32Array(F), c2 = new Float32Array(F);
      for (let f = 0; f < F; f++) {
        scale[f] = blk.gamma[f] * invStd[f];
        const db = dbeta[f] / M, dg = dgamma[f] / M;
        c2[f] = -scale[f] * dg * invStd[f];
        c1[f] = -scale[f] * db - c2[f] * mean[f];
      }
      const dz = this.ws.floats(`dz${bi}`, M * F);
      kernels.bnBackward(z, M, F, c1, c2, scale, dOut, dOut.length, winner, dz);
      this.mark(`bn backward ${bi}`);
      // dK = Colᵀ·dZ.
      const dk = new Float32Array(w * F);
      gemm(true, false, w, F, M, 1, c.col, w, dz, F, 0, dk, F);
      this.mark(`gemm weight grad ${bi}`);
      grads[bi] = { kernel: dk, gamma: Float32Array.from(dgamma), beta: Float32Array.from(dbeta) };
      if (bi > 0) {
        // dCol = dZ·Kᵀ into Col's buffer (no longer needed), then back to the input's layout.
        gemm(false, true, M, w, F, 1, dz, F, blk.kernel, F, 0, c.col, w);
        this.mark(`gemm input grad ${bi}`);
        const dx = this.ws.floats(`dh${bi - 1}`, M * c.cin);
        kernels.col2im3x3(c.col, n, s, c.cin, dx);
        this.mark(`col2im ${bi}`);
        dOut = dx;
      }
    }
    this.cache = [];
    return grads;
  }
}

/**
 * The prototypical-network loss on an episode's embeddings and its gradient with respect to
 * them. Rows are class-major: N·K support rows, then N·Q query rows. With μ_c the mean of class
 * c's support rows, d_ic = ‖e_i − μ_c‖² and p_i = softmax(−d_i), the loss is
 * L = −(1/NQ) Σ_i log p_{i,y_i}, and with g_ic = (δ_{c,y_i} − p_ic)/NQ,
 *   ∂L/∂e_i = Σ_c 2 g_ic (e_i − μ_c) for a query row,
 *   ∂L/∂e_s = −(2/K) Σ_i g_{i,c(s)} (e_i − μ_{c(s)}) for a support row of class c(s).
 * @returns the loss, the number of queries whose nearest mean is their own class, and the
 *   gradient (a new array of the embeddings' shape).
 */
export function protonetLoss(e: Float32Array, dim: number, nWay: number, kShot: number, nQuery: number): { loss: number; correct: number; grad: Float32Array } {
  const nS = nWay * kShot, nQ = nWay * nQuery;
  if (e.length !== (nS + nQ) * dim) throw new RangeError(`expected ${(nS + nQ)}×${dim} embedding values, got ${e.length}`);
  const mu = new Float64Array(nWay * dim);
  for (let i = 0; i < nS; i++) {
    const c = Math.floor(i / kShot);
    for (let d = 0; d < dim; d++) mu[c * dim + d] += e[i * dim + d] / kShot;
  }
  const grad = new Float32Array(e.length);
  const gMu = new Float64Array(nWay * dim);
  const dist = new Float64Array(nWay);
  let loss = 0, correct = 0;
  for (let qi = 0; qi < nQ; qi++) {
    const row = nS + qi, y = Math.floor(qi / nQuery);
    let minD = Infinity, arg = -1;
    for (let c = 0; c < nWay; c++) {
      let s = 0;
      for (let d = 0; d < dim; d++) { const t = e[row * dim + d] - mu[c * dim + d]; s += t * t; }
      dist[c] = s;
      if (s < minD) { minD = s; arg = c; }
    }
    if (arg === y) correct++;
    let z = 0;
    for (let c = 0; c < nWay; c++) z += Math.exp(minD - dist[c]);
    loss += dist[y] - minD + Math.log(z);
    for (let c = 0; c < nWay; c++) {
      const g = ((c === y ? 1 : 0) - Math.exp(minD - dist[c]) / z) / nQ;
      if (g === 0) continue;
      for (let d = 0; d < dim; d++) {
        const diff = e[row * dim + d] - mu[c * dim + d];
        grad[row * dim + d] += 2 * g * diff;
        gMu[c * dim + d] -= 2 * g * diff;
      }
    }
  }
  for (let i = 0; i < nS; i++) {
    const c = Math.floor(i / kShot);
    for (let d = 0; d < dim; d++) grad[i * dim + d] = gMu[c * dim + d] / kShot;
  }
  return { loss: loss / nQ, correct, grad };
}
