/**
 * The Float32Array Conv-4 passes (src/embedding/conv4-gemm.ts) against TF.js: forward
 * values in training and inference mode, every weight gradient, the im2col/col2im adjoint pair,
 * and the prototypical-network loss gradient against central differences.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initTfNode } from '../src/features/backend.node.ts';
import { registerWasmTrainingKernels } from '../src/embedding/kernels.ts';
import { Conv4, type Conv4State } from '../src/embedding/conv4.ts';
import { col2im3x3, Conv4Gemm, im2col3x3, jsConvKernels, protonetLoss } from '../src/embedding/conv4-gemm.ts';
import { loadNativeConvKernels } from '../src/embedding/conv-native.node.ts';
import { rng } from '../src/linalg/random.ts';
import { EmbeddingTrainer, HEADS } from '../src/embedding/train.ts';
import { NO_JITTER } from '../src/embedding/augment.ts';
import { Need } from './helpers/needs.ts';

await initTfNode('wasm');
registerWasmTrainingKernels();

function randn(n: number, seed: number, sd = 1, mean = 0): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => mean + sd * r.normal());
}

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0, diff = 0;
  for (let i = 0; i < a.length; i++) { scale = Math.max(scale, Math.abs(b[i])); diff = Math.max(diff, Math.abs(a[i] - b[i])); }
  return diff / Math.max(scale, 1e-12);
}

/** A small network (3 blocks, 6 filters, 13×13 input: odd sides exercise the dropped row/column) with non-trivial γ, β and running statistics. */
function smallNet(): { net: Conv4; state: Conv4State } {
  const net0 = Conv4.create({ inputSize: 13, blocks: 3, filters: 6 }, rng(11));
  const state = net0.state();
  net0.dispose();
  state.blocks.forEach((b, i) => {
    b.gamma = randn(6, 20 + i, 0.3, 1);
    b.beta = randn(6, 30 + i, 0.5);
    b.movingMean = randn(6, 40 + i, 0.2);
    b.movingVariance = randn(6, 50 + i, 0.1, 1).map(Math.abs);
  });
  return { net: Conv4.fromState(state), state };
}

test('im2col and col2im are adjoint: <im2col(x), c> = <x, col2im(c)>', () => {
  const n = 2, s = 5, cin = 3;
  const x = randn(n * s * s * cin, 1), c = randn(n * s * s * 9 * cin, 2);
  const col = new Float32Array(c.length), back = new Float32Array(x.length);
  im2col3x3(x, n, s, cin, col);
  col2im3x3(c, n, s, cin, back);
  let lhs = 0, rhs = 0;
  for (let i = 0; i < c.length; i++) lhs += col[i] * c[i];
  for (let i = 0; i < x.length; i++) rhs += x[i] * back[i];
  assert.ok(Math.abs(lhs - rhs) < 1e-3 * Math.abs(lhs), `${lhs} vs ${rhs}`);
  // A corner pixel's neighbourhood: 4 of 9 taps inside, centre tap = the pixel itself.
  const centre = (0 * 3 + 0) * 0 + 4 * cin;
  assert.deepEqual(Array.from(col.subarray(centre, centre + cin)), Array.from(x.subarray(0, cin)));
  assert.deepEqual(Array.from(col.subarray(0, cin)), [0, 0, 0]);
});

test('gemm passes: forward (training and inference) and weight gradients equal TF.js on the same network', () => {
  const { net, state } = smallNet();
  const n = 4;
  const x = randn(n * 13 * 13, 3, 0.5, 0.3);
  const gemmNet = new Conv4Gemm(state);
  const proj = randn(n * gemmNet.dim, 4);
  // TF.js: embedding and gradient of Σ proj ⊙ e with respect to every variable.
  const xt = tf.tensor4d(x, [n, 13, 13, 1]);
  const vars = net.variables();
  let eRef: Float32Array = new Float32Array();
  const { grads } = tf.variableGrads(() => {
    const e = net.embedTrain(xt);
    eRef = e.dataSync() as Float32Array;
    return tf.sum(tf.mul(e, tf.tensor2d(proj, [n, net.dim]))) as tf.Scalar;
  }, vars);
  const { embedding, moments } = gemmNet.forwardTrain(x, n);
  assert.equal(moments.length, 3);
  assert.ok(maxRel(embedding, eRef) < 1e-4, `training embedding ${maxRel(embedding, eRef)}`);
  const g = gemmNet.backward(proj);
  g.forEach((b, i) => {
    for (const [k, arr] of [['kernel', b.kernel], ['gamma', b.gamma], ['beta', b.beta]] as const) {
      const ref = grads[vars[i * 3 + ['kernel', 'gamma', 'beta'].indexOf(k)].name].dataSync();
      assert.ok(maxRel(arr, ref) < 1e-3, `block ${i} ${k}: ${maxRel(arr, ref)}`);
    }
  });
  const inf = gemmNet.embed(x, 3);
  const infRef = gemmNet.embed(x);
  assert.ok(maxRel(inf, infRef) < 1e-4, `inference embedding ${maxRel(inf, infRef)}`);
  assert.throws(() => gemmNet.backward(proj), /needs a forwardTrain/);
  assert.throws(() => gemmNet.forwardTrain(x.subarray(1), n), /expected 4×13×13/);
  tf.dispose([xt, ...Object.values(grads)]);
  net.dispose();
});

