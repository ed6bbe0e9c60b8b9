import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initTfNode } from '../src/features/backend.node.ts';
import { loadBackboneNode } from '../src/features/load.node.ts';
import { decodeImage } from '../src/features/decode.node.ts';
import { extractFeatures } from '../src/features/extract.ts';
import { extractDataset } from '../src/features/extract.node.ts';
import { MemoryFeatureCache } from '../src/features/cache.ts';
import { DiskFeatureCache } from '../src/features/cache.node.ts';
import { preprocessBatch, nsfwjsPreprocessing, type PixelImage } from '../src/features/preprocess.ts';
import type { Backbone } from '../src/features/backbone.ts';
import { openImageDataset } from '../src/data/images.node.ts';
import { BadImageError } from '../src/data/images.ts';
import { colourPng, greyPng, makeTree } from './helpers/images.ts';
import { maxDiff } from './helpers/onnx.ts';
import { saveLayersFolder } from './helpers/models.ts';

let mobilenet: Backbone;
let work: string;
const imgs: PixelImage[] = [];

before(async () => {
  await initTfNode('wasm');
  work = mkdtempSync(join(tmpdir(), 'protolens-feat-'));
  // These tests are about the TF.js path (the reader of the nsfwjs bundles, tensors, TF.js folders);
  // the bundled networks on onnxruntime are checked against it in test/converted.test.ts.
  mobilenet = (await loadBackboneNode('mobilenet_v2', { cacheDir: false, runtime: 'tfjs' })).backbone;
  for (let s = 0; s < 5; s++) {
    const png = await greyPng(s, 105, 105);
    imgs.push(await decodeImage(png, `img${s}`));
  }
});
after(() => {
  mobilenet?.dispose();
  rmSync(work, { recursive: true, force: true });
});

/**
 * nsfwjs's own features at flatten_1 for `img`: its loader, its model definition, its
 * preprocessing (÷255, bilinear resize with aligned corners). Frees the model after.
 */
async function nsfwjsFeatures(name: 'MobileNetV2' | 'InceptionV3', img: PixelImage): Promise<Float32Array> {
  const nsfw = await import('nsfwjs');
  const definition = name === 'MobileNetV2'
    ? (await import('nsfwjs/models/mobilenet_v2')).MobileNetV2Model
    : (await import('nsfwjs/models/inception_v3')).InceptionV3Model;
  const info = console.info;
  console.info = () => {}; // nsfwjs announces the model it loads
  const model = await nsfw.load(name, { modelDefinitions: [definition] } as Parameters<typeof nsfw.load>[1]);
  console.info = info;
  const x = tf.tensor3d(Float32Array.from(img.data), [img.height, img.width, img.channels]);
  const y = model.infer(x, 'flatten_1') as tf.Tensor;
  const theirs = y.dataSync() as Float32Array;
  x.dispose(); y.dispose(); // (nsfwjs.dispose() throws after infer with an endpoint: it disposes shared layers twice)
  (model as unknown as { model: tf.LayersModel }).model.dispose();
  return theirs;
}

/** The same picture with red and blue swapped: what a channel-order bug would feed the network. */
function swapRedBlue(img: PixelImage): PixelImage {
  const data = Uint8Array.from(img.data);
  for (let k = 0; k < data.length; k += img.channels) [data[k], data[k + 2]] = [data[k + 2], data[k]];
  return { ...img, data };
}

/**
 * Our features for a colour picture (distinct channels, not square, not the input size) equal
 * nsfwjs's to 1e-5, and those of the picture with red and blue swapped are far from them: the
 * comparison sees a channel-order bug.
 */
function assertSameAsNsfwjs(ours: Float32Array, swapped: Float32Array, theirs: Float32Array, dim: number): void {
  assert.equal(ours.length, dim);
  assert.ok(maxDiff(ours, theirs) < 1e-5, `max difference ${maxDiff(ours, theirs)}`);
  assert.ok(maxDiff(swapped, theirs) > 1e-2, `red and blue swapped: max difference only ${maxDiff(swapped, theirs)}`);
}

test('mobilenet_v2: same features as nsfwjs itself at flatten_1 on a colour picture (its own loader and preprocessing)', async () => {
  const img = await decodeImage(await colourPng(120, 90), 'colour.png');
  assert.equal(img.channels, 3);
  const [ours, swapped] = [await mobilenet.embed([img]), await mobilenet.embed([swapRedBlue(img)])];
  assertSameAsNsfwjs(ours, swapped, await nsfwjsFeatures('MobileNetV2', img), 1280);
});

