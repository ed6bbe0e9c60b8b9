/**
 * The prototype-layer heads (src/embedding/heads.ts, layer-head.ts): every gradient against
 * central differences, hand-computed values, the support clusters, and a training step of each
 * head on both passes that leaves no tensor behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initTfNode } from '../src/features/backend.node.ts';
import { registerWasmTrainingKernels } from '../src/embedding/kernels.ts';
import { clusterMeans, episodeLayerLoss, layerLoss, supportClusters } from '../src/embedding/heads.ts';
import { globalLayerStep, newGlobalLayer } from '../src/embedding/layer-head.ts';
import { EmbeddingTrainer, HEADS } from '../src/embedding/train.ts';
import { NO_JITTER } from '../src/embedding/augment.ts';
import { rng } from '../src/linalg/random.ts';

await initTfNode('wasm');
registerWasmTrainingKernels();

function randn(n: number, seed: number, sd = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => sd * r.normal());
}

/** Central differences of f at x (float64 copies), entry by entry, against `grad`. */
function checkGradient(name: string, x: Float32Array, grad: ArrayLike<number>, f: (x: Float32Array) => number, h = 1e-2, tol = 3e-3): void {
  for (let i = 0; i < x.length; i++) {
    const p = x.slice(), m = x.slice();
    p[i] += h; m[i] -= h;
    const fd = (f(p) - f(m)) / (p[i] - m[i]);
    assert.ok(Math.abs(fd - grad[i]) < tol * Math.max(1, Math.abs(fd)), `${name}[${i}]: ${grad[i]} vs finite difference ${fd}`);
  }
}

test('layerLoss: the hand-computed case and its example', () => {
  // e = 0, prototypes at 0 (class 0) and 2 (class 1), W = 5·I, τ = 1:
  // q = softmax(0, −2), z = 5q, loss = log(1 + exp(z1 − z0)).
  const r = layerLoss(Float32Array.of(0), 1, Int32Array.of(0), Int32Array.of(0), Float32Array.of(0, 2), Float32Array.of(5, 0, 0, 5), 2, 0, 0);
  const q0 = 1 / (1 + Math.exp(-2)), z0 = 5 * q0, z1 = 5 * (1 - q0);
  assert.ok(Math.abs(r.loss - Math.log(1 + Math.exp(z1 - z0))) < 1e-9, String(r.loss));
  assert.ok(Math.abs(r.loss - 0.0219) < 1e-4);
  assert.equal(r.correct, 1);
  // α‖W‖₁ adds α·10 to the loss and α·sign(W) to its gradient.
  const r2 = layerLoss(Float32Array.of(0), 1, Int32Array.of(0), Int32Array.of(0), Float32Array.of(0, 2), Float32Array.of(5, 0, 0, 5), 2, 0, 0.01);
  assert.ok(Math.abs(r2.loss - r.loss - 0.1) < 1e-9);
  assert.ok(Math.abs(r2.dW[0] - r.dW[0] - 0.01) < 1e-7 && Math.abs(r2.dW[1] - r.dW[1]) < 1e-7);
  assert.throws(() => layerLoss(Float32Array.of(0), 1, Int32Array.of(0), Int32Array.of(0), Float32Array.of(0, 2), Float32Array.of(5, 0, 0), 2, 0, 0), /expected J×1 and J×2/);
});

test('layerLoss: gradients with respect to e, P, W and log τ agree with central differences', () => {
  const dim = 3, n = 7, J = 5, N = 3;
  const e = randn(n * dim, 1), P = randn(J * dim, 2), W = randn(J * N, 3, 2);
  const samples = Int32Array.of(0, 2, 3, 5, 6), labels = Int32Array.of(0, 1, 2, 1, 0);
  const logTau = Math.log(0.8), alpha = 0.01;
  const r = layerLoss(e, dim, samples, labels, P, W, N, logTau, alpha);
  // Row 1 and row 4 are not samples: zero gradient.
  for (const row of [1, 4]) for (let k = 0; k < dim; k++) assert.equal(r.dE[row * dim + k], 0);
  checkGradient('dE', e, r.dE, (x) => layerLoss(x, dim, samples, labels, P, W, N, logTau, alpha).loss);
  checkGradient('dP', P, r.dP, (x) => layerLoss(e, dim, samples, labels, x, W, N, logTau, alpha).loss);
  checkGradient('dW', W, r.dW, (x) => layerLoss(e, dim, samples, labels, P, x, N, logTau, alpha).loss);
  const h = 1e-4;
  const fd = (layerLoss(e, dim, samples, labels, P, W, N, logTau + h, alpha).loss - layerLoss(e, dim, samples, labels, P, W, N, logTau - h, alpha).loss) / (2 * h);
  assert.ok(Math.abs(fd - r.dLogTau) < 1e-4 * Math.max(1, Math.abs(fd)), `dLogTau ${r.dLogTau} vs ${fd}`);
});

