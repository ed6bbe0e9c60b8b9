import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { rng } from '../src/linalg/random.ts';
import { takeRows, type Matrix } from '../src/linalg/matrix.ts';
import { FeatureTransform, Pipeline } from '../src/model/preprocess.ts';
import { NearestClassMean, SoftmaxRegression } from '../src/model/baselines.ts';
import { PrototypeClassifier } from '../src/model/prototype.ts';
import { loadModel } from '../src/model/io.ts';
import { bestIndex, expandGrid, gridSearch } from '../src/select/grid.ts';
import { meanStd, pairedTTest } from '../src/select/stats.ts';
import { rowSpaceBasis, SpanProjection } from '../src/select/span.ts';
import {
  evaluateTask, runFewShot, sampleTask, taskSeed,
  type DataUse, type FewShotOptions, type FewShotResult, type FittedModel,
} from '../src/select/fewshot.ts';
import { accuracyTable, fmtAcc, fmtP } from '../src/select/fewshot-report.ts';
import { writeFeatures } from '../src/data/features.node.ts';
import { repoRoot } from './helpers/data.ts';

/** K classes × n samples of non-negative Gaussian blobs in D dimensions (like ReLU features). */
function blobs(K: number, n: number, D: number, seed: number, noise = 1.2): { X: Matrix; labels: string[] } {
  const r = rng(seed);
  const X = new Float32Array(K * n * D);
  const labels: string[] = [];
  for (let c = 0; c < K; c++) {
    const centre = Array.from({ length: D }, () => 1 + r.normal());
    for (let s = 0; s < n; s++) {
      const o = (c * n + s) * D;
      for (let d = 0; d < D; d++) X[o + d] = Math.max(0, centre[d] + noise * r.normal());
      labels.push(`Alpha/character${String(c + 1).padStart(2, '0')}`);
    }
  }
  return { X: { data: X, rows: K * n, cols: D }, labels };
}

/** K classes × n samples in D dimensions, each class the union of two blobs at ±m_c (alternating samples). */
function twoModes(K: number, n: number, D: number, seed: number, noise = 0.3): { X: Matrix; labels: string[] } {
  const r = rng(seed);
  const X = new Float32Array(K * n * D);
  const labels: string[] = [];
  for (let c = 0; c < K; c++) {
    const m = Array.from({ length: D }, () => r.normal());
    for (let s = 0; s < n; s++) {
      const sign = s % 2 ? 1 : -1;
      for (let d = 0; d < D; d++) X[(c * n + s) * D + d] = sign * m[d] + noise * r.normal();
      labels.push(`Alpha/character${String(c + 1).padStart(2, '0')}`);
    }
  }
  return { X: { data: X, rows: K * n, cols: D }, labels };
}

const byClassOf = (labels: readonly string[]) => {
  const m = new Map<string, number[]>();
  labels.forEach((l, i) => { const a = m.get(l) ?? []; a.push(i); m.set(l, a); });
  return m;
};

/** A small, fast configuration of the whole protocol. */
const SMALL: FewShotOptions = {
  ways: [2, 4], subsets: 3, seed: 7,
  grids: { prototypesPerClass: [1, 2], alphaL1: [1e-3, 1e-2], alphaL2: [1e-4, 1e-3], tauScale: [0.3, 1], l2: [1e-3, 1e-1] },
  prototypeOptions: { maxIter: 20 },
};

