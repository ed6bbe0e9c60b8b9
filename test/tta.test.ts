import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initTfNode } from '../src/features/backend.node.ts';
import { loadBackbone, shiftTensor, type Backbone } from '../src/features/backbone.ts';
import { checkTtaShift, shiftArray, ttaOffsets } from '../src/features/tta.ts';
import { modelKeyMaterial } from '../src/features/cache.ts';
import { loadOnnxBackboneNode } from '../src/features/onnx.node.ts';
import { nsfwjsPreprocessing, preprocessBatch, type PixelImage } from '../src/features/preprocess.ts';
import { featureOrigin, originDifference } from '../src/data/origin.ts';
import { rng } from '../src/linalg/random.ts';
import { seedWeights } from './helpers/tiny-backbone.ts';
import { maxDiff, tinyNet } from './helpers/onnx.ts';

const work = mkdtempSync(join(tmpdir(), 'protolens-tta-'));
before(async () => { await initTfNode(); });
after(() => rmSync(work, { recursive: true, force: true }));

/** A seeded RGB image. */
function image(size: number, seed: number): PixelImage {
  const r = rng(seed);
  return { width: size, height: size, channels: 3, data: Uint8Array.from({ length: size * size * 3 }, () => Math.floor(256 * r.next())) };
}

/** The image itself moved by (dx, dy), edges repeated: what a shift of the network input is when no resize happens. */
function moved(img: PixelImage, dx: number, dy: number): PixelImage {
  const v = shiftArray(Float32Array.from(img.data), 1, img.height, img.width, 'nhwc', dx, dy);
  return { ...img, data: Uint8Array.from(v) };
}

/** Mean of a backbone's plain features over the moves of `shift`. */
async function meanOverMoves(bb: Backbone, img: PixelImage, shift: number): Promise<Float32Array> {
  const offs = ttaOffsets(shift);
  const sum = new Float32Array(bb.info.dim);
  for (const [dx, dy] of offs) (await bb.embed([moved(img, dx, dy)])).forEach((v, k) => { sum[k] += v / offs.length; });
  return sum;
}

test('shiftArray: hand-computed moves with the edges repeated, in both layouts', () => {
  // One 2×3 image, pixel p = y·3 + x holds (10p, 10p + 1, 10p + 2).
  const nhwc = Float32Array.from({ length: 18 }, (_, i) => 10 * Math.floor(i / 3) + (i % 3));
  const px = (a: Float32Array) => Array.from({ length: 6 }, (_, p) => a[3 * p] / 10);
  assert.deepEqual(px(shiftArray(nhwc, 1, 2, 3, 'nhwc', 1, 0)), [0, 0, 1, 3, 3, 4]); // right: column 0 repeated
  assert.deepEqual(px(shiftArray(nhwc, 1, 2, 3, 'nhwc', -1, 0)), [1, 2, 2, 4, 5, 5]); // left
  assert.deepEqual(px(shiftArray(nhwc, 1, 2, 3, 'nhwc', 0, -1)), [3, 4, 5, 3, 4, 5]); // up: row 1 repeated
  assert.deepEqual(px(shiftArray(nhwc, 1, 2, 3, 'nhwc', 5, 5)), [0, 0, 0, 0, 0, 0]); // beyond the image: the corner
  assert.deepEqual(Array.from(shiftArray(nhwc, 1, 2, 3, 'nhwc', 1, 0).subarray(6, 9)), [10, 11, 12]); // channels move together
  // Channels first: the same move.
  const nchw = new Float32Array(18);
  for (let p = 0; p < 6; p++) for (let c = 0; c < 3; c++) nchw[c * 6 + p] = nhwc[3 * p + c];
  const s = shiftArray(nchw, 1, 2, 3, 'nchw', 1, 1);
  assert.deepEqual(Array.from(s.subarray(6, 12)), [1, 1, 11, 1, 1, 11]); // channel 1: (y, x) ← (clamp(y − 1), clamp(x − 1))
});

