import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { PrototypeClassifier } from '../src/model/prototype.ts';
import { NearestClassMean } from '../src/model/baselines.ts';
import { loadModel } from '../src/model/io.ts';
import { makeProblem, makeWorkspace, objectiveAndGradients } from '../src/model/objective.ts';
import { allocatePrototypes } from '../src/model/init.ts';
import { twistedClasses, stratifiedSplit } from '../src/data/synthetic.ts';
import { takeRows, type Matrix } from '../src/linalg/matrix.ts';
import { rng } from '../src/linalg/random.ts';
import { accuracy } from '../src/model/labels.ts';

/** Independent float64 implementation of C(P, W), straight from the formulas. */
function referenceLoss(X: number[][], y: number[], P: number[][], W: number[][], tau: number, alpha: number, reg: 'l1' | 'l2'): number {
  const L = W[0].length;
  let nll = 0;
  for (let i = 0; i < X.length; i++) {
    const a = P.map((p) => -p.reduce((s, pv, d) => s + (X[i][d] - pv) ** 2, 0) / (2 * tau));
    const m = Math.max(...a);
    const e = a.map((v) => Math.exp(v - m));
    const se = e.reduce((s, v) => s + v, 0);
    const q = e.map((v) => v / se);
    const z = Array.from({ length: L }, (_, l) => q.reduce((s, qj, j) => s + qj * W[j][l], 0));
    const mz = Math.max(...z);
    const lse = mz + Math.log(z.reduce((s, v) => s + Math.exp(v - mz), 0));
    nll += lse - z[y[i]];
  }
  const pen = W.flat().reduce((s, w) => s + (reg === 'l1' ? Math.abs(w) : w * w), 0);
  return nll / X.length + alpha * pen;
}

function smallProblem(seed: number) {
  const r = rng(seed);
  const N = 14, D = 5, J = 4, L = 3;
  const X = Array.from({ length: N }, () => Array.from({ length: D }, () => r.normal()));
  const y = Array.from({ length: N }, (_, i) => i % L);
  const P = Array.from({ length: J }, () => Array.from({ length: D }, () => r.normal() * 0.8));
  // W away from 0 so that the L1 penalty is differentiable at the test point.
  const W = Array.from({ length: J }, () => Array.from({ length: L }, () => (r.next() < 0.5 ? -1 : 1) * (0.3 + r.next())));
  return { X, y, P, W, N, D, J, L };
}

const toF32 = (a: number[][]): Matrix => ({ data: Float32Array.from(a.flat()), rows: a.length, cols: a[0].length });

describe('objective and gradients', () => {
  test('q and c agree with hand-computed values on a 1-D example', () => {
    // x = 0, prototypes at 0 and 2, τ = 1: q = softmax(0, −2) = (0.8808, 0.1192).
    // W = [[1, 0], [0, 1]] → z = q, c = softmax(q) = 1 / (1 + e^−0.7616) = (0.6817, 0.3183).
    const m = PrototypeClassifier.fromJSON({
      format: 'protolens-model', version: 1, kind: 'PrototypeClassifier', params: { tau: 1 },
      classes: ['a', 'b'], nFeatures: 1, nPrototypes: 2, tau: 1, prototypes: [0, 2], W: [1, 0, 0, 1],
    });
    const q = m.prototypeActivations([[0]]).data;
    assert.ok(Math.abs(q[0] - 0.880797) < 1e-5 && Math.abs(q[1] - 0.119203) < 1e-5, `q = ${q}`);
    const c = m.predictProba([[0]]).data;
    assert.ok(Math.abs(c[0] - 0.681700) < 1e-5, `c = ${c}`);
  });

  for (const reg of ['l2', 'l1'] as const) {
    test(`∂C/∂P and ∂C/∂W match float64 central differences (${reg})`, () => {
      for (const seed of [1, 2, 3]) {
        const { X, y, P, W, J, L, D } = smallProblem(seed);
        const tau = 1.3, alpha = 0.05;
        const pb = makeProblem(toF32(X), Int32Array.from(y), L, tau, alpha, reg);
        const ws = makeWorkspace(X.length, J, L);
        const gP = new Float32Array(J * D), gW = new Float32Array(J * L);
        const v = objectiveAndGradients(pb, toF32(P), Float32Array.from(W.flat()), ws, gP, gW);
        const ref = referenceLoss(X, y, P, W, tau, alpha, reg);
        assert.ok(Math.abs(v.loss - ref) < 1e-5 * Math.abs(ref), `loss ${v.loss} vs reference ${ref}`);
        const h = 1e-5;
        const check = (name: string, analytic: number, bump: (eps: number) => number) => {
          const fd = (bump(h) - bump(-h)) / (2 * h);
          const err = Math.abs(analytic - fd) / Math.max(Math.abs(fd), 1e-2);
          // Analytic gradients are computed in float32: relative error bound 1e-3 (absolute 1e-5 near 0).
          assert.ok(err < 1e-3, `${name}: analytic ${analytic} vs finite difference ${fd} (rel err ${err})`);
        };
        for (let j = 0; j < J; j++) for (let d = 0; d < D; d++) {
          check(`dC/dP[${j}][${d}] seed ${seed}`, gP[j * D + d], (eps) => {
            const P2 = P.map((row) => row.slice()); P2[j][d] += eps;
            return referenceLoss(X, y, P2, W, tau, alpha, reg);
          });
        }
        for (let j = 0; j < J; j++) for (let l = 0; l < L; l++) {
          check(`dC/dW[${j}][${l}] seed ${seed}`, gW[j * L + l], (eps) => {
            const W2 = W.map((row) => row.slice()); W2[j][l] += eps;
            return referenceLoss(X, y, P, W2, tau, alpha, reg);
          });
        }
      }
    });
  }
});

