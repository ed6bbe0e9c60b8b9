/**
 * Model selection by stratified K-fold cross-validation (src/select/cv.ts): folds, no leakage of
 * a held-out fold into its fit, determinism, the same scores on worker threads, the search saved
 * with the model, and a known answer.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PrototypeClassifierCV, fitFold, foldRows, searchCandidates, stratifiedFolds, DEFAULT_SEARCH_GRID,
} from '../src/select/cv.ts';
import { workerRunner } from '../src/select/cv-workers.node.ts';
import { hiddenDirections, twistedClasses } from '../src/data/synthetic.ts';
import { loadModel } from '../src/model/io.ts';
import { PrototypeClassifier } from '../src/model/prototype.ts';

describe('stratified folds', () => {
  test('every sample in one fold; each class dealt evenly; seeded', () => {
    const y = [...Array(13).fill('a'), ...Array(7).fill('b'), ...Array(5).fill('c')];
    const { fold, folds } = stratifiedFolds(y, 5, 3);
    assert.equal(folds, 5);
    for (const c of ['a', 'b', 'c']) {
      const sizes = Array(5).fill(0);
      y.forEach((l, i) => { if (l === c) sizes[fold[i]]++; });
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${c}: ${sizes}`);
    }
    assert.deepEqual(Array.from(stratifiedFolds(y, 5, 3).fold), Array.from(fold));
    assert.notDeepEqual(Array.from(stratifiedFolds(y, 5, 4).fold), Array.from(fold));
    // Fewer folds when the smallest class is smaller than K; a class of one is refused by name.
    assert.equal(stratifiedFolds(y, 10, 0).folds, 5);
    assert.throws(() => stratifiedFolds(['a', 'a', 'b'], 3, 0), /class "b" has 1 sample; every class needs at least 2/);
  });
});

describe('cross-validation', () => {
  const d = twistedClasses({ seed: 2, dim: 10, nClasses: 4, singleton: false });
  const grid = { prototypesPerClass: [1, 3], tau: ['auto' as const], tauScale: [0.3], metric: ['euclidean' as const], alphaL2: [1e-4] };

  test('a held-out fold never reaches its fit: poisoning it changes no fitted model', () => {
    const { fold } = stratifiedFolds(d.y, 4, 1);
    const cand = searchCandidates({ ...DEFAULT_SEARCH_GRID, ...grid, metric: ['lowrank'] }, 4, d.X.rows)[0];
    for (let k = 0; k < 4; k++) {
      const poisoned = { ...d.X, data: Float32Array.from(d.X.data) };
      for (const i of foldRows(fold, k).held) for (let c = 0; c < d.X.cols; c++) poisoned.data[i * d.X.cols + c] = 1e6 * (c + 1);
      const a = fitFold(d.X, d.y, fold, k, cand, 7).toJSON(), b = fitFold(poisoned, d.y, fold, k, cand, 7).toJSON();
      assert.deepEqual(b, a, `fold ${k}`);
    }
  });

  test('the same seed gives the same choice and scores; worker threads give the same scores', async () => {
    const a = new PrototypeClassifierCV({ folds: 3, seed: 5, grid, base: { maxIter: 10 } }).fit(d.X, d.y);
    const b = new PrototypeClassifierCV({ folds: 3, seed: 5, grid, base: { maxIter: 10 } }).fit(d.X, d.y);
    const strip = (s: typeof a.search_) => ({ ...s, seconds: 0 });
    assert.deepEqual(strip(b.search_), strip(a.search_));
    const calls: Array<[number, number]> = [];
    const w = await new PrototypeClassifierCV({ folds: 3, seed: 5, grid, base: { maxIter: 10 } }).fitWith(workerRunner(2, (done, total) => calls.push([done, total])), d.X, d.y);
    assert.deepEqual(strip(w.search_), strip(a.search_));
    // Progress: 0 first, then one call per fit of the search (candidates × folds), counting up to the total.
    const total = a.search_!.candidates.length * 3;
    assert.deepEqual(calls, Array.from({ length: total + 1 }, (_, k) => [k, total]));
    const one: Array<[number, number]> = [];
    await new PrototypeClassifierCV({ folds: 3, seed: 5, grid, base: { maxIter: 10 } }).fitWith(workerRunner(1, (done, n) => one.push([done, n])), d.X, d.y);
    assert.deepEqual(one, calls, 'one thread reports the same sequence');
    assert.deepEqual(Array.from(w.predictProba(d.X).data), Array.from(a.predictProba(d.X).data));
  });

  test('classes made of several blobs: 3 prototypes per class beat 1 in cross-validation', () => {
    const cv = new PrototypeClassifierCV({ folds: 3, seed: 1, grid, base: { maxIter: 20 } }).fit(d.X, d.y);
    const s = cv.search_!;
    const byPpc = (p: number) => s.candidates.find((c) => c.params.prototypesPerClass === p)!;
    assert.ok(byPpc(3).mean > byPpc(1).mean + 0.1, `1/class ${byPpc(1).mean}, 3/class ${byPpc(3).mean}`);
    assert.equal(s.candidates[s.chosen].params.prototypesPerClass, 3);
    assert.equal(cv.best_!.W_!.rows, 12);
  });

  test('hidden directions: the search chooses the learned metric over the Euclidean one', () => {
    const h = hiddenDirections({ seed: 3, samplesPerClass: 40 });
    const cv = new PrototypeClassifierCV({
      folds: 3, seed: 1, base: { maxIter: 15 },
      grid: { prototypesPerClass: [1], metric: ['euclidean', 'lowrank'], tau: [1], alphaL2: [1e-4], shrinkage: [0.05] },
    }).fit(h.X, h.y);
    const s = cv.search_!;
    assert.equal(s.candidates[s.chosen].params.metric, 'lowrank');
    assert.ok(s.candidates[s.chosen].mean > 0.75, `chosen ${s.candidates[s.chosen].mean}`);
  });

  test('the search is saved with the model and read back', () => {
    const cv = new PrototypeClassifierCV({ folds: 3, seed: 1, grid, base: { maxIter: 5 } }).fit(d.X, d.y);
    const back = loadModel(JSON.parse(JSON.stringify(cv.toJSON()))) as PrototypeClassifier;
    assert.ok(back instanceof PrototypeClassifier);
    const sel = back.selection_ as { chosen: number; folds: number; candidates: unknown[] };
    assert.deepEqual([sel.chosen, sel.folds, sel.candidates.length], [cv.search_!.chosen, 3, 2]);
    assert.deepEqual(Array.from(back.predictProba(d.X).data), Array.from(cv.predictProba(d.X).data));
  });

  test('bad options are refused by name', () => {
    assert.throws(() => new PrototypeClassifierCV({ folds: 1 }), /folds must be an integer ≥ 2, got 1/);
    assert.throws(() => new PrototypeClassifierCV({ grid: { prototypes: [1] } as never }), /unknown grid entry "prototypes"/);
    assert.throws(() => new PrototypeClassifierCV({ base: { alpha: -1 } }), /alpha must be a non-negative/);
    assert.throws(() => new PrototypeClassifierCV({ grid: { tau: [] } }).fit(d.X, d.y), /"tau" needs at least one value/);
  });
});
