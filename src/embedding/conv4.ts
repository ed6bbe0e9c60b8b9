/**
 * The Conv-4 embedding network (Vinyals et al. 2016; Snell, Swersky & Zemel 2017): blocks of
 * 3×3 convolution (F filters, no bias), batch normalisation, ReLU and 2×2 max-pooling on a
 * 28×28 grey image. With four blocks the output is 1×1×F, so the embedding has F dimensions
 * (64 by default).
 *
 * Training runs on the functional form here (variables plus the hand-written gradients of
 * `ops.ts`); {@link toLayersModel} copies the weights into an ordinary `tf.layers` model with
 * the same function, which any TF.js user (and protolens's backbone loader) can load.
 *
 * Input convention. The trainer works on one channel with ink = 1 and paper = 0. The exported
 * model takes what protolens's backbone pipeline gives every network: H×W×3 values in [0, 1]
 * with white paper = 1 (grey replicated to three channels). Its first layer, a fixed 1×1
 * convolution, turns that into 1 − mean(r, g, b), i.e. the trainer's input.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../linalg/random.ts';
import { batchNormTrain, conv3x3, reluMaxPool2, type BatchStats } from './ops.ts';

/** Architecture options of the Conv-4 network. */
export interface Conv4Options {
  /** Input height and width (square). Default 28. */
  inputSize: number;
  /** Number of conv blocks. Default 4. */
  blocks: number;
  /** Filters per block (the width). Default 64. */
  filters: number;
  /** Batch-norm epsilon (as in tf.layers). Default 1e-3. */
  bnEpsilon: number;
  /** Weight of the old value in the running batch-norm averages. Default 0.9. */
  bnMomentum: number;
}

export const CONV4_DEFAULTS: Readonly<Conv4Options> = { inputSize: 28, blocks: 4, filters: 64, bnEpsilon: 1e-3, bnMomentum: 0.9 };

/** Spatial size after `blocks` 2×2 'valid' poolings of an `inputSize` square. */
export function outputSide(inputSize: number, blocks: number): number {
  let s = inputSize;
  for (let i = 0; i < blocks; i++) s = Math.floor(s / 2);
  return s;
}

/**
 * Checks architecture options, naming the bad field.
 * @throws RangeError for non-integers, or too many blocks for the input size.
 */