test('inception_v3 (the paper\'s network): same features as nsfwjs itself at flatten_1 on a colour picture', async () => {
  // The one test that loads InceptionV3 (both loaders together take a few seconds).
  const img = await decodeImage(await colourPng(120, 90), 'colour.png');
  const inception = (await loadBackboneNode('inception_v3', { cacheDir: false, runtime: 'tfjs' })).backbone;
  try {
    const [ours, swapped] = [await inception.embed([img]), await inception.embed([swapRedBlue(img)])];
    assertSameAsNsfwjs(ours, swapped, await nsfwjsFeatures('InceptionV3', img), 2048);
  } finally {
    inception.dispose();
  }
});

test('one image gives the same features alone, in a batch and from the cache (1e-5); no tensor leaks', async () => {
  const before = tf.memory().numTensors;
  const alone = await extractFeatures([imgs[3]], mobilenet);
  const batch = await extractFeatures(imgs, mobilenet, { batchSize: 5 });
  assert.equal(tf.memory().numTensors, before);
  const row3 = batch.data.subarray(3 * 1280, 4 * 1280);
  assert.ok(maxDiff(alone.data, row3) < 1e-5, `alone vs batch: ${maxDiff(alone.data, row3)}`);
  assert.ok(alone.data.some((v) => v > 0), 'features are not all zero');
  // from an in-memory cache: no forward pass for cached images
  const cache = new MemoryFeatureCache();
  const keys = imgs.map((_, i) => `k${i}`);
  await extractFeatures(imgs.slice(0, 4), mobilenet, { cache, keys: keys.slice(0, 4), batchSize: 2 });
  assert.equal(cache.size, 4);
  const progress: number[] = [];
  const again = await extractFeatures(imgs, mobilenet, { cache, keys, onProgress: (d) => progress.push(d) });
  assert.deepEqual(progress, [4, 5]);
  assert.ok(maxDiff(again.data, batch.data) < 1e-5);
  // from the disk cache
  const disk = new DiskFeatureCache(join(work, 'cache'), 'ab'.repeat(32), 1280, { test: true });
  await disk.set('f'.repeat(64), alone.data);
  assert.deepEqual(Array.from((await disk.get('f'.repeat(64)))!), Array.from(alone.data));
  assert.equal(await disk.get('e'.repeat(64)), undefined);
});

test('preprocessing: grey, RGB and opaque RGBA of the same picture give the same input; alpha goes over white', async () => {
  const g = imgs[1];
  const rgb: PixelImage = { ...g, channels: 3, data: new Uint8Array(g.data.length) };
  rgb.data.set(g.data);
  const grey: PixelImage = { width: g.width, height: g.height, channels: 1, data: new Uint8Array(g.width * g.height) };
  const rgba: PixelImage = { width: g.width, height: g.height, channels: 4, data: new Uint8Array(g.width * g.height * 4) };
  for (let k = 0; k < g.width * g.height; k++) {
    grey.data[k] = g.data[3 * k];
    rgba.data.set([g.data[3 * k], g.data[3 * k + 1], g.data[3 * k + 2], 255], 4 * k);
  }
  const a = await mobilenet.embed([grey, rgb, rgba]);
  assert.ok(maxDiff(a.subarray(0, 1280), a.subarray(1280, 2560)) < 1e-6);
  assert.ok(maxDiff(a.subarray(0, 1280), a.subarray(2560)) < 1e-6);
  // known values: range [-1, 1]; a transparent black pixel is white (→ 1), 0 → -1, 255 → 1, 51 over half alpha → (51·0.5 + 127.5)/255·2 − 1
  const p = { ...nsfwjsPreprocessing(2), range: [-1, 1] as [number, number] };
  const t = tf.tidy(() => preprocessBatch([{ width: 2, height: 1, channels: 2, data: new Uint8Array([0, 0, 51, 127.5]) }, { width: 2, height: 1, channels: 1, data: new Uint8Array([0, 255]) }], { ...p, height: 1, width: 2 }));
  const v = Array.from(t.dataSync());
  t.dispose();
  const half = (51 * (127 / 255) + 255 * (1 - 127 / 255)) / 255 * 2 - 1;
  const expected = [1, 1, 1, half, half, half, -1, -1, -1, 1, 1, 1];
  v.forEach((x, i) => assert.ok(Math.abs(x - expected[i]) < 1e-5, `value ${i}: ${x} vs ${expected[i]}`));
});

/** Saves a tiny layers model (8×8×3 input, 1×1 conv whose kernel sums the channels) as model.json + weights.bin. */
async function saveTinyModel(dir: string): Promise<void> {
  const m = tf.sequential({ layers: [
    tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 2, kernelSize: 1, useBias: false, name: 'sum', kernelInitializer: 'ones' }),
    tf.layers.globalAveragePooling2d({ name: 'pool' }),
    tf.layers.dense({ units: 1, name: 'head' }),
  ] });
  await saveLayersFolder(m, dir);
  m.dispose();
}