test('supportClusters: k-means of each class\'s support set, never an empty cluster', () => {
  // Its example: {0, 0.1} and {5, 5.2}.
  assert.deepEqual(Array.from(supportClusters(Float32Array.of(0, 5, 0.1, 5.2), 1, 1, 4, 2).assign), [1, 0, 1, 0]);
  // Two classes of 5 shots in 2-D: class 0 has groups near (0,0) and (10,0); class 1 near (0,10) and (0,20).
  const pts = [[0, 0], [10, 0], [0.5, 0], [10.5, 0], [0, 0.5], [0, 10], [0, 20], [0, 10.5], [0, 20.5], [0, 21]];
  const e = Float32Array.from(pts.flat());
  const cl = supportClusters(e, 2, 2, 5, 2);
  assert.equal(cl.perClass, 2);
  const a = Array.from(cl.assign);
  assert.ok(a[0] === a[2] && a[2] === a[4] && a[1] === a[3] && a[0] !== a[1] && a.slice(0, 5).every((j) => j < 2), `class 0: ${a}`);
  assert.ok(a[5] === a[7] && a[6] === a[8] && a[8] === a[9] && a[5] !== a[6] && a.slice(5).every((j) => j >= 2), `class 1: ${a}`);
  assert.deepEqual(Array.from(cl.counts).sort(), [2, 2, 3, 3]);
  const means = clusterMeans(e, 2, cl);
  assert.ok(Math.abs(means[cl.assign[1] * 2] - 10.25) < 1e-6);
  // Fewer shots than prototypes per class: one prototype per shot. Identical points: no empty cluster.
  assert.equal(supportClusters(e, 2, 10, 1, 2).perClass, 1);
  const same = supportClusters(new Float32Array(8), 2, 1, 4, 2);
  assert.deepEqual(Array.from(same.counts), [2, 2]);
});

test('episodeLayerLoss: gradient with respect to the embeddings (through the support centres), w and log τ', () => {
  const dim = 3, nWay = 3, kShot = 4, nQuery = 2, perClass = 2;
  const e = randn(nWay * (kShot + nQuery) * dim, 7);
  const w = 4, logTau = Math.log(1.5), alpha = 1e-3;
  const r = episodeLayerLoss(e, dim, nWay, kShot, nQuery, perClass, w, logTau, alpha);
  // Small steps keep the k-means assignment fixed (it is piecewise constant).
  checkGradient('dE', e, r.dE, (x) => episodeLayerLoss(x, dim, nWay, kShot, nQuery, perClass, w, logTau, alpha).loss, 1e-3, 5e-3);
  const h = 1e-4;
  const f = (ww: number, t: number) => episodeLayerLoss(e, dim, nWay, kShot, nQuery, perClass, ww, t, alpha).loss;
  const dw = (f(w + h, logTau) - f(w - h, logTau)) / (2 * h), dt = (f(w, logTau + h) - f(w, logTau - h)) / (2 * h);
  assert.ok(Math.abs(dw - r.dw) < 1e-4 * Math.max(1, Math.abs(dw)), `dw ${r.dw} vs ${dw}`);
  assert.ok(Math.abs(dt - r.dLogTau) < 1e-4 * Math.max(1, Math.abs(dt)), `dLogTau ${r.dLogTau} vs ${dt}`);
  // The example: 2-way 1-shot, both queries nearer their own support.
  assert.equal(episodeLayerLoss(Float32Array.of(0, 2, 0.5, 1.5), 1, 2, 1, 1, 1, 5, 0, 0).correct, 2);
});