export function checkConv4Options(o: Conv4Options): Conv4Options {
  for (const k of ['inputSize', 'blocks', 'filters'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new RangeError(`${k} must be a positive integer, got ${o[k]}`);
  }
  if (outputSide(o.inputSize, o.blocks) < 1) {
    throw new RangeError(`${o.blocks} blocks of 2×2 pooling do not fit a ${o.inputSize}×${o.inputSize} input (at most ${Math.floor(Math.log2(o.inputSize))})`);
  }
  if (!(o.bnEpsilon > 0)) throw new RangeError(`bnEpsilon must be positive, got ${o.bnEpsilon}`);
  if (!(o.bnMomentum >= 0 && o.bnMomentum < 1)) throw new RangeError(`bnMomentum must be in [0, 1), got ${o.bnMomentum}`);
  return o;
}

/** A trainable variable holding `t` (which is disposed). */
function own<R extends tf.Rank>(t: tf.Tensor<R>): tf.Variable<R> {
  const v = tf.variable(t, true);
  t.dispose();
  return v;
}

/** Trainable variables and running statistics of one block. */
interface Block {
  kernel: tf.Variable<tf.Rank.R4>;
  gamma: tf.Variable<tf.Rank.R1>;
  beta: tf.Variable<tf.Rank.R1>;
  movingMean: Float32Array;
  movingVariance: Float32Array;
}

/** Plain arrays of a network's state (for checkpoints and tests). */
export interface Conv4State {
  options: Conv4Options;
  /** Per block: kernel (3·3·Cin·F), gamma, beta, movingMean, movingVariance. */
  blocks: Array<{ kernel: Float32Array; gamma: Float32Array; beta: Float32Array; movingMean: Float32Array; movingVariance: Float32Array }>;
}

/** A trainable Conv-4 network. Call {@link Conv4.dispose} when done. */
export class Conv4 {
  readonly options: Conv4Options;
  readonly dim: number;
  private readonly blocks: Block[];

  private constructor(options: Conv4Options, blocks: Block[]) {
    this.options = options;
    this.blocks = blocks;
    this.dim = options.filters * outputSide(options.inputSize, options.blocks) ** 2;
  }

  /**
   * A new network with He-normal kernels (He et al. 2015) drawn from `r`, γ = 1, β = 0.
   * @throws RangeError for bad options.
   */
  static create(options: Partial<Conv4Options>, r: Rng): Conv4 {
    const o = checkConv4Options({ ...CONV4_DEFAULTS, ...options });
    const blocks: Block[] = [];
    for (let i = 0; i < o.blocks; i++) {
      const cin = i === 0 ? 1 : o.filters;
      const k = new Float32Array(9 * cin * o.filters);
      const sd = Math.sqrt(2 / (9 * cin));
      for (let j = 0; j < k.length; j++) k[j] = r.normal() * sd;
      blocks.push({
        kernel: own(tf.tensor4d(k, [3, 3, cin, o.filters])),
        gamma: own(tf.ones([o.filters])),
        beta: own(tf.zeros([o.filters])),
        movingMean: new Float32Array(o.filters),
        movingVariance: new Float32Array(o.filters).fill(1),
      });
    }
    return new Conv4(o, blocks);
  }

  /**
   * A network from saved state.
   * @throws RangeError when an array has the wrong length for the options.
   */
  static fromState(state: Conv4State): Conv4 {
    const o = checkConv4Options({ ...CONV4_DEFAULTS, ...state.options });
    if (state.blocks.length !== o.blocks) throw new RangeError(`state has ${state.blocks.length} blocks; options say ${o.blocks}`);
    const blocks = state.blocks.map((b, i) => {
      const cin = i === 0 ? 1 : o.filters;
      const want = { kernel: 9 * cin * o.filters, gamma: o.filters, beta: o.filters, movingMean: o.filters, movingVariance: o.filters };
      for (const [k, n] of Object.entries(want)) {
        const got = (b as Record<string, Float32Array>)[k]?.length;
        if (got !== n) throw new RangeError(`block ${i} ${k}: expected ${n} values, got ${got}`);
      }
      return {
        kernel: own(tf.tensor4d(b.kernel, [3, 3, cin, o.filters])),
        gamma: own(tf.tensor1d(b.gamma)),
        beta: own(tf.tensor1d(b.beta)),
        movingMean: b.movingMean.slice(),
        movingVariance: b.movingVariance.slice(),
      };
    });
    return new Conv4(o, blocks);
  }

  /** The trainable variables, in a fixed order (kernel, gamma, beta per block). */
  variables(): tf.Variable[] {
    return this.blocks.flatMap((b) => [b.kernel, b.gamma, b.beta]);
  }

  /** A copy of the state as plain arrays. */
  state(): Conv4State {
    return {
      options: { ...this.options },
      blocks: this.blocks.map((b) => ({
        kernel: b.kernel.dataSync().slice() as Float32Array,
        gamma: b.gamma.dataSync().slice() as Float32Array,
        beta: b.beta.dataSync().slice() as Float32Array,
        movingMean: b.movingMean.slice(),
        movingVariance: b.movingVariance.slice(),
      })),
    };
  }

  /**
   * Training-mode forward pass (batch statistics) of an N×S×S×1 ink batch: the N×dim embedding.
   * Records each block's batch mean and variance in `stats` for {@link updateRunningStats}.
   */
  embedTrain(x: tf.Tensor4D, stats?: BatchStats[]): tf.Tensor2D {
    let h = x;
    this.blocks.forEach((b, i) => {
      h = reluMaxPool2(batchNormTrain(conv3x3(h, b.kernel, i > 0), b.gamma, b.beta, this.options.bnEpsilon, stats) as tf.Tensor4D);
    });
    return tf.reshape(h, [x.shape[0], this.dim]);
  }

  /**
   * Folds one training step's batch statistics into the running averages used at inference:
   * moving = m·moving + (1 − m)·batch. Disposes the statistics tensors.
   */
  updateRunningStats(stats: BatchStats[]): void {
    if (stats.length !== this.blocks.length) throw new RangeError(`expected ${this.blocks.length} batch statistics, got ${stats.length}`);
    const m = this.options.bnMomentum;
    stats.forEach((s, i) => {
      const mean = s.mean.dataSync(), variance = s.variance.dataSync();
      const b = this.blocks[i];
      for (let c = 0; c < b.movingMean.length; c++) {
        b.movingMean[c] = m * b.movingMean[c] + (1 - m) * mean[c];
        b.movingVariance[c] = m * b.movingVariance[c] + (1 - m) * variance[c];
      }
      s.mean.dispose();
      s.variance.dispose();
    });
  }

  /** Inference-mode embedding (running statistics) of an N×S×S×1 ink batch. Call inside tidy. */
  embedInfer(x: tf.Tensor4D): tf.Tensor2D {
    let h: tf.Tensor4D = x;
    for (const b of this.blocks) {
      const z = tf.conv2d(h, b.kernel, 1, 'same');
      const y = tf.batchNorm(z, tf.tensor1d(b.movingMean), tf.tensor1d(b.movingVariance), b.beta, b.gamma, this.options.bnEpsilon);
      h = tf.maxPool(tf.relu(y) as tf.Tensor4D, 2, 2, 'valid');
    }
    return tf.reshape(h, [x.shape[0], this.dim]);
  }

  /**
   * Embeds images given as one Float32Array of N·S·S ink values (row-major), in batches.
   * @returns N×dim row-major embeddings.
   * @throws RangeError when the length is not a multiple of S·S.
   */
  embed(images: Float32Array, batch = 500): Float32Array {
    const s = this.options.inputSize;
    if (images.length % (s * s) !== 0) throw new RangeError(`expected a multiple of ${s}×${s} = ${s * s} values, got ${images.length}`);
    const n = images.length / (s * s);
    const out = new Float32Array(n * this.dim);
    for (let i = 0; i < n; i += batch) {
      const m = Math.min(batch, n - i);
      const e = tf.tidy(() => this.embedInfer(tf.tensor4d(images.subarray(i * s * s, (i + m) * s * s), [m, s, s, 1])));
      out.set(e.dataSync(), i * this.dim);
      e.dispose();
    }
    return out;
  }

  /**
   * An ordinary `tf.layers` model with the same function, taking H×W×3 images in [0, 1] with
   * white paper (see the file comment): grey→ink 1×1 conv, then conv/BN/ReLU/max-pool blocks,
   * then flatten. The caller disposes it.
   */
  toLayersModel(): tf.Sequential {
    const o = this.options;
    const m = tf.sequential({ name: 'protolens_conv4' });
    m.add(tf.layers.conv2d({ inputShape: [o.inputSize, o.inputSize, 3], filters: 1, kernelSize: 1, useBias: true, name: 'grey_to_ink', trainable: false }));
    this.blocks.forEach((_, i) => {
      m.add(tf.layers.conv2d({ filters: o.filters, kernelSize: 3, padding: 'same', useBias: false, name: `conv${i}` }));
      m.add(tf.layers.batchNormalization({ epsilon: o.bnEpsilon, momentum: o.bnMomentum, name: `bn${i}` }));
      m.add(tf.layers.reLU({ name: `relu${i}` }));
      m.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'valid', name: `pool${i}` }));
    });
    m.add(tf.layers.flatten({ name: 'embedding' }));
    tf.tidy(() => {
      m.getLayer('grey_to_ink').setWeights([tf.fill([1, 1, 3, 1], -1 / 3), tf.ones([1])]);
      this.blocks.forEach((b, i) => {
        m.getLayer(`conv${i}`).setWeights([b.kernel]);
        m.getLayer(`bn${i}`).setWeights([b.gamma, b.beta, tf.tensor1d(b.movingMean), tf.tensor1d(b.movingVariance)]);
      });
    });
    return m;
  }

  /** Releases the variables. */
  dispose(): void {
    for (const v of this.variables()) v.dispose();
  }
}
