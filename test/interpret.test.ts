import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeModel, pca, project, symmetricEigen } from '../src/interpret/index.ts';
import { PrototypeClassifier } from '../src/model/prototype.ts';
import { MODEL_FORMAT, MODEL_FORMAT_VERSION, type ModelJSON } from '../src/model/types.ts';
import { twistedClasses } from '../src/data/synthetic.ts';
import { rng } from '../src/linalg/random.ts';
import type { Matrix } from '../src/linalg/matrix.ts';

/** Gaussian blobs: each {centre, n, label}; spread 1 per coordinate. */
function blobs(D: number, spec: Array<{ centre: number[]; n: number; label: string | ((i: number) => string) }>, seed = 0) {
  const r = rng(seed);
  const rows: number[][] = [], y: string[] = [];
  for (const b of spec) {
    for (let i = 0; i < b.n; i++) {
      rows.push(Array.from({ length: D }, (_, d) => (b.centre[d] ?? 0) + r.normal()));
      y.push(typeof b.label === 'string' ? b.label : b.label(i));
    }
  }
  return { X: rows, y };
}

const at = (D: number, d: number, v: number): number[] => Array.from({ length: D }, (_, k) => (k === d ? v : 0));

test('pca: known variances and axes of a 3-point set; Jacobi matches hand-computed eigenvalues', () => {
  // Points (0,0), (2,0), (4,0): variance 4 along x, none along y.
  const r = pca({ data: Float32Array.from([0, 0, 2, 0, 4, 0]), rows: 3, cols: 2 }, 2);
  assert.ok(Math.abs(r.variances[0] - 4) < 1e-5);
  assert.ok(Math.abs(r.variances[1]) < 1e-6);
  assert.ok(Math.abs(r.explainedRatio[0] - 1) < 1e-6);
  assert.deepEqual(Array.from(r.components.data.subarray(0, 2), (v) => Math.round(v * 1e5) / 1e5 + 0), [1, 0]);
  const xy = project({ data: Float32Array.from([4, 0]), rows: 1, cols: 2 }, r);
  assert.ok(Math.abs(xy.data[0] - 2) < 1e-5);
  // [[4,1,0],[1,3,1],[0,1,2]]: eigenvalues 3 ± √3 and 3 (numpy.linalg.eigvalsh).
  const e = symmetricEigen(Float64Array.from([4, 1, 0, 1, 3, 1, 0, 1, 2]), 3);
  const want = [3 + Math.sqrt(3), 3, 3 - Math.sqrt(3)];
  e.values.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-10, `eigenvalue ${i}: ${v} vs ${want[i]}`));
});

test('pca: the Gram route (small n) and subspace iteration (large n) give the sample covariance\'s leading eigenpairs', () => {
  const r = rng(5);
  for (const n of [60, 900]) {
    const D = 50;
    const X = new Float32Array(n * D);
    for (let i = 0; i < n; i++) {
      const a = r.normal() * 6, b = r.normal() * 3;
      for (let d = 0; d < D; d++) X[i * D + d] = 0.1 * r.normal() + (d === 3 ? a : 0) + (d === 17 ? b : 0);
    }
    const res = pca({ data: X, rows: n, cols: D }, 2);
    // Reference: the D×D sample covariance (n − 1) in float64, diagonalised by Jacobi (checked by hand above);
    // measured agreement: eigenvalues to 6e-8 relative, so 1e-6 is float32 precision, not slack.
    const mean = new Float64Array(D), C = new Float64Array(D * D);
    for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) mean[d] += X[i * D + d] / n;
    for (let i = 0; i < n; i++) {
      for (let d = 0; d < D; d++) for (let e = 0; e < D; e++) C[d * D + e] += (X[i * D + d] - mean[d]) * (X[i * D + e] - mean[e]) / (n - 1);
    }
    const ref = symmetricEigen(C, D);
    for (let c = 0; c < 2; c++) {
      const want = ref.values[c];
      assert.ok(Math.abs(res.variances[c] / want - 1) < 1e-6, `n=${n}: λ${c + 1} = ${res.variances[c]}, expected ${want}`);
      let dot = 0;
      for (let d = 0; d < D; d++) dot += res.components.data[c * D + d] * ref.vectors[d * D + c];
      assert.ok(Math.abs(Math.abs(dot) - 1) < 1e-6, `n=${n}: component ${c + 1} · reference = ${dot}`);
    }
    // The planted axes are the leading ones (variances 36 and 9, up to sampling).
    assert.ok(Math.abs(res.components.data[3]) > 0.99 && Math.abs(res.components.data[D + 17]) > 0.99);
    // Orthonormal components.
    let dot = 0;
    for (let d = 0; d < D; d++) dot += res.components.data[d] * res.components.data[D + d];
    assert.ok(Math.abs(dot) < 1e-4);
  }
});

