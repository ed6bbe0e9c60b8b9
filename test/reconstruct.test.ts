import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initTfNode } from '../src/features/backend.node.ts';
import { batchFeatures, NoGradientError, type ImageBatch } from '../src/features/pixel-gradient.ts';
import type { Backbone } from '../src/features/backbone.ts';
import { rng } from '../src/linalg/random.ts';
import { PrototypeClassifier } from '../src/model/prototype.ts';
import { reconstructPrototype, reconstructPrototypes } from '../src/interpret/reconstruct.ts';
import { tinyBackbone } from './helpers/tiny-backbone.ts';

await initTfNode('wasm');

/** Three 4×4 grey patterns: a vertical bar, a horizontal bar, a diagonal. */
const TARGETS = [
  [1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1],
  [1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1],
  [0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0],
].map((a) => Float32Array.from(a));

/** A model whose prototypes are exactly the features of the three patterns, fitted on noisy copies of them. */
function knownModel(bb: Backbone): { model: PrototypeClassifier; P: Float32Array } {
  const r = rng(1), n = 30;
  const imgs = new Float32Array(n * 16), y: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    for (let k = 0; k < 16; k++) imgs[i * 16 + k] = Math.min(1, Math.max(0, TARGETS[c][k] + 0.15 * r.normal()));
    y.push(['vertical', 'horizontal', 'diagonal'][c]);
  }
  const F = batchFeatures(bb, { data: imgs, n, height: 4, width: 4, channels: 1 });
  const model = new PrototypeClassifier({ nPrototypes: 3, seed: 1 }).fit({ data: F, rows: n, cols: bb.info.dim }, y);
  const P = batchFeatures(bb, { data: Float32Array.from(TARGETS.flatMap((t) => Array.from(t))), n: 3, height: 4, width: 4, channels: 1 });
  // Prototype j ← the feature of the pattern of its winning class.
  const order = model.prototypeClasses().map((c) => ['vertical', 'horizontal', 'diagonal'].indexOf(String(c)));
  assert.deepEqual([...order].sort(), [0, 1, 2]);
  order.forEach((c, j) => model.prototypes_!.data.set(P.subarray(c * bb.info.dim, (c + 1) * bb.info.dim), j * bb.info.dim));
  return { model, P: model.prototypes_!.data.slice() };
}

test('a reconstruction on a tiny known network reaches its target: q_j ≥ 0.9, its best prototype, far closer to p_j than the other prototypes are', async () => {
  const bb = await tinyBackbone(9, 5);
  const { model, P } = knownModel(bb);
  const D = bb.info.dim;
  const sq = (a: number, b: number) => { let s = 0; for (let d = 0; d < D; d++) s += (P[a * D + d] - P[b * D + d]) ** 2; return s; };
  const before = tf.memory().numTensors;
  const rs = await reconstructPrototypes(model, bb, 'all', { size: [4, 4], steps: 150, seed: 3 });
  assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
  assert.equal(rs.length, 3);
  for (const r of rs) {
    const j = r.prototype;
    const nearestOther = Math.min(...[0, 1, 2].filter((k) => k !== j).map((k) => sq(j, k)));
    assert.ok(r.reached && r.q >= 0.9, `p${j}: q ${r.q}`);
    assert.equal(r.bestPrototype, j);
    assert.equal(r.predicted, r.winningClass);
    assert.ok(r.sqDistance < 0.05 * nearestOther, `p${j}: ${r.sqDistance} against ${nearestOther} to the nearest other prototype`);
    // Started far from it: the neutral grey start's distance is much larger.
    assert.ok(r.history[0].sqDistance > 10 * r.sqDistance, `p${j}: started at ${r.history[0].sqDistance}`);
    assert.deepEqual([r.image.width, r.image.height, r.image.channels, r.image.data.length], [4, 4, 1, 16]);
  }
  // Same seed, same image, whatever the batch: alone, prototype 1 comes out as it did with the others.
  const again = await reconstructPrototype(model, bb, rs[1].prototype, { size: [4, 4], steps: 150, seed: 3 });
  let diff = 0;
  for (let k = 0; k < 16; k++) diff = Math.max(diff, Math.abs(again.image.data[k] - rs[1].image.data[k]));
  assert.ok(diff <= 2, `bytes differ by up to ${diff}`);
  bb.dispose();
});

test('reconstruction refuses a prototype out of range, a backbone of another width and one without gradients, naming what is wrong', async () => {
  const bb = await tinyBackbone(9, 5);
  const { model } = knownModel(bb);
  await assert.rejects(reconstructPrototype(model, bb, 3), /prototype 3 is out of range: the model has 3 prototypes \(0–2\)/);
  await assert.rejects(reconstructPrototype(model, bb, 0, { steps: 0 }), /steps must be a positive integer, got 0/);
  const other = await tinyBackbone(9, 4);
  await assert.rejects(reconstructPrototype(model, other, 0), /gives 4 features but the model takes 5/);
  const onnx = { ...bb, forward: undefined, info: { ...bb.info, kind: 'onnx', name: 'resnet18' } } as unknown as Backbone;
  await assert.rejects(reconstructPrototype(model, onnx, 0), (e: Error) => e instanceof NoGradientError && /resnet18/.test(e.message));
  bb.dispose(); other.dispose();
});

export type { ImageBatch };
