/**
 * The estimator contract every protolens classifier keeps (src/model/types.ts), checked the same
 * way for each, in the spirit of scikit-learn's estimator checks: determinism, refitting, no
 * mutation by predict, one sample per class, label types, save → load, use before fit, a failed
 * refit that leaves the model as it was, and option checking.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PrototypeClassifier } from '../src/model/prototype.ts';
import { KNearestNeighbors, NearestClassMean, SoftmaxRegression } from '../src/model/baselines.ts';
import { FeatureTransform, Pipeline } from '../src/model/preprocess.ts';
import { loadModel } from '../src/model/io.ts';
import { NotFittedError, type Classifier, type Label } from '../src/model/types.ts';
import { rng } from '../src/linalg/random.ts';

/** 3 Gaussian blobs of 6 samples in 4 dimensions (seeded), labels 'a', 'b', 'c'. */
function blobs(seed = 5): { X: number[][]; y: string[] } {
  const r = rng(seed);
  const X: number[][] = [], y: string[] = [];
  ['a', 'b', 'c'].forEach((c, k) => {
    for (let i = 0; i < 6; i++) {
      X.push([0, 1, 2, 3].map((d) => (d === k ? 4 : 0) + r.normal()));
      y.push(c);
    }
  });
  return { X, y };
}

interface Case {
  name: string;
  make(options?: Record<string, unknown>): Classifier;
  /** Options that must be refused, with the message expected. */
  bad: Array<[Record<string, unknown>, RegExp]>;
}

const CASES: Case[] = [
  {
    name: 'PrototypeClassifier',
    make: (o = {}) => new PrototypeClassifier({ nPrototypes: 6, seed: 3, maxIter: 20, ...o }),
    bad: [[{ alpha: -1 }, /PrototypeClassifier: alpha must be a non-negative finite number, got -1/], [{ maxIter: 1.5 }, /maxIter must be a non-negative integer/]],
  },
  {
    name: 'PrototypeClassifier (learned metric)',
    make: (o = {}) => new PrototypeClassifier({ nPrototypes: 6, seed: 3, maxIter: 20, metric: 'lowrank', metricRank: 3, ...o }),
    bad: [[{ metric: 'cosine' }, /metric must be one of: euclidean, diagonal, lowrank, got cosine/], [{ shrinkage: 2 }, /shrinkage must be in \(0, 1\], got 2/]],
  },
  {
    name: 'NearestClassMean',
    make: (o = {}) => new NearestClassMean(o),
    bad: [[{ tauScale: 0 }, /NearestClassMean: tauScale must be a positive finite number, got 0/], [{ seed: 0.5 }, /seed must be a integer/]],
  },
  {
    name: 'SoftmaxRegression',
    make: (o = {}) => new SoftmaxRegression({ l2: 1e-3, ...o }),
    bad: [[{ l2: -1 }, /SoftmaxRegression: l2 must be a non-negative finite number, got -1/], [{ maxIter: -3 }, /maxIter must be a non-negative integer, got -3/], [{ tol: NaN }, /tol must be a non-negative finite number/]],
  },
  {
    name: 'KNearestNeighbors',
    make: (o = {}) => new KNearestNeighbors(o),
    bad: [[{ k: 0 }, /KNearestNeighbors: k must be a positive integer, got 0/]],
  },
  {
    name: 'Pipeline(center-l2 → PrototypeClassifier)',
    make: (o = {}) => new Pipeline(new FeatureTransform('center-l2'), new PrototypeClassifier({ nPrototypes: 6, seed: 3, maxIter: 20, ...o })),
    bad: [],
  },
];

const { X, y } = blobs();
const Xtest = blobs(9).X;

