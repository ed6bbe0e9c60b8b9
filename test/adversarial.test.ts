import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initTfNode } from '../src/features/backend.node.ts';
import { batchFeatures, type ImageBatch } from '../src/features/pixel-gradient.ts';
import type { Backbone } from '../src/features/backbone.ts';
import { rng } from '../src/linalg/random.ts';
import { PrototypeClassifier } from '../src/model/prototype.ts';
import { adversarialReading, crossesAt, crossingSummary, normOf, spearman, type AdversarialReading, type AttackNorm, type Crossing } from '../src/interpret/adversarial.ts';
import { backboneOf, patternModel, seedWeights, TARGETS, tinyBackbone } from './helpers/tiny-backbone.ts';

await initTfNode('wasm');

/** f(x) = A·x on a 4×4 grey image (replicated to three channels): a network linear in the pixels, 3 features. */
async function linearBackbone(): Promise<Backbone> {
  const m = tf.sequential();
  m.add(tf.layers.flatten({ inputShape: [4, 4, 3] }));
  m.add(tf.layers.dense({ units: 3, useBias: false }));
  seedWeights(m, 4, 1);
  return backboneOf(m, 4, 'linear');
}

/**
 * Two prototypes p₁ = f(x₀) − s·u₁, p₂ = f(x₀) + s·u₂ (‖u₂‖ > ‖u₁‖, so x₀ is p₁'s) and W = 5·I: the
 * class and the best prototype change together, on the hyperplane wᵀx = b with w = 2Bᵀ(p₂ − p₁),
 * b = ‖p₂‖² − ‖p₁‖² (B: the 3×16 map from grey pixels to features). The smallest perturbations
 * have norms g/‖w‖₂ (L2) and g/‖w‖₁ (L∞), g = b − wᵀx₀, as long as the [0, 1] box does not bind.
 */
function linearProblem(bb: Backbone): { model: PrototypeClassifier; x0: ImageBatch; exact: Record<AttackNorm, number> } {
  const r = rng(8);
  const x0: ImageBatch = { data: Float32Array.from({ length: 16 }, () => 0.45 + 0.1 * r.next()), n: 1, height: 4, width: 4, channels: 1 };
  const f0 = batchFeatures(bb, x0);
  const eye = new Float32Array(16 * 16);
  for (let p = 0; p < 16; p++) eye[p * 16 + p] = 1;
  const B = batchFeatures(bb, { data: eye, n: 16, height: 4, width: 4, channels: 1 }); // row p: f(e_p) = column p of B
  const u1 = [0.3, -0.2, 0.1], u2 = [0.6, 0.1, -0.5];
  const s = 0.5;
  const p1 = f0.map((v, d) => v - s * u1[d]), p2 = f0.map((v, d) => v + s * u2[d]);
  const w = Array.from({ length: 16 }, (_, p) => 2 * [0, 1, 2].reduce((a, d) => a + B[p * 3 + d] * (p2[d] - p1[d]), 0));
  const sq = (v: Float32Array) => v.reduce((a, t) => a + t * t, 0);
  const g = sq(p2) - sq(p1) - w.reduce((a, wp, p) => a + wp * x0.data[p], 0);
  assert.ok(g > 0, 'x₀ is on p₁\'s side');
  // A fitted model whose prototypes and W are then set by hand.
  const X = new Float32Array(6 * 3), y = ['a', 'a', 'a', 'b', 'b', 'b'];
  for (let i = 0; i < 6; i++) for (let d = 0; d < 3; d++) X[i * 3 + d] = (i < 3 ? p1[d] : p2[d]) + 0.01 * r.normal();
  const model = new PrototypeClassifier({ nPrototypes: 2, seed: 1 }).fit({ data: X, rows: 6, cols: 3 }, y);
  model.prototypes_!.data.set([...p1, ...p2]);
  model.W_!.data.set(model.classes_[0] === 'a' ? [5, 0, 0, 5] : [0, 5, 5, 0]);
  const exact = { l2: g / Math.hypot(...w), linf: g / w.reduce((a, v) => a + Math.abs(v), 0) };
  assert.ok(exact.linf < 0.4 && exact.l2 < 0.4, `the box must not bind: ${JSON.stringify(exact)}`);
  return { model, x0, exact };
}

