/**
 * The learned metric's start remembered by content (src/model/start-memo.ts): a fit that meets a
 * start it has seen gives the very model a fresh fit gives, rows changed in place are never served
 * a stale start, and a cross-validated search computes one start per fold and shrinkage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { twistedClasses } from '../src/data/synthetic.ts';
import { clearMetricStartMemo, metricStartMemoStats, PrototypeClassifier, type PrototypeOptions } from '../src/model/prototype.ts';
import { contentHash, LruMemo } from '../src/model/start-memo.ts';
import { PrototypeClassifierCV } from '../src/select/cv.ts';
import type { Matrix } from '../src/linalg/matrix.ts';

const sha = (a: Float32Array) => createHash('sha256').update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
const fingerprint = (m: PrototypeClassifier) => ({ P: sha(m.prototypes_!.data), W: sha(m.W_!.data), history: m.history_.map((h) => h.loss) });
const LOWRANK: PrototypeOptions = { nPrototypes: 8, metric: 'lowrank', metricRank: 6, shrinkage: 0.3, maxIter: 4, classIter: 20, seed: 5 };

test('contentHash: equal for equal contents in different arrays, different when one value or the length changes', () => {
  const a = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i));
  const b = a.slice();
  assert.equal(contentHash(a), contentHash(b));
  b[617] = Math.fround(b[617] + 1e-6);
  assert.notEqual(contentHash(a), contentHash(b));
  assert.notEqual(contentHash(a), contentHash(a.subarray(0, 999)));
  // -0 and 0 differ in bits, and so in the start's arithmetic: they must not share a key.
  assert.notEqual(contentHash(Float32Array.of(0, 1)), contentHash(Float32Array.of(-0, 1)));
  assert.notEqual(contentHash(Int32Array.of(0, 1, 2)), contentHash(Int32Array.of(0, 2, 1)));
});

test('LruMemo: computes each key once while kept, and drops the least recently used beyond its size', () => {
  const memo = new LruMemo<number>(2);
  let made = 0;
  const get = (k: string) => memo.get(k, () => ++made);
  assert.equal(get('a'), 1);
  assert.equal(get('b'), 2);
  assert.equal(get('a'), 1); // a is now the most recent
  assert.equal(get('c'), 3); // drops b
  assert.equal(get('a'), 1);
  assert.equal(get('b'), 4); // b was dropped: made afresh
  assert.deepEqual({ hits: memo.hits, misses: memo.misses, made }, { hits: 2, misses: 4, made: 4 });
});

test('a low-rank fit that meets a remembered start gives the same model, bit for bit, as one that computes it', () => {
  const d = twistedClasses({ seed: 8, dim: 24, nClasses: 5 });
  clearMetricStartMemo();
  const fresh = fingerprint(new PrototypeClassifier(LOWRANK).fit(d.X, d.y));
  assert.deepEqual(metricStartMemoStats().start, { hits: 0, misses: 1 });
  // Same rows in another array (as every fold's rows are, taken afresh for each setting).
  const X = d.X as Matrix;
  const copy: Matrix = { data: X.data.slice(), rows: X.rows, cols: X.cols };
  const again = fingerprint(new PrototypeClassifier({ ...LOWRANK, alpha: 1e-3 }).fit(copy, d.y));
  const same = fingerprint(new PrototypeClassifier(LOWRANK).fit(copy, d.y));
  assert.deepEqual(metricStartMemoStats().start, { hits: 2, misses: 1 });
  assert.deepEqual(same, fresh);
  assert.notDeepEqual(again.W, fresh.W, 'another α gives another model from the same start');
  // Another shrinkage, seed or rank is another start.
  new PrototypeClassifier({ ...LOWRANK, shrinkage: 0.1 }).fit(copy, d.y);
  new PrototypeClassifier({ ...LOWRANK, seed: 6 }).fit(copy, d.y);
  new PrototypeClassifier({ ...LOWRANK, metricRank: 4 }).fit(copy, d.y);
  assert.deepEqual(metricStartMemoStats().start, { hits: 2, misses: 4 });
});

test('rows changed in place are not served the start of the rows they were', () => {
  const d = twistedClasses({ seed: 9, dim: 24, nClasses: 5 });
  const X = d.X as Matrix;
  clearMetricStartMemo();
  new PrototypeClassifier(LOWRANK).fit(X, d.y);
  X.data[3] += 0.5; // the same array, one value changed
  const changed = fingerprint(new PrototypeClassifier(LOWRANK).fit(X, d.y));
  assert.deepEqual(metricStartMemoStats().start, { hits: 0, misses: 2 });
  clearMetricStartMemo();
  assert.deepEqual(fingerprint(new PrototypeClassifier(LOWRANK).fit(X, d.y)), changed);
  // Labels are part of the key too: the same rows with two classes swapped start elsewhere.
  const swapped = d.y.map((l) => (l === d.y[0] ? '__other__' : l));
  new PrototypeClassifier(LOWRANK).fit(X, swapped);
  assert.deepEqual(metricStartMemoStats().start, { hits: 0, misses: 2 });
});

test('a cross-validated search computes one start per fold and shrinkage, whatever the other settings', () => {
  const d = twistedClasses({ seed: 10, dim: 16, nClasses: 4, singleton: false });
  clearMetricStartMemo();
  // 2 folds × (2 J × 2 α × 2 shrinkages) low-rank fits, then the chosen setting refitted on all rows.
  const cv = new PrototypeClassifierCV({ folds: 2, seed: 1, grid: { metric: ['lowrank'], metricRank: [6], prototypesPerClass: [1, 2], regularization: ['l2'], alphaL2: [1e-5, 1e-3], tau: ['auto'], tauScale: [1], shrinkage: [0.1, 0.3] }, base: { maxIter: 3, classIter: 15 } });
  cv.fit(d.X, d.y);
  const { hits, misses } = metricStartMemoStats().start;
  assert.equal(hits + misses, 2 * 8 + 1);
  assert.equal(misses, 2 * 2 + 1, 'one start per fold and shrinkage, and one for the refit on all rows');
});
