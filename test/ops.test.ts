import { test } from 'node:test';
import assert from 'node:assert/strict';
import { softmaxRows } from '../src/linalg/ops.ts';
import { rng } from '../src/linalg/random.ts';

test('softmaxRows: hand-computed rows, the log-sum-exp, and a shift that changes nothing', () => {
  // softmax(0, ln 3) = (1/4, 3/4); log-sum-exp = ln 4. Adding 100 to a row changes no probability
  // (up to float32's spacing at 100, 8e-6, in the difference of the two logits).
  const x = Float32Array.from([0, Math.log(3), 100, 100 + Math.log(3)]);
  const logZ = new Float64Array(2);
  softmaxRows(x, 2, 2, logZ);
  for (const [k, want, tol] of [[0, 0.25, 1e-7], [1, 0.75, 1e-7], [2, 0.25, 2e-6], [3, 0.75, 2e-6]]) {
    assert.ok(Math.abs(x[k] - want) < tol, `x[${k}] = ${x[k]}`);
  }
  assert.ok(Math.abs(logZ[0] - Math.log(4)) < 1e-7);
  assert.ok(Math.abs(logZ[1] - 100 - Math.log(4)) < 1e-5);
});

test('softmaxRows with a scale gives the same numbers as scaling the Float32Array first', () => {
  const r = rng(3);
  const x = Float32Array.from({ length: 40 * 23 }, () => r.next() * 300);
  const a = Float32Array.from(x), b = Float32Array.from(x);
  const za = new Float64Array(40), zb = new Float64Array(40);
  const s = -1 / (2 * 7.3);
  for (let k = 0; k < b.length; k++) b[k] *= s;
  softmaxRows(a, 40, 23, za, s);
  softmaxRows(b, 40, 23, zb);
  assert.deepEqual(a, b);
  assert.deepEqual(za, zb);
});