describe('training', () => {
  for (const reg of ['l2', 'l1'] as const) {
    test(`the loss never increases (${reg}, several seeds, τ auto and τ = 1)`, () => {
      for (const seed of [0, 1, 2]) {
        for (const tau of ['auto', 1] as const) {
          const d = twistedClasses({ seed, nClasses: 5, dim: 16 });
          const m = new PrototypeClassifier({ regularization: reg, nPrototypes: 12, tau, seed, alpha: 1e-3, maxIter: 30 }).fit(d.X, d.y);
          const h = m.history_;
          assert.ok(h.length >= 3, 'at least one class and one prototype step');
          for (let k = 1; k < h.length; k++) {
            assert.ok(h[k].loss <= h[k - 1].loss + 1e-9 * Math.abs(h[k - 1].loss),
              `seed ${seed} τ ${tau}: loss went up at record ${k} (${h[k].step}): ${h[k - 1].loss} → ${h[k].loss}`);
          }
          assert.ok(h[h.length - 1].loss < h[0].loss, 'training lowered the loss');
        }
      }
    });
  }

  test('several prototypes per class beat the class mean on twisted classes (seed 1)', () => {
    const d = twistedClasses({ seed: 1 });
    const { train, test: te } = stratifiedSplit(d.y, 0.3, 1);
    const Xtr = takeRows(d.X, train), Xte = takeRows(d.X, te);
    const ytr = train.map((i) => d.y[i]), yte = te.map((i) => d.y[i]);
    const ours = new PrototypeClassifier({ nPrototypes: 30, seed: 1 }).fit(Xtr, ytr).score(Xte, yte);
    const ncm = new NearestClassMean().fit(Xtr, ytr).score(Xte, yte);
    // Measured: ours 1.000, NCM 0.462.
    assert.ok(ours >= 0.95, `prototype model accuracy ${ours}`);
    assert.ok(ncm <= 0.6, `nearest class mean accuracy ${ncm}`);
  });

  test('with J = K on well-separated single-blob classes it agrees with the class mean', () => {
    const d = twistedClasses({ seed: 4, nClasses: 6, blobsPerClass: [1, 1], singleton: false, separation: 2 });
    const { train, test: te } = stratifiedSplit(d.y, 0.5, 4);
    const Xtr = takeRows(d.X, train), Xte = takeRows(d.X, te);
    const ytr = train.map((i) => d.y[i]), yte = te.map((i) => d.y[i]);
    const ours = new PrototypeClassifier({ nPrototypes: 6, seed: 4 }).fit(Xtr, ytr);
    const ncm = new NearestClassMean().fit(Xtr, ytr);
    assert.equal(ours.score(Xte, yte), ncm.score(Xte, yte));
    assert.deepEqual(ours.predict(Xte), ncm.predict(Xte));
    assert.deepEqual(ours.prototypeClasses().slice().sort(), [...new Set(ytr)].sort(), 'one prototype per class');
  });

  test('L1 gives exact zeros in W, more as α grows', () => {
    // Overlapping classes (separation 0.5), so that many links are worth keeping at small α.
    // Measured: 36, 71 and 101 zeros of 105 at α = 1e-4, 1e-3, 3e-2.
    const d = twistedClasses({ seed: 2, nClasses: 6, dim: 16, separation: 0.5 });
    const zeros = [1e-4, 1e-3, 3e-2].map((alpha) => {
      const m = new PrototypeClassifier({ regularization: 'l1', alpha, nPrototypes: 15, seed: 2 }).fit(d.X, d.y);
      return m.W_!.data.filter((w) => w === 0).length;
    });
    assert.ok(zeros[0] > 0, `no exact zeros at α = 1e-4 (${zeros})`);
    assert.ok(zeros[0] < zeros[1] && zeros[1] < zeros[2], `zeros should grow with α: ${zeros}`);
    const l2 = new PrototypeClassifier({ regularization: 'l2', alpha: 3e-2, nPrototypes: 15, seed: 2 }).fit(d.X, d.y);
    assert.equal(l2.W_!.data.filter((w) => w === 0).length, 0, 'L2 leaves no exact zeros');
  });

  test('adaptive J grows prototypes where classes are captured by others, and the loss never increases between growths', () => {
    const d = twistedClasses({ seed: 1 });
    const { train, test: te } = stratifiedSplit(d.y, 0.3, 1);
    const Xtr = takeRows(d.X, train), Xte = takeRows(d.X, te);
    const ytr = train.map((i) => d.y[i]), yte = te.map((i) => d.y[i]);
    const fixed = new PrototypeClassifier({ nPrototypes: 9, seed: 1 }).fit(Xtr, ytr);
    const m = new PrototypeClassifier({ adaptive: true, seed: 1 }).fit(Xtr, ytr);
    const J = m.prototypes_!.rows;
    // Measured: starts at J = K = 9, grows to 11 (classes C and H, made of 3 blobs, get a second
    // prototype); test accuracy 0.956 against 0.813 with J fixed at 9.
    assert.ok(J > 9 && J <= 36, `J = ${J}`);
    const count = (c: string) => m.prototypeClasses().filter((l) => l === c).length;
    const multiBlob = ['C', 'F', 'H'].map(count), singleBlob = ['A', 'B', 'D', 'E', 'G'].map(count);
    // Robust to the GEMM backend's rounding (wasm: 2,2,2 vs 1,1,1,1,1; JS kernel: 2,2,4 vs 2,1,1,1,1).
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    assert.ok(mean(multiBlob) >= 1.5 * mean(singleBlob), `multi-blob ${multiBlob}, single-blob ${singleBlob}`);
    assert.ok(m.score(Xte, yte) > fixed.score(Xte, yte) + 0.05, `adaptive ${m.score(Xte, yte)} vs fixed J=K ${fixed.score(Xte, yte)}`);
    const h = m.history_;
    assert.ok(h.some((r) => r.step === 'grow'));
    for (let k = 1; k < h.length; k++) {
      if (h[k].step !== 'grow') assert.ok(h[k].loss <= h[k - 1].loss + 1e-9, `loss went up at record ${k}`);
    }
    const strict = new PrototypeClassifier({ adaptive: true, growthMinSamples: 1000, seed: 1 }).fit(Xtr, ytr);
    assert.equal(strict.prototypes_!.rows, 9, 'no class has 1000 captured samples: J stays at K');
  });

  test('fitting twice with the same seed gives the same model; predict leaves it unchanged', () => {
    const d = twistedClasses({ seed: 3, nClasses: 4, dim: 8 });
    const a = new PrototypeClassifier({ nPrototypes: 8, seed: 7 }).fit(d.X, d.y);
    const b = new PrototypeClassifier({ nPrototypes: 8, seed: 7 }).fit(d.X, d.y);
    assert.deepEqual(Array.from(a.prototypes_!.data), Array.from(b.prototypes_!.data));
    const before = JSON.stringify(a.toJSON());
    a.predict(d.X); a.explain(Array.from(d.X.data.subarray(0, 8)));
    assert.equal(JSON.stringify(a.toJSON()), before);
  });
});