test('a class built from two remote blobs is reported as scattered; one-blob classes are not', () => {
  const D = 16;
  const { X, y } = blobs(D, [
    { centre: at(D, 0, 20), n: 30, label: 'A' },
    { centre: at(D, 0, -20), n: 30, label: 'A' },
    { centre: at(D, 1, 20), n: 30, label: 'B' },
    { centre: at(D, 2, 20), n: 30, label: 'C' },
  ], 1);
  const m = new PrototypeClassifier({ nPrototypes: 6, seed: 2 }).fit(X, y);
  const a = analyzeModel(m, X, y);
  const scattered = a.findings.filter((f) => f.kind === 'scattered-class');
  assert.deepEqual(scattered.map((f) => f.label), ['A']);
  assert.equal(scattered[0].evidence.modes, 2);
  assert.match(scattered[0].rule, /standard deviation/);
  const classA = a.classStats.find((c) => c.label === 'A')!;
  assert.equal(classA.modes.length, 2);
  // Each mode is one blob: the samples of its prototype all come from one side.
  for (const [j] of classA.modes) {
    const side = new Set(a.samples.assignment.flatMap((p, i) => (p === j ? [Math.sign((X[i] as number[])[0])] : [])));
    assert.equal(side.size, 1);
  }
  // B and C were each given two prototypes splitting one blob: one mode each.
  for (const l of ['B', 'C']) assert.equal(a.classStats.find((c) => c.label === l)!.modes.length, 1, `class ${l}`);
});

test('a prototype placed between two classes is reported as ambiguous (fitted model)', () => {
  const D = 8;
  // A on the left, B on the right, and a blob in the middle whose samples are half A, half B.
  const { X, y } = blobs(D, [
    { centre: at(D, 0, -15), n: 40, label: 'A' },
    { centre: at(D, 0, 15), n: 40, label: 'B' },
    { centre: at(D, 0, 0), n: 40, label: (i) => (i % 2 ? 'A' : 'B') },
  ], 3);
  const m = new PrototypeClassifier({ nPrototypes: 3, seed: 0 }).fit(X, y);
  const a = analyzeModel(m, X, y);
  const amb = new Set(a.findings.filter((f) => f.kind === 'ambiguous-prototype').flatMap((f) => f.prototypes!));
  const x0 = (j: number) => m.prototypes_!.data[j * D];
  const middle = [0, 1, 2].filter((j) => Math.abs(x0(j)) < 5);
  const sides = [0, 1, 2].filter((j) => Math.abs(x0(j)) > 10);
  assert.ok(middle.length >= 1, `a prototype sits in the middle: x0 = ${[0, 1, 2].map(x0)}`);
  for (const j of middle) assert.ok(amb.has(j), `middle prototype p${j} (x0 = ${x0(j)}) should be ambiguous`);
  for (const j of sides) assert.ok(!amb.has(j), `side prototype p${j} (x0 = ${x0(j)}) should not be ambiguous`);
});