for (const c of CASES) {
  describe(`contract: ${c.name}`, () => {
    test('fit returns the estimator; predictProba is N×L, rows sum to 1, argmax agrees with predict', () => {
      const m = c.make();
      assert.equal(m.fit(X, y), m);
      assert.deepEqual(m.classes_, ['a', 'b', 'c']);
      assert.equal(m.nFeatures_, 4);
      const P = m.predictProba(Xtest);
      assert.deepEqual([P.rows, P.cols], [Xtest.length, 3]);
      const pred = m.predict(Xtest);
      for (let i = 0; i < P.rows; i++) {
        const row = Array.from(P.data.subarray(i * 3, i * 3 + 3));
        assert.ok(Math.abs(row.reduce((s, v) => s + v, 0) - 1) < 1e-5, `row ${i} sums to ${row}`);
        assert.ok(row[(m.classes_ as Label[]).indexOf(pred[i])] >= Math.max(...row) - 1e-6, `row ${i}: ${row} vs ${String(pred[i])}`);
      }
      assert.ok(m.score(X, y) >= 0.9, `training accuracy ${m.score(X, y)} on separated blobs`);
    });

    test('same options and data give the same model; refitting an instance forgets the previous fit', () => {
      const a = c.make().fit(X, y), b = c.make().fit(X, y);
      assert.deepEqual(a.toJSON(), b.toJSON());
      const other = blobs(11);
      const re = c.make().fit(other.X, other.y).fit(X, y);
      assert.deepEqual(re.toJSON(), a.toJSON());
    });

    test('predict, predictProba and score change neither the model nor the input', () => {
      const m = c.make().fit(X, y);
      const before = JSON.stringify(m.toJSON());
      const input = Xtest.map((r) => r.slice());
      m.predict(input); m.predictProba(input); m.score(X, y);
      assert.equal(JSON.stringify(m.toJSON()), before);
      assert.deepEqual(input, Xtest);
    });

    test('one sample per class: each training sample is predicted as its own class', () => {
      const one = [X[0], X[6], X[12]];
      const m = c.make(c.name.includes('Prototype') ? { nPrototypes: 3 } : {}).fit(one, ['a', 'b', 'c']);
      assert.deepEqual(m.predict(one), ['a', 'b', 'c']);
    });

    test('labels are kept as given: numbers stay numbers', () => {
      const yn: Label[] = y.map((l) => ({ a: 10, b: 20, c: 30 }[l]!));
      const m = c.make().fit(X, yn);
      assert.deepEqual(m.classes_, [10, 20, 30]);
      assert.ok(m.predict(Xtest).every((l) => typeof l === 'number'));
    });

    test('save → load gives the same probabilities, bit for bit', () => {
      const m = c.make().fit(X, y);
      const back = loadModel(JSON.parse(JSON.stringify(m.toJSON())));
      assert.equal(back.kind, m.kind);
      assert.deepEqual(Array.from(back.predictProba(Xtest).data), Array.from(m.predictProba(Xtest).data));
    });

    test('the features\' origin is saved and restored; a file without one (older) loads with null', () => {
      const m = c.make().fit(X, y);
      assert.equal(m.origin_, null);
      assert.equal('origin' in m.toJSON(), false);
      const origin = { backbone: 'mobilenet_v2', layer: 'flatten_1', weightsHash: 'b7f6', dim: 4, preprocessing: { height: 224, width: 224, range: [0, 1] } };
      m.origin_ = origin;
      const json = JSON.parse(JSON.stringify(m.toJSON()));
      assert.deepEqual(json.origin, origin);
      assert.deepEqual(loadModel(json).origin_, origin);
      delete json.origin;
      assert.equal(loadModel(json).origin_, null);
      assert.throws(() => loadModel({ ...json, origin: { layer: 'x' } }), /model: field "origin" must be an object with a "backbone" name/);
      assert.throws(() => loadModel({ ...json, origin: { backbone: 'b', dim: -1 } }), /model: field "origin\.dim" must be a positive integer, got -1/);
    });

    test('use before fit is a NotFittedError that says to call fit', () => {
      const m = c.make();
      assert.equal(m.isFitted(), false);
      for (const f of [() => m.predict(Xtest), () => m.predictProba(Xtest), () => m.toJSON()]) {
        assert.throws(f, (e: Error) => e instanceof NotFittedError && /Call fit\(X, y\)/.test(e.message));
      }
    });

    test('a refit that fails leaves the fitted model as it was', () => {
      const m = c.make().fit(X, y);
      const before = JSON.stringify(m.toJSON());
      const bad = X.map((r) => r.slice());
      bad[4][2] = NaN;
      assert.throws(() => m.fit(bad, y), /row 4, column 2 is NaN/);
      assert.throws(() => m.fit(X, y.slice(1)), RangeError);
      if (c.name.includes('Prototype')) {
        // Fails in the initialisation, after τ's data scale was measured on the new data.
        assert.throws(() => m.fit([X[0], X[6], X[12]], ['a', 'b', 'c']), /exceeds the number of training samples \(3\)/);
      }
      assert.equal(JSON.stringify(m.toJSON()), before);
    });

    test('unknown options and values out of their domain are refused, naming the option', () => {
      assert.throws(() => c.make({ bogus: 1 }), /unknown option "bogus"/);
      for (const [o, msg] of c.bad) assert.throws(() => c.make(o), msg);
    });
  });
}