test('protonet loss gradient agrees with central differences and the loss with a hand computation', () => {
  // Hand case: 2-way 1-shot 1-query in 1-D. Means 0 and 2; queries at 0.5 (class 0) and 1.5 (class 1).
  const hand = protonetLoss(Float32Array.from([0, 2, 0.5, 1.5]), 1, 2, 1, 1);
  const l0 = 0.25 + Math.log(Math.exp(-0.25) + Math.exp(-2.25)); // −log softmax for the first query
  assert.ok(Math.abs(hand.loss - l0) < 1e-9, `${hand.loss} vs ${l0}`);
  assert.equal(hand.correct, 2);
  const nWay = 3, kShot = 2, nQuery = 2, dim = 4;
  const e = randn((nWay * (kShot + nQuery)) * dim, 9);
  const { grad } = protonetLoss(e, dim, nWay, kShot, nQuery);
  const h = 1e-2;
  for (let i = 0; i < e.length; i++) {
    const p = e.slice(), m = e.slice();
    p[i] += h; m[i] -= h;
    const fd = (protonetLoss(p, dim, nWay, kShot, nQuery).loss - protonetLoss(m, dim, nWay, kShot, nQuery).loss) / ((p[i] - m[i]));
    assert.ok(Math.abs(fd - grad[i]) < 2e-3 * Math.max(1, Math.abs(fd)), `entry ${i}: ${grad[i]} vs ${fd}`);
  }
});

test('one training step on the gemm passes equals one on TF.js ops (every head): same loss, same updated weights', () => {
  const S = 13, perClass = 4, nTrain = 6, nVal = 3;
  const total = (nTrain + nVal) * perClass;
  const pixels = randn(total * S * S, 60, 0.3, 0.2);
  const idx = (c: number) => Int32Array.from({ length: perClass }, (_, i) => c * perClass + i);
  const data = {
    pixels, size: S,
    train: { names: Array.from({ length: nTrain }, (_, c) => `t${c}`), members: Array.from({ length: nTrain }, (_, c) => idx(c)) },
    val: { names: Array.from({ length: nVal }, (_, c) => `v${c}`), members: Array.from({ length: nVal }, (_, c) => idx(nTrain + c)) },
  };
  for (const head of HEADS) {
    const common = {
      // No jitter (now on by default): with jittered, grey images a weight whose gradient is
      // rounding noise moved by ±lr differently on the two implementations, which shifted the second
      // step's batch statistics (block 2 moving mean 4e-3 apart, relative); the moving-statistics
      // check below is meant for the wiring, not for that.
      head, bankRate: head === 'prototype-layer' ? 0.5 : 0, rotations: false, jitter: NO_JITTER, seed: 5, episode: { nWay: 3, kShot: 2, nQuery: 2 }, valEpisode: { nWay: 2, kShot: 1, nQuery: 1 }, valEpisodes: 2,
      net: { inputSize: S, blocks: 3, filters: 6, bnEpsilon: 1e-3, bnMomentum: 0.9 },
    };
    const a = new EmbeddingTrainer(data, { ...common, passes: 'gemm' });
    const b = new EmbeddingTrainer(data, { ...common, passes: 'tfjs' });
    const s0 = a.state();
    for (let step = 0; step < 2; step++) {
      const ra = a.step(), rb = b.step();
      assert.ok(Math.abs(ra.loss - rb.loss) < 1e-4 * Math.max(1, Math.abs(rb.loss)), `${head} step ${step}: loss ${ra.loss} vs ${rb.loss}`);
      assert.equal(ra.accuracy, rb.accuracy);
    }
    const sa = a.state(), sb = b.state();
    // Adam's first steps move each weight by about ±lr·sign(gradient) (less where |gradient| is
    // near Adam's ε), so the two runs' updates agree wherever the gradients have the same sign;
    // only entries whose gradient is rounding noise (e.g. β, on which distances barely depend)
    // may differ. A wiring mistake (gradients of the wrong array or sign) would make about
    // half of them differ.
    let mismatched = 0, total = 0;
    sa.net.blocks.forEach((blk, i) => {
      for (const k of ['kernel', 'gamma', 'beta'] as const) {
        for (let j = 0; j < blk[k].length; j++, total++) {
          const da = blk[k][j] - s0.net.blocks[i][k][j], db = sb.net.blocks[i][k][j] - s0.net.blocks[i][k][j];
          if (Math.abs(da - db) > 0.15 * Math.abs(db) + 1e-6) mismatched++;
        }
      }
      for (const k of ['movingMean', 'movingVariance'] as const) {
        assert.ok(maxRel(blk[k], sb.net.blocks[i][k]) < 1e-3, `${head} block ${i} ${k}: ${maxRel(blk[k], sb.net.blocks[i][k])}`);
      }
    });
    assert.ok(mismatched <= 0.02 * total, `${head}: ${mismatched} of ${total} weights differ`);
    a.dispose(); b.dispose();
  }
});

