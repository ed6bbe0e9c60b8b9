/**
 * The test-time-shift variants that `--tta` does not make (BENCHMARKS.md, "Issue 15: test-time
 * shifts", the rows marked *): features of a learned Conv-4 averaged over copies of each 28×28
 * ink image shifted with blank borders (`plus1`: ±1 horizontally and vertically, 5 copies;
 * `plus2`: ±2, 5 copies; `plus12`: ±1 and ±2, 9 copies), or over the 3×3 grid of ±1 shifts plus
 * `jitterK`: K random affine copies drawn as in training (seed 11). Writes a feature file that
 * `protolens bench episodes -f` reads.
 *
 *   node --import tsx bench/tta-variants.ts --model /work/models/g-test --data /work/tmp/val-alph --mode plus1 --out val_plus1.npy [--force]
 */
import * as tf from '@tensorflow/tfjs';
import { initTfNode } from '../src/features/backend.node.ts';
import { loadEmbeddingModel } from '../src/embedding/io.node.ts';
import { loadInkImages } from '../src/embedding/omniglot.node.ts';
import { jitterInPlace, SMALL_JITTER } from '../src/embedding/augment.ts';
import { rng } from '../src/linalg/random.ts';
import { writeFeatures } from '../src/data/features.node.ts';

const args = process.argv.slice(2);
const opt = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const model = opt('--model'), data = opt('--data'), mode = opt('--mode') ?? 'plus1', out = opt('--out');
if (!model || !data || !out) throw new RangeError('usage: --model DIR --data DIR --mode plus1|plus2|plus12|jitterK --out FILE.npy [--force]');
const SHIFTS: Record<string, Array<[number, number]>> = {
  plus1: [[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]],
  plus2: [[0, 0], [2, 0], [-2, 0], [0, 2], [0, -2]],
  plus12: [[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1], [2, 0], [-2, 0], [0, 2], [0, -2]],
};
const jitter = /^jitter(\d+)$/.exec(mode);
if (!SHIFTS[mode] && !jitter) throw new RangeError(`--mode: expected plus1, plus2, plus12 or jitterK, got ${mode}`);

await initTfNode('wasm');
const net = await loadEmbeddingModel(model);
const ink = await loadInkImages(data, 28);
const S = 28, n = ink.labels.length;

/** The ink images moved by (dx, dy), blank (no ink) where nothing moved in. */
function shifted(dx: number, dy: number): Float32Array {
  const o = new Float32Array(ink.pixels.length);
  for (let i = 0; i < n; i++) for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
    const sx = x - dx, sy = y - dy;
    if (sx >= 0 && sx < S && sy >= 0 && sy < S) o[i * S * S + y * S + x] = ink.pixels[i * S * S + sy * S + sx];
  }
  return o;
}

/** Features of ink images: the exported network takes RGB with white paper (it computes ink itself). */
function embed(px: Float32Array): Float32Array {
  const rgb = new Float32Array(px.length * 3);
  for (let i = 0; i < px.length; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = 1 - px[i];
  let out: Float32Array | undefined;
  for (let s = 0; s < n; s += 256) {
    const m = Math.min(256, n - s);
    const e = tf.tidy(() => (net.predict(tf.tensor4d(rgb.subarray(s * S * S * 3, (s + m) * S * S * 3), [m, S, S, 3])) as tf.Tensor).dataSync() as Float32Array);
    out ??= new Float32Array(n * (e.length / m));
    out.set(e, s * (e.length / m));
  }
  return out!;
}

const copies: Array<() => Float32Array> = [];
if (jitter) {
  const r = rng(11), scratch = new Float32Array(S * S);
  for (const dy of [-1, 0, 1]) for (const dx of [-1, 0, 1]) copies.push(() => shifted(dx, dy));
  for (let k = 0; k < Number(jitter[1]); k++) {
    copies.push(() => {
      const px = ink.pixels.slice();
      for (let i = 0; i < n; i++) jitterInPlace(px, i * S * S, S, SMALL_JITTER, r, scratch);
      return px;
    });
  }
} else for (const [dx, dy] of SHIFTS[mode]) copies.push(() => shifted(dx, dy));
let sum: Float32Array | undefined;
for (const c of copies) {
  const e = embed(c());
  sum ??= new Float32Array(e.length);
  for (let k = 0; k < e.length; k++) sum[k] += e[k] / copies.length;
}
writeFeatures(out, {
  X: { data: sum!, rows: n, cols: sum!.length / n }, labels: ink.labels,
  meta: { backbone: { name: model.split('/').pop() ?? model, source: model }, bench: { script: 'bench/tta-variants.ts', mode, copies: copies.length, seed: jitter ? 11 : null } },
}, { inputs: [model, data], force: args.includes('--force') });
process.stdout.write(`${out}: ${n} × ${sum!.length / n}, mean over ${copies.length} copies (${mode})\n`);