test('on a network linear in the pixels the search brackets the exact smallest crossing, in L2 and L∞, for the class and the best prototype', async () => {
  const bb = await linearBackbone();
  const { model, x0, exact } = linearProblem(bb);
  const [r] = await adversarialReading(model, bb, x0, { tolerance: 0.02 });
  assert.equal(r.label, 'a');
  assert.equal(r.crossings.length, 4);
  for (const c of r.crossings) {
    const what = `${c.norm} ${c.target}`;
    assert.ok(c.found, what);
    assert.ok(c.lower <= exact[c.norm] * (1 + 1e-4) && exact[c.norm] <= c.budget * (1 + 1e-4), `${what}: [${c.lower}, ${c.budget}] against ${exact[c.norm]}`);
    assert.ok(c.budget - c.lower <= 0.02 * c.budget, `${what}: bracket [${c.lower}, ${c.budget}]`);
    assert.ok(Math.abs(normOf(c.perturbation!, c.norm) - c.budget) < 1e-6, `${what}: the budget is the perturbation's norm`);
    assert.equal(c.toClass, 'b');
    assert.equal(c.toPrototype, 1);
  }
  bb.dispose();
});

test('the search returns a perturbation that changes the class within its budget, and PGD finds none at the budget below it (tiny non-linear network)', async () => {
  // Weights large enough that the features spread (distances ≫ float32 rounding of the model's q).
  const bb = await tinyBackbone(9, 5, 1.5);
  const { model } = patternModel(bb);
  // Noisy copies of the three patterns, as 8-bit images (the model's margin is measured on those).
  const r = rng(4), n = 5;
  const data = new Float32Array(n * 16);
  for (let k = 0; k < data.length; k++) data[k] = Math.round(255 * Math.min(1, Math.max(0, TARGETS[Math.floor(k / 16) % 3][k % 16] + 0.2 * r.normal()))) / 255;
  const images: ImageBatch = { data, n, height: 4, width: 4, channels: 1 };
  const before = tf.memory().numTensors;
  const readings = await adversarialReading(model, bb, images, { tolerance: 0.05 });
  assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
  const original = model.predict({ data: batchFeatures(bb, images), rows: n, cols: 5 });
  assert.equal(new Set(original).size, 3, 'the samples have all three classes');
  for (const rd of readings) {
    const e = model.explain(batchFeatures(bb, { ...images, n: 1, data: data.subarray(rd.sample * 16, (rd.sample + 1) * 16) }));
    assert.equal(rd.label, original[rd.sample]);
    assert.ok(Math.abs(rd.margin - e.margin) < 1e-4 && rd.ambiguous === e.ambiguous, `sample ${rd.sample}: margin ${rd.margin} against ${e.margin}`);
    for (const c of rd.crossings) {
      const what = `sample ${rd.sample}, ${c.norm} ${c.target}`;
      assert.ok(c.found, what);
      const x = data.slice(rd.sample * 16, (rd.sample + 1) * 16).map((v, p) => v + c.perturbation![p]);
      assert.ok(x.every((v) => v >= 0 && v <= 1), `${what}: the perturbed image stays in [0, 1]`);
      assert.ok(normOf(c.perturbation!, c.norm) <= c.budget + 1e-6, `${what}: within its budget`);
      const after = model.explain(batchFeatures(bb, { ...images, n: 1, data: x }));
      if (c.target === 'class') assert.notEqual(after.label, rd.label, `${what}: the class changed`);
      else assert.notEqual(after.prototypes[0].index, rd.prototype, `${what}: the best prototype changed`);
      assert.equal(c.target === 'class' ? after.label : after.prototypes[0].index, c.target === 'class' ? c.toClass : c.toPrototype);
      assert.ok(c.budget - c.lower <= 0.05 * c.budget + 1e-9, `${what}: [${c.lower}, ${c.budget}]`);
      assert.ok(c.lower > 0, `${what}: the search found a budget that does not cross`);
      const [none] = crossesAt(model, bb, { ...images, n: 1, data: data.slice(rd.sample * 16, (rd.sample + 1) * 16) }, [c.lower], c.norm, c.target);
      assert.equal(none, null, `${what}: PGD from δ = 0 finds no crossing at the lower budget ${c.lower}`);
    }
    // A class change moves the best prototype too, so it cannot cost less.
    const by = (norm: AttackNorm, t: string) => rd.crossings.find((c) => c.norm === norm && c.target === t)!.budget;
    for (const norm of ['l2', 'linf'] as const) assert.ok(by(norm, 'prototype') <= by(norm, 'class') * 1.06, `sample ${rd.sample} ${norm}`);
  }
  bb.dispose();
});