describe('FeatureTransform and Pipeline', () => {
  test('signed √, centring and L2 normalisation give hand-computed values', () => {
    // √ of [[4, 0], [0, 9]] = [[2, 0], [0, 3]]; mean (1, 1.5); centred [[1, −1.5], [−1, 1.5]];
    // norm √3.25 = 1.80278 → [[0.55470, −0.83205], [−0.55470, 0.83205]].
    const t = new FeatureTransform('sqrt-center-l2').fit([[4, 0], [0, 9]]);
    assert.deepEqual(Array.from(t.mean_!), [1, 1.5]);
    const z = t.transform([[4, 0], [0, 9], [-16, 1]]).data;
    const want = [0.55470, -0.83205, -0.55470, 0.83205];
    for (let k = 0; k < 4; k++) assert.ok(Math.abs(z[k] - want[k]) < 1e-5, `z[${k}] = ${z[k]}`);
    // Signed √ of −16 is −4: (−4 − 1, 1 − 1.5) = (−5, −0.5) / 5.02494.
    assert.ok(Math.abs(z[4] + 0.99504) < 1e-5 && Math.abs(z[5] + 0.09950) < 1e-5, `row 2 = ${z[4]}, ${z[5]}`);
  });

  test('"none" is the identity, "l2" leaves zero rows at zero, input is never mutated', () => {
    const X = [[3, 4], [0, 0]];
    assert.deepEqual(Array.from(new FeatureTransform('none').fitTransform(X).data), [3, 4, 0, 0]);
    assert.deepEqual(Array.from(new FeatureTransform('l2').fitTransform(X).data).map((v) => +v.toFixed(6)), [0.6, 0.8, 0, 0]);
    const M = { data: Float32Array.from([1, 4, 9, 16]), rows: 2, cols: 2 };
    new FeatureTransform('sqrt-center-l2').fitTransform(M);
    assert.deepEqual(Array.from(M.data), [1, 4, 9, 16]);
  });

  test('unknown method, wrong width and use before fit are reported clearly', () => {
    assert.throws(() => new FeatureTransform('pca' as never), /Invalid preprocessing: pca\. Should be one of: none, l2, center-l2, sqrt-l2, sqrt-center-l2/);
    assert.throws(() => new FeatureTransform('l2').transform([[1]]), /not fitted/);
    assert.throws(() => new FeatureTransform('l2').fit([[1, 2]]).transform([[1, 2, 3]]), /expected 2 columns/);
  });

  test('a Pipeline saved through toJSON and restored by loadModel predicts the same probabilities', () => {
    const { X, labels } = blobs(3, 12, 6, 1, 0.4);
    const makers = [() => new NearestClassMean(), () => new SoftmaxRegression({ l2: 1e-2 }), () => new PrototypeClassifier({ nPrototypes: 6, maxIter: 10, seed: 2 })];
    for (const make of makers) {
      const inner = make();
      const p = new Pipeline(new FeatureTransform('sqrt-center-l2'), inner).fit(X, labels);
      const back = loadModel(JSON.stringify(p.toJSON()));
      assert.equal(back.kind, 'Pipeline');
      assert.deepEqual(back.classes_, p.classes_);
      const a = p.predictProba(X).data, b = back.predictProba(X).data;
      for (let k = 0; k < a.length; k++) assert.ok(Math.abs(a[k] - b[k]) < 1e-6, `${inner.kind}: proba ${k}: ${a[k]} vs ${b[k]}`);
      // What the pipeline is: the transform fitted on the training rows, the model fitted on the
      // transformed rows, both applied to new rows: the same numbers as doing it by hand.
      const t = new FeatureTransform('sqrt-center-l2');
      const byHand = make().fit(t.fitTransform(X), labels).predictProba(t.transform(X)).data;
      assert.deepEqual(a, byHand, `${inner.kind}: pipeline ≠ transform then model`);
    }
  });

  test('the pipeline centres on the training data only', () => {
    const p = new Pipeline(new FeatureTransform('center-l2'), new NearestClassMean()).fit([[0, 0], [2, 0], [0, 2], [2, 2]], ['a', 'a', 'b', 'b']);
    assert.deepEqual(Array.from(p.transform.mean_!), [1, 1]);
    p.predict([[100, 100]]);
    assert.deepEqual(Array.from(p.transform.mean_!), [1, 1]);
  });
});

