import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initTfNode } from '../src/features/backend.node.ts';
import { decodeImage } from '../src/features/decode.node.ts';
import { decodeWeights, kerasToOnnx, UnsupportedLayerError, type WeightSpec } from '../src/features/keras-onnx.ts';
import { convertedDir, loadBackboneNode } from '../src/features/load.node.ts';
import { convertedOnnxFile } from '../src/features/converted.node.ts';
import { nodeRuntime } from '../src/features/onnx.node.ts';
import type { PixelImage } from '../src/features/pixels.ts';
import { colourPng, greyPng } from './helpers/images.ts';
import { maxDiff } from './helpers/onnx.ts';

const work = mkdtempSync(join(tmpdir(), 'protolens-conv-'));
let images: PixelImage[];

before(async () => {
  await initTfNode('wasm');
  images = [
    await decodeImage(await colourPng(120, 90), 'colour.png'),
    await decodeImage(await greyPng(7, 105, 105), 'grey.png'),
  ];
});
after(() => rmSync(work, { recursive: true, force: true }));

/** A model's artifacts as TF.js would save them. */
async function artifacts(m: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let out: tf.io.ModelArtifacts | undefined;
  await m.save(tf.io.withSaveHandler(async (a) => { out = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
  return out!;
}

/**
 * A functional Keras model with every layer type the converter handles, random weights (seeded),
 * and outputs taken at several layers.
 */
function everyLayerModel(): tf.LayersModel {
  const init = (seed: number) => tf.initializers.randomNormal({ mean: 0, stddev: 0.3, seed });
  const x = tf.input({ shape: [9, 11, 3], name: 'image' });
  const pad = tf.layers.zeroPadding2d({ padding: [[0, 1], [1, 0]], name: 'pad' }).apply(x) as tf.SymbolicTensor;
  const c1 = tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: init(1), biasInitializer: init(2), name: 'c1' }).apply(pad) as tf.SymbolicTensor;
  const bn = tf.layers.batchNormalization({ name: 'bn', movingMeanInitializer: init(3), movingVarianceInitializer: 'ones', gammaInitializer: init(4), betaInitializer: init(5) }).apply(c1) as tf.SymbolicTensor;
  const r6 = tf.layers.reLU({ maxValue: 6, name: 'r6' }).apply(bn) as tf.SymbolicTensor;
  const dw = tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', depthwiseInitializer: init(6), useBias: true, biasInitializer: init(7), name: 'dw' }).apply(r6) as tf.SymbolicTensor;
  const c2 = tf.layers.conv2d({ filters: 8, kernelSize: [1, 3], padding: 'valid', useBias: false, kernelInitializer: init(8), name: 'c2' }).apply(dw) as tf.SymbolicTensor;
  const mp = tf.layers.maxPooling2d({ poolSize: 2, strides: 1, padding: 'same', name: 'mp' }).apply(dw) as tf.SymbolicTensor;
  const ap = tf.layers.averagePooling2d({ poolSize: 3, strides: 1, padding: 'same', name: 'ap' }).apply(dw) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'sum' }).apply([mp, ap]) as tf.SymbolicTensor;
  const act = tf.layers.activation({ activation: 'sigmoid', name: 'act' }).apply(sum) as tf.SymbolicTensor;
  const cat = tf.layers.concatenate({ name: 'cat' }).apply([act, dw]) as tf.SymbolicTensor;
  const gap = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(cat) as tf.SymbolicTensor;
  const flat = tf.layers.flatten({ name: 'flat' }).apply(c2) as tf.SymbolicTensor; // 5×4×8: the order must be Keras's
  const drop = tf.layers.dropout({ rate: 0.5, name: 'drop' }).apply(flat) as tf.SymbolicTensor;
  const dense = tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: init(9), biasInitializer: init(10), name: 'dense' }).apply(drop) as tf.SymbolicTensor;
  return tf.model({ inputs: x, outputs: [gap, dense, cat, flat] });
}

