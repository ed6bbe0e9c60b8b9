// Open-set recognition and calibration (issue 18): novelty scores, the rejection threshold,
// temperature scaling, and what survives a save.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rng } from '../src/linalg/random.ts';
import type { Matrix } from '../src/linalg/matrix.ts';
import { PrototypeClassifier } from '../src/model/prototype.ts';
import { loadModel } from '../src/model/io.ts';
import { noveltyScores, noveltyStats, rejectionThreshold, NOVELTY_SCORES } from '../src/model/novelty.ts';
import {
  DEFAULT_CENTRE_PRIOR_PER_SAMPLE, DEFAULT_MARGIN_PRIOR, DEFAULT_SOFTENING_PRIOR, DEFAULT_TEMPERATURE_PRIOR, MARGIN_EXPONENT_LIMIT, calibrationRecord, composeMarginTemperatures, eceSamplingFloor, expectedCalibrationError, fitMarginTemperature, fitMarginTemperatureAround, fitTemperature, logitMargins,
  type TemperatureCentre,
  sampleTemperatures, temperatureObjective, temperedNll, temperedSoftmax,
} from '../src/model/calibration.ts';
import { calibrateByCrossFitting, outOfFoldOutputs } from '../src/select/calibrate.ts';
import { foldRows, stratifiedFolds } from '../src/select/cv.ts';
import { deriveSeed } from '../src/linalg/random.ts';
import { takeRows } from '../src/linalg/matrix.ts';
import { writeFeatures } from '../src/data/features.node.ts';
import { runCli } from './helpers/cli.ts';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Gaussian blobs (unit spread) around seeded centres 6 apart per coordinate on average; blob b is class String.fromCharCode(65 + b). */
function blobs(sizes: number[], dim: number, seed: number, centreSeed = 100): { X: Matrix; y: string[] } {
  const rc = rng(centreSeed), r = rng(seed);
  const centres = sizes.map(() => Array.from({ length: dim }, () => 3 * rc.normal()));
  const n = sizes.reduce((a, b) => a + b, 0);
  const data = new Float32Array(n * dim), y: string[] = [];
  let i = 0;
  sizes.forEach((m, b) => {
    for (let k = 0; k < m; k++, i++) {
      for (let d = 0; d < dim; d++) data[i * dim + d] = centres[b][d] + r.normal();
      y.push(String.fromCharCode(65 + b));
    }
  });
  return { X: { data, rows: n, cols: dim }, y };
}

/** The rows of class `c` of a sample set. */
function rowsOf(s: { X: Matrix; y: string[] }, keep: (label: string) => boolean): { X: Matrix; y: string[] } {
  const idx = s.y.map((l, i) => (keep(l) ? i : -1)).filter((i) => i >= 0);
  const D = s.X.cols, data = new Float32Array(idx.length * D);
  idx.forEach((i, k) => data.set(s.X.data.subarray(i * D, (i + 1) * D), k * D));
  return { X: { data, rows: idx.length, cols: D }, y: idx.map((i) => s.y[i]) };
}

const rate = (scores: ArrayLike<number>, t: number) => Array.from(scores).filter((v) => v > t).length / scores.length;

describe('novelty and the rejection threshold on a held-out blob', () => {
  // Six blobs in 16-d: A–E are the known classes, F is never fitted. Fit, calibration and test
  // samples are drawn separately (seeds 1, 2, 3).
  const dim = 16, known = (l: string) => l !== 'F';
  const train = rowsOf(blobs([60, 60, 60, 60, 60, 0], dim, 1), known);
  const held = rowsOf(blobs([80, 80, 80, 80, 80, 0], dim, 2), known);
  const probe = blobs([100, 100, 100, 100, 100, 200], dim, 3);
  const testKnown = rowsOf(probe, known), testNew = rowsOf(probe, (l) => l === 'F');

  for (const metric of ['euclidean', 'lowrank'] as const) {
    test(`${metric} metric: the held-out blob scores above the threshold, known samples mostly below, for every score`, () => {
      const m = new PrototypeClassifier({ nPrototypes: 10, metric, seed: 1 }).fit(train.X, train.y);
      for (const score of NOVELTY_SCORES) {
        const rec = m.calibrate(held.X, held.y, { score, targetFalseRejection: 0.05 });
        const t = rec.rejection.threshold;
        const falseRejection = rate(m.novelty(testKnown.X, score).score, t);
        const caught = rate(m.novelty(testNew.X, score).score, t);
        // Measured: every score rejects all 200 samples of F, and 3.2–5.4 % of the 500 known test
        // samples (Euclidean: relative 5.4, spread 4.6, log-proximity 4.8; low rank: 4.8, 3.2, 3.4).
        assert.equal(caught, 1, `${score}: ${(100 * caught).toFixed(1)} % of the held-out blob rejected (threshold ${t.toFixed(3)})`);
        assert.ok(falseRejection >= 0.02 && falseRejection <= 0.08, `${score}: ${(100 * falseRejection).toFixed(1)} % of known test samples rejected; the target is 5 %`);
      }
    });
  }

  test('the threshold rejects the target rate of the held-out samples it was chosen on (±2 %)', () => {
    const m = new PrototypeClassifier({ nPrototypes: 10, seed: 1 }).fit(train.X, train.y);
    for (const target of [0.01, 0.05, 0.1, 0.2]) {
      for (const score of NOVELTY_SCORES) {
        const rec = m.calibrate(held.X, held.y, { score, targetFalseRejection: target });
        const achieved = rate(m.novelty(held.X, score).score, rec.rejection.threshold);
        assert.ok(Math.abs(achieved - target) <= 0.02, `${score} at ${target}: ${achieved} of ${held.y.length} rejected`);
        assert.equal(rec.rejection.heldOutFalseRejection, achieved);
        assert.equal(rec.rejection.heldOut, held.y.length);
      }
    }
  });

  test('predictOpen and explain answer "unknown" beyond the threshold, with the nearest prototype and the reason', () => {
    const m = new PrototypeClassifier({ nPrototypes: 10, seed: 1 }).fit(train.X, train.y);
    m.calibrate(held.X, held.y, { score: 'spread' });
    const open = m.predictOpen(testNew.X);
    assert.ok(open.every((l) => l === 'unknown'), `answers: ${[...new Set(open)].join(', ')}`);
    const closed = m.predict(testNew.X);
    assert.ok(closed.every((l) => l !== 'unknown'), 'predict keeps the closed-set class');
    const x = Array.from(testNew.X.data.subarray(0, dim));
    const e = m.explain(x);
    assert.equal(e.unknown, true);
    const nv = e.novelty!;
    assert.equal(nv.kind, 'spread');
    assert.ok(nv.score > nv.threshold!);
    assert.match(nv.reason, new RegExp(`^unknown: nearest prototype p${nv.prototype} at ${nv.spreads.toFixed(2)} spreads; threshold ${nv.threshold!.toFixed(2)}$`));
    const k = m.explain(Array.from(testKnown.X.data.subarray(0, dim)));
    assert.equal(k.unknown, false);
    assert.match(k.novelty!.reason, /^known: /);
  });
});