describe('selection helpers', () => {
  test('expandGrid: last option varies fastest; empty option rejected', () => {
    assert.deepEqual(expandGrid({ a: [1, 2], b: ['x', 'y'] }), [{ a: 1, b: 'x' }, { a: 1, b: 'y' }, { a: 2, b: 'x' }, { a: 2, b: 'y' }]);
    assert.throws(() => expandGrid({ a: [] }), /option "a" needs at least one value/);
  });

  test('bestIndex: highest accuracy, then lowest log-loss, then earliest', () => {
    assert.equal(bestIndex([{ accuracy: 0.8, logLoss: 0.5 }, { accuracy: 0.9, logLoss: 2 }]), 1);
    assert.equal(bestIndex([{ accuracy: 0.8, logLoss: 0.5 }, { accuracy: 0.8, logLoss: 0.4 }]), 1);
    assert.equal(bestIndex([{ accuracy: 0.8, logLoss: 0.4 }, { accuracy: 0.8, logLoss: 0.4 }]), 0);
  });

  test('gridSearch picks the softmax penalty that validates best', () => {
    const { X, labels } = blobs(3, 20, 5, 3);
    const idx = Array.from({ length: X.rows }, (_, i) => i);
    const tr = idx.filter((i) => i % 2 === 0), va = idx.filter((i) => i % 2 === 1);
    const res = gridSearch((p) => new SoftmaxRegression(p as { l2: number }), { l2: [1e-3, 1e3] },
      { X: takeRows(X, tr), y: tr.map((i) => labels[i]) }, { X: takeRows(X, va), y: va.map((i) => labels[i]) });
    // λ = 1000 crushes the weights to ~0: uniform probabilities, log-loss log 3 (measured 3e-4
    // below it); λ = 1e-3 does not (measured 0.486).
    assert.deepEqual(res.best, { l2: 1e-3 });
    assert.ok(Math.abs(res.candidates[1].score.logLoss - Math.log(3)) < 1e-3, `log-loss ${res.candidates[1].score.logLoss}`);
    assert.ok(res.candidates[0].score.logLoss < 0.6, `log-loss ${res.candidates[0].score.logLoss}`);
  });

  test('paired t-test: a hand-checked value and the degenerate cases', () => {
    // Differences .1, .1, −.05, .05: mean .05, sd .07071, t = .05 / (.07071/2) = 1.4142, df 3, p = 0.2522.
    const t = pairedTTest([0.8, 0.9, 0.7, 0.85], [0.7, 0.8, 0.75, 0.8]);
    assert.ok(Math.abs(t.statistic - 1.41421) < 1e-4 && Math.abs(t.p - 0.25222) < 1e-4, JSON.stringify(t));
    assert.equal(pairedTTest([0.5, 0.6], [0.5, 0.6]).p, 1);
    assert.equal(pairedTTest([0.6, 0.7], [0.5, 0.6]).p, 0);
    assert.throws(() => pairedTTest([1], [1]), /at least 2 pairs/);
    assert.deepEqual(meanStd([1, 3]), { mean: 2, std: Math.SQRT2, n: 2 });
  });
});

