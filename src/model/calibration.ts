/**
 * Calibrated class probabilities by temperature scaling (Guo, Pleiss, Sun & Weinberger, "On
 * calibration of modern neural networks", ICML 2017): the class layer's logits z are divided by
 * one number T > 0, fitted on held-out samples by minimising their negative log-likelihood,
 *
 *   c_l(x) = softmax_l(z(x) / T),   T = argmin_T −(1/n) Σ_i log softmax(z_i / T)_{y_i}.
 *
 * The NLL is convex in β = 1/T, so a golden-section search over log β finds its minimum. Dividing
 * every logit by the same positive number keeps their order: no predicted label changes.
 *
 * The expected calibration error (Naeini, Cooper & Hauskrecht 2015) bins samples by confidence
 * (the largest probability) into equal-width bins and averages |accuracy − confidence| over the
 * bins, weighted by their sizes; the reliability diagram plots the same bins.
 *
 * Browser-safe.
 */
import type { Matrix } from '../linalg/matrix.ts';
import { jsonNumber } from './json.ts';
import {
  checkNoveltyScore, rejectionRuleFromJSON, rejectionThreshold,
  type NoveltyScoreKind, type RejectionRule,
} from './novelty.ts';
import type { ModelJSON } from './types.ts';

/** One bin of a reliability diagram. */
export interface ReliabilityBin {
  /** Confidence range [lo, hi). The last bin includes 1. */
  lo: number;
  hi: number;
  count: number;
  /** Mean confidence of its samples (null when empty). */
  confidence: number | null;
  /** Their accuracy (null when empty). */
  accuracy: number | null;
}

/** Expected calibration error and the bins it was computed from. */
export interface CalibrationError {
  ece: number;
  /** The largest |accuracy − confidence| over non-empty bins. */
  mce: number;
  bins: ReliabilityBin[];
  n: number;
}

function checkShape(P: Matrix, codes: ArrayLike<number>, what: string): void {
  if (codes.length !== P.rows) throw new RangeError(`${what}: ${P.rows} rows but ${codes.length} labels`);
  if (P.rows === 0) throw new RangeError(`${what}: no samples`);
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (!Number.isInteger(c) || c < 0 || c >= P.cols) throw new RangeError(`${what}: label ${i} is ${c}; expected a class index from 0 to ${P.cols - 1}`);
  }
}

/**
 * Expected calibration error of class probabilities against the true classes.
 * @param P - N×L probabilities (rows sum to 1).
 * @param codes - true class index of each row.
 * @param nBins - equal-width confidence bins. Default 15.
 * @throws RangeError for mismatched sizes or a label outside 0..L−1.
 * @example
 * // Two samples at confidence .9, one right and one wrong: |.5 − .9| in one bin.
 * expectedCalibrationError({ data: Float32Array.from([.9, .1, .9, .1]), rows: 2, cols: 2 }, [0, 1]).ece // 0.4
 */
export function expectedCalibrationError(P: Matrix, codes: ArrayLike<number>, nBins = 15): CalibrationError {
  checkShape(P, codes, 'expectedCalibrationError');
  if (!Number.isInteger(nBins) || nBins < 1) throw new RangeError(`nBins must be a positive integer, got ${nBins}`);
  const L = P.cols, N = P.rows;
  const count = new Float64Array(nBins), conf = new Float64Array(nBins), acc = new Float64Array(nBins);
  for (let i = 0; i < N; i++) {
    const o = i * L;
    let best = 0;
    for (let l = 1; l < L; l++) if (P.data[o + l] > P.data[o + best]) best = l;
    const p = P.data[o + best];
    const b = Math.min(nBins - 1, Math.max(0, Math.floor(p * nBins)));
    count[b]++;
    conf[b] += p;
    if (best === codes[i]) acc[b]++;
  }
  let ece = 0, mce = 0;
  const bins: ReliabilityBin[] = [];
  for (let b = 0; b < nBins; b++) {
    const n = count[b];
    if (n === 0) { bins.push({ lo: b / nBins, hi: (b + 1) / nBins, count: 0, confidence: null, accuracy: null }); continue; }
    const c = conf[b] / n, a = acc[b] / n;
    ece += (n / N) * Math.abs(a - c);
    mce = Math.max(mce, Math.abs(a - c));
    bins.push({ lo: b / nBins, hi: (b + 1) / nBins, count: n, confidence: c, accuracy: a });
  }
  return { ece, mce, bins, n: N };
}