describe('novelty scores by hand', () => {
  test('spread, relative and log-proximity of one sample against two prototypes', () => {
    // Training distances²: sample 0 → p0 at 1, sample 1 → p0 at 9, sample 2 → p1 at 4; to the centre 4, 4, 16.
    const D2 = { data: Float32Array.from([1, 25, 9, 30, 36, 4]), rows: 3, cols: 2 };
    const stats = noveltyStats(D2, [4, 4, 16], new Float32Array(1));
    const sbar2 = (1 + 9 + 4) / 3;
    assert.ok(Math.abs(stats.spreads[0] - Math.sqrt((1 + 9 + sbar2) / 3)) < 1e-6);
    assert.ok(Math.abs(stats.spreads[1] - Math.sqrt((4 + sbar2) / 2)) < 1e-6);
    assert.ok(Math.abs(stats.centreSpread - Math.sqrt(8)) < 1e-12);
    assert.deepEqual(Array.from(stats.counts), [2, 1]);
    // A new sample at distance² 16 from p0, 49 from p1, 32 from the centre.
    const x = { data: Float32Array.from([16, 49]), rows: 1, cols: 2 };
    const s0 = stats.spreads[0], s1 = stats.spreads[1];
    const spread = noveltyScores(x, [32], stats, 2, 'spread');
    assert.equal(spread.prototype[0], 4 / s0 < 7 / s1 ? 0 : 1);
    assert.ok(Math.abs(spread.score[0] - Math.min(4 / s0, 7 / s1)) < 1e-6);
    const rel = noveltyScores(x, [32], stats, 2, 'relative');
    assert.ok(Math.abs(rel.score[0] - Math.min(4 / s0, 7 / s1) / (Math.sqrt(32) / Math.sqrt(8))) < 1e-6);
    const lp = noveltyScores(x, [32], stats, 2, 'log-proximity');
    assert.ok(Math.abs(lp.score[0] + Math.log(Math.exp(-16 / 4) + Math.exp(-49 / 4))) < 1e-9, `${lp.score[0]}`);
    assert.equal(lp.prototype[0], 0);
  });

  test('rejectionThreshold: order statistics, ties kept together, bad rates refused', () => {
    assert.equal(rejectionThreshold([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.2), 8);
    assert.equal(rejectionThreshold([10, 9, 8, 7, 6, 5, 4, 3, 2, 1], 0), 10);
    // Three samples tie at 9: rejecting them all would be 30 %; the threshold stays at 9 and rejects only the 10.
    assert.equal(rejectionThreshold([1, 2, 3, 4, 5, 6, 9, 9, 9, 10], 0.2), 9);
    assert.throws(() => rejectionThreshold([1, 2], 1), /targetFalseRejection must be in \[0, 1\), got 1/);
    assert.throws(() => rejectionThreshold([], 0.05), /no held-out scores/);
  });
});

describe('temperature scaling', () => {
  test('fitTemperature recovers the temperature that generated the labels', () => {
    // Labels drawn from softmax(z / 2.5): the held-out NLL is smallest near T = 2.5.
    const r = rng(7), N = 4000, L = 5;
    const z = new Float32Array(N * L), codes = new Int32Array(N);
    for (let i = 0; i < N; i++) {
      for (let l = 0; l < L; l++) z[i * L + l] = 4 * r.normal();
      const p = temperedSoftmax({ data: z.subarray(i * L, (i + 1) * L), rows: 1, cols: L }, 2.5).data;
      let u = r.next(), c = 0;
      while (c < L - 1 && (u -= p[c]) > 0) c++;
      codes[i] = c;
    }
    const f = fitTemperature({ data: z, rows: N, cols: L }, codes);
    assert.ok(Math.abs(f.temperature - 2.5) < 0.15, `T = ${f.temperature}`);
    assert.ok(f.nllAfter < f.nllBefore);
    // The prior against sharpening (T < 1) does nothing here: maximum likelihood's T exactly; a weak prior against softening
    // (λ_soft = 1) is outweighed by 4,000 samples (it pulls T only slightly towards 1).
    const mle = fitTemperature({ data: z, rows: N, cols: L }, codes, { prior: 0 });
    assert.equal(f.temperature, mle.temperature);
    const soft = fitTemperature({ data: z, rows: N, cols: L }, codes, { softPrior: 1 }).temperature;
    assert.ok(soft < mle.temperature && mle.temperature - soft < 0.01, `T = ${mle.temperature} vs ${soft} with λ_soft = 1`);
    // Labels drawn from softmax(z / 0.5) (sharper): T < 1, and with 4,000 samples the prior pulls it only slightly towards 1.
    const r2 = rng(8), sharp = new Int32Array(N);
    for (let i = 0; i < N; i++) {
      const p = temperedSoftmax({ data: z.subarray(i * L, (i + 1) * L), rows: 1, cols: L }, 0.5).data;
      let u = r2.next(), c = 0;
      while (c < L - 1 && (u -= p[c]) > 0) c++;
      sharp[i] = c;
    }
    const s0 = fitTemperature({ data: z, rows: N, cols: L }, sharp, { prior: 0 }).temperature;
    const s1 = fitTemperature({ data: z, rows: N, cols: L }, sharp).temperature;
    assert.ok(Math.abs(s0 - 0.5) < 0.05, `T = ${s0}`);
    assert.ok(s1 > s0 && s1 - s0 < 0.01, `T = ${s1} with the prior, ${s0} without`);
  });

  test('temperature objective by hand, and its derivative against finite differences', () => {
    // One sample, logits [1, 0], class 0, u = log T = 0, λ = 2: J = log(1 + e^−1), dJ/du = 1/(1 + e).
    const one = temperatureObjective({ data: Float32Array.from([1, 0]), rows: 1, cols: 2 }, [0], 0, 2);
    assert.ok(Math.abs(one.value - Math.log(1 + Math.exp(-1))) < 1e-12, `${one.value}`);
    assert.ok(Math.abs(one.gradient - 1 / (1 + Math.E)) < 1e-12, `${one.gradient}`);
    // At T = 1/2 (u = −log 2) the prior adds (2/2)(log 2)² and −2 log 2; the NLL is log(1 + e^−2).
    const half = temperatureObjective({ data: Float32Array.from([1, 0]), rows: 1, cols: 2 }, [0], -Math.LN2, 2);
    assert.ok(Math.abs(half.value - (Math.log(1 + Math.exp(-2)) + Math.LN2 ** 2)) < 1e-12, `${half.value}`);
    assert.ok(Math.abs(half.gradient - (2 / (1 + Math.exp(2)) - 2 * Math.LN2)) < 1e-12, `${half.gradient}`);
    // At T = 2 the prior adds nothing: the NLL is log(1 + e^−1/2), the derivative (1/2)/(1 + e^1/2).
    const two = temperatureObjective({ data: Float32Array.from([1, 0]), rows: 1, cols: 2 }, [0], Math.LN2, 2);
    assert.ok(Math.abs(two.value - Math.log(1 + Math.exp(-0.5))) < 1e-12, `${two.value}`);
    assert.ok(Math.abs(two.gradient - 0.5 / (1 + Math.exp(0.5))) < 1e-12, `${two.gradient}`);
    // A sum over samples: the prior-free part is n × the mean NLL.
    const r = rng(21), N = 30, L = 4;
    const z = new Float32Array(N * L).map(() => 3 * r.normal());
    const codes = Array.from({ length: N }, (_, i) => i % L);
    const Z = { data: z, rows: N, cols: L };
    assert.ok(Math.abs(temperatureObjective(Z, codes, 0.3, 0).value - N * temperedNll(Z, codes, Math.exp(-0.3))) < 1e-9);
    for (const prior of [0, 1, DEFAULT_TEMPERATURE_PRIOR]) {
      for (const u of [-2, -0.4, -1e-3, 0.7, 2.5]) {
        const h = 1e-5;
        const fd = (temperatureObjective(Z, codes, u + h, prior).value - temperatureObjective(Z, codes, u - h, prior).value) / (2 * h);
        const g = temperatureObjective(Z, codes, u, prior).gradient;
        assert.ok(Math.abs(fd - g) < 1e-5 * Math.max(1, Math.abs(g)), `λ = ${prior}, u = ${u}: ${g} vs ${fd}`);
      }
    }
  });

  test('with no held-out error the prior keeps T near 1; without it T collapses', () => {
    // Ten samples of two classes, every one right (margins 1 to 4).
    const Z = { data: Float32Array.from([1, 0, 2, 0, 0, 3, 0, 1.5, 4, 0, 2.5, 0, 0, 1, 0, 2, 3, 0, 0, 4]), rows: 10, cols: 2 };
    const y = [0, 0, 1, 1, 0, 0, 1, 1, 0, 1];
    const mle = fitTemperature(Z, y, { prior: 0 });
    assert.ok(mle.temperature < 1e-3, `maximum likelihood: T = ${mle.temperature}`);
    const map = fitTemperature(Z, y);
    assert.ok(map.temperature > 0.85 && map.temperature < 0.95, `T = ${map.temperature}`);
    // It is the minimum of the objective: no point of a fine grid over log T is lower.
    const at = temperatureObjective(Z, y, Math.log(map.temperature), DEFAULT_TEMPERATURE_PRIOR).value;
    for (let u = -6; u <= 6; u += 0.01) assert.ok(temperatureObjective(Z, y, u, DEFAULT_TEMPERATURE_PRIOR).value >= at - 1e-12, `u = ${u}`);
    assert.ok(Math.abs(temperatureObjective(Z, y, Math.log(map.temperature), DEFAULT_TEMPERATURE_PRIOR).gradient) < 1e-6);
    // A stronger prior moves T less.
    assert.ok(fitTemperature(Z, y, { prior: 64 }).temperature > map.temperature);
    assert.throws(() => fitTemperature(Z, y, { prior: -1 }), /temperature prior must be a finite number ≥ 0, got -1/);
  });

  // Nine samples right with logits [2, 0] and one wrong with logits [0, 40] (class 0): a very confident error among ten.
  const confidentError = () => {
    const z: number[] = [], y: number[] = [];
    for (let i = 0; i < 9; i++) { z.push(2, 0); y.push(0); }
    z.push(0, 40); y.push(0);
    return { Z: { data: Float32Array.from(z), rows: 10, cols: 2 }, y };
  };

  test('one very confident error among ten: a prior against softening bounds T by hand; without it (the default) T runs to e^9', () => {
    const { Z, y } = confidentError();
    // Bound: at the fitted u = log T > 0, dJ/du = 0 gives λ_soft u = e^−u Σ_i (Σ_l p_il z_il − z_{i,y_i}). The right samples
    // add −2 p_i1 < 0, the error 40 p_i1 < 40, so u e^u < 40 / λ_soft: T log T < 40 / λ_soft (λ_soft = 1: T < 14.6).
    const below = (T: number, s: number) => T > 1 && T * Math.log(T) < 40 / s;
    const f = fitTemperature(Z, y, { softPrior: 1 });
    assert.ok(below(f.temperature, 1), `T = ${f.temperature}`);
    assert.ok(Math.abs(temperatureObjective(Z, y, Math.log(f.temperature), DEFAULT_TEMPERATURE_PRIOR, 1).gradient) < 1e-6);
    for (const s of [0.25, 1, 4]) {
      const T = fitTemperature(Z, y, { softPrior: s }).temperature;
      assert.ok(below(T, s), `λ_soft = ${s}: T = ${T}`);
      // The margin rule: β ≥ 0 divides the error's logits by r^β ≥ 1 (its margin is the largest), so the same bound holds for T0.
      const m = fitMarginTemperature(Z, y, { softPrior: s });
      assert.ok(m.margin.exponent >= 0 && below(m.temperature, s), `λ_soft = ${s}: T0 = ${m.temperature}, β = ${m.margin.exponent}`);
    }
    // Without it (λ_soft = 0, the default) the likelihood keeps falling towards 10 log 2 as T grows: T is the top of the
    // search range, e^9, far past 14.6.
    assert.equal(DEFAULT_SOFTENING_PRIOR, 0);
    assert.ok(Math.abs(fitTemperature(Z, y).temperature - Math.exp(9)) < 1e-6 * Math.exp(9));
    // The margin rule too (its bracket no longer drifts past e^9 from one β to the next: it reached e^12 here).
    const m0 = fitMarginTemperature(Z, y);
    assert.ok(m0.temperature > 8000 && m0.temperature <= Math.exp(9) * (1 + 1e-9), `T0 = ${m0.temperature}`);
    // What calibration records: the strength it used, and the bounded temperature.
    const rec = calibrationRecord({ logits: Z, codes: y, novelty: new Float64Array(10) }, { score: 'spread', softPrior: 1 }, 'hand-made');
    assert.equal(rec.softPrior, 1);
    assert.ok(below(rec.temperature, 1), `T0 = ${rec.temperature}`);
    assert.equal(calibrationRecord({ logits: Z, codes: y, novelty: new Float64Array(10) }, { score: 'spread' }, 'hand-made').softPrior, 0);
    assert.throws(() => fitTemperature(Z, y, { softPrior: -1 }), /softening prior must be a finite number ≥ 0, got -1/);
  });

  test('the top-label objective: by hand, equal to the likelihood when every sample is right, derivative against finite differences', () => {
    // Logits [2, 1, 0], c = e²/(e² + e + 1) for the predicted class 0: right (class 0) costs −log c, wrong (class 1) −log(1 − c).
    const one = { data: Float32Array.from([2, 1, 0]), rows: 1, cols: 3 };
    const c = Math.exp(2) / (Math.exp(2) + Math.E + 1);
    assert.ok(Math.abs(temperatureObjective(one, [0], 0, 0, 0, 'top-label').value + Math.log(c)) < 1e-12);
    assert.ok(Math.abs(temperatureObjective(one, [1], 0, 0, 0, 'top-label').value + Math.log(1 - c)) < 1e-12);
    // The wrong label's class does not matter to it (only that the prediction is wrong); it does to the likelihood.
    assert.equal(temperatureObjective(one, [1], 0.4, 0, 0, 'top-label').value, temperatureObjective(one, [2], 0.4, 0, 0, 'top-label').value);
    assert.notEqual(temperatureObjective(one, [1], 0.4, 0).value, temperatureObjective(one, [2], 0.4, 0).value);
    const r = rng(23), N = 40, L = 5;
    const Z = { data: new Float32Array(N * L).map(() => 3 * r.normal()), rows: N, cols: L };
    const predicted = Array.from({ length: N }, (_, i) => { let k = 0; for (let l = 1; l < L; l++) if (Z.data[i * L + l] > Z.data[i * L + k]) k = l; return k; });
    // Every sample right: the two objectives are the same function of T.
    for (const u of [-1.5, 0, 0.8]) {
      const a = temperatureObjective(Z, predicted, u, 16, 1), b = temperatureObjective(Z, predicted, u, 16, 1, 'top-label');
      assert.ok(Math.abs(a.value - b.value) < 1e-9 && Math.abs(a.gradient - b.gradient) < 1e-9, `u = ${u}`);
    }
    // Some wrong (one in three), including confident errors far out: derivative against central differences.
    const codes = predicted.map((k, i) => (i % 3 === 0 ? (k + 1 + (i % (L - 1))) % L : k));
    for (const [prior, soft] of [[0, 0], [16, 0], [16, 4]]) {
      for (const u of [-3, -0.5, -1e-3, 0.6, 2.5]) {
        const h = 1e-5, J = (v: number) => temperatureObjective(Z, codes, v, prior, soft, 'top-label');
        const fd = (J(u + h).value - J(u - h).value) / (2 * h), g = J(u).gradient;
        assert.ok(Math.abs(fd - g) < 1e-5 * Math.max(1, Math.abs(g)), `λ = ${prior}, λ_soft = ${soft}, u = ${u}: ${g} vs ${fd}`);
      }
    }
    // A confident error at a tiny temperature stays finite (the other classes' mass is summed around its own largest term).
    const far = temperatureObjective({ data: Float32Array.from([40, 0, -3]), rows: 1, cols: 3 }, [1], -5, 0, 0, 'top-label');
    assert.ok(Number.isFinite(far.value) && Math.abs(far.value - 40 * Math.exp(5)) / (40 * Math.exp(5)) < 1e-9, `${far.value}`);
    assert.throws(() => fitTemperature(Z, codes, { objective: 'brier' as never }), /calibration objective must be one of likelihood, top-label, got "brier"/);
  });

  test('where the classes other than the predicted one are not what the logits say, the top-label T calibrates the confidence and the likelihood T does not', () => {
    // 2,000 samples of 10 classes: the predicted class is right with probability softmax(z)_k (calibrated at T = 1), and an
    // error goes to any other class alike, not in proportion to their probabilities. The likelihood pays for the tail and
    // softens (T ≈ 2, ECE .20); the top-label objective reads only right or wrong: T ≈ 1, ECE near the sampling floor.
    const r = rng(31), N = 2000, L = 10, z = new Float32Array(N * L).map(() => 2 * r.normal()), codes = new Int32Array(N);
    for (let i = 0; i < N; i++) {
      const p = temperedSoftmax({ data: z.subarray(i * L, (i + 1) * L), rows: 1, cols: L }, 1).data;
      let k = 0;
      for (let l = 1; l < L; l++) if (p[l] > p[k]) k = l;
      if (r.next() < p[k]) codes[i] = k;
      else { let c = Math.floor(r.next() * (L - 1)); if (c >= k) c++; codes[i] = c; }
    }
    const Z = { data: z, rows: N, cols: L };
    const lik = fitTemperature(Z, codes, { prior: 0 }).temperature, top = fitTemperature(Z, codes, { prior: 0, objective: 'top-label' }).temperature;
    assert.ok(lik > 1.8 && lik < 2.2, `likelihood T = ${lik}`);
    assert.ok(Math.abs(top - 1) < 0.1, `top-label T = ${top}`);
    const eLik = expectedCalibrationError(temperedSoftmax(Z, lik), codes).ece, eTop = expectedCalibrationError(temperedSoftmax(Z, top), codes).ece;
    assert.ok(eTop < 0.03 && eLik > 0.15, `ECE ${eTop} (top-label) vs ${eLik} (likelihood)`);
    // The margin rule and the rule around a centre take the objective too: here both stay near T = 1, β = 0.
    const m = fitMarginTemperature(Z, codes, { prior: 0, objective: 'top-label' });
    assert.ok(Math.abs(m.temperature - 1) < 0.15 && Math.abs(m.margin.exponent) < 0.1, `T0 = ${m.temperature}, β = ${m.margin.exponent}`);
    // Around a centre at T = 2 with a lighter prior than the default (κ 0.4 per sample, a constant share of the evidence),
    // T0 stays between the two: the top-label fit moves it towards 1, the likelihood's does not.
    const aTop = fitMarginTemperatureAround(Z, codes, { temperature: 2 }, { objective: 'top-label', priorPerSample: 0.4 }).temperature;
    const aLik = fitMarginTemperatureAround(Z, codes, { temperature: 2 }, { priorPerSample: 0.4 }).temperature;
    assert.ok(aTop < 1.7 && aLik > 1.9, `around T = 2: T0 = ${aTop} (top-label), ${aLik} (likelihood)`);
  });

  test('the prior against softening: objective by hand, derivative against finite differences', () => {
    // One sample [1, 0], class 0, at T = 2 (u = log 2), λ = 2, λ_soft = 3: the NLL log(1 + e^−1/2) plus (3/2)(log 2)²; the
    // derivative (1/2)/(1 + e^1/2) + 3 log 2. Below T = 1 λ_soft adds nothing.
    const one = { data: Float32Array.from([1, 0]), rows: 1, cols: 2 };
    const two = temperatureObjective(one, [0], Math.LN2, 2, 3);
    assert.ok(Math.abs(two.value - (Math.log(1 + Math.exp(-0.5)) + 1.5 * Math.LN2 ** 2)) < 1e-12, `${two.value}`);
    assert.ok(Math.abs(two.gradient - (0.5 / (1 + Math.exp(0.5)) + 3 * Math.LN2)) < 1e-12, `${two.gradient}`);
    assert.deepEqual(temperatureObjective(one, [0], -Math.LN2, 2, 3), temperatureObjective(one, [0], -Math.LN2, 2));
    const r = rng(22), N = 30, L = 4;
    const Z = { data: new Float32Array(N * L).map(() => 3 * r.normal()), rows: N, cols: L };
    const codes = Array.from({ length: N }, (_, i) => (i * 3) % L);
    for (const soft of [0.25, 1, 4]) {
      for (const u of [-1, -1e-3, 1e-3, 0.7, 2.5, 8]) {
        const h = 1e-5, J = (v: number) => temperatureObjective(Z, codes, v, 16, soft);
        const fd = (J(u + h).value - J(u - h).value) / (2 * h), g = J(u).gradient;
        assert.ok(Math.abs(fd - g) < 1e-5 * Math.max(1, Math.abs(g)), `λ_soft = ${soft}, u = ${u}: ${g} vs ${fd}`);
      }
    }
  });

  test('ECE by hand: two bins, weighted gaps', () => {
    // Confidence .9 (right, wrong) → bin 13 of 15, gap |.5 − .9|; confidence .6 (right) → bin 9, gap .4. ECE = (2·.4 + 1·.4)/3.
    const P = { data: Float32Array.from([0.9, 0.1, 0.1, 0.9, 0.6, 0.4]), rows: 3, cols: 2 };
    const e = expectedCalibrationError(P, [0, 0, 0]);
    assert.ok(Math.abs(e.ece - 0.4) < 1e-6, `${e.ece}`);
    assert.equal(e.bins.filter((b) => b.count > 0).length, 2);
    assert.ok(Math.abs(e.mce - 0.4) < 1e-6);
  });

  test('temperature scaling never changes a predicted label', () => {
    const d = blobs([40, 40, 40, 40], 8, 5);
    const held = blobs([30, 30, 30, 30], 8, 6);
    const m = new PrototypeClassifier({ nPrototypes: 8, seed: 2 }).fit(d.X, d.y);
    const grid = blobs([500, 500, 500, 500], 8, 9); // includes samples between classes
    const before = m.predict(grid.X);
    const rec = m.calibrate(held.X, held.y);
    assert.notEqual(rec.temperature, 1, 'a temperature was fitted');
    for (const T of [rec.temperature, 0.05, 0.5, 3, 40]) {
      m.temperature_ = T;
      assert.deepEqual(m.predict(grid.X), before, `T = ${T}`);
      const P = m.predictProba(grid.X);
      const argmax = Array.from({ length: P.rows }, (_, i) => {
        let b = 0;
        for (let l = 1; l < P.cols; l++) if (P.data[i * P.cols + l] > P.data[i * P.cols + b]) b = l;
        return m.classes_[b];
      });
      const differ = argmax.filter((l, i) => l !== before[i]).length;
      assert.equal(differ, 0, `T = ${T}: ${differ} tempered argmax labels differ`);
    }
  });
});

describe('a temperature that depends on the margin', () => {
  /** Rows whose probabilities put another class strictly above the class of the largest logit (ties allowed: float32 may merge near-equal probabilities). */
  const labelViolations = (Z: Matrix, P: Matrix): number => {
    let bad = 0;
    for (let i = 0; i < Z.rows; i++) {
      let top = 0;
      for (let l = 1; l < Z.cols; l++) if (Z.data[i * Z.cols + l] > Z.data[i * Z.cols + top]) top = l;
      for (let l = 0; l < Z.cols; l++) if (P.data[i * P.cols + l] > P.data[i * P.cols + top]) { bad++; break; }
    }
    return bad;
  };
  /** Rows whose largest probability is not at the largest logit although their logits are well apart (no float32 tie possible). */
  const strictViolations = (Z: Matrix, P: Matrix, T: ArrayLike<number>): number => {
    let bad = 0;
    for (let i = 0; i < Z.rows; i++) {
      const row = Array.from(Z.data.subarray(i * Z.cols, (i + 1) * Z.cols));
      const top = row.indexOf(Math.max(...row)), p = Array.from(P.data.subarray(i * P.cols, (i + 1) * P.cols));
      const second = Math.max(...row.filter((_, l) => l !== top));
      if ((row[top] - second) / T[i] > 1e-3 && p.indexOf(Math.max(...p)) !== top) bad++;
    }
    return bad;
  };
  /** N×L logits, Gaussian with a row-dependent scale (margins from near 0 to large). */
  const randomLogits = (N: number, L: number, seed: number): Matrix => {
    const r = rng(seed), data = new Float32Array(N * L);
    for (let i = 0; i < N; i++) { const s = Math.exp(2 * r.normal()); for (let l = 0; l < L; l++) data[i * L + l] = s * r.normal(); }
    return { data, rows: N, cols: L };
  };

  test('margins by hand; T(x) = T0 · r^β by hand, clamped', () => {
    assert.deepEqual(Array.from(logitMargins({ data: Float32Array.from([3, 1, 2, 0, 0, 5]), rows: 2, cols: 3 })), [1, 5]);
    const T = sampleTemperatures({ data: Float32Array.from([1, 0, 4, 0, 0, 0]), rows: 3, cols: 2 }, 1, { exponent: 0.5, reference: 2 });
    assert.ok(Math.abs(T[0] - Math.SQRT1_2) < 1e-12 && Math.abs(T[1] - Math.SQRT2) < 1e-12, `${T}`);
    assert.ok(Math.abs(T[2] - 1e-3 ** 0.5) < 1e-12, 'a margin of 0 is clamped to r = 1e-3');
    assert.deepEqual(Array.from(sampleTemperatures({ data: Float32Array.from([1, 0]), rows: 1, cols: 2 }, 2)), [2]);
    const P = temperedSoftmax({ data: Float32Array.from([2, 0, 2, 0]), rows: 2, cols: 2 }, [1, 2]);
    assert.ok(Math.abs(P.data[0] - 1 / (1 + Math.exp(-2))) < 1e-6 && Math.abs(P.data[2] - 1 / (1 + Math.exp(-1))) < 1e-6);
    assert.throws(() => temperedSoftmax({ data: Float32Array.from([2, 0]), rows: 1, cols: 2 }, [1, 2]), /1 rows but 2 temperatures/);
    assert.throws(() => temperedSoftmax({ data: Float32Array.from([2, 0]), rows: 1, cols: 2 }, [0]), /temperature 0 must be a positive finite number, got 0/);
  });

  test('no label changes, for random logits and any parameters in range (500 draws)', () => {
    const r = rng(41);
    let rows = 0;
    for (let k = 0; k < 500; k++) {
      const L = 2 + Math.floor(r.next() * 19), Z = randomLogits(40, L, 1000 + k);
      if (k % 5 === 0) for (let i = 0; i < 40; i += 7) Z.data[i * L + 1] = Z.data[i * L]; // exact ties between the two best
      const T0 = Math.exp(-9 + 18 * r.next()), margin = { exponent: MARGIN_EXPONENT_LIMIT * (2 * r.next() - 1), reference: Math.exp(-5 + 10 * r.next()) };
      const T = sampleTemperatures(Z, T0, margin), P = temperedSoftmax(Z, T);
      assert.equal(labelViolations(Z, P), 0, `draw ${k}: T0 ${T0}, β ${margin.exponent}`);
      assert.equal(strictViolations(Z, P, T), 0, `draw ${k}`);
      rows += Z.rows;
    }
    assert.equal(rows, 20000);
  });

  test('mutation check: the same checks catch a calibrator that can change labels (a temperature per class)', () => {
    const Z = randomLogits(400, 5, 7), perClass = [0.5, 1, 2, 4, 8];
    const P = { data: new Float32Array(Z.data.length), rows: Z.rows, cols: 5 };
    for (let i = 0; i < Z.rows; i++) {
      const e = perClass.map((t, l) => Math.exp(Z.data[i * 5 + l] / t)), s = e.reduce((a, b) => a + b, 0);
      e.forEach((v, l) => { P.data[i * 5 + l] = v / s; });
    }
    assert.ok(labelViolations(Z, P) > 20, `${labelViolations(Z, P)} rows changed`);
    assert.ok(strictViolations(Z, P, new Float64Array(400).fill(1)) > 20);
  });

  /** Labels drawn from softmax(z / T(x)) with T(x) = T0 (m / m̄)^β, m̄ the geometric mean margin of Z (what the fit takes as reference). */
  const drawn = (Z: Matrix, T0: number, beta: number, seed: number): number[] => {
    const m = logitMargins(Z);
    const ref = Math.exp(m.reduce((a, v) => a + Math.log(v), 0) / m.length);
    const P = temperedSoftmax(Z, sampleTemperatures(Z, T0, { exponent: beta, reference: ref }));
    const r = rng(seed);
    return Array.from({ length: Z.rows }, (_, i) => {
      let u = r.next(), l = 0;
      while (l < Z.cols - 1 && (u -= P.data[i * Z.cols + l]) > 0) l++;
      return l;
    });
  };

  test('recovers T0 and β from 4,000 samples drawn from the family; β ≈ 0 when the data has one T', () => {
    const Z = randomLogits(4000, 5, 11);
    for (let i = 0; i < Z.data.length; i++) Z.data[i] *= 0.7;
    const y = drawn(Z, 1.5, 0.4, 12);
    const f = fitMarginTemperature(Z, y, { exponentPrior: 0 });
    assert.ok(Math.abs(f.temperature - 1.5) < 0.15 && Math.abs(f.margin.exponent - 0.4) < 0.1, `T0 ${f.temperature}, β ${f.margin.exponent}`);
    const d = fitMarginTemperature(Z, y); // the default prior on β barely moves it with 4,000 samples
    assert.ok(Math.abs(d.margin.exponent - f.margin.exponent) < 0.05, `β ${d.margin.exponent} vs ${f.margin.exponent}`);
    assert.ok(f.nllAfter < f.nllBefore);
    const one = drawn(Z, 2, 0, 13);
    const g = fitMarginTemperature(Z, one, { exponentPrior: 0 });
    assert.ok(Math.abs(g.margin.exponent) < 0.1 && Math.abs(g.temperature - 2) < 0.2, `T0 ${g.temperature}, β ${g.margin.exponent}`);
    // β held at 0 by a strong prior: the single-T fit exactly.
    const h = fitMarginTemperature(Z, y, { exponentPrior: 1e9 });
    assert.equal(h.margin.exponent, 0);
    assert.equal(h.temperature, fitTemperature(Z, y).temperature);
    assert.throws(() => fitMarginTemperature(Z, y, { exponentPrior: -1 }), /margin exponent prior must be a finite number ≥ 0, got -1/);
  });

  test('composing two margin rules equals applying one after the other', () => {
    // Logits of moderate scale, so that no margin ratio reaches sampleTemperatures' clamp.
    const r = rng(21), Z = { data: Float32Array.from({ length: 300 * 6 }, () => 2 * r.normal()), rows: 300, cols: 6 };
    const cases: Array<[TemperatureCentre, TemperatureCentre]> = [
      [{ temperature: 2 }, { temperature: 1.5, margin: { exponent: 0.5, reference: 3 } }],
      [{ temperature: 1.3, margin: { exponent: 0.3, reference: 2.2 } }, { temperature: 0.8, margin: { exponent: -0.4, reference: 1.1 } }],
      [{ temperature: 0.7, margin: { exponent: -0.2, reference: 0.9 } }, { temperature: 1.1 }],
    ];
    for (const [a, b] of cases) {
      const Ta = sampleTemperatures(Z, a.temperature, a.margin);
      // Float32 like any logits: the sequential path rounds the tempered logits, hence 1e-4.
      const Za = { data: new Float32Array(Z.data.length), rows: Z.rows, cols: Z.cols };
      for (let i = 0; i < Z.rows; i++) for (let l = 0; l < Z.cols; l++) Za.data[i * Z.cols + l] = Z.data[i * Z.cols + l] / Ta[i];
      const Tb = sampleTemperatures(Za, b.temperature, b.margin);
      const c = composeMarginTemperatures(a, b), Tc = sampleTemperatures(Z, c.temperature, c.margin);
      for (let i = 0; i < Z.rows; i++) assert.ok(Math.abs(Tc[i] / (Ta[i] * Tb[i]) - 1) < 1e-4, `row ${i}: ${Tc[i]} vs ${Ta[i] * Tb[i]}`);
    }
    // The documented example, by hand: T0 = 2 · 1.5 · (6 / (2 · 3))^0.5 = 3 at reference 2 · 3 = 6.
    assert.deepEqual(composeMarginTemperatures(cases[0][0], cases[0][1]), { temperature: 3, margin: { exponent: 0.5, reference: 6 } });
  });

  test('centred on another calibration: recovers the truth from many samples, stays near the centre with few, returns it under an infinite prior', () => {
    const Z = randomLogits(4000, 5, 11);
    for (let i = 0; i < Z.data.length; i++) Z.data[i] *= 0.7;
    const y = drawn(Z, 1.5, 0.4, 12);
    const centre: TemperatureCentre = { temperature: 0.8, margin: { exponent: -0.3, reference: 1.7 } };
    // Weak priors, 4,000 samples: the data's T0 = 1.5 and β = 0.4 at the data's reference, whatever the centre.
    const f = fitMarginTemperatureAround(Z, y, centre, { prior: 0, exponentPrior: 0 });
    const truth = sampleTemperatures(Z, 1.5, { exponent: 0.4, reference: Math.exp(logitMargins(Z).reduce((a, v) => a + Math.log(v), 0) / Z.rows) });
    const got = sampleTemperatures(Z, f.temperature, f.margin);
    // Compared where the margin is within e^±2 of the data's reference (most rows; far out a
    // small error in β grows with log r).
    const m = logitMargins(Z), ref = Math.exp(m.reduce((a, v) => a + Math.log(v), 0) / m.length);
    let worst = 0, compared = 0;
    for (let i = 0; i < Z.rows; i++) {
      if (Math.abs(Math.log(m[i] / ref)) > 2) continue;
      compared++;
      worst = Math.max(worst, Math.abs(Math.log(got[i] / truth[i])));
    }
    assert.ok(compared > 2000, `${compared} rows compared`);
    assert.ok(Math.abs(f.margin.exponent - 0.4) < 0.1 && worst < 0.15, `β ${f.margin.exponent}, worst log-ratio ${worst}`);
    assert.equal(f.margin.reference, 1.7);
    assert.ok(f.nllAfter < f.nllBefore);
    // An overwhelming prior returns the centre.
    const c = fitMarginTemperatureAround(Z, y, centre, { prior: 1e9, exponentPrior: 1e9 });
    assert.ok(Math.abs(c.temperature / 0.8 - 1) < 1e-3 && Math.abs(c.margin.exponent + 0.3) < 1e-6, `${c.temperature}, ${c.margin.exponent}`);
    // Ten samples, all right: around T = 1 the default priors sharpen a little; around a centre of
    // 2 the result stays within one prior sd (1/√4 = 0.5 on log T) of 2, where the one-sided rule
    // fitted alone would not leave T ≤ 1.
    const Z10 = randomLogits(10, 2, 31), y10 = Array.from({ length: 10 }, (_, i) => (Z10.data[2 * i] > Z10.data[2 * i + 1] ? 0 : 1));
    const alone = fitMarginTemperature(Z10, y10), near = fitMarginTemperatureAround(Z10, y10, { temperature: 2 });
    assert.ok(alone.temperature <= 1, `alone ${alone.temperature}`);
    assert.ok(Math.abs(Math.log(near.temperature / 2)) < 0.5 && near.temperature < 2, `around 2: ${near.temperature}`);
    assert.throws(() => fitMarginTemperatureAround(Z10, y10, { temperature: -1 }), /centre temperature must be a positive finite number, got -1/);
    assert.throws(() => fitMarginTemperatureAround(Z10, y10, { temperature: 1 }, { prior: -2 }), /centre prior must be a finite number ≥ 0, got -2/);
    assert.throws(() => fitMarginTemperatureAround(Z10, y10, { temperature: 1 }, { priorPerSample: -0.1 }), /centre prior per sample must be a finite number ≥ 0, got -0.1/);
    assert.throws(() => fitMarginTemperatureAround(Z10, y10, { temperature: 1 }, { prior: 4, priorPerSample: 0.4 }), /either as prior \(κ\) or as priorPerSample/);
  });

  test('centred: the default κ is 1.6 per held-out sample, so the centre keeps its share of the evidence as samples are added', () => {
    assert.equal(DEFAULT_CENTRE_PRIOR_PER_SAMPLE, 1.6);
    const centre: TemperatureCentre = { temperature: 2, margin: { exponent: 0.1, reference: 3 } };
    for (const n of [10, 25, 100]) {
      const Z = randomLogits(n, 5, 40 + n), y = drawn(Z, 1, 0, 50 + n);
      // Exactly the fixed prior κ = 1.6 n (16, 40, 160), and not κ = 16 once n > 10.
      assert.deepEqual(fitMarginTemperatureAround(Z, y, centre), fitMarginTemperatureAround(Z, y, centre, { prior: 1.6 * n }));
      assert.deepEqual(fitMarginTemperatureAround(Z, y, centre, { priorPerSample: 0.1 }), fitMarginTemperatureAround(Z, y, centre, { prior: 0.1 * n }));
    }
    // Data whose own T is 1, centre 2: with κ ∝ n the fitted log T0 moves the same share of the way
    // whatever n (up to sampling noise), where a fixed κ would let 1,000 samples drag it to the data
    // (measured: .680 of the way at n = 100, .675 at n = 1000; .140 with κ fixed at 40).
    const share = (n: number, opts: { prior?: number }) => {
      const Z = randomLogits(n, 5, 7), y = drawn(Z, 1, 0, 8);
      const alone = fitMarginTemperature(Z, y, { prior: 0, softPrior: 0, exponentPrior: 1e9 }).temperature;
      const t = fitMarginTemperatureAround(Z, y, { temperature: 2 }, { ...opts, exponentPrior: 1e9 }).temperature;
      return Math.log(t / alone) / Math.log(2 / alone);
    };
    const s100 = share(100, {}), s1000 = share(1000, {}), fixed1000 = share(1000, { prior: 40 });
    assert.ok(Math.abs(s100 - s1000) < 0.1, `share of the way to the centre: ${s100} at n = 100, ${s1000} at n = 1000`);
    assert.ok(fixed1000 < s1000 / 3, `fixed κ 40 at n = 1000: ${fixed1000} against ${s1000}`);
  });

  test('a model calibrated with it: labels unchanged, probabilities and explain agree, save/load round trip; files without it load with one T', () => {
    const d = blobs([40, 40, 40, 40], 8, 5), held = blobs([30, 30, 30, 30], 8, 6), grid = blobs([200, 200, 200, 200], 8, 9);
    const m = new PrototypeClassifier({ nPrototypes: 8, seed: 2 }).fit(d.X, d.y);
    const before = m.predict(grid.X);
    const rec = m.calibrate(held.X, held.y, { marginPrior: 0 });
    assert.ok(rec.margin && rec.margin.exponent !== 0 && rec.margin.prior === 0, JSON.stringify(rec.margin));
    assert.deepEqual(m.predict(grid.X), before);
    const Z = m.decisionFunction(grid.X), P = m.predictProba(grid.X);
    assert.equal(labelViolations(Z, P), 0);
    const want = temperedSoftmax(Z, sampleTemperatures(Z, rec.temperature, rec.margin));
    for (let k = 0; k < P.data.length; k++) assert.ok(Math.abs(P.data[k] - want.data[k]) < 1e-6);
    const e = m.explain(Array.from(grid.X.data.subarray(0, 8)));
    for (const { label, probability } of e.probabilities) assert.ok(Math.abs(probability - P.data[m.classes_.indexOf(label)]) < 1e-5, `${label}`);
    assert.equal(m.calibrate(held.X, held.y).margin?.prior, DEFAULT_MARGIN_PRIOR);
    assert.equal(m.calibrate(held.X, held.y, { marginPrior: false }).margin, undefined);

    m.calibrate(held.X, held.y, { marginPrior: 0 });
    const j = JSON.parse(JSON.stringify(m.toJSON()));
    const back = loadModel(j) as PrototypeClassifier;
    assert.deepEqual(back.calibration_?.margin, m.calibration_?.margin);
    assert.deepEqual(Array.from(back.predictProba(grid.X).data), Array.from(m.predictProba(grid.X).data));
    assert.deepEqual(back.explain(Array.from(grid.X.data.subarray(0, 8))), m.explain(Array.from(grid.X.data.subarray(0, 8))));
    delete j.calibration.margin; // as saved before the margin rule
    const old = loadModel(structuredClone(j)) as PrototypeClassifier;
    assert.equal(old.calibration_?.margin, undefined);
    const oldP = old.predictProba(grid.X), oneT = temperedSoftmax(Z, old.temperature_);
    assert.equal(old.temperature_, m.temperature_);
    for (let k = 0; k < oldP.data.length; k++) assert.ok(Math.abs(oldP.data[k] - oneT.data[k]) < 1e-6);
    assert.deepEqual(old.predict(grid.X), before);
    j.calibration.margin = { exponent: 1.5, reference: 1, prior: 16 };
    assert.throws(() => loadModel(structuredClone(j)), /field "calibration.margin.exponent" must be a number in \[−0.9, 0.9\], got 1.5/);
    j.calibration.margin = { exponent: 0.2, reference: 0, prior: 16 };
    assert.throws(() => loadModel(structuredClone(j)), /field "reference" must be a positive number, got 0/);

    // Fitted to the top-label objective: recorded, kept through a save; records without it (all before it) read as the likelihood.
    assert.equal(m.calibrate(held.X, held.y).objective, undefined);
    const top = m.calibrate(held.X, held.y, { objective: 'top-label' });
    assert.equal(top.objective, 'top-label');
    const jt = JSON.parse(JSON.stringify(m.toJSON()));
    assert.equal((loadModel(structuredClone(jt)) as PrototypeClassifier).calibration_?.objective, 'top-label');
    assert.deepEqual(Array.from((loadModel(structuredClone(jt)) as PrototypeClassifier).predictProba(grid.X).data), Array.from(m.predictProba(grid.X).data));
    assert.deepEqual(m.predict(grid.X), before);
    jt.calibration.objective = 'brier';
    assert.throws(() => loadModel(jt), /field "calibration.objective" must be one of likelihood, top-label, got "brier"/);
  });
});

describe('the sampling floor of the ECE', () => {
  /** Exact E|k/n − c| for k ~ Binomial(n, c): the ECE of n calibrated samples at one confidence c (one bin). */
  const exactOneBin = (n: number, c: number): number => {
    let logPmf = n * Math.log(1 - c), e = 0; // in logs: .05^2000 underflows
    for (let k = 0; k <= n; k++) {
      e += Math.exp(logPmf) * Math.abs(k / n - c);
      logPmf += Math.log((n - k) / (k + 1)) + Math.log(c / (1 - c));
    }
    return e;
  };

  test('one sample at .9: ECE .1 when right, .9 when wrong; mean 2 · .9 · .1 = .18, 95th percentile .9', () => {
    const f = eceSamplingFloor([0.9], { draws: 20000, seed: 1, above: 0.5 });
    assert.ok(Math.abs(f.mean - 0.18) < 0.006, `mean ${f.mean}`); // per-draw sd .24: standard error .0017
    assert.ok(Math.abs(f.p95 - 0.9) < 1e-6, `p95 ${f.p95}`);
    assert.ok(Math.abs(f.shareAbove! - 0.1) < 0.007, `share above .5: ${f.shareAbove}`); // wrong 1 time in 10; se .002
    assert.equal(eceSamplingFloor([0.9]).shareAbove, undefined);
    assert.equal(f.n, 1);
    assert.equal(f.draws, 20000);
  });

  test('matches the exact binomial expectation for one bin (n = 3 and 200), and shrinks as samples grow', () => {
    assert.ok(Math.abs(exactOneBin(3, 0.7) - 0.2058) < 1e-4); // by hand: .0189 + .0693 + .0147 + .1029
    const three = eceSamplingFloor([0.7, 0.7, 0.7], { draws: 20000, seed: 2 });
    assert.ok(Math.abs(three.mean - exactOneBin(3, 0.7)) < 0.005, `${three.mean} vs ${exactOneBin(3, 0.7)}`);
    const c200 = eceSamplingFloor(new Float64Array(200).fill(0.95), { draws: 5000, seed: 3 });
    const exact200 = exactOneBin(200, 0.95); // ≈ .0123
    assert.ok(Math.abs(c200.mean - exact200) < 0.0008, `${c200.mean} vs ${exact200}`);
    const c2000 = eceSamplingFloor(new Float64Array(2000).fill(0.95), { draws: 2000, seed: 3 });
    assert.ok(Math.abs(c2000.mean - exactOneBin(2000, 0.95)) < 0.0003, `${c2000.mean} vs ${exactOneBin(2000, 0.95)}`);
    assert.ok(c2000.mean < c200.mean / 2.5, 'ten times the samples: about √10 less noise');
    assert.ok(c200.p95 > c200.mean);
  });

  test('seeded: the same seed gives the same floor; a confidence outside [0, 1] is refused by index', () => {
    const conf = Array.from({ length: 300 }, (_, i) => 0.5 + (0.5 * i) / 300);
    assert.deepEqual(eceSamplingFloor(conf, { seed: 9 }), eceSamplingFloor(conf, { seed: 9 }));
    assert.notEqual(eceSamplingFloor(conf, { seed: 9 }).mean, eceSamplingFloor(conf, { seed: 10 }).mean);
    assert.throws(() => eceSamplingFloor([0.5, 1.2]), /confidence 1 is 1.2; expected a number in \[0, 1\]/);
    assert.throws(() => eceSamplingFloor([]), /no confidences/);
  });
});

describe('saved models', () => {
  const d = blobs([30, 30, 30], 6, 11);
  const held = blobs([20, 20, 20], 6, 12);

  test('threshold, temperature and novelty statistics survive toJSON → loadModel', () => {
    const m = new PrototypeClassifier({ nPrototypes: 6, seed: 3 }).fit(d.X, d.y);
    const rec = m.calibrate(held.X, held.y, { score: 'spread', targetFalseRejection: 0.1 });
    const back = loadModel(JSON.parse(JSON.stringify(m.toJSON()))) as PrototypeClassifier;
    assert.equal(back.temperature_, rec.temperature);
    assert.deepEqual(back.rejection_, rec.rejection);
    assert.deepEqual(back.calibration_?.ece, rec.ece);
    assert.equal(rec.prior, DEFAULT_TEMPERATURE_PRIOR);
    assert.equal(back.calibration_?.prior, DEFAULT_TEMPERATURE_PRIOR);
    const probe = blobs([10, 10, 10, 10], 6, 13);
    assert.deepEqual(Array.from(back.predictProba(probe.X).data), Array.from(m.predictProba(probe.X).data));
    assert.deepEqual(Array.from(back.novelty(probe.X).score), Array.from(m.novelty(probe.X).score));
    assert.deepEqual(back.predictOpen(probe.X), m.predictOpen(probe.X));
    assert.deepEqual(back.explain(Array.from(probe.X.data.subarray(0, 6))), m.explain(Array.from(probe.X.data.subarray(0, 6))));
  });

  test('a file written before open-set recognition (no "novelty", no "calibration") loads and predicts as it did', () => {
    const m = new PrototypeClassifier({ nPrototypes: 6, seed: 3 }).fit(d.X, d.y);
    const { novelty: _n, calibration: _c, ...old } = m.toJSON();
    const back = loadModel(JSON.parse(JSON.stringify(old))) as PrototypeClassifier;
    assert.equal(back.temperature_, 1);
    assert.equal(back.rejection_, null);
    assert.deepEqual(back.predict(held.X), m.predict(held.X));
    assert.deepEqual(Array.from(back.predictProba(held.X).data), Array.from(m.predictProba(held.X).data));
    const e = back.explain(Array.from(held.X.data.subarray(0, 6)));
    assert.equal(e.novelty, null);
    assert.equal(e.unknown, false);
    assert.deepEqual(back.predictOpen(held.X), back.predict(held.X));
    assert.throws(() => back.novelty(held.X), /saved without novelty statistics/);
  });

  test('a calibration saved before the prior on log T (no "prior") loads with its temperature', () => {
    const m = new PrototypeClassifier({ nPrototypes: 6, seed: 3 }).fit(d.X, d.y);
    const rec = m.calibrate(held.X, held.y, { prior: 0 });
    assert.equal(rec.prior, 0);
    const j = JSON.parse(JSON.stringify(m.toJSON()));
    delete j.calibration.prior;
    const back = loadModel(j) as PrototypeClassifier;
    assert.equal(back.temperature_, rec.temperature);
    assert.equal(back.calibration_?.prior, undefined);
    assert.deepEqual(Array.from(back.predictProba(held.X).data), Array.from(m.predictProba(held.X).data));
  });

  test('a calibration saved before the prior against softening (no "softPrior") loads with its temperature', () => {
    const m = new PrototypeClassifier({ nPrototypes: 6, seed: 3 }).fit(d.X, d.y);
    const rec = m.calibrate(held.X, held.y);
    assert.equal(rec.softPrior, 0);
    const j = JSON.parse(JSON.stringify(m.toJSON()));
    assert.equal(j.calibration.softPrior, 0);
    delete j.calibration.softPrior;
    const back = loadModel(j) as PrototypeClassifier;
    assert.equal(back.temperature_, rec.temperature);
    assert.equal(back.calibration_?.softPrior, undefined);
    assert.deepEqual(Array.from(back.predictProba(held.X).data), Array.from(m.predictProba(held.X).data));
    // Saved with a prior against softening: recorded and read back.
    m.calibrate(held.X, held.y, { softPrior: 1 });
    const again = loadModel(JSON.parse(JSON.stringify(m.toJSON()))) as PrototypeClassifier;
    assert.equal(again.calibration_?.softPrior, 1);
  });

  test('damaged calibration fields are refused by name', () => {
    const m = new PrototypeClassifier({ nPrototypes: 6, seed: 3 }).fit(d.X, d.y);
    m.calibrate(held.X, held.y);
    const good = JSON.parse(JSON.stringify(m.toJSON()));
    const bad = (edit: (j: Record<string, any>) => void) => { const j = structuredClone(good); edit(j); return () => loadModel(j); };
    assert.throws(bad((j) => { j.calibration.temperature = 0; }), /field "temperature" must be a positive number, got 0/);
    assert.throws(bad((j) => { j.calibration.prior = -2; }), /field "prior" must be a non-negative number, got -2/);
    assert.throws(bad((j) => { j.calibration.softPrior = -1; }), /field "softPrior" must be a non-negative number, got -1/);
    assert.throws(bad((j) => { j.calibration.rejection.score = 'psychic'; }), /"calibration.rejection.score" is "psychic"; expected one of: spread, relative, log-proximity/);
    assert.throws(bad((j) => { j.novelty.spreads = [1]; }), /field "spreads" has 1 values, expected 6/);
    assert.throws(bad((j) => { delete j.novelty; }), /rejection rule but the model has no "novelty" statistics/);
  });
});

describe('calibration where users fit: out-of-fold outputs', () => {
  const d = blobs([25, 25, 25, 25], 8, 21);

  test('each sample\'s logits and novelty come from the model fitted on the other folds', () => {
    const folds = stratifiedFolds(d.y, 5, 4);
    const params = { nPrototypes: 8, maxIter: 20 };
    const held = outOfFoldOutputs(d.X, d.y, folds, params, 4, 'spread');
    for (const k of [0, 3]) {
      const { fit, held: rows } = foldRows(folds.fold, k);
      const m = new PrototypeClassifier({ ...params, seed: deriveSeed(4, k) }).fit(takeRows(d.X, fit), fit.map((i) => d.y[i]));
      const z = m.decisionFunction(takeRows(d.X, rows)), s = m.novelty(takeRows(d.X, rows), 'spread').score;
      rows.forEach((i, r) => {
        for (let l = 0; l < 4; l++) assert.equal(held.logits.data[i * 4 + l], z.data[r * 4 + l]);
        assert.equal(held.novelty[i], s[r]);
      });
    }
  });

  test('calibrateByCrossFitting sets T and the threshold on the model fitted on everything, its labels unchanged', () => {
    const m = new PrototypeClassifier({ nPrototypes: 8, maxIter: 20, seed: 4 }).fit(d.X, d.y);
    const before = m.predict(d.X);
    const rec = calibrateByCrossFitting(m, d.X, d.y, { folds: 4 });
    assert.equal(m.temperature_, rec.temperature);
    assert.equal(rec.heldOut, 100);
    assert.match(rec.source, /out-of-fold outputs of 4-fold cross-fitting \(100 samples\)/);
    assert.ok(Math.abs(rec.rejection.heldOutFalseRejection - 0.05) <= 0.02);
    assert.deepEqual(m.predict(d.X), before);
  });
});

describe('the CLI: fit --calibrate, then predict answers "unknown"', () => {
  test('a class never fitted is answered unknown with its reason; the known ones mostly keep their class', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'protolens-openset-'));
    try {
      const known = (l: string) => l !== 'F';
      const train = rowsOf(blobs([40, 40, 40, 40, 40, 0], 16, 31), known);
      const probe = blobs([20, 20, 20, 20, 20, 20], 16, 32);
      const trainFile = join(dir, 'train.npy'), probeFile = join(dir, 'probe.npy'), model = join(dir, 'model.json');
      writeFeatures(trainFile, { X: train.X, labels: train.y });
      writeFeatures(probeFile, { X: probe.X, labels: probe.y });
      // α = 1e-3, the default before 2026-12-01: the ECE figures asserted below were recorded with it.
      let r = await runCli(['fit', trainFile, '-o', model, '-J', '10', '--alpha', '0.001', '--calibrate', '4', '--preprocess', 'none', '--no-progress']);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /Calibrated on out-of-fold outputs of 4-fold cross-fitting \(200 samples\): temperature T = /);
      assert.match(r.out, /Rejection: spread novelty above \S+ is answered "unknown" \(5\.0 % of held-out known samples; target 5\.0 %\)/);
      const saved = JSON.parse(readFileSync(model, 'utf8'));
      assert.equal(saved.calibration.rejection.targetFalseRejection, 0.05);
      r = await runCli(['predict', model, '--features', probeFile, '--json']);
      assert.equal(r.code, 0, r.err);
      const out = JSON.parse(r.out) as { predictions: Array<{ truth: string; unknown: boolean; noveltyReason: string }> };
      const unknownF = out.predictions.filter((p) => p.truth === 'F');
      assert.ok(unknownF.every((p) => p.unknown), 'every sample of the class never fitted is answered unknown');
      assert.match(unknownF[0].noveltyReason, /^nearest prototype p\d+ at [\d.]+ spreads; threshold [\d.]+$/);
      const falseRejected = out.predictions.filter((p) => p.truth !== 'F' && p.unknown).length;
      assert.ok(falseRejected <= 10, `${falseRejected} of 100 known samples answered unknown`);
      r = await runCli(['predict', model, '--features', probeFile, '--format', 'text']);
      assert.match(r.out, /unknown \(nearest class [A-E]: nearest prototype p\d+/);
      assert.match(r.out, /of 120 answered unknown: novelty beyond the model's threshold/);
      // The report shows the calibration: ECE before and after, the reliability diagram, the rule.
      const report = join(dir, 'report');
      r = await runCli(['explain', model, '--features', trainFile, '--out', report, '--no-png']);
      assert.equal(r.code, 0, r.err);
      const html = readFileSync(join(report, 'report.html'), 'utf8');
      const c = saved.calibration;
      assert.match(html, new RegExp(`Expected calibration error of the 200 held-out samples: ${Number(c.ece.before.toPrecision(3))} before, ${Number(c.ece.after.toPrecision(3))} after`));
      assert.match(html, /<h2 id="calibration">Calibration and rejection<\/h2>[\s\S]*<svg[\s\S]*Reliability diagram[\s\S]*spread novelty exceeds/);
      const bins = c.reliability.before.filter((b: { count: number }) => b.count > 0).length + c.reliability.after.filter((b: { count: number }) => b.count > 0).length;
      assert.equal((readFileSync(join(report, 'reliability.svg'), 'utf8').match(/role="graphics-symbol" aria-roledescription="point"/g) ?? []).length, bins);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
