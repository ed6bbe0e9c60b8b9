/**
 * Pins the exact fitted P and W (sha256 of their float32 bytes) of small seeded fits, recorded on
 * main at c1fb441 before the class step's loops were trimmed (2026-12-01). Speed work on the class
 * step, L-BFGS or FISTA that claims "same model, only faster" must keep these hashes; a change that
 * is meant to alter the arithmetic (another order of operations, other tolerances or defaults)
 * fails here and must say so and re-record them. The fits use the JavaScript GEMM and loops
 * (no native addon), so the figures do not depend on the machine's SIMD width or thread count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { twistedClasses } from '../src/data/synthetic.ts';
import { PrototypeClassifier, type PrototypeOptions } from '../src/model/prototype.ts';
import { lbfgs } from '../src/linalg/optim.ts';
import type { Matrix } from '../src/linalg/matrix.ts';
import { codesFor } from '../src/model/labels.ts';
import { classForward, computeQ, makeProblem, makeWorkspace } from '../src/model/objective.ts';

const sha = (a: Float32Array | Float64Array) => createHash('sha256').update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)).digest('hex');

// Each fit: its options (explicit, so a change of a default does not move them) and the hashes.
// classIter 30 > the L-BFGS memory (10), so the correction pairs are recycled.
const FITS: { name: string; options: PrototypeOptions; P: string; W: string }[] = [
  { name: 'L2 (L-BFGS class steps)', options: { nPrototypes: 40, regularization: 'l2', alpha: 1e-5, maxIter: 6, classIter: 30, tol: 1e-4, seed: 3 },
    P: '8fa2f10e0fb124682c6cfdd2732a4f0137989ba4389c3e0b51e390b1dce79438',
    W: '701ad17982a80eb2859fbdd9bfb184055bbef870ef98e3042c5a0d0136294544' },
  { name: 'L1 (FISTA class steps)', options: { nPrototypes: 24, regularization: 'l1', alpha: 1e-3, maxIter: 6, classIter: 30, tol: 1e-4, seed: 3 },
    P: '036fa62c017da1cbf619236c367929bc6228db1edf5937b9b9f18f89a0d686d4',
    W: '3b9e06dd81ef3e49da897f0f416a9b33fc27a9fcd1f0afcd81738ed4a30d674e' },
  { name: 'L2 with a diagonal metric (L-BFGS metric steps)', options: { nPrototypes: 24, regularization: 'l2', alpha: 1e-5, maxIter: 4, classIter: 30, tol: 1e-4, seed: 3, metric: 'diagonal' },
    P: 'f2371db4e9309be9b3827c21ced55f9152ff31584ff1c860a07005aa3fc6ccde',
    W: '2b6a3031f20def0092207039747be43031d6ee84d1390d943a0b06d0f759de63' },
];

for (const f of FITS) {
  test(`a seeded ${f.name} fit gives the recorded P and W, bit for bit`, () => {
    const d = twistedClasses({ seed: 11, nClasses: 6, dim: 8 });
    const m = new PrototypeClassifier(f.options).fit(d.X, d.y);
    const got = { P: sha(m.prototypes_!.data), W: sha(m.W_!.data) };
    assert.deepEqual(got, { P: f.P, W: f.W }, `${f.name}: the fitted model changed (history ${JSON.stringify(m.history_.map((h) => h.loss))})`);
  });
}

test('L-BFGS on the 20-dimensional Rosenbrock function takes the recorded path, bit for bit', () => {
  // The fits above round W to float32, which can hide a change in the last bits of L-BFGS's
  // float64 arithmetic; this pins its float64 result, evaluation count and final value directly.
  const fg = (x: Float64Array, g: Float64Array): number => {
    let f = 0;
    g.fill(0);
    for (let i = 0; i + 1 < x.length; i++) {
      const a = x[i + 1] - x[i] * x[i], b = 1 - x[i];
      f += 100 * a * a + b * b;
      g[i] += -400 * a * x[i] - 2 * b;
      g[i + 1] += 200 * a;
    }
    return f;
  };
  const x0 = Float64Array.from({ length: 20 }, (_, i) => (i % 2 ? 1.2 : -1.2) + 0.01 * i);
  const r = lbfgs(fg, x0, { maxIter: 80, gtol: 0, ftol: 0 });
  const got = { x: sha(r.x), f: r.f, iterations: r.iterations, evaluations: r.evaluations };
  assert.deepEqual(got, { x: 'f9bd681f5f99f4fc420f4adebf2ab7e886a4d2f444a09cc25578d8b4f1adc5e3', f: 4.027465785762214, iterations: 80, evaluations: 109 });
});

test('classForward without the accuracy count gives the same loss and probabilities, and counts 0', () => {
  const d = twistedClasses({ seed: 11, nClasses: 6, dim: 8 });
  const m = new PrototypeClassifier({ nPrototypes: 12, maxIter: 2, seed: 3 }).fit(d.X, d.y);
  const L = m.classes_.length, J = m.prototypes_!.rows, N = d.X.rows;
  const pb = makeProblem(d.X as Matrix, codesFor(d.y, m.classes_), L, m.tau_, 1e-5, 'l2');
  const a = makeWorkspace(N, J, L, false), b = makeWorkspace(N, J, L, false);
  computeQ(pb, m.prototypes_!, a); computeQ(pb, m.prototypes_!, b);
  const full = classForward(pb, m.W_!.data, J, a), lossOnly = classForward(pb, m.W_!.data, J, b, false);
  assert.ok(full.correct > N / 2, `${full.correct} of ${N} correct`);
  assert.deepEqual(lossOnly, { nll: full.nll, correct: 0 });
  assert.deepEqual(b.C, a.C);
});