test('global layer with a bank refresh: ∂loss/∂e includes the path through the refreshed prototypes', () => {
  const D = 3, C = 5, nWay = 2, kShot = 3, nQuery = 2, n = nWay * (kShot + nQuery);
  const ep = { classes: Int32Array.of(3, 1), nWay, kShot, nQuery };
  const o = { prototypesPerClass: 2, alpha: 1e-3, initW: 5, bankRate: 0.5, layerLrScale: 1, seed: 0 };
  const e = randn(n * D, 11);
  const fresh = () => {
    const L = newGlobalLayer(2, C, D);
    const init = randn(n * D, 12);
    globalLayerStep(L, init, D, ep, o, C, () => init, 0, 1); // initialises the rows and τ; not applied
    return L;
  };
  const L0 = fresh();
  const r = globalLayerStep(L0, e, D, ep, o, C, () => e, 1e-3, 1);
  checkGradient('dE', e, r.dE, (x) => globalLayerStep(fresh(), x, D, ep, o, C, () => x, 1e-3, 1).loss, 1e-3, 5e-3);
  // apply() moves only the episode's rows and columns.
  const P0 = L0.P.slice(), W0 = L0.W.slice();
  r.apply();
  for (let c = 0; c < C; c++) {
    const moved = L0.P.subarray(c * 2 * D, (c + 1) * 2 * D).some((v, k) => v !== P0[c * 2 * D + k]);
    assert.equal(moved, c === 3 || c === 1, `class ${c} rows`);
  }
  for (let j = 0; j < 2 * C; j++) for (let l = 0; l < C; l++) {
    if (l !== 3 && l !== 1) assert.equal(L0.W[j * C + l], W0[j * C + l], `W[${j}][${l}]`);
  }
});

test('a training step leaks no tensors (every head, both passes)', () => {
  const S = 13, perClass = 5, nTrain = 6, nVal = 3;
  const total = (nTrain + nVal) * perClass;
  const pixels = randn(total * S * S, 60, 0.3);
  const idx = (c: number) => Int32Array.from({ length: perClass }, (_, i) => c * perClass + i);
  const data = {
    pixels, size: S,
    train: { names: Array.from({ length: nTrain }, (_, c) => `t${c}`), members: Array.from({ length: nTrain }, (_, c) => idx(c)) },
    val: { names: Array.from({ length: nVal }, (_, c) => `v${c}`), members: Array.from({ length: nVal }, (_, c) => idx(nTrain + c)) },
  };
  for (const head of HEADS) {
    for (const passes of ['gemm', 'tfjs'] as const) {
      const tr = new EmbeddingTrainer(data, {
        head, passes, rotations: false, jitter: NO_JITTER, seed: 2, episode: { nWay: 3, kShot: 3, nQuery: 2 },
        valEpisode: { nWay: 2, kShot: 1, nQuery: 1 }, valEpisodes: 2, bankRate: head === 'prototype-layer' ? 0.5 : 0,
        net: { inputSize: S, blocks: 3, filters: 4, bnEpsilon: 1e-3, bnMomentum: 0.9 },
      });
      tr.step(); // the first step allocates the Adam moments' successors and initialises the layer
      const before = tf.memory().numTensors;
      const r = tr.step();
      tr.evaluate();
      assert.equal(tf.memory().numTensors, before, `${head}, ${passes}: ${tf.memory().numTensors - before} tensors left`);
      assert.ok(Number.isFinite(r.loss), `${head}, ${passes}: loss ${r.loss}`);
      tr.dispose();
    }
  }
});