test('shiftTensor moves as shiftArray does, within and beyond the image', () => {
  const r = rng(3);
  const x = Float32Array.from({ length: 2 * 5 * 4 * 3 }, () => r.normal());
  for (const [dx, dy] of [[1, 0], [0, -2], [-1, 1], [3, -4], [7, 9], [-9, 0]]) {
    const t = tf.tidy(() => shiftTensor(tf.tensor4d(x, [2, 5, 4, 3]), dx, dy).dataSync() as Float32Array);
    assert.deepEqual(Array.from(t), Array.from(shiftArray(x, 2, 5, 4, 'nhwc', dx, dy)), `move (${dx}, ${dy})`);
  }
});

test('ttaOffsets: the image first, then every other move of at most the shift; bad shifts are refused naming the value', () => {
  assert.deepEqual(ttaOffsets(0), [[0, 0]]);
  assert.deepEqual(ttaOffsets(1), [[0, 0], [-1, -1], [0, -1], [1, -1], [-1, 0], [1, 0], [-1, 1], [0, 1], [1, 1]]);
  const o = ttaOffsets(2);
  assert.equal(o.length, 25);
  assert.equal(new Set(o.map((d) => d.join())).size, 25);
  assert.ok(o.every(([dx, dy]) => Math.abs(dx) <= 2 && Math.abs(dy) <= 2));
  assert.equal(checkTtaShift(4), 4);
  for (const bad of [-1, 1.5, 5, NaN]) assert.throws(() => checkTtaShift(bad), /tta: expected a shift in input pixels, an integer from 0 \(off\) to 4/);
});