test('Spearman\'s ρ on hand values (ties share their mean rank), with a permutation p-value', () => {
  const perfect = spearman([1, 2, 3, 4], [10, 20, 30, 45]);
  assert.equal(perfect.rho, 1);
  // Of the 24 orderings of 4 ranks, 2 reach |ρ| = 1.
  assert.ok(Math.abs(perfect.p - 2 / 24) < 0.02, `p ${perfect.p}`);
  assert.ok(Math.abs(spearman([1, 1, 2], [1, 2, 3]).rho - 1.5 / Math.sqrt(3)) < 1e-12);
  assert.ok(Math.abs(spearman([3, 2, 1], [1, 2, 3]).rho + 1) < 1e-12);
  assert.ok(Number.isNaN(spearman([1, 1, 1], [1, 2, 3]).rho));
  assert.throws(() => spearman([1], [1, 2]), /1 against 2 values/);
});

test('the data-set summary gives each class pair\'s median budget and the rank correlations of margin and ambiguity with the budget', () => {
  const crossing = (budget: number, toClass: string, found = true): Crossing => ({
    norm: 'l2', target: 'class', found, budget, lower: budget * 0.96, toPrototype: 0, toClass, perturbation: null, perturbed: null, crossesAt8Bit: null, evaluations: 1,
  });
  const reading = (label: string, margin: number, ambiguous: boolean, c: Crossing): AdversarialReading => ({ sample: 0, prototype: 0, label, margin, ambiguous, crossings: [c] });
  const rs = [
    reading('a', 0.9, false, crossing(3, 'b')), reading('a', 0.8, false, crossing(2, 'b')), reading('a', 0.1, true, crossing(0.5, 'c')),
    reading('b', 0.7, false, crossing(1, 'a')), reading('b', 0.05, true, crossing(0.2, 'a')), reading('c', 0.95, false, crossing(10, 'c', false)),
  ];
  const [s] = crossingSummary(rs, () => 'a');
  assert.deepEqual([s.norm, s.target, s.n, s.found], ['l2', 'class', 6, 5]);
  assert.equal(s.medianBudget, (1 + 2) / 2);
  const pair = (f: string, t: string) => s.pairs.find((p) => p.from === f && p.to === t);
  assert.deepEqual(pair('a', 'b'), { from: 'a', to: 'b', count: 2, median: 2.5 });
  assert.deepEqual(pair('b', 'a'), { from: 'b', to: 'a', count: 2, median: 0.6 });
  assert.equal(pair('c', 'c'), undefined, 'a reading without a crossing has no pair');
  assert.equal(s.margin.rho, 1, 'margins and budgets are in the same order');
  assert.equal(s.ambiguous.count, 2);
  assert.deepEqual([s.ambiguous.medianAmbiguous, s.ambiguous.medianOther], [0.35, 2.5]);
  assert.ok(s.ambiguous.rho < -0.7);
});