describe('save and load', () => {
  test('save → load gives identical predictions and probabilities', () => {
    const d = twistedClasses({ seed: 5, nClasses: 5, dim: 12 });
    const m = new PrototypeClassifier({ nPrototypes: 10, seed: 5, regularization: 'l1', alpha: 1e-3 }).fit(d.X, d.y);
    const text = JSON.stringify(m.toJSON());
    const back = loadModel(text) as PrototypeClassifier;
    assert.equal(back.kind, 'PrototypeClassifier');
    assert.deepEqual(back.predict(d.X), m.predict(d.X));
    assert.deepEqual(Array.from(back.predictProba(d.X).data), Array.from(m.predictProba(d.X).data));
    assert.equal(back.tau_, m.tau_);
    assert.equal(back.getParams().seed, 5);
  });

  test('a wrong version, format, kind or shape fails with a clear message', () => {
    const d = twistedClasses({ seed: 5, nClasses: 3, dim: 4 });
    const json = new PrototypeClassifier({ nPrototypes: 4 }).fit(d.X, d.y).toJSON();
    assert.throws(() => loadModel({ ...json, version: 99 }), /format version 99 is not supported; this protolens reads version 1/);
    assert.throws(() => loadModel({ ...json, format: 'other' as 'protolens-model' }), /not a protolens model/);
    assert.throws(() => loadModel({ ...json, kind: 'Nope' }), /unknown kind "Nope". Should be one of: PrototypeClassifier/);
    assert.throws(() => loadModel({ ...json, prototypes: (json.prototypes as number[]).slice(1) }), /field "prototypes" has 15 values, expected 16/);
    assert.throws(() => loadModel('{not json'), /not valid JSON/);
  });
});

