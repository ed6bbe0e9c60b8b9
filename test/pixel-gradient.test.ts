import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initTfNode } from '../src/features/backend.node.ts';
import type { Backbone } from '../src/features/backbone.ts';
import { depthwiseConv2dBackpropInput, registerWasmInputGradientKernels } from '../src/features/grad-kernels.ts';
import { differentiableForward } from '../src/features/input-gradient.ts';
import { batchFeatures, featureGradient, NoGradientError, type ImageBatch } from '../src/features/pixel-gradient.ts';
import { nsfwjsPreprocessing } from '../src/features/preprocess.ts';
import { rng } from '../src/linalg/random.ts';
import { PrototypeClassifier } from '../src/model/prototype.ts';
import { FeatureTransform } from '../src/model/preprocess.ts';
import { PrototypeHead } from '../src/interpret/head.ts';
import { seedWeights, tinyBackbone } from './helpers/tiny-backbone.ts';

await initTfNode('wasm');
registerWasmInputGradientKernels();

/** `f` on the pure-JS cpu backend (the reference: every stock gradient kernel), back to wasm after. */
async function onCpu<T>(f: () => T): Promise<T> {
  await tf.setBackend('cpu');
  try { return f(); } finally { await tf.setBackend('wasm'); }
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let k = 0; k < a.length; k++) { num = Math.max(num, Math.abs(a[k] - b[k])); den = Math.max(den, Math.abs(b[k])); }
  return num / (den || 1);
}