test('native element-wise kernels (native/conv.cc) equal the JavaScript ones', (t) => {
  const loaded = loadNativeConvKernels(process.env.PROTOLENS_CONV_ADDON || undefined);
  if ('reason' in loaded) { new Need('the native conv addon', `native conv kernels not available: ${loaded.reason}`).skipOrFail(t); return; }
  const k = loaded.kernels, js = jsConvKernels;
  for (const [n, s, cin] of [[3, 7, 1], [2, 5, 4], [20, 14, 8]]) {
    const x = randn(n * s * s * cin, 70 + s);
    const c1 = new Float32Array(n * s * s * 9 * cin), c2 = new Float32Array(c1.length).fill(NaN);
    js.im2col3x3(x, n, s, cin, c1); k.im2col3x3(x, n, s, cin, c2);
    assert.deepEqual(c2, c1, `im2col ${n}×${s}×${s}×${cin}`);
    const col = randn(c1.length, 80 + s), d1 = new Float32Array(x.length), d2 = new Float32Array(x.length).fill(NaN);
    js.col2im3x3(col, n, s, cin, d1); k.col2im3x3(col, n, s, cin, d2);
    assert.ok(maxRel(d2, d1) < 1e-6, `col2im ${n}×${s}×${s}×${cin}`);
  }
  const n = 40, s = 9, F = 6, M = n * s * s, so = 4;
  const z = randn(M * F, 90, 2, 0.5);
  const sa = [new Float64Array(F), new Float64Array(F)], sb = [new Float64Array(F).fill(7), new Float64Array(F).fill(7)];
  js.channelSums(z, M, F, sa[0], sa[1]); k.channelSums(z, M, F, sb[0], sb[1]);
  for (let i = 0; i < 2; i++) assert.ok(maxRel(sb[i], sa[i]) < 1e-5, `channel sums ${i}`);
  const a = randn(F, 91), b = randn(F, 92);
  const o1 = new Float32Array(n * so * so * F), o2 = new Float32Array(o1.length), w1 = new Int32Array(o1.length), w2 = new Int32Array(o1.length);
  js.affineReluPool(z, n, s, F, a, b, o1, w1); k.affineReluPool(z, n, s, F, a, b, o2, w2);
  assert.ok(maxRel(o2, o1) < 1e-6, 'pool values');
  assert.deepEqual(w2, w1, 'pool winners');
  assert.ok(w1.some((v) => v < 0) && w1.some((v) => v >= 0), 'the case has both cut and passed windows');
  const dOut = randn(o1.length, 93), cA = randn(F, 94), cB = randn(F, 95), sc = randn(F, 96);
  const z1 = new Float32Array(M * F), z2 = new Float32Array(M * F);
  js.bnBackward(z, M, F, cA, cB, sc, dOut, dOut.length, w1, z1); k.bnBackward(z, M, F, cA, cB, sc, dOut, dOut.length, w1, z2);
  assert.ok(maxRel(z2, z1) < 1e-6, 'bn backward');
  const ws = [[new Float64Array(F), new Float64Array(F)], [new Float64Array(F).fill(3), new Float64Array(F).fill(3)]];
  const mu = randn(F, 97), inv = randn(F, 98, 0.1, 1);
  js.winnerSums(dOut, dOut.length, w1, z, F, mu, inv, ws[0][0], ws[0][1]); k.winnerSums(dOut, dOut.length, w1, z, F, mu, inv, ws[1][0], ws[1][1]);
  assert.ok(maxRel(ws[1][0], ws[0][0]) < 1e-6 && maxRel(ws[1][1], ws[0][1]) < 1e-5, 'winner sums');
  assert.throws(() => k.im2col3x3(x0(), 2, 5, 1, new Float32Array(10)), /too short/);
});

test('native element-wise kernels take their thread count from PROTOLENS_GEMM_THREADS, and refuse a bad one', (t) => {
  const path = process.env.PROTOLENS_CONV_ADDON || undefined;
  const before = loadNativeConvKernels(path);
  if ('reason' in before) { new Need('the native conv addon', `native conv kernels not available: ${before.reason}`).skipOrFail(t); return; }
  const saved = process.env.PROTOLENS_GEMM_THREADS;
  try {
    process.env.PROTOLENS_GEMM_THREADS = '3';
    const three = loadNativeConvKernels(path);
    assert.ok(!('reason' in three) && three.threads === 3 && three.kernels.name === 'native (3 threads)');
    process.env.PROTOLENS_GEMM_THREADS = 'two';
    assert.throws(() => loadNativeConvKernels(path), /PROTOLENS_GEMM_THREADS: expected a positive integer, got "two"/);
  } finally {
    process.env.PROTOLENS_GEMM_THREADS = String(before.threads);
    loadNativeConvKernels(path); // the addon keeps its count: put back what it had
    if (saved === undefined) delete process.env.PROTOLENS_GEMM_THREADS; else process.env.PROTOLENS_GEMM_THREADS = saved;
  }
});

function x0(): Float32Array { return new Float32Array(50); }