test('the converter: every layer type it handles gives TF.js\'s outputs on onnxruntime (1e-5), Flatten in Keras\'s order', async () => {
  const m = everyLayerModel();
  const a = await artifacts(m);
  const bytes = kerasToOnnx(a.modelTopology, a.weightSpecs as WeightSpec[], a.weightData as ArrayBuffer);
  const session = await nodeRuntime.InferenceSession.create(bytes);
  const data = Float32Array.from({ length: 2 * 9 * 11 * 3 }, (_, i) => Math.sin(i * 0.37) * 2);
  const nhwc = tf.tensor4d(data, [2, 9, 11, 3]);
  const nchw = nhwc.transpose([0, 3, 1, 2]);
  const theirs = m.predict(nhwc) as tf.Tensor[];
  const ours = await session.run({ image: new nodeRuntime.Tensor('float32', nchw.dataSync() as Float32Array, [2, 3, 9, 11]) });
  const names = ['gap', 'dense', 'cat', 'flat'];
  for (let k = 0; k < names.length; k++) {
    // cat is a map: channels-last in TF.js, channels-first in ONNX
    const t = names[k] === 'cat' ? theirs[k].transpose([0, 3, 1, 2]) : theirs[k];
    const d = maxDiff(ours[names[k]].data as Float32Array, t.dataSync());
    assert.ok(d < 1e-5, `${names[k]}: ${d}`);
    if (t !== theirs[k]) t.dispose();
  }
  assert.ok((theirs[1].dataSync() as Float32Array).some((v) => v > 0.05 && v < 0.95), 'the softmax output is not saturated');
  tf.dispose([nhwc, nchw, ...theirs]);
  m.dispose();
  await session.release();
});

test('the converter: weights dequantised exactly as TF.js does; a layer it does not know is named', async () => {
  const specs: WeightSpec[] = [
    { name: 'a/kernel', shape: [2, 3], dtype: 'float32', quantization: { dtype: 'uint8', min: -0.731, scale: 0.0123 } },
    { name: 'b/bias', shape: [3], dtype: 'float32', quantization: { dtype: 'uint16', min: 0.25, scale: 1.3e-4 } },
    { name: 'c/gamma', shape: [2], dtype: 'float32' },
  ];
  const bytes = new Uint8Array([0, 17, 255, 128, 3, 99, ...new Uint8Array(Uint16Array.of(0, 40000, 65535).buffer), ...new Uint8Array(Float32Array.of(1.5, -2).buffer)]);
  const ours = decodeWeights(specs, bytes.buffer);
  const theirs = tf.io.decodeWeights(bytes.buffer, specs as tf.io.WeightsManifestEntry[]);
  for (const s of specs) assert.deepEqual(Array.from(ours.get(s.name)!.data), Array.from(theirs[s.name].dataSync()), s.name); // bit for bit
  tf.dispose(Object.values(theirs));
  const m = tf.sequential({ layers: [tf.layers.conv2dTranspose({ inputShape: [4, 4, 3], filters: 2, kernelSize: 2, name: 'up' })] });
  const a = await artifacts(m);
  assert.throws(() => kerasToOnnx(a.modelTopology, a.weightSpecs as WeightSpec[], a.weightData as ArrayBuffer),
    (e: unknown) => e instanceof UnsupportedLayerError && /layer up: Conv2DTranspose is not a layer type the ONNX converter handles/.test((e as Error).message));
  m.dispose();
});

test('the bundled networks on onnxruntime give TF.js\'s features (1e-4); converted once, then read from the cache', async () => {
  // The one test that loads InceptionV3 on both runtimes.
  for (const name of ['mobilenet_v2', 'inception_v3'] as const) {
    const cacheDir = join(work, 'cache');
    const onnx = await loadBackboneNode(name, { cacheDir });
    const again = await loadBackboneNode(name, { cacheDir });
    const tfjs = (await loadBackboneNode(name, { cacheDir: false, runtime: 'tfjs' })).backbone;
    try {
      assert.deepEqual([onnx.from, again.from, onnx.backbone.info.kind, onnx.backbone.info.layer], ['onnx-converted', 'onnx-cache', 'onnx', 'flatten_1']);
      assert.ok(existsSync(convertedOnnxFile(convertedDir(cacheDir, name))));
      assert.equal(onnx.backbone.info.weightsHash, tfjs.info.weightsHash);
      const [a, b, c] = [await onnx.backbone.embed(images), await again.backbone.embed(images), await tfjs.embed(images)];
      assert.equal(a.length, images.length * tfjs.info.dim);
      assert.ok(maxDiff(a, c) < 1e-4, `${name}: ${maxDiff(a, c)}`);
      assert.ok(maxDiff(a, b) === 0);
      assert.ok(c.some((v) => v > 0.1));
    } finally {
      onnx.backbone.dispose(); again.backbone.dispose(); tfjs.dispose();
    }
  }
});