/** A tiny layers model whose features see position (flattened, no pooling): 6×6×3 → 2×2×2 → 8. */
async function positionalArtifacts(): Promise<tf.io.ModelArtifacts> {
  const L = tf.layers;
  const m = tf.sequential();
  m.add(L.conv2d({ inputShape: [6, 6, 3], filters: 2, kernelSize: 3, padding: 'same', activation: 'tanh' }));
  m.add(L.maxPooling2d({ poolSize: 3 }));
  m.add(L.flatten({}));
  seedWeights(m, 5);
  let artifacts: tf.io.ModelArtifacts | undefined;
  await m.save(tf.io.withSaveHandler(async (a) => { artifacts = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
  m.dispose();
  return artifacts!;
}

test('TF.js backbone with tta: the feature is the mean of the plain features of the moved images; forward gives it too; info and cache key record it', async () => {
  const a = await positionalArtifacts();
  const base = { name: 'pos', preprocessing: nsfwjsPreprocessing(6), weightsHash: 'test', source: 'test' };
  const plain = await loadBackbone(a, base);
  const tta = await loadBackbone(a, { ...base, tta: 1 });
  const img = image(6, 1);
  const want = await meanOverMoves(plain, img, 1);
  const got = await tta.embed([img]);
  assert.ok(maxDiff(got, want) < 1e-6, `max diff ${maxDiff(got, want)}`);
  assert.ok(maxDiff(got, await plain.embed([img])) > 1e-3, 'the moves change the feature, so the check can fail');
  // The differentiable path (pixel gradients) averages the same way.
  const f = tf.tidy(() => tta.forward!(preprocessBatch([img], tta.preprocessing)).dataSync() as Float32Array);
  assert.ok(maxDiff(f, got) < 1e-6);
  assert.equal(tta.info.tta, 1);
  assert.equal(plain.info.tta, undefined);
  assert.match(modelKeyMaterial(tta.info, tta.preprocessing), /"tta":1/);
  assert.doesNotMatch(modelKeyMaterial(plain.info, plain.preprocessing), /tta/); // keys of earlier caches unchanged
  await assert.rejects(loadBackbone(a, { ...base, tta: -1 }), /pos: tta: expected a shift/);
  plain.dispose();
  tta.dispose();
});

test('ONNX backbone with tta: the same mean, on onnxruntime', async () => {
  const file = join(work, 'tiny.onnx');
  writeFileSync(file, tinyNet());
  const plain = await loadOnnxBackboneNode(file, { preset: 'keras' });
  const tta = await loadOnnxBackboneNode(file, { preset: 'keras', tta: 2 });
  const img = image(12, 2);
  const want = await meanOverMoves(plain, img, 2);
  const got = await tta.embed([img, image(12, 3)]);
  assert.ok(maxDiff(got.subarray(0, plain.info.dim), want) < 1e-5, `max diff ${maxDiff(got.subarray(0, plain.info.dim), want)}`);
  assert.ok(maxDiff(want, await plain.embed([img])) > 1e-4, 'the moves change the feature');
  assert.equal(tta.info.tta, 2);
  plain.dispose();
  tta.dispose();
});

test('features made with other test-time shifts are another space: the origin says so', () => {
  const o = featureOrigin({ backbone: { name: 'omniglot_conv4', layer: 'embedding', tta: 1 } })!;
  assert.equal(o.tta, 1);
  assert.equal(originDifference(o, { backbone: 'omniglot_conv4', layer: 'embedding' }), 'other test-time shifts (1 against 0 pixels)');
  assert.equal(originDifference(o, { ...o }), null);
  assert.equal(featureOrigin({ backbone: { name: 'x', tta: 0 } })!.tta, undefined);
});

test('CLI: extract --tta records the shift; a model\'s new images (extractForModel) and the explorer\'s uploads are embedded with it; bad values exit 2 naming the flag', async () => {
  const { main } = await import('../src/cli/main.ts');
  const { readFeatures } = await import('../src/data/features.node.ts');
  const { extractForModel } = await import('../src/features/for-model.node.ts');
  const { openImageDataset } = await import('../src/data/images.node.ts');
  const { tinyModelFolder, patternImages } = await import('./helpers/tiny-backbone.ts');
  const model = join(work, 'tinymodel');
  const data = join(work, 'patterns');
  await tinyModelFolder(model);
  await patternImages(data, 2);
  const run = async (...args: string[]) => {
    const write = process.stderr.write;
    let err = '';
    process.stderr.write = ((s: string | Uint8Array) => { err += String(s); return true; }) as typeof process.stderr.write;
    try { return { code: await main(['node', 'protolens', ...args]), err }; } finally { process.stderr.write = write; }
  };
  const out = join(work, 'f.npy'), plainOut = join(work, 'p.npy');
  assert.equal((await run('extract', data, '-b', model, '--tta', '1', '-o', out, '--no-cache', '--workers', '1', '--no-progress')).code, 0);
  assert.equal((await run('extract', data, '-b', model, '-o', plainOut, '--no-cache', '--workers', '1', '--no-progress')).code, 0);
  const f = readFeatures(out);
  assert.equal((f.meta.backbone as { tta?: number }).tta, 1);
  assert.ok(maxDiff(f.X.data, readFeatures(plainOut).X.data) > 1e-4, 'the shifts change the features');
  const again = await extractForModel(featureOrigin(f.meta)!, openImageDataset(data), { cacheDir: false, workers: 1 });
  assert.ok(maxDiff(again.X.data, f.X.data) < 1e-6);
  // The explorer embeds an upload as extract did: same TF.js folder, same shifts.
  const { fileSource } = await import('../src/server/sources.node.ts');
  const { readFileSync } = await import('node:fs');
  // (preprocess none: the upload is compared with its raw row, scale included)
  const src = await fileSource({ features: out, cacheDir: false, preprocess: 'none' });
  assert.ok(src.embedder, 'uploads can be classified for a TF.js folder backbone');
  const row = f.paths!.indexOf(f.paths!.find((p) => p.endsWith('.png'))!);
  const v = await src.embedder!.embed(new Uint8Array(readFileSync(join(data, f.paths![row]))));
  assert.ok(maxDiff(v, f.X.data.subarray(row * f.X.cols, (row + 1) * f.X.cols)) < 1e-5);
  const onFile = await run('bench', 'episodes', '-f', out, '--tta', '1', '--ways', '2', '--shots', '1', '--queries', '1', '-o', join(work, 'ep'));
  assert.equal(onFile.code, 2);
  assert.match(onFile.err, /--tta applies to --data \(features extracted here\); .*f\.npy holds features already made: give --tta to protolens extract instead\./);
  const bad = await run('extract', data, '-b', model, '--tta', '9', '-o', join(work, 'bad.npy'), '--no-cache');
  assert.equal(bad.code, 2);
  assert.match(bad.err, /Invalid value for --tta: "9"\. Expected an integer from 0 \(off\) to 4/);
});