/** Every layer kind the patched forward handles, as MobileNetV2 and Conv-4 use them, plus the fallbacks. */
function mixedModel(): tf.LayersModel {
  const L = tf.layers;
  const inp = tf.input({ shape: [9, 9, 3] });
  const bn = (t: tf.SymbolicTensor) => L.batchNormalization({ epsilon: 1e-3 }).apply(t) as tf.SymbolicTensor;
  let h = L.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'valid', useBias: false }).apply(inp) as tf.SymbolicTensor; // 4×4×4
  h = L.reLU({ maxValue: 6 }).apply(bn(h)) as tf.SymbolicTensor;
  const a = h;
  h = L.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false }).apply(h) as tf.SymbolicTensor;
  h = L.reLU({ maxValue: 6 }).apply(bn(h)) as tf.SymbolicTensor;
  h = bn(L.conv2d({ filters: 4, kernelSize: 1, useBias: false }).apply(h) as tf.SymbolicTensor);
  h = L.add().apply([a, h]) as tf.SymbolicTensor;
  h = L.zeroPadding2d({ padding: [[0, 1], [0, 1]] }).apply(h) as tf.SymbolicTensor; // 5×5
  h = bn(L.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'valid', depthMultiplier: 2, useBias: false }).apply(h) as tf.SymbolicTensor); // 2×2×8
  h = L.conv2d({ filters: 5, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(h) as tf.SymbolicTensor;
  h = L.activation({ activation: 'relu' }).apply(bn(h)) as tf.SymbolicTensor; // batch norm after a non-linear conv: not folded
  const out = L.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor;
  const m = tf.model({ inputs: inp, outputs: out });
  seedWeights(m, 7);
  return m;
}

test('the patched forward gives the stock layers\' features and input gradients (every layer kind MobileNetV2 and Conv-4 use)', async () => {
  const m = mixedModel();
  const r = rng(3);
  const x = tf.tensor4d(Float32Array.from({ length: 2 * 9 * 9 * 3 }, () => r.next()), [2, 9, 9, 3]);
  const G = tf.tensor2d(Float32Array.from({ length: 2 * 5 }, () => r.normal()), [2, 5]);
  const before = tf.memory().numTensors;
  const f = differentiableForward(m, (t) => m.apply(t, { training: false }) as tf.Tensor);
  // Kept: a pair per batch norm (5), a folded kernel and bias per folded convolution (4), Wᵀ of the 1×1 Conv2D, the rotated 'same' 3×3 Conv2D.
  assert.equal(tf.memory().numTensors, before + 5 * 2 + 4 * 2 + 1 + 1);
  const mine = tf.tidy(() => f(x).dataSync().slice());
  const dMine = tf.tidy(() => tf.grad((t) => tf.sum(tf.mul(f(t as tf.Tensor4D), G)))(x).dataSync().slice());
  assert.equal(tf.memory().numTensors, before + 20, 'nothing but the prepared constants stays');
  // The patched ops ran: no weight gradient and no batch-norm kernel.
  const prof = await tf.profile(() => tf.grad((t) => tf.sum(tf.mul(f(t as tf.Tensor4D), G)))(x));
  tf.dispose(prof.result as tf.Tensor);
  const ran = new Set(prof.kernelNames);
  for (const k of ['Conv2DBackpropFilter', 'FusedBatchNorm', 'FusedConv2D']) assert.ok(!ran.has(k), `${k} ran`);
  assert.ok(ran.has('DepthwiseConv2dNativeBackpropInput') && ran.has('BatchMatMul'));
  const [stock, dStock] = await onCpu(() => [
    tf.tidy(() => (m.predict(x) as tf.Tensor).dataSync().slice()),
    tf.tidy(() => tf.grad((t) => tf.sum(tf.mul(m.apply(t, { training: false }) as tf.Tensor, G)))(x).dataSync().slice()),
  ]);
  assert.ok(maxRelDiff(mine, stock) < 1e-5, `features differ by ${maxRelDiff(mine, stock)}`);
  let nz = 0;
  for (const v of dStock) if (v !== 0) nz++;
  assert.ok(nz > dStock.length / 2, 'the reference gradient is not mostly zero');
  assert.ok(maxRelDiff(dMine, dStock) < 1e-4, `gradients differ by ${maxRelDiff(dMine, dStock)}`);
  // The patches are gone after the call: predict on wasm gives the stock features too.
  const after = tf.tidy(() => (m.predict(x) as tf.Tensor).dataSync().slice());
  assert.ok(maxRelDiff(after, stock) < 1e-5);
  f.dispose();
  assert.equal(tf.memory().numTensors, before);
  m.dispose();
  x.dispose(); G.dispose();
});

test('the depthwise input gradient equals the cpu backend\'s for strides 1 and 2, both paddings, multipliers 1 and 2', async () => {
  const r = rng(11);
  for (const [h, w, s, pad, mult] of [[7, 6, 1, 'same', 1], [8, 8, 2, 'same', 1], [7, 7, 2, 'valid', 2], [6, 5, 2, 'same', 2], [5, 5, 1, 'valid', 1]] as const) {
    const c = 3;
    const x = tf.tensor4d(Float32Array.from({ length: 2 * h * w * c }, () => r.normal()), [2, h, w, c]);
    const k = tf.tensor4d(Float32Array.from({ length: 9 * c * mult }, () => r.normal()), [3, 3, c, mult]);
    const y = tf.depthwiseConv2d(x, k, s, pad);
    const dy = tf.tensor4d(Float32Array.from({ length: y.size }, () => r.normal()), y.shape);
    const mine = depthwiseConv2dBackpropInput(dy, k, { strides: s, dilations: 1, pad, inputShape: [2, h, w, c] }).dataSync();
    const ref = await onCpu(() => tf.grad((t) => tf.sum(tf.mul(tf.depthwiseConv2d(t as tf.Tensor4D, k, s, pad), dy)))(x).dataSync());
    assert.ok(maxRelDiff(mine, ref) < 1e-5, `${h}×${w} stride ${s} ${pad} ×${mult}: differs by ${maxRelDiff(mine, ref)}`);
    tf.dispose([x, k, y, dy]);
  }
});

test('∂‖Ω(t(f(x)) − p)‖²/∂pixels through a tiny network, its resize, the sqrt-center-l2 transform and a learned metric equals central differences', async () => {
  const bb = await tinyBackbone(5);
  const r = rng(2);
  // Features of random 4×4 grey images (resized to the network's 6×6 inside), a model on them with a learned low-rank metric.
  const n = 24;
  const imgs: ImageBatch = { data: Float32Array.from({ length: n * 16 }, () => r.next()), n, height: 4, width: 4, channels: 1 };
  const F = batchFeatures(bb, imgs);
  const y = Array.from({ length: n }, (_, i) => (i % 2 ? 'a' : 'b'));
  const t = new FeatureTransform('sqrt-center-l2').fit({ data: F, rows: n, cols: 3 });
  const model = new PrototypeClassifier({ nPrototypes: 4, seed: 1, metric: 'lowrank', maxIter: 20 }).fit(t.transform({ data: F, rows: n, cols: 3 }), y);
  assert.equal(model.metric_.kind, 'lowrank');
  const head = new PrototypeHead(model, t);
  const x: ImageBatch = { data: Float32Array.from({ length: 16 }, () => 0.2 + 0.6 * r.next()), n: 1, height: 4, width: 4, channels: 1 };
  const j = 1;
  const value = (img: Float32Array) => head.at(batchFeatures(bb, { ...x, data: img })).d[j];
  const { grad } = featureGradient(bb, x, (feat) => {
    const pt = head.at(feat);
    const g = new Float32Array(3);
    head.backward(pt, head.distance(pt, j).dz, g);
    return { loss: pt.d[j], grad: g };
  });
  const h = 1e-2;
  let worst = 0, scale = 0;
  for (let k = 0; k < 16; k++) {
    const up = x.data.slice(), dn = x.data.slice();
    up[k] += h; dn[k] -= h;
    const fd = (value(up) - value(dn)) / (2 * h);
    worst = Math.max(worst, Math.abs(fd - grad[k]));
    scale = Math.max(scale, Math.abs(fd));
  }
  assert.ok(scale > 1e-4, 'the distance moves with the pixels');
  assert.ok(worst < 0.02 * scale, `largest difference ${worst} against a gradient scale ${scale}`);
  bb.dispose();
});

test('a backbone without gradients (an ONNX model) is refused with a message that says why and what to use', () => {
  const onnx = { info: { name: 'resnet18', kind: 'onnx' }, preprocessing: nsfwjsPreprocessing(224), embed: () => new Float32Array(0), dispose() {} } as unknown as Backbone;
  assert.throws(() => batchFeatures(onnx, { data: new Float32Array(1), n: 1, height: 1, width: 1, channels: 1 }),
    (e: Error) => e instanceof NoGradientError && /resnet18.*ONNX model run by onnxruntime.*no gradients.*use a TF\.js backbone \(mobilenet_v2/.test(e.message));
});
