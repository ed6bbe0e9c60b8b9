import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initTfNode } from '../src/features/backend.node.ts';
import { NoGradientError } from '../src/features/pixel-gradient.ts';
import type { Backbone } from '../src/features/backbone.ts';
import { reconstructPrototype, reconstructPrototypes } from '../src/interpret/reconstruct.ts';
import { patternModel, tinyBackbone } from './helpers/tiny-backbone.ts';

await initTfNode('wasm');

test('a reconstruction on a tiny known network reaches its target: q_j ≥ 0.9, its best prototype, far closer to p_j than the other prototypes are', async () => {
  const bb = await tinyBackbone(9, 5);
  const { model, P } = patternModel(bb);
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
  const { model } = patternModel(bb);
  await assert.rejects(reconstructPrototype(model, bb, 3), /prototype 3 is out of range: the model has 3 prototypes \(0–2\)/);
  await assert.rejects(reconstructPrototype(model, bb, 0, { steps: 0 }), /steps must be a positive integer, got 0/);
  const other = await tinyBackbone(9, 4);
  await assert.rejects(reconstructPrototype(model, other, 0), /gives 4 features but the model takes 5/);
  const onnx = { ...bb, forward: undefined, info: { ...bb.info, kind: 'onnx', name: 'resnet18' } } as unknown as Backbone;
  await assert.rejects(reconstructPrototype(model, onnx, 0), (e: Error) => e instanceof NoGradientError && /resnet18/.test(e.message));
  bb.dispose(); other.dispose();
});