test('ambiguous-prototype rule on hand-set weights: equal links flagged, a single link or a vote for nobody not', () => {
  const json: ModelJSON = {
    format: MODEL_FORMAT, version: MODEL_FORMAT_VERSION, kind: 'PrototypeClassifier', params: { seed: 0 },
    classes: ['A', 'B', 'C'], nFeatures: 2, nPrototypes: 4, tau: 1, tauRule: 'fixed',
    prototypes: [-5, 0, 5, 0, 0, 0, 0, 9],
    // p0 → A, p1 → B, p2 split A/B, p3 weak: a near-uniform vote.
    W: [3, -1, -1, -1, 3, -1, 1.5, 1.5, -3, 0.05, 0, 0],
  };
  const m = PrototypeClassifier.fromJSON(json);
  const X = [[-5, 0.1], [-4.8, 0], [5, 0.1], [5.1, 0], [0, 0.2], [0.1, -0.1], [0, 9], [0.2, 9.1]];
  const y = ['A', 'A', 'B', 'B', 'A', 'B', 'C', 'C'];
  const a = analyzeModel(m, X, y);
  const amb = a.findings.filter((f) => f.kind === 'ambiguous-prototype');
  assert.deepEqual(amb.map((f) => f.prototypes), [[2]]);
  assert.deepEqual(amb[0].evidence.classes, ['A', 'B']);
  // Leads (top − median of the others): 4, 4, 1.5 − (−0.75) = 2.25, 0.05 → G = 3.125.
  assert.ok(Math.abs((amb[0].evidence.typicalLead as number) - 3.125) < 1e-6);
  // softmax([1.5, 1.5, −3]): e^1.5 / (2e^1.5 + e^−3) = 0.49724 each.
  assert.ok(Math.abs((amb[0].evidence.vote as number[])[0] - 0.49724) < 1e-4);
});

test('singleton class, single-sample and dead prototypes, unbalanced classes on twisted classes', () => {
  const d = twistedClasses({ seed: 1, nClasses: 5, dim: 24 });
  const m = new PrototypeClassifier({ seed: 1, maxIter: 30 }).fit(d.X, d.y);
  const a = analyzeModel(m, d.X, d.y);
  const single = a.findings.filter((f) => f.kind === 'singleton-class');
  assert.deepEqual(single.map((f) => f.label), ['singleton']);
  // The singleton's prototype matches exactly its one sample.
  const sp = a.findings.filter((f) => f.kind === 'single-sample-prototype');
  const singletonIndex = d.y.indexOf('singleton');
  assert.ok(sp.some((f) => f.evidence.sample === singletonIndex));
  // Dead prototypes are exactly those with count 0.
  const dead = a.findings.filter((f) => f.kind === 'dead-prototype').map((f) => f.prototypes![0]);
  assert.deepEqual(dead, a.prototypes.filter((p) => p.count === 0).map((p) => p.index));
  // Counts add up; every sample is assigned once.
  assert.equal(a.prototypes.reduce((s, p) => s + p.count, 0), d.X.rows);
  // Unbalanced: recompute the rule by hand.
  const counts = a.classStats.map((c) => c.count).sort((x, y) => x - y);
  const med = counts.length % 2 ? counts[(counts.length - 1) / 2] : (counts[counts.length / 2 - 1] + counts[counts.length / 2]) / 2;
  const expect = a.classStats.filter((c) => c.count > 1 && (c.count < med / 3 || c.count > med * 3)).map((c) => c.label);
  assert.deepEqual(a.findings.filter((f) => f.kind === 'unbalanced-class').map((f) => f.label), expect);
  // Every rule is written down, and the analysis is plain JSON.
  assert.equal(Object.keys(a.rules).length, 6);
  assert.deepEqual(JSON.parse(JSON.stringify(a)).findings, JSON.parse(JSON.stringify(a.findings)));
});

test('per-prototype description: counts, distances and nearest samples are consistent', () => {
  const d = twistedClasses({ seed: 2, nClasses: 4, dim: 12 });
  const m = new PrototypeClassifier({ seed: 0, maxIter: 20 }).fit(d.X, d.y);
  const a = analyzeModel(m, d.X, d.y, { nearest: 3, leadingVariances: 2 });
  const X = d.X as Matrix;
  for (const p of a.prototypes) {
    assert.equal(p.nearest.length, 3);
    for (let k = 1; k < 3; k++) assert.ok(p.nearest[k].distance >= p.nearest[k - 1].distance);
    // The nearest distance is the true minimum over all samples.
    let best = Infinity;
    for (let i = 0; i < X.rows; i++) {
      let s = 0;
      for (let c = 0; c < X.cols; c++) { const t = X.data[i * X.cols + c] - m.prototypes_!.data[p.index * X.cols + c]; s += t * t; }
      best = Math.min(best, Math.sqrt(s));
    }
    assert.ok(Math.abs(p.nearest[0].distance - best) < 1e-3 * Math.max(1, best));
    if (p.count >= 2) {
      assert.ok(p.meanDistance! <= p.rmsDistance! + 1e-9);
      assert.ok(p.leadingVariances[0] >= p.leadingVariances[1]);
      assert.ok(p.leadingVariances[0] <= p.totalVariance! + 1e-6);
    }
  }
  // Misclassified = predicted ≠ true.
  const mis = a.samples.predicted.flatMap((l, i) => (l !== a.samples.labels[i] ? [i] : []));
  assert.deepEqual(a.samples.misclassified, mis);
  assert.equal(a.projection.prototypes.length, m.prototypes_!.rows);
});