/** Mean −log softmax(β z_i)_{y_i} over the rows of logits Z. */
export function temperedNll(Z: Matrix, codes: ArrayLike<number>, beta: number): number {
  const L = Z.cols;
  let s = 0;
  for (let i = 0; i < Z.rows; i++) {
    const o = i * L;
    let m = -Infinity;
    for (let l = 0; l < L; l++) m = Math.max(m, beta * Z.data[o + l]);
    let sum = 0;
    for (let l = 0; l < L; l++) sum += Math.exp(beta * Z.data[o + l] - m);
    s += m + Math.log(sum) - beta * Z.data[o + codes[i]];
  }
  return s / Z.rows;
}

/**
 * The temperature T that minimises the held-out negative log-likelihood of softmax(z / T)
 * (golden-section search over log(1/T) in [−9, 9], where the NLL is unimodal).
 * @param Z - N×L logits of held-out samples.
 * @param codes - their true class indices.
 * @returns T with the NLL before (T = 1) and after.
 * @throws RangeError for mismatched sizes, a bad label or a non-finite logit.
 * @example
 * // Logits twice as confident as the data warrant: T ≈ 2.
 * fitTemperature(Z, codes).temperature
 */
export function fitTemperature(Z: Matrix, codes: ArrayLike<number>): { temperature: number; nllBefore: number; nllAfter: number } {
  checkShape(Z, codes, 'fitTemperature');
  for (let k = 0; k < Z.data.length; k++) if (!Number.isFinite(Z.data[k])) throw new RangeError(`fitTemperature: logit ${k} is not finite`);
  const f = (u: number) => temperedNll(Z, codes, Math.exp(u));
  let a = -9, b = 9;
  const g = (Math.sqrt(5) - 1) / 2;
  let x1 = b - g * (b - a), x2 = a + g * (b - a), f1 = f(x1), f2 = f(x2);
  for (let it = 0; it < 80 && b - a > 1e-7; it++) {
    if (f1 <= f2) { b = x2; x2 = x1; f2 = f1; x1 = b - g * (b - a); f1 = f(x1); }
    else { a = x1; x1 = x2; f1 = f2; x2 = a + g * (b - a); f2 = f(x2); }
  }
  const u = (a + b) / 2;
  const nllBefore = f(0), nllAfter = f(u);
  // T = 1 when it is as good (e.g. no held-out error to learn from in either direction).
  if (!(nllAfter < nllBefore)) return { temperature: 1, nllBefore, nllAfter: nllBefore };
  return { temperature: Math.exp(-u), nllBefore, nllAfter };
}

/**
 * Softmax of logits divided by T, as a new matrix (the logits are not changed).
 * @example
 * temperedSoftmax({ data: Float32Array.from([2, 0]), rows: 1, cols: 2 }, 2).data // [e/(e+1), 1/(e+1)]
 */
export function temperedSoftmax(Z: Matrix, temperature: number): Matrix {
  if (!(temperature > 0) || !Number.isFinite(temperature)) throw new RangeError(`temperature must be a positive finite number, got ${temperature}`);
  const L = Z.cols, out = new Float32Array(Z.data.length);
  for (let i = 0; i < Z.rows; i++) {
    const o = i * L;
    let m = -Infinity;
    for (let l = 0; l < L; l++) m = Math.max(m, Z.data[o + l]);
    let s = 0;
    for (let l = 0; l < L; l++) { const e = Math.exp((Z.data[o + l] - m) / temperature); out[o + l] = e; s += e; }
    for (let l = 0; l < L; l++) out[o + l] /= s;
  }
  return { data: out, rows: Z.rows, cols: L };
}

/** What calibration reads: held-out samples' logits, true classes and novelty scores. */
export interface HeldOutOutputs {
  /** N×L logits of the class layer. */
  logits: Matrix;
  /** True class index of each row. */
  codes: ArrayLike<number>;
  /** The novelty score of each row (the kind `options.score` names). */
  novelty: ArrayLike<number>;
}