describe('bad input', () => {
  const good = [[0, 0], [0, 1], [5, 5], [5, 6]];
  const y = ['a', 'a', 'b', 'b'];
  const fit = (X: unknown, labels: unknown, opts = {}) => new PrototypeClassifier({ nPrototypes: 2, ...opts }).fit(X as number[][], labels as string[]);
  test('NaN and Infinity name the row and column', () => {
    assert.throws(() => fit([[0, 0], [0, NaN], [5, 5], [5, 6]], y), /X: row 1, column 1 is NaN; values must be finite/);
    assert.throws(() => fit([[0, 0], [0, 1], [Infinity, 5], [5, 6]], y), /X: row 2, column 0 is Infinity/);
    // predict checks through the row norms it computes anyway: same message, first bad value.
    const m = fit(good, y);
    assert.throws(() => m.predict([[0, 0], [1, NaN], [-Infinity, 2]]), /X: row 1, column 1 is NaN; values must be finite/);
    assert.throws(() => m.predictProba({ data: new Float32Array([0, 0, 0, 0, 3, -Infinity]), shape: [3, 2] }), /X: row 2, column 1 is -Infinity/);
  });
  test('ragged rows', () => {
    assert.throws(() => fit([[0, 0], [0, 1, 2], [5, 5], [5, 6]], y), /ragged rows: row 1 has 3 values, row 0 has 2/);
  });
  test('length mismatch of X and y', () => {
    assert.throws(() => fit(good, ['a', 'a', 'b']), /X has 4 rows but y has 3 labels/);
  });
  test('fewer than 2 classes', () => {
    assert.throws(() => fit(good, ['a', 'a', 'a', 'a']), /number of classes has to be greater than one; got 1 class/);
  });
  test('J smaller than the number of classes', () => {
    assert.throws(() => fit(good, y, { nPrototypes: 1 }), /nPrototypes \(J = 1\) must be an integer at least the number of classes \(2\)/);
  });
  test('unknown labels when scoring', () => {
    const m = fit(good, y);
    assert.throws(() => m.score(good, ['a', 'a', 'b', 'zebra']), /label "zebra" at position 3 was not seen in training/);
  });
  test('a dimension differing from training', () => {
    const m = fit(good, y);
    assert.throws(() => m.predict([[1, 2, 3]]), /X: expected 2 columns \(the dimension the model was fitted on\), got 3/);
    assert.throws(() => m.explain([1]), /x: expected 2 columns/);
  });
  test('unknown options and invalid values', () => {
    assert.throws(() => new PrototypeClassifier({ nPrototype: 3 } as never), /unknown option "nPrototype"/);
    assert.throws(() => new PrototypeClassifier({ regularization: 'l3' as 'l1' }), { name: 'RangeError', message: 'PrototypeClassifier: regularization must be one of: l1, l2, got l3' });
    assert.throws(() => new PrototypeClassifier({ alpha: -1 }), { name: 'RangeError', message: 'PrototypeClassifier: alpha must be a non-negative finite number, got -1' });
    assert.throws(() => new PrototypeClassifier({ tau: 0 }), { name: 'RangeError', message: 'PrototypeClassifier: tau must be a positive finite number or \'auto\', got 0' });
    assert.throws(() => new PrototypeClassifier({ adaptive: 1 as never }), { name: 'TypeError', message: 'PrototypeClassifier: adaptive must be true or false, got 1' });
  });
  test('use before fit', () => {
    assert.throws(() => new PrototypeClassifier().predict(good), /not fitted yet. Call fit\(X, y\)/);
  });
});

