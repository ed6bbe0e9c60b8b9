// protolens evaluate: confusion matrices and per-class figures checked by hand, folds that score
// every sample once, and the command's report folder cross-checked against a fit done here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/cli.ts';
import { classMetrics, confusionMatrix, evaluateClassifiers, type Candidate } from '../src/select/evaluate.ts';
import { NearestClassMean, KNearestNeighbors } from '../src/model/baselines.ts';
import { PrototypeClassifier } from '../src/model/prototype.ts';
import { FeatureTransform, Pipeline } from '../src/model/preprocess.ts';
import { takeRows, toMatrix, type MatrixInput } from '../src/linalg/matrix.ts';
import { stratifiedSplit, twistedClasses } from '../src/data/synthetic.ts';
import { writeFeatures } from '../src/data/features.node.ts';
import type { Classifier, Label } from '../src/model/types.ts';

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} against ${b}`);

/** Twisted classes without the class of one sample (folds need two per class). */
const dataset = (seed: number, nClasses: number, dim: number) => twistedClasses({ seed, nClasses, dim, singleton: false });

test('confusion matrix and per-class precision, recall, F1 on a hand-checked case', () => {
  //            a  a  a  a  b  b  b  c  c  c
  const truth = ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'c', 'c', 'c'];
  const pred = ['a', 'a', 'a', 'b', 'b', 'b', 'a', 'c', 'c', 'b'];
  const C = confusionMatrix(truth, pred, ['a', 'b', 'c', 'd']);
  // rows: true class; columns: predicted. d has no sample and is never predicted.
  assert.deepEqual(C, [[3, 1, 0, 0], [1, 2, 0, 0], [0, 1, 2, 0], [0, 0, 0, 0]]);
  const m = classMetrics(C, ['a', 'b', 'c', 'd']);
  close(m.accuracy, 7 / 10, 'accuracy');
  // By hand: precision = diagonal / column sum (4, 4, 2, 0), recall = diagonal / row sum (4, 3, 3, 0).
  const want = [
    { label: 'a', precision: 3 / 4, recall: 3 / 4, f1: 3 / 4, support: 4 },
    { label: 'b', precision: 2 / 4, recall: 2 / 3, f1: (2 * (1 / 2) * (2 / 3)) / (1 / 2 + 2 / 3), support: 3 }, // 4/7
    { label: 'c', precision: 2 / 2, recall: 2 / 3, f1: (2 * 1 * (2 / 3)) / (1 + 2 / 3), support: 3 }, // 4/5
    { label: 'd', precision: 0, recall: 0, f1: 0, support: 0 }, // zero division gives 0, as scikit-learn's zero_division=0
  ];
  m.perClass.forEach((got, c) => {
    assert.equal(got.label, want[c].label);
    assert.equal(got.support, want[c].support);
    for (const k of ['precision', 'recall', 'f1'] as const) close(got[k], want[c][k], `${got.label} ${k}`);
  });
  close(m.perClass[1].f1, 4 / 7, 'b F1');
  close(m.macro.precision, (3 / 4 + 1 / 2 + 1 + 0) / 4, 'macro precision');
  close(m.macro.recall, (3 / 4 + 2 / 3 + 2 / 3 + 0) / 4, 'macro recall');
  close(m.macro.f1, (3 / 4 + 4 / 7 + 4 / 5 + 0) / 4, 'macro F1');
  assert.throws(() => confusionMatrix(['a'], ['z'], ['a', 'b']), /confusion matrix: prediction "z" is not one of the classes/);
  assert.throws(() => confusionMatrix(['a', 'b'], ['a'], ['a', 'b']), /2 true labels but 1 predictions/);
});

/** A classifier that always answers its first class: its confusion matrix is known in advance. */
class FirstClass implements Classifier {
  readonly kind = 'FirstClass';
  classes_: Label[] = [];
  nFeatures_ = 0;
  origin_ = null;
  fit(X: MatrixInput, y: readonly Label[]): this { this.classes_ = [...new Set(y)].sort(); this.nFeatures_ = toMatrix(X).cols; return this; }
  predict(X: MatrixInput): Label[] { return new Array(toMatrix(X).rows).fill(this.classes_[0]); }
  predictProba(): never { throw new Error('unused'); }
  score(): number { return 0; }
  getParams(): Record<string, unknown> { return {}; }
  isFitted(): boolean { return this.classes_.length > 0; }
  toJSON(): never { throw new Error('unused'); }
}

test('K folds score every sample once, by a model that never saw it; a holdout scores the test part only', () => {
  const data = dataset(3, 4, 6);
  const counts = new Map<Label, number>();
  for (const l of data.y) counts.set(l, (counts.get(l) ?? 0) + 1);
  const candidates: Candidate[] = [{ name: 'first class', make: () => new FirstClass() as unknown as Classifier }, { name: '1-NN', make: () => new KNearestNeighbors({ k: 1 }) }];
  const e = evaluateClassifiers(data.X, data.y, candidates, { split: { kind: 'folds', folds: 4 }, seed: 7 });
  assert.equal(e.scored, data.X.rows);
  // Always the first class: its column holds every sample of each true class, the others are empty.
  e.classifiers[0].confusion.forEach((row, t) => assert.deepEqual(row, e.classes.map((_, p) => (p === 0 ? counts.get(e.classes[t]) : 0))));
  assert.equal(e.classifiers[0].foldAccuracy.length, 4);
  // 1-NN never scores a sample it was fitted on: on the training points themselves it would be perfect.
  assert.ok(e.classifiers[1].accuracy < 1);
  assert.equal(new KNearestNeighbors({ k: 1 }).fit(data.X, data.y).score(data.X, data.y), 1);
  const h = evaluateClassifiers(data.X, data.y, candidates, { split: { kind: 'holdout', testSize: 0.25 }, seed: 7 });
  const split = stratifiedSplit(data.y, 0.25, 7);
  assert.equal(h.scored, split.test.length);
  assert.throws(() => evaluateClassifiers(data.X, data.y, candidates, { split: { kind: 'folds', folds: 1 }, seed: 0 }), /folds must be an integer ≥ 2, got 1/);
  assert.throws(() => evaluateClassifiers(data.X, data.y, candidates, { split: { kind: 'holdout', testSize: 1.5 }, seed: 0 }), /test size must be a fraction in \(0, 1\), got 1\.5/);
});

test('protolens evaluate: the report folder, its figures cross-checked against a fit done here, and refusals', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'protolens-evaluate-'));
  try {
    const data = dataset(5, 4, 8);
    const feats = join(dir, 'f.npy');
    writeFeatures(feats, { X: data.X, labels: data.y });
    const out = join(dir, 'eval');
    let r = await runCli(['evaluate', feats, '--test-size', '0.3', '--seed', '2', '-J', '8', '--max-iter', '20', '-o', out, '--no-progress']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^# Evaluation of .*f\.npy\n\n\d+ samples, 4 classes, \d+ scored; stratified 30 % test split, seed 2\./);
    for (const f of ['report.html', 'evaluation.json', 'evaluation.md', 'confusion-prototype.svg', 'confusion-class-mean.svg', 'confusion-softmax.svg', 'confusion-knn.svg', '.protolens-output.json']) {
      assert.ok(existsSync(join(out, f)), f);
    }
    const json = JSON.parse(readFileSync(join(out, 'evaluation.json'), 'utf8'));
    assert.deepEqual(json.classifiers.map((c: { name: string }) => c.name), ['prototype model', 'nearest class mean', 'softmax regression (L2)', '1-nearest neighbour']);
    // The class mean behind the default transform (sqrt-l2), fitted here on the same split.
    const split = stratifiedSplit(data.y, 0.3, 2);
    const ncm = new Pipeline(new FeatureTransform('sqrt-l2'), new NearestClassMean()).fit(takeRows(data.X, split.train), split.train.map((i) => data.y[i]));
    const truth = split.test.map((i) => data.y[i]);
    const C = confusionMatrix(truth, ncm.predict(takeRows(data.X, split.test)), json.classes);
    assert.deepEqual(json.classifiers[1].confusion, C);
    assert.deepEqual(json.classifiers[1].perClass, classMetrics(C, json.classes).perClass);
    assert.equal(json.seed, 2);
    // The prototype model's settings are recorded with the evaluation's seed.
    assert.deepEqual([json.classifiers[0].params.modelParams.nPrototypes, json.classifiers[0].params.modelParams.seed], [8, 2]);
    const svg = readFileSync(join(out, 'confusion-class-mean.svg'), 'utf8');
    assert.equal((svg.match(/aria-roledescription="rect mark"/g) ?? []).length, 16, 'one cell per (true, predicted) pair');
    assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /<h2>nearest class mean<\/h2>\n<div class="fig"><svg/);

    // --json prints the evaluation itself; a folder of the user's is refused; bad flags are one line.
    r = await runCli(['evaluate', '--features', feats, '--classifiers', 'class-mean', '--folds', '3', '-o', out, '--json', '--no-progress']);
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(r.out).classifiers[0].confusion.flat().reduce((s: number, v: number) => s + v, 0), data.X.rows);
    const mine = join(dir, 'mine');
    mkdirSync(mine);
    writeFileSync(join(mine, 'notes.txt'), 'keep');
    r = await runCli(['evaluate', '--features', feats, '-o', mine]);
    assert.equal(r.code, 2);
    assert.equal(readFileSync(join(mine, 'notes.txt'), 'utf8'), 'keep');
    const cases: Array<[string[], string]> = [
      [['--folds', '3', '--test-size', '0.2'], 'protolens: --folds and --test-size are two ways of holding data out; give one of them\n'],
      [['--test-size', '1'], 'protolens: Invalid value for --test-size: "1". Expected a fraction between 0 and 1.\n'],
      [['--classifiers', 'svm'], 'protolens: Invalid value for --classifiers: "svm". Expected one of: prototype, class-mean, softmax, knn.\n'],
      [[join(dir, 'other.npy')], `protolens: two feature files given: "${join(dir, 'other.npy')}" and --features "${feats}"; give one\n`],
    ];
    for (const [args, err] of cases) assert.equal((await runCli(['evaluate', '--features', feats, ...args])).err, err);
    assert.equal((await runCli(['evaluate'])).err, 'protolens: a feature file is needed: give it as the first argument or as --features FILE\n');
    const unlabelled = join(dir, 'u.csv');
    writeFileSync(unlabelled, 'a,b\n1,2\n3,4\n');
    assert.match((await runCli(['evaluate', '--features', unlabelled, '-o', join(dir, 'u')])).err, /u\.csv: the file has no labels; an evaluation compares predictions with the true classes/);

    // --model: the saved model's settings, seed and transform, on the evaluation's split.
    const saved = join(dir, 'm.json');
    r = await runCli(['fit', feats, '-o', saved, '-J', '6', '--preprocess', 'l2', '--seed', '5', '--max-iter', '15', '--no-progress']);
    assert.equal(r.code, 0, r.err);
    r = await runCli(['evaluate', feats, '--model', saved, '--classifiers', 'prototype', '--test-size', '0.3', '--seed', '2', '-o', out, '--json', '--no-progress']);
    assert.equal(r.code, 0, r.err);
    const withModel = JSON.parse(readFileSync(join(out, 'evaluation.json'), 'utf8'));
    assert.deepEqual([withModel.settingsFrom, withModel.preprocess, withModel.classifiers[0].params.preprocess], [saved, 'l2', 'l2']);
    const params = withModel.classifiers[0].params.modelParams;
    assert.deepEqual([params.nPrototypes, params.seed, params.maxIter], [6, 5, 15]);
    const again = new Pipeline(new FeatureTransform('l2'), new PrototypeClassifier(params)).fit(takeRows(data.X, split.train), split.train.map((i) => data.y[i]));
    assert.deepEqual(withModel.classifiers[0].confusion, confusionMatrix(truth, again.predict(takeRows(data.X, split.test)), withModel.classes));
    assert.equal((await runCli(['evaluate', feats, '--model', saved, '-J', '4', '--preprocess', 'none', '-o', out])).err,
      'protolens: --model gives the prototype model\'s settings and feature transform; drop --preprocess, --prototypes\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