describe('exact reduction to the row space', () => {
  test('rowSpaceBasis is orthonormal and finds the rank', () => {
    // Row 2 = row 0 + row 1: rank 2.
    const B = rowSpaceBasis([[1, 2, 0, 1], [0, 1, 1, 0], [1, 3, 1, 1]]);
    assert.equal(B.rows, 2);
    for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) {
      let s = 0;
      for (let d = 0; d < 4; d++) s += B.data[a * 4 + d] * B.data[b * 4 + d];
      assert.ok(Math.abs(s - (a === b ? 1 : 0)) < 1e-6, `B${a}·B${b} = ${s}`);
    }
  });

  test('distances between training rows, and between any row and the training span, are kept', () => {
    const { X } = blobs(2, 6, 40, 4);
    const sp = new SpanProjection().fit(X);
    assert.equal(sp.rank, 12);
    const Z = sp.transform(X);
    const d2 = (A: Float32Array, D: number, i: number, k: number) => { let s = 0; for (let d = 0; d < D; d++) s += (A[i * D + d] - A[k * D + d]) ** 2; return s; };
    for (const [i, k] of [[0, 1], [3, 9], [5, 11]]) {
      const a = d2(X.data, 40, i, k), b = d2(Z.data, 12, i, k);
      assert.ok(Math.abs(a - b) < 1e-3 * a, `pair ${i},${k}: ${a} vs ${b}`);
    }
  });

  test('a prototype model fitted in the row space matches the one fitted on all columns', () => {
    // Same fit up to float rounding: the loss history agrees step by step (it drifts apart only
    // after many steps, as float32 rounding and discrete line-search decisions accumulate), and
    // predictions on new samples, outside the span, agree.
    const { X, labels } = blobs(3, 10, 30, 6);
    const fitRows = Array.from({ length: 30 }, (_, i) => i).filter((i) => i % 10 < 5);
    const newRows = Array.from({ length: 30 }, (_, i) => i).filter((i) => i % 10 >= 5);
    const Xf = new FeatureTransform('sqrt-center-l2').fit(takeRows(X, fitRows));
    const F = Xf.transform(takeRows(X, fitRows)), T = Xf.transform(takeRows(X, newRows));
    const sp = new SpanProjection().fit(F);
    const y = fitRows.map((i) => labels[i]);
    for (const regularization of ['l1', 'l2'] as const) {
      // α = 1e-3 (the default before 2026-12-01): with 1e-5 the L2 class step is nearly unpenalised, its
      // optimum flat, and the two fits' rounding differences move the probabilities by ~4e-3.
      const o = { nPrototypes: 6, regularization, alpha: 1e-3, tau: 'auto' as const, tauScale: 0.3, maxIter: 3, seed: 1 };
      const a = new PrototypeClassifier(o).fit(F, y), b = new PrototypeClassifier(o).fit(sp.transform(F), y);
      // The first five records: initialisation, then two class and two prototype steps. (With L1,
      // FISTA's unconverged class steps make later steps drift apart sooner.)
      for (let k = 0; k < 5; k++) {
        const u = a.history_[k].loss, v = b.history_[k].loss;
        assert.ok(Math.abs(u - v) < 1e-3 * u, `${regularization} step ${k}: ${u} vs ${v}`);
      }
      if (regularization === 'l1') continue;
      const pa = a.predictProba(T).data, pb = b.predictProba(sp.transform(T)).data;
      for (let k = 0; k < pa.length; k++) assert.ok(Math.abs(pa[k] - pb[k]) < 1e-3, `${regularization} proba ${k}: ${pa[k]} vs ${pb[k]}`);
    }
  });

  test('the benchmark\'s baselines give identical results with and without the reduction', () => {
    const data = blobs(6, 20, 24, 5);
    const o: FewShotOptions = { ...SMALL, ways: [3], subsets: 3, methods: ['ncm', 'softmax', 'nn1'] };
    const a = runFewShot(data, { ...o, reduce: true }), b = runFewShot(data, { ...o, reduce: false });
    for (let t = 0; t < a.tasks.length; t++) {
      assert.equal(a.tasks[t].dims.fit, 15); // 15 rows, not centred by the default preprocessing (sqrt-l2): rank 15
      assert.equal(b.tasks[t].dims.fit, 24);
      for (const m of a.options.methods) {
        const x = a.tasks[t].methods[m]!, y = b.tasks[t].methods[m]!;
        assert.deepEqual(x.params, y.params, `task ${t} ${m}: chosen settings differ`);
        assert.equal(x.testFit, y.testFit, `task ${t} ${m}: 5-shot accuracy`);
        assert.equal(x.testTrain, y.testTrain, `task ${t} ${m}: 10-shot accuracy`);
      }
    }
  });
});