test('a user layers-model folder with --layer: conv output is global-average-pooled (known answer)', async () => {
  const dir = join(work, 'tiny');
  await saveTinyModel(dir);
  const { backbone } = await loadBackboneNode(dir, { layer: 'sum', cacheDir: false });
  assert.equal(backbone.info.dim, 2);
  assert.equal(backbone.info.pooling, 'global-average');
  assert.equal(backbone.info.name, 'tiny');
  // constant image 51 → 0.2 per channel, the kernel sums 3 channels: 0.6 in both filters
  const v = await backbone.embed([{ width: 8, height: 8, channels: 1, data: new Uint8Array(64).fill(51) }]);
  assert.ok(Math.abs(v[0] - 0.6) < 1e-6 && Math.abs(v[1] - 0.6) < 1e-6, `got ${Array.from(v)}`);
  // The model.json inside the folder names the same model (it is not taken for an ONNX file).
  const byFile = (await loadBackboneNode(join(dir, 'model.json'), { layer: 'sum', cacheDir: false })).backbone;
  assert.equal(byFile.info.name, 'tiny');
  assert.deepEqual(Array.from(await byFile.embed([{ width: 8, height: 8, channels: 1, data: new Uint8Array(64).fill(51) }])), Array.from(v));
  byFile.dispose();
  const pooled = (await loadBackboneNode(dir, { layer: 'pool', cacheDir: false })).backbone;
  assert.equal(pooled.info.pooling, 'none');
  backbone.dispose();
  pooled.dispose();
  await assert.rejects(loadBackboneNode(dir, { layer: 'conv9', cacheDir: false }), /tiny: no layer named "conv9"\. Available layers \(3\): sum, pool, head/);
});

test('a user graph-model folder: node chosen by name', async () => {
  const dir = join(work, 'graph');
  mkdirSync(dir, { recursive: true });
  const axes = new Int32Array([1, 2]);
  writeFileSync(join(dir, 'g.bin'), new Uint8Array(axes.buffer));
  const dim = (n: number): { size: string } => ({ size: String(n) });
  writeFileSync(join(dir, 'model.json'), JSON.stringify({
    format: 'graph-model',
    modelTopology: { node: [
      { name: 'input', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [dim(-1), dim(4), dim(4), dim(3)] } } } },
      { name: 'axes', op: 'Const', attr: { dtype: { type: 'DT_INT32' }, value: { tensor: { dtype: 'DT_INT32', tensorShape: { dim: [dim(2)] } } } } },
      { name: 'neg', op: 'Neg', input: ['input'], attr: { T: { type: 'DT_FLOAT' } } },
      { name: 'mean', op: 'Mean', input: ['neg', 'axes'], attr: { T: { type: 'DT_FLOAT' }, keep_dims: { b: false }, Tidx: { type: 'DT_INT32' } } },
    ], versions: { producer: 1 } },
    weightsManifest: [{ paths: ['g.bin'], weights: [{ name: 'axes', shape: [2], dtype: 'int32' }] }],
  }));
  const { backbone } = await loadBackboneNode(dir, { cacheDir: false });
  assert.equal(backbone.info.kind, 'graph');
  assert.equal(backbone.info.layer, 'mean');
  const v = await backbone.embed([{ width: 4, height: 4, channels: 3, data: new Uint8Array(48).fill(102) }]);
  assert.deepEqual(Array.from(v).map((x) => +x.toFixed(6)), [-0.4, -0.4, -0.4]);
  const neg = (await loadBackboneNode(dir, { layer: 'neg', cacheDir: false })).backbone;
  assert.equal(neg.info.pooling, 'global-average');
  backbone.dispose();
  neg.dispose();
  await assert.rejects(loadBackboneNode(dir, { layer: 'relu', cacheDir: false }), /no layer named "relu"\. Available layers \(4\): input, axes, neg, mean/);
});

test('model folder errors: no model.json, unknown name, missing shard, unknown layer of a bundled backbone', async () => {
  const empty = join(work, 'nomodel');
  mkdirSync(empty, { recursive: true });
  await assert.rejects(loadBackboneNode(empty), new RegExp(`${empty}: no model\\.json \\(expected a TF\\.js model folder`));
  await assert.rejects(loadBackboneNode('resnet_50'), /unknown backbone "resnet_50": expected one of mobilenet_v2, inception_v3, omniglot_conv4, omniglot_conv4x2, a TF\.js model folder \(model\.json plus weight shards\) or an ONNX file/);
  const dir = join(work, 'noshard');
  await saveTinyModel(dir);
  rmSync(join(dir, 'weights.bin'));
  await assert.rejects(loadBackboneNode(dir), /weights\.bin: weight shard named in .*model\.json is missing/);
  await assert.rejects(loadBackboneNode('mobilenet_v2', { layer: 'nope', cacheDir: false, runtime: 'tfjs' }), /mobilenet_v2: no layer named "nope"\. Available layers \(162\): input_1, Conv1_pad, .*flatten_1/);
  // On onnxruntime (the default for the bundled networks), the candidates come with their shapes.
  await assert.rejects(loadBackboneNode('mobilenet_v2', { layer: 'nope', cacheDir: false }), /mobilenet_v2: no layer named "nope"\. Candidate feature layers \(\d+\): Conv1_pad \(Pad, 1×3×225×225\), .*flatten_1 \(Flatten, 1×1280\)/);
});