test('bad input: wrong dimension, unknown label, length mismatch, unfitted or non-prototype model, unknown option', () => {
  const d = twistedClasses({ seed: 3, nClasses: 3, dim: 6 });
  const m = new PrototypeClassifier({ seed: 0, maxIter: 5 }).fit(d.X, d.y);
  const X5 = { data: new Float32Array(d.X.rows * 5), shape: [d.X.rows, 5] as [number, number] };
  assert.throws(() => analyzeModel(m, X5, d.y), { name: 'RangeError', message: 'X: expected 6 columns (the dimension the model was fitted on), got 5' });
  const y2 = d.y.slice(); y2[4] = 'Z';
  assert.throws(() => analyzeModel(m, d.X, y2), { name: 'RangeError', message: /label "Z" at position 4 was not seen in training/ });
  assert.throws(() => analyzeModel(m, d.X, d.y.slice(1)), { name: 'RangeError', message: /has \d+ rows but y has \d+ labels/ });
  assert.throws(() => analyzeModel(new PrototypeClassifier(), d.X, d.y), { name: 'TypeError', message: /not fitted/ });
  assert.throws(() => analyzeModel({ kind: 'NearestClassMean' } as never, d.X, d.y), { name: 'TypeError', message: /got a NearestClassMean/ });
  assert.throws(() => analyzeModel(m, d.X, d.y, { nearst: 3 } as never), { name: 'TypeError', message: /unknown option "nearst"/ });
  assert.throws(() => analyzeModel(m, d.X, d.y, { scatterSeparation: -1 }), { name: 'RangeError' });
});

test('groupSeparation: two halves of one cloud stay close even when n ≪ D; remote blobs are far apart', async () => {
  const { groupSeparation } = await import('../src/interpret/analyze.ts');
  const r = rng(11);
  const cloud = (n: number, D: number, shift = 0): Matrix => {
    const data = new Float32Array(n * D);
    for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) data[i * D + d] = r.normal() + (d === 0 && i >= n / 2 ? shift : 0);
    return { data, rows: n, cols: D };
  };
  const half = (n: number) => [Array.from({ length: n / 2 }, (_, i) => i), Array.from({ length: n / 2 }, (_, i) => n / 2 + i)];
  // 30 samples in 1000 dimensions, split in two at random: the naive gap (without leaving the sample out)
  // would be ≈ √(2D/15)/2 ≈ 5.8 spreads; leaving it out, about 0.
  const [a, b] = half(30);
  assert.ok(Math.abs(groupSeparation(cloud(30, 1000), a, b)) < 1, 'random split in high dimension');
  // A 1-D Gaussian cut at its median: half-normal halves, gap 2·0.798σ over spreads 2·0.603σ → 1.32.
  const n = 4000, X = cloud(n, 1);
  const order = Array.from({ length: n }, (_, i) => i).sort((i, k) => X.data[i] - X.data[k]);
  const s = groupSeparation(X, order.slice(0, n / 2), order.slice(n / 2));
  assert.ok(Math.abs(s - 1.32) < 0.05, `split Gaussian: ${s}`);
  // Two blobs 20σ apart along one axis, in 200 dimensions: ≈ 20 / 2 = 10.
  const [c, d] = half(60);
  const far = groupSeparation(cloud(60, 200, 20), c, d);
  assert.ok(far > 8 && far < 12, `remote blobs: ${far}`);
});