describe('few-shot protocol', () => {
  const data = blobs(8, 20, 16, 11);

  test('each task has N classes and 5 fit / 5 validation / 10 test samples per class, disjoint', () => {
    const byClass = byClassOf(data.labels);
    for (const ways of [2, 5, 8]) {
      const task = sampleTask(byClass, ways, 0, taskSeed(1, ways, 0), { fit: 5, validation: 5, test: 10 });
      assert.equal(task.classes.length, ways);
      assert.equal(new Set(task.classes).size, ways);
      assert.equal(task.fit.length, 5 * ways);
      assert.equal(task.validation.length, 5 * ways);
      assert.equal(task.test.length, 10 * ways);
      const all = [...task.fit, ...task.validation, ...task.test];
      assert.equal(new Set(all).size, all.length, 'a sample is in two folds');
      for (const c of task.classes) {
        const rows = new Set(byClass.get(c as string));
        assert.equal(task.fit.filter((i) => rows.has(i)).length, 5);
        assert.equal(task.validation.filter((i) => rows.has(i)).length, 5);
        assert.equal(task.test.filter((i) => rows.has(i)).length, 10);
      }
    }
    assert.throws(() => sampleTask(byClass, 9, 0, 1, { fit: 5, validation: 5, test: 10 }), /needs 9 classes with at least 20 samples each; the data has 8/);
  });

  test('test rows are read only to score chosen models, after every choice', () => {
    const byClass = byClassOf(data.labels);
    const task = sampleTask(byClass, 4, 0, 3, { fit: 5, validation: 5, test: 10 });
    const uses: DataUse[] = [];
    evaluateTask(data.X, data.labels, task, SMALL, { audit: (u) => uses.push(u) });
    const test = new Set(task.test);
    for (const u of uses) {
      if (u.purpose !== 'test') assert.ok(u.rows.every((i) => !test.has(i)), `${u.stage}/${u.purpose} reads a test row`);
    }
    const firstTest = uses.findIndex((u) => u.purpose === 'test');
    assert.ok(uses.slice(firstTest).every((u) => u.purpose !== 'validate'), 'validation after the test fold was read');
    assert.deepEqual(uses.map((u) => `${u.stage}/${u.purpose}`), ['select/fit', 'select/validate', 'select/test', 'refit/fit', 'refit/test']);
  });

  test('with selection "swap" the validation half is fitted on too, and test rows are still only scored', () => {
    const byClass = byClassOf(data.labels);
    const task = sampleTask(byClass, 3, 0, 4, { fit: 5, validation: 5, test: 10 });
    const uses: DataUse[] = [];
    const o: FewShotOptions = { ...SMALL, methods: ['ncm', 'softmax'], selection: 'swap' };
    const res = evaluateTask(data.X, data.labels, task, o, { audit: (u) => uses.push(u) });
    const test = new Set(task.test);
    for (const u of uses) if (u.purpose !== 'test') assert.ok(u.rows.every((i) => !test.has(i)), `${u.stage}/${u.purpose} reads a test row`);
    assert.ok(uses.some((u) => u.stage === 'select' && u.purpose === 'fit' && u.rows === task.validation));
    // A softmax validation score is now the mean of two accuracies on 15 samples each: a multiple of 1/30.
    const acc = res.methods.softmax!.validation.accuracy;
    assert.ok(Math.abs(acc * 30 - Math.round(acc * 30)) < 1e-9, `accuracy ${acc}`);
    assert.throws(() => runFewShot(data, { selection: 'kfold' as never }), /Invalid selection: kfold\. Should be one of: holdout, swap/);
  });

  test('library code of the benchmark imports no Node modules (it runs in the browser)', () => {
    for (const f of ['src/select/fewshot.ts', 'src/select/fewshot-report.ts', 'src/select/grid.ts', 'src/select/span.ts', 'src/select/stats.ts', 'src/model/preprocess.ts', 'src/viz/fewshot-chart.ts']) {
      const text = readFileSync(join(repoRoot, f), 'utf8');
      for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/g)) {
        assert.doesNotMatch(m[1], /^(node:|fs$|path$|os$)|\.node\.ts$|\/cli\//, `${f} imports ${m[1]}`);
      }
    }
  });

  test('replacing the test fold by noise changes no choice, no validation score and no fitted model, refits included', () => {
    const byClass = byClassOf(data.labels);
    const task = sampleTask(byClass, 4, 1, 5, { fit: 5, validation: 5, test: 10 });
    const poisoned = { data: Float32Array.from(data.X.data), rows: data.X.rows, cols: data.X.cols };
    const r = rng(9);
    for (const i of task.test) for (let d = 0; d < poisoned.cols; d++) poisoned.data[i * poisoned.cols + d] = 50 * r.next();
    const test = new Set(task.test);
    // Rows that are not in the test fold: the training fold and samples of classes outside the task.
    const others = Array.from({ length: data.X.rows }, (_, i) => i).filter((i) => !test.has(i));
    for (const o of [SMALL, { ...SMALL, methods: ['ncm', 'softmax', 'proto-l2-tau'], selection: 'swap' } as FewShotOptions]) {
      const run = (X: Matrix) => {
        const fitted: FittedModel[] = [];
        return { res: evaluateTask(X, data.labels, task, o, { fitted: (f) => fitted.push(f) }), fitted };
      };
      const a = run(data.X), b = run(poisoned);
      for (const m of Object.keys(a.res.methods) as Array<keyof typeof a.res.methods>) {
        assert.deepEqual(a.res.methods[m]!.params, b.res.methods[m]!.params, `${m}: choice changed`);
        assert.deepEqual(a.res.methods[m]!.validation, b.res.methods[m]!.validation, `${m}: validation changed`);
      }
      // Every model fitted (selection and refit): same parameters, same probabilities on rows outside the test fold.
      assert.equal(a.fitted.length, b.fitted.length);
      assert.ok(a.fitted.filter((f) => f.stage === 'refit').length >= 3, 'the refits are observed');
      a.fitted.forEach((f, k) => {
        const g = b.fitted[k], what = `${o.selection ?? 'holdout'} ${f.stage} on ${f.on}: ${f.key}`;
        assert.deepEqual([g.stage, g.on, g.key], [f.stage, f.on, f.key]);
        assert.equal(JSON.stringify(g.model.toJSON()), JSON.stringify(f.model.toJSON()), `${what}: parameters changed`);
        assert.deepEqual(g.model.predictProba(g.features(others)).data, f.model.predictProba(f.features(others)).data, `${what}: predictions changed`);
      });
      // The poison reaches the test scores (the check above is not blind to the test rows).
      const acc = (x: typeof a) => [x.res.methods.ncm!.testFit, x.res.methods.ncm!.testTrain];
      assert.notDeepEqual(acc(a), acc(b));
    }
  });

  test('the same seed gives the same table; another seed other subsets', () => {
    const strip = (r: FewShotResult) => JSON.stringify({ tasks: r.tasks.map((t) => ({ ...t, methods: Object.fromEntries(Object.entries(t.methods).map(([k, v]) => [k, { ...v, seconds: 0 }])) })), summary: r.summary });
    const a = runFewShot(data, SMALL), b = runFewShot(data, SMALL);
    assert.equal(strip(a), strip(b));
    assert.equal(accuracyTable(a, 'testFit'), accuracyTable(b, 'testFit'));
    const c = runFewShot(data, { ...SMALL, seed: 8, methods: ['ncm'] });
    assert.notDeepEqual(c.tasks.map((t) => t.test), a.tasks.map((t) => t.test));
    // Summary shape: 3 subsets per N; t-tests of each of our rows against both references per N and refit.
    assert.equal(a.tasks.length, 6);
    assert.equal(a.summary.tables.testFit.ncm![4].n, 3);
    assert.equal(a.summary.tests.length, 2 * 2 * 6 * 2);
  });

  test('classes of two opposite modes: the class mean is near chance, the prototype rows choose 2 per class on validation and get every test sample', () => {
    // Each class is the union of two blobs at ±m_c: every class mean is near 0, so the single
    // prototype cannot separate them (measured .40 on 3-way tasks, chance .33), while two
    // prototypes per class can. Validation must find that J.
    const res = runFewShot(twoModes(6, 20, 16, 2), { ...SMALL, ways: [3], methods: ['ncm', 'proto-l2-tau', 'proto-cv'] });
    const table = res.summary.tables.testFit;
    assert.ok(table.ncm![3].mean < 0.5, JSON.stringify(table));
    assert.equal(table['proto-l2-tau']![3].mean, 1, JSON.stringify(table));
    assert.equal(table['proto-cv']![3].mean, 1, JSON.stringify(table));
    for (const t of res.tasks) {
      assert.equal(t.methods['proto-l2-tau']!.params.prototypesPerClass, 2);
      const p = t.methods['proto-cv']!.params;
      assert.ok(p.prototypesPerClass === 2 && ['l1', 'l2'].includes(p.regularization as string) && p.tau === 'auto', JSON.stringify(p));
    }
  });

  test('invalid options are named', () => {
    assert.throws(() => runFewShot(data, { ways: [1] }), /ways must be an integer ≥ 2, got 1/);
    assert.throws(() => runFewShot(data, { methods: ['svm' as never] }), /Invalid method: svm/);
    assert.throws(() => runFewShot(data, { grids: { prototypesPerClass: [6] } }), /goes up to 6 but each class has only 5 fitting samples/);
    assert.throws(() => runFewShot(data, { preprocess: 'zca' as never }), /Invalid preprocessing: zca/);
    assert.throws(() => runFewShot({ X: data.X, labels: data.labels.slice(1) }, {}), /159 labels for 160 rows/);
  });

  test('report formatting: paper-style accuracies and p-values', () => {
    assert.equal(fmtAcc(0.8049), '.80');
    assert.equal(fmtAcc(1), '1.00');
    assert.equal(fmtP(0.03123), '0.031');
    assert.equal(fmtP(2.1e-5), '2.1e-5');
  });
});