test('extractDataset: cache makes a re-run compute nothing; interrupted runs resume; corrupt PNG named or skipped', async () => {
  const files: Record<string, Uint8Array | string> = {};
  for (let s = 0; s < 6; s++) files[`c${s % 2}/i${s}.png`] = await greyPng(s, 30, 20);
  const root = makeTree(files);
  const cacheDir = join(work, 'dscache');
  try {
    // an "interrupted" first run that only got through 2 images
    const part = makeTree({ 'c0/i0.png': files['c0/i0.png'], 'c1/i1.png': files['c1/i1.png'] });
    await extractDataset(openImageDataset(part), { backbone: 'mobilenet_v2', cacheDir, workers: 1 });
    rmSync(part, { recursive: true, force: true });
    const first = await extractDataset(openImageDataset(root), { backbone: 'mobilenet_v2', cacheDir, workers: 1, batchSize: 4 });
    assert.deepEqual([first.stats.cached, first.stats.computed], [2, 4]);
    assert.deepEqual(first.labels, ['c0', 'c0', 'c0', 'c1', 'c1', 'c1']);
    assert.deepEqual(first.paths, ['c0/i0.png', 'c0/i2.png', 'c0/i4.png', 'c1/i1.png', 'c1/i3.png', 'c1/i5.png']);
    const second = await extractDataset(openImageDataset(root), { backbone: 'mobilenet_v2', cacheDir, workers: 1 });
    assert.deepEqual([first.stats.from, second.stats.cached, second.stats.computed, second.stats.from], ['onnx-cache', 6, 0, 'onnx-cache']);
    assert.ok(maxDiff(first.X.data, second.X.data) < 1e-5);
    const nocache = await extractDataset(openImageDataset(root), { backbone: 'mobilenet_v2', cacheDir: false, workers: 1, batchSize: 1 });
    assert.ok(maxDiff(first.X.data, nocache.X.data) < 1e-5);
    // a corrupt PNG: named in the error, or left out and reported
    const good = readFileSync(join(root, 'c1/i3.png'));
    writeFileSync(join(root, 'c1/i3.png'), good.subarray(0, 60));
    await assert.rejects(
      extractDataset(openImageDataset(root), { backbone: 'mobilenet_v2', cacheDir: false, workers: 1 }),
      (e: Error) => e instanceof BadImageError && e.message.startsWith(`${root}/c1/i3.png: not a readable image`),
    );
    const skipped = await extractDataset(openImageDataset(root), { backbone: 'mobilenet_v2', cacheDir, workers: 1, skipBad: true });
    assert.equal(skipped.X.rows, 5);
    assert.deepEqual(skipped.paths, ['c0/i0.png', 'c0/i2.png', 'c0/i4.png', 'c1/i1.png', 'c1/i5.png']);
    const rep = skipped.meta.dataset?.skipped as Array<{ path: string; reason: string }>;
    assert.equal(rep[0].path, 'c1/i3.png');
    assert.match(rep[0].reason, /not a readable image/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('extractDataset with 2 worker threads gives the same features as one thread', async () => {
  const files: Record<string, Uint8Array> = {};
  for (let s = 0; s < 5; s++) files[`k${s % 2}/i${s}.png`] = await greyPng(s + 10, 40, 40);
  const root = makeTree(files);
  try {
    const one = await extractDataset(openImageDataset(root), { backbone: 'mobilenet_v2', cacheDir: false, workers: 1 });
    const two = await extractDataset(openImageDataset(root), { backbone: 'mobilenet_v2', cacheDir: false, workers: 2, batchSize: 2 });
    assert.equal(two.stats.threads, 2);
    assert.ok(maxDiff(one.X.data, two.X.data) < 1e-5, `${maxDiff(one.X.data, two.X.data)}`);
    await assert.rejects(extractDataset(openImageDataset(root), { backbone: 'mobilenet_v2', cacheDir: false, workers: 2, layer: 'bogus' }), /no layer named "bogus"/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