test('group episodes: a fraction of training episodes takes its classes from one alphabet (rotations included)', () => {
  const S = 8, per = 3;
  const names = ['A/c1', 'A/c2', 'A/c3', 'B/c1', 'B/c2', 'C/c1'];
  const members = names.map((_, c) => Int32Array.from({ length: per }, (_, i) => c * per + i));
  const data = { pixels: new Float32Array(names.length * per * S * S), size: S, train: { names, members }, val: { names: ['V/a', 'V/b'], members: [Int32Array.of(0, 1), Int32Array.of(2, 3)] } };
  const base = { rotations: true, jitter: NO_JITTER, episode: { nWay: 5, kShot: 1, nQuery: 1 }, valEpisode: { nWay: 2, kShot: 1, nQuery: 1 }, valEpisodes: 1, net: { inputSize: S, blocks: 2, filters: 2, bnEpsilon: 1e-3, bnMomentum: 0.9 } };
  const group = (tr: EmbeddingTrainer, c: number) => ['A', 'A', 'A', 'B', 'B', 'C'][Math.floor(c / 4)];
  const all = new EmbeddingTrainer(data, { ...base, groupEpisodes: 1 });
  const half = new EmbeddingTrainer(data, { ...base, groupEpisodes: 0.5 });
  let mixed = 0;
  for (let e = 0; e < 60; e++) {
    const ep = all.sampleTrainingEpisode(rng(e));
    // 12 classes of A (3 characters × 4 rotations) and 8 of B reach 5; C's 4 do not.
    assert.equal(new Set(Array.from(ep.classes, (c) => group(all, c))).size, 1, `episode ${e}`);
    assert.notEqual(group(all, ep.classes[0]), 'C');
    if (new Set(Array.from(half.sampleTrainingEpisode(rng(e)).classes, (c) => group(half, c))).size > 1) mixed++;
  }
  assert.ok(mixed > 10 && mixed < 50, `${mixed} of 60 mixed episodes at 0.5`);
  assert.throws(() => new EmbeddingTrainer(data, { ...base, rotations: false, groupEpisodes: 1, episode: { nWay: 4, kShot: 1, nQuery: 1 } }), /no training group has 4 classes; the largest, "A", has 3/);
  all.dispose(); half.dispose();
});

test('the same seed trains the same: equal losses, step by step, for every head', () => {
  const S = 13, perClass = 5, n = 9;
  const pixels = randn(n * perClass * S * S, 61, 0.3);
  const idx = (c: number) => Int32Array.from({ length: perClass }, (_, i) => c * perClass + i);
  const data = {
    pixels, size: S,
    train: { names: Array.from({ length: 6 }, (_, c) => `A/t${c}`), members: Array.from({ length: 6 }, (_, c) => idx(c)) },
    val: { names: ['V/a', 'V/b', 'V/c'], members: [idx(6), idx(7), idx(8)] },
  };
  for (const head of HEADS) {
    const opts = { head, seed: 8, episode: { nWay: 3, kShot: 3, nQuery: 2 }, valEpisode: { nWay: 2, kShot: 1, nQuery: 1 }, valEpisodes: 2, net: { inputSize: S, blocks: 3, filters: 4, bnEpsilon: 1e-3, bnMomentum: 0.9 } };
    const a = new EmbeddingTrainer(data, opts), b = new EmbeddingTrainer(data, opts);
    for (let i = 0; i < 3; i++) assert.equal(a.step().loss, b.step().loss, `${head} step ${i}`);
    assert.equal(a.evaluate().point.valAccuracy, b.evaluate().point.valAccuracy);
    a.dispose(); b.dispose();
  }
});

test('no validation classes: no early stopping, every evaluation keeps the latest network', () => {
  const S = 8, per = 3, C = 6;
  const members = Array.from({ length: C }, (_, c) => Int32Array.from({ length: per }, (_, i) => c * per + i));
  const data = { pixels: randn(C * per * S * S, 5, 0.3), size: S, train: { names: members.map((_, c) => `A/c${c}`), members }, val: { names: [], members: [] } };
  const tr = new EmbeddingTrainer(data, { rotations: false, jitter: NO_JITTER, patience: 1, episode: { nWay: 3, kShot: 1, nQuery: 1 }, net: { inputSize: S, blocks: 2, filters: 2, bnEpsilon: 1e-3, bnMomentum: 0.9 } });
  assert.equal(tr.hasValidation, false);
  for (let e = 1; e <= 3; e++) {
    tr.step();
    const { point, improved } = tr.evaluate();
    assert.ok(Number.isNaN(point.valAccuracy) && improved);
    assert.equal(tr.best!.episode, e);
    assert.equal(tr.shouldStop(), null, 'patience 1 never stops a run without validation');
  }
  tr.dispose();
});