describe('protolens bench fewshot', () => {
  const cli = (args: string[]) => spawnSync(process.execPath, [join(repoRoot, 'bin', 'protolens.mjs'), ...args], { encoding: 'utf8' });

  test('writes the Markdown, JSON and SVG, with both tables and the t-tests', () => {
    const dir = mkdtempSync(join(tmpdir(), 'protolens-bench-'));
    try {
      const { X, labels } = blobs(6, 20, 12, 3);
      writeFeatures(join(dir, 'f.npy'), { X, labels });
      const out = join(dir, 'out');
      const r = cli(['bench', 'fewshot', '--features', join(dir, 'f.npy'), '--ways', '2,5', '--subsets', '2',
        '--grid-j', '1', '--grid-alpha-l1', '0.01', '--grid-alpha-l2', '0.001', '--grid-tau-scale', '0.3', '--grid-l2', '0.01', '--max-iter', '10', '--out', out, '--no-progress']);
      assert.equal(r.status, 0, r.stderr);
      for (const f of ['fewshot.md', 'fewshot.json', 'fewshot.svg']) assert.ok(existsSync(join(out, f)), `${f} missing`);
      const md = readFileSync(join(out, 'fewshot.md'), 'utf8');
      assert.equal(r.stdout, md);
      assert.match(md, /refit on the 5 fitting samples per class/);
      assert.match(md, /refit on all 10 training samples per class/);
      assert.match(md, /\| single prototype \| .*\| \.93 \| \.91 \|$/m);
      assert.match(md, /vs softmax, L2: Δ mean, p/);
      const json = JSON.parse(readFileSync(join(out, 'fewshot.json'), 'utf8'));
      assert.equal(json.tasks.length, 4);
      assert.equal(json.tasks[0].test.length, 20);
      assert.equal(json.tasks[2].test.length, 50);
      assert.ok(Number.isFinite(json.tasks[0].methods.ncm.testFit));
      assert.match(readFileSync(join(out, 'fewshot.svg'), 'utf8'), /^<svg/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a bad option is a CLI error naming the flag and the choices', () => {
    const r = cli(['bench', 'fewshot', '--features', 'x.npy', '--preprocess', 'zca']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /Invalid value for --preprocess: "zca"\. Expected one of: auto, none, l2, center-l2, sqrt-l2, sqrt-center-l2\./);
    const m = cli(['bench', 'fewshot', '--preprocess', 'l2']);
    assert.equal(m.status, 2);
    assert.match(m.stderr, /Missing input: give --features FILE, or --data DIR with --backbone NAME\./);
  });
});