/** Options of calibration. */
export interface CalibrationOptions {
  /** Share of held-out known samples the threshold rejects. Default 0.05. */
  targetFalseRejection?: number;
  /** Novelty score the rule uses. Default {@link DEFAULT_NOVELTY_SCORE}. */
  score?: NoveltyScoreKind;
  /** Fit the temperature (false keeps T = 1). Default true. */
  temperature?: boolean;
  /** Confidence bins of the ECE and the reliability diagram. Default 15. */
  bins?: number;
  /** Where the held-out samples came from, in words (recorded). */
  source?: string;
}

/** How a model was calibrated: saved with it, shown in the report. */
export interface CalibrationRecord {
  /** Where the held-out samples came from, e.g. "out-of-fold predictions, 5-fold cross-fitting". */
  source: string;
  heldOut: number;
  temperature: number;
  /** Held-out negative log-likelihood at T = 1 and at the fitted T. */
  nll: { before: number; after: number };
  /** Held-out expected calibration error at T = 1 and at the fitted T. */
  ece: { before: number; after: number };
  /** The reliability diagrams behind those ECEs. */
  reliability: { before: ReliabilityBin[]; after: ReliabilityBin[] };
  /** The rejection rule chosen on the same samples. */
  rejection: RejectionRule;
}

/**
 * The temperature, the ECE before and after, and the rejection threshold, from held-out outputs.
 * @param source - where the samples came from, in words.
 * @throws RangeError for mismatched sizes, bad labels, or a rate outside [0, 1).
 * @example
 * calibrationRecord({ logits, codes, novelty }, { targetFalseRejection: 0.05, score: 'relative' }, 'held-out samples').rejection.threshold
 */
export function calibrationRecord(held: HeldOutOutputs, options: CalibrationOptions, source: string): CalibrationRecord {
  const { logits, codes, novelty } = held;
  if (novelty.length !== logits.rows) throw new RangeError(`calibration: ${logits.rows} logit rows but ${novelty.length} novelty scores`);
  const score = checkNoveltyScore(options.score);
  const rate = options.targetFalseRejection ?? 0.05;
  const bins = options.bins ?? 15;
  const fitted = options.temperature === false
    ? { temperature: 1, nllBefore: temperedNll(logits, codes, 1), nllAfter: temperedNll(logits, codes, 1) }
    : fitTemperature(logits, codes);
  const before = expectedCalibrationError(temperedSoftmax(logits, 1), codes, bins);
  const after = expectedCalibrationError(temperedSoftmax(logits, fitted.temperature), codes, bins);
  const threshold = rejectionThreshold(novelty, rate);
  let rejected = 0;
  for (let i = 0; i < novelty.length; i++) if (novelty[i] > threshold) rejected++;
  return {
    source, heldOut: logits.rows, temperature: fitted.temperature,
    nll: { before: fitted.nllBefore, after: fitted.nllAfter },
    ece: { before: before.ece, after: after.ece },
    reliability: { before: before.bins, after: after.bins },
    rejection: { score, threshold, targetFalseRejection: rate, heldOutFalseRejection: rejected / novelty.length, heldOut: novelty.length },
  };
}

/**
 * Reads a saved calibration record.
 * @throws TypeError/RangeError naming the field at fault.
 */
export function calibrationFromJSON(v: unknown): CalibrationRecord {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError('model: field "calibration" must be an object');
  const o = v as ModelJSON;
  const pair = (k: 'nll' | 'ece') => {
    const p = o[k] as ModelJSON | undefined;
    if (typeof p !== 'object' || p === null) throw new TypeError(`model: field "calibration.${k}" must be an object {before, after}`);
    return { before: jsonNumber(p, 'before', 'non-negative'), after: jsonNumber(p, 'after', 'non-negative') };
  };
  const rel = o.reliability as { before?: unknown; after?: unknown } | undefined;
  const bins = (b: unknown): ReliabilityBin[] => (Array.isArray(b) ? b as ReliabilityBin[] : []);
  return {
    source: String(o.source ?? ''), heldOut: jsonNumber(o, 'heldOut', 'positive integer'),
    temperature: jsonNumber(o, 'temperature', 'positive'), nll: pair('nll'), ece: pair('ece'),
    reliability: { before: bins(rel?.before), after: bins(rel?.after) },
    rejection: rejectionRuleFromJSON(o.rejection),
  };
}