describe('explain', () => {
  test('reports probabilities, margin, top prototypes and the ambiguity flag', () => {
    const m = PrototypeClassifier.fromJSON({
      format: 'protolens-model', version: 1, kind: 'PrototypeClassifier', params: { tau: 1, ambiguityMargin: 0.2 },
      classes: ['a', 'b'], nFeatures: 1, nPrototypes: 3, tau: 1, prototypes: [0, 10, 5], W: [4, 0, 0, 4, 2, 2],
    });
    const far = m.explain([0]);
    assert.equal(far.label, 'a');
    assert.equal(far.prototypes[0].index, 0);
    assert.equal(far.prototypes[0].winningClass, 'a');
    assert.ok(far.margin > 0.9 && !far.ambiguous, `margin ${far.margin}`);
    // Halfway, the nearest prototype (index 2) links equally to both classes: ambiguous.
    const mid = m.explain([5]);
    assert.equal(mid.prototypes[0].index, 2);
    assert.deepEqual(mid.prototypes[0].links.map((l) => l.weight), [2, 2]);
    assert.ok(mid.ambiguous && mid.margin < 1e-6, `margin ${mid.margin}`);
    assert.ok(Math.abs(mid.probabilities[0].probability - 0.5) < 1e-6);
  });
});

describe('initialisation', () => {
  test('allocates J by class size with at least one each (largest remainder)', () => {
    // 10 prototypes over sizes 1, 9, 30: one each, then 7 in proportion to room (0, 8, 29) → 0, 1.51, 5.49.
    assert.deepEqual(Array.from(allocatePrototypes(10, [1, 9, 30])), [1, 3, 6]);
    assert.deepEqual(Array.from(allocatePrototypes(3, [5, 5, 5])), [1, 1, 1]);
    assert.throws(() => allocatePrototypes(2, [5, 5, 5]), /at least the number of classes \(3\)/);
    assert.throws(() => allocatePrototypes(20, [5, 5, 5]), /exceeds the number of training samples \(15\)/);
  });
});

describe('labels are kept as given', () => {
  test('numbers stay numbers, strings stay strings', () => {
    const X = [[0], [1], [9], [10]];
    assert.deepEqual(new PrototypeClassifier({ nPrototypes: 2 }).fit(X, [3, 3, 7, 7]).predict([[0.5], [9.5]]), [3, 7]);
    assert.deepEqual(new PrototypeClassifier({ nPrototypes: 2 }).fit(X, ['x', 'x', 'y', 'y']).predict([[0.5], [9.5]]), ['x', 'y']);
  });
  test('accuracy helper', () => {
    assert.equal(accuracy(['a', 'b'], ['a', 'a']), 0.5);
  });
});
