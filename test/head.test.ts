import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rng } from '../src/linalg/random.ts';
import { PrototypeClassifier } from '../src/model/prototype.ts';
import { FeatureTransform } from '../src/model/preprocess.ts';
import { PrototypeHead } from '../src/interpret/head.ts';

/** Positive features (as a ReLU network gives): 3 classes of 30 samples in 6 dimensions. */
function data(seed: number): { X: Float32Array; y: string[] } {
  const r = rng(seed), D = 6;
  const X = new Float32Array(90 * D), y: string[] = [];
  for (let i = 0; i < 90; i++) {
    const c = i % 3;
    for (let d = 0; d < D; d++) X[i * D + d] = Math.abs((d === c || d === c + 3 ? 2 : 0.3) + 0.5 * r.normal());
    y.push(`c${c}`);
  }
  return { X, y };
}

const setups = [
  { name: 'Euclidean, raw features', method: 'none', metric: 'euclidean' },
  { name: 'sqrt-l2 transform, diagonal metric', method: 'sqrt-l2', metric: 'diagonal' },
  { name: 'sqrt-center-l2 transform, low-rank metric', method: 'sqrt-center-l2', metric: 'lowrank' },
] as const;

for (const s of setups) {
  test(`the head's values equal the model's own (${s.name})`, () => {
    const { X, y } = data(1);
    const t = s.method === 'none' ? null : new FeatureTransform(s.method).fit({ data: X, rows: 90, cols: 6 });
    const T = t ? t.transform({ data: X, rows: 90, cols: 6 }) : { data: X, rows: 90, cols: 6 };
    const m = new PrototypeClassifier({ nPrototypes: 5, seed: 2, metric: s.metric, metricRank: 4, maxIter: 30 }).fit(T, y);
    const head = new PrototypeHead(m, t);
    const Q = m.prototypeActivations(T), C = m.predictProba(T);
    for (const i of [0, 17, 55]) {
      const pt = head.at(X, i * 6);
      for (let j = 0; j < 5; j++) assert.ok(Math.abs(pt.q[j] - Q.data[i * 5 + j]) < 1e-5, `q_${j} of sample ${i}`);
      for (let l = 0; l < 3; l++) assert.ok(Math.abs(pt.c[l] - C.data[i * 3 + l]) < 1e-5, `c_${l} of sample ${i}`);
      const e = m.explain(T.data.subarray(i * 6, (i + 1) * 6), 5);
      for (const p of e.prototypes) assert.ok(Math.abs(pt.d[p.index] - p.sqDistance) < 1e-5 * (1 + p.sqDistance));
      assert.equal(head.classes[pt.cls], e.label);
    }
  });

  test(`every objective's gradient with respect to the feature equals central differences (${s.name})`, () => {
    const { X, y } = data(3);
    const t = s.method === 'none' ? null : new FeatureTransform(s.method).fit({ data: X, rows: 90, cols: 6 });
    const T = t ? t.transform({ data: X, rows: 90, cols: 6 }) : { data: X, rows: 90, cols: 6 };
    const m = new PrototypeClassifier({ nPrototypes: 5, seed: 4, metric: s.metric, metricRank: 4, maxIter: 30 }).fit(T, y);
    const head = new PrototypeHead(m, t);
    const y0 = Float64Array.from(X.subarray(12 * 6, 13 * 6));
    const pt0 = head.at(y0);
    const objectives = {
      distance: (pt: ReturnType<typeof head.at>) => head.distance(pt, 2),
      negLogQ: (pt: ReturnType<typeof head.at>) => head.negLogQ(pt, 1),
      prototypeMargin: (pt: ReturnType<typeof head.at>) => head.prototypeMargin(pt, pt0.best),
      classMargin: (pt: ReturnType<typeof head.at>) => head.classMargin(pt, pt0.cls),
    };
    for (const [name, ob] of Object.entries(objectives)) {
      const g = new Float32Array(6);
      head.backward(pt0, ob(pt0).dz, g);
      const h = 1e-6;
      for (let d = 0; d < 6; d++) {
        const up = y0.slice(), dn = y0.slice();
        up[d] += h; dn[d] -= h;
        // Margins compare with the runner-up at y0; keep it fixed (the max is piecewise).
        const fd = (ob(head.at(up)).value - ob(head.at(dn)).value) / (2 * h);
        assert.ok(Math.abs(fd - g[d]) < 1e-4 * (1 + Math.abs(fd)), `${name}, feature ${d}: ${g[d]} against ${fd}`);
      }
    }
  });
}

test('the margins are positive at a sample and change sign exactly where its best prototype or class changes', () => {
  const { X, y } = data(5);
  const m = new PrototypeClassifier({ nPrototypes: 6, seed: 1 }).fit({ data: X, rows: 90, cols: 6 }, y);
  const head = new PrototypeHead(m);
  const a = head.at(X, 0), b = head.at(X, 6);
  assert.notEqual(a.cls, b.cls);
  // Along the segment from sample 0 to sample 1, the class margin of sample 0's class is > 0 exactly while that class is predicted.
  for (let k = 0; k <= 20; k++) {
    const t = k / 20, v = new Float64Array(6);
    for (let d = 0; d < 6; d++) v[d] = (1 - t) * X[d] + t * X[6 + d];
    const pt = head.at(v);
    assert.equal(head.classMargin(pt, a.cls).value > 0, pt.cls === a.cls, `t = ${t}`);
    assert.equal(head.prototypeMargin(pt, a.best).value > 0, pt.best === a.best, `t = ${t}`);
  }
});
