// The explorer's map data (src/viz/mapdata.ts): a reshaping of analyzeModel that must agree with
// it exactly — flags, compositions, coordinates. Its browser-safety (the refit worker imports it) is
// checked with the rest of the browser-side code in browser-safe.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { twistedClasses } from '../src/data/synthetic.ts';
import { analyzeModel } from '../src/interpret/analyze.ts';
import { PrototypeClassifier } from '../src/model/prototype.ts';
import { buildMap, fitProjection, project, viewFromAnalysis } from '../src/viz/mapdata.ts';

const d = twistedClasses({ seed: 2, nClasses: 5, dim: 16 });
const model = new PrototypeClassifier({ nPrototypes: 14, seed: 2, maxIter: 30 }).fit(d.X, d.y);

describe('explorer map data', () => {
  it('carries the analysis\'s flags, compositions and positions', () => {
    const a = analyzeModel(model, d.X, d.y, { nearest: 12 });
    const v = viewFromAnalysis(a);
    const flagged = (kind: string) => new Set(a.findings.filter((f) => f.kind === kind).flatMap((f) => f.prototypes ?? []));
    const classFlag = (kind: string) => new Set(a.findings.filter((f) => f.kind === kind).map((f) => f.label));
    assert.equal(v.J, 14);
    v.prototypes.forEach((p, j) => {
      assert.equal(p.dead, flagged('dead-prototype').has(j));
      assert.equal(p.ambiguous, flagged('ambiguous-prototype').has(j));
      assert.deepEqual([p.x, p.y], a.prototypes[j].xy);
      assert.equal(a.classes[p.winningClass], a.prototypes[j].winningClass);
      assert.deepEqual(p.weights, a.W[j]);
      assert.deepEqual(p.nearest, a.prototypes[j].nearest.map((s) => s.index));
    });
    v.classViews.forEach((c, l) => {
      assert.deepEqual(c.prototypes, a.classStats[l].prototypes.map((p) => p.index));
      assert.equal(c.singleton, classFlag('singleton-class').has(c.label));
      assert.equal(c.scattered, classFlag('scattered-class').has(c.label));
    });
    // The synthetic data has a one-sample class: it is flagged.
    assert.equal(v.classViews.find((c) => c.label === 'singleton')?.singleton, true);
    // Map variances: the mean squared offset, along the map's axes, of each prototype's samples.
    const j = v.prototypes.findIndex((p) => p.count > 1);
    const own = a.samples.assignment.map((k, i) => [k, i]).filter(([k]) => k === j).map(([, i]) => a.projection.samples[i]);
    const vx = own.reduce((s, [x]) => s + (x - a.prototypes[j].xy[0]) ** 2, 0) / own.length;
    assert.ok(Math.abs(v.prototypes[j].mapVariances[0] - vx) <= 1e-9 * Math.max(1, vx));
  });

  it('places samples and new points on the analysis\'s PCA axes', () => {
    const m = buildMap({ title: 't', source: 's', X: d.X, y: d.y, names: d.y.map(String), model, hasImages: false, classify: { available: false, how: '' } });
    const a = analyzeModel(model, d.X, d.y);
    const xy = project(m.projection, d.X);
    for (let i = 0; i < d.X.rows; i++) {
      assert.ok(Math.abs(m.points[2 * i] - a.projection.samples[i][0]) < 1e-4);
      assert.ok(Math.abs(xy[2 * i] - a.projection.samples[i][0]) < 1e-3 && Math.abs(xy[2 * i + 1] - a.projection.samples[i][1]) < 1e-3);
    }
    assert.equal(m.y.length, d.X.rows);
    assert.deepEqual(m.classes.map((c) => String(c)), model.classes_.map(String));
    assert.equal(m.fitParams.seed, 2);
    assert.throws(() => project(fitProjection(d.X, 2), { data: new Float32Array(3), rows: 1, cols: 3 }), /fitted on 16 features, got 3/);
  });
});
