/**
 * Novelty: how far a sample lies from everything a prototype model has seen, and the rule that
 * answers "unknown" beyond a threshold (docs/openset.md). With d_j = ‖Ω(x − p_j)‖² the squared
 * distance to prototype j in the model's metric (Ω = I when Euclidean) and τ the layer's scale:
 *
 *   spread:         min_j √d_j / s_j                         "nearest prototype p_j at k spreads"
 *   log-proximity:  −log Σ_j exp(−d_j / 2τ)                  (minus the prototype layer's unnormalised log-proximity)
 *   relative:       min_j (√d_j / s_j) / (√d_0 / s_0)        (the same, over the distance to the centre)
 *
 * s_j is the spread of prototype j: the root-mean-square distance of the training samples it is
 * the best match of, shrunk towards the pooled value with a prior worth one sample,
 *   s_j² = (Σ_{i: a(i)=j} d_ij + s̄²) / (n_j + 1),   s̄² = (1/N) Σ_i d_{i,a(i)};
 * d_0 = ‖Ω(x − c)‖² is the distance to the centre c of the training samples and s_0² the mean
 * of d_0 over them. Larger scores are more novel. "relative" compares how close x is to its best
 * prototype with how close it is to the data as a whole: in high dimension every sample is far
 * from everything, and a sample of a known class is much nearer its prototype than the centre,
 * while a sample of an unknown class is about as far from every prototype as from the centre.
 *
 * The threshold is the (1 − rate) quantile of held-out scores of known classes: a sample scoring
 * above it is answered "unknown", so about `rate` of known samples are rejected.
 *
 * Browser-safe: plain loops over typed arrays.
 */
import type { Matrix } from '../linalg/matrix.ts';
import { jsonFloats, jsonNumber } from './json.ts';
import type { ModelJSON } from './types.ts';

/** The novelty scores, in the order they are reported. */
export const NOVELTY_SCORES = ['spread', 'relative', 'log-proximity'] as const;
/** One of {@link NOVELTY_SCORES}. */
export type NoveltyScoreKind = typeof NOVELTY_SCORES[number];

/**
 * The score a model rejects with unless told otherwise: the one that separated known from unknown
 * classes best on the exploration splits (seeds 1 and 100 on MobileNetV2 features, seed 100 on a
 * learned Conv-4 embedding), confirmed on seed 0 (BENCHMARKS.md, "Open-set recognition").
 */
export const DEFAULT_NOVELTY_SCORE: NoveltyScoreKind = 'spread';

/** The rejection rate of known samples a threshold is chosen for, unless told otherwise. */
export const DEFAULT_FALSE_REJECTION = 0.05;

/** What a fitted model keeps to score novelty: each prototype's spread and the training data's centre. */
export interface NoveltyStats {
  /** s_j, J values. */
  spreads: Float32Array;
  /** n_j: training samples whose best match is prototype j. */
  counts: Int32Array;
  /** c: mean of the training samples (input space, D values). */
  centre: Float32Array;
  /** s_0: root-mean-square distance of the training samples to c, in the model's metric. */
  centreSpread: number;
}

/** The rule a model answers "unknown" by. */
export interface RejectionRule {
  score: NoveltyScoreKind;
  /** Samples scoring above it are answered "unknown". */
  threshold: number;
  /** The share of held-out known samples the threshold was chosen to reject. */
  targetFalseRejection: number;
  /** The share it rejects on those samples. */
  heldOutFalseRejection: number;
  /** How many held-out samples chose it. */
  heldOut: number;
}

/** Novelty of a set of samples. */
export interface NoveltyResult {
  kind: NoveltyScoreKind;
  /** The score of each sample (larger = more novel). */
  score: Float64Array;
  /** The prototype each score names: the best by spreads (spread, relative), the nearest otherwise. */
  prototype: Int32Array;
  /** √d_j / s_j of that prototype. */
  spreads: Float64Array;
  /** √d_0 / s_0: the distance to the training data's centre in its own spread. */
  centreSpreads: Float64Array;
}

function checkKind(kind: unknown): NoveltyScoreKind {
  if (!(NOVELTY_SCORES as readonly unknown[]).includes(kind)) {
    throw new RangeError(`Invalid novelty score: ${String(kind)}. Should be one of: ${NOVELTY_SCORES.join(', ')}`);
  }
  return kind as NoveltyScoreKind;
}

/**
 * A novelty score name, checked.
 * @throws RangeError listing the valid names.
 * @example
 * checkNoveltyScore('spread') // 'spread'
 */
export function checkNoveltyScore(kind: unknown): NoveltyScoreKind {
  return checkKind(kind);
}

/**
 * Spreads of the prototypes and of the data from the training samples' distances.
 * @param D2 - N×J squared distances of the training samples to the prototypes, in the model's metric.
 * @param d0 - their N squared distances to the centre.
 * @param centre - the centre itself (stored with the statistics).
 * @example
 * // Two prototypes, samples at distances 1 and 3 of the first, 2 of the second.
 * noveltyStats({ data: Float32Array.from([1, 9, 9, 9, 9, 4]), rows: 3, cols: 2 }, Float64Array.from([4, 4, 4]), new Float32Array(1)).spreads
 * // s̄² = (1 + 9 + 4)/3; s_0² = (1 + 9 + s̄²)/3, s_1² = (4 + s̄²)/2
 */
export function noveltyStats(D2: Matrix, d0: ArrayLike<number>, centre: Float32Array): NoveltyStats {
  const N = D2.rows, J = D2.cols;
  if (N === 0) throw new RangeError('noveltyStats: no training samples');
  const sums = new Float64Array(J), counts = new Int32Array(J);
  let pooled = 0, centreSum = 0;
  for (let i = 0; i < N; i++) {
    const o = i * J;
    let best = 0;
    for (let j = 1; j < J; j++) if (D2.data[o + j] < D2.data[o + best]) best = j;
    sums[best] += D2.data[o + best];
    counts[best]++;
    pooled += D2.data[o + best];
    centreSum += d0[i];
  }
  const s2 = pooled / N;
  const floor = Math.max(s2, centreSum / N, 1e-30) * 1e-12;
  const spreads = new Float32Array(J);
  for (let j = 0; j < J; j++) spreads[j] = Math.sqrt(Math.max((sums[j] + s2) / (counts[j] + 1), floor));
  return { spreads, counts, centre, centreSpread: Math.sqrt(Math.max(centreSum / N, floor)) };
}

/**
 * Novelty scores from distances (see the module comment for the formulas).
 * @param D2 - N×J squared distances to the prototypes in the model's metric.
 * @param d0 - N squared distances to the training data's centre, same metric.
 * @param tau - the prototype layer's τ (log-proximity).
 * @throws RangeError for an unknown kind or mismatched sizes.
 * @example
 * const r = noveltyScores({ data: Float32Array.from([4, 16]), rows: 1, cols: 2 }, [16], stats, 1, 'spread');
 * r.score[0] // √4 / s_0 when p_0 is the best in spreads
 */
export function noveltyScores(D2: Matrix, d0: ArrayLike<number>, stats: NoveltyStats, tau: number, kind: NoveltyScoreKind): NoveltyResult {
  checkKind(kind);
  const N = D2.rows, J = D2.cols;
  if (stats.spreads.length !== J) throw new RangeError(`noveltyScores: ${J} prototypes but ${stats.spreads.length} spreads`);
  if (d0.length !== N) throw new RangeError(`noveltyScores: ${N} samples but ${d0.length} centre distances`);
  const r: NoveltyResult = {
    kind, score: new Float64Array(N), prototype: new Int32Array(N), spreads: new Float64Array(N), centreSpreads: new Float64Array(N),
  };
  const s = stats.spreads;
  for (let i = 0; i < N; i++) {
    const o = i * J;
    let best = 0, bestSpread = Infinity, nearest = 0;
    for (let j = 0; j < J; j++) {
      const v = Math.sqrt(D2.data[o + j]) / s[j];
      if (v < bestSpread) { bestSpread = v; best = j; }
      if (D2.data[o + j] < D2.data[o + nearest]) nearest = j;
    }
    const c = Math.sqrt(d0[i]) / stats.centreSpread;
    r.centreSpreads[i] = c;
    if (kind === 'log-proximity') {
      // −log Σ_j exp(−d_j/2τ), with the largest term factored out.
      const m = D2.data[o + nearest];
      let sum = 0;
      for (let j = 0; j < J; j++) sum += Math.exp(-(D2.data[o + j] - m) / (2 * tau));
      r.score[i] = m / (2 * tau) - Math.log(sum);
      r.prototype[i] = nearest;
      r.spreads[i] = Math.sqrt(D2.data[o + nearest]) / s[nearest];
    } else {
      r.prototype[i] = best;
      r.spreads[i] = bestSpread;
      r.score[i] = kind === 'spread' ? bestSpread : bestSpread / Math.max(c, 1e-12);
    }
  }
  return r;
}

/**
 * The threshold that rejects `rate` of the given held-out scores of known samples: the smallest
 * score t with at most ⌊rate·n⌋ scores above it (a sample is rejected when its score > t).
 * @throws RangeError for an empty set, a non-finite score or a rate outside [0, 1).
 * @example
 * rejectionThreshold([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.2) // 8: scores 9 and 10 are rejected
 */
export function rejectionThreshold(scores: ArrayLike<number>, rate: number): number {
  if (!(rate >= 0 && rate < 1)) throw new RangeError(`targetFalseRejection must be in [0, 1), got ${rate}`);
  const n = scores.length;
  if (n === 0) throw new RangeError('rejectionThreshold: no held-out scores');
  const sorted = Float64Array.from(scores).sort();
  if (!sorted.every(Number.isFinite)) throw new RangeError('rejectionThreshold: a held-out score is not finite');
  const rejected = Math.floor(rate * n + 1e-9);
  let k = n - 1 - rejected;
  // Ties at the threshold would all be kept: step down past them so that no more than `rejected` lie above.
  while (k + 1 < n && sorted[k + 1] === sorted[k]) k++;
  return sorted[k];
}

/**
 * The sentence that says why a sample is (or is not) answered "unknown".
 * @example
 * noveltyReason('spread', { score: 3.4, prototype: 12, spreads: 3.4, centreSpreads: 2 }, 2.1)
 * // 'nearest prototype p12 at 3.40 spreads; threshold 2.10'
 */
export function noveltyReason(kind: NoveltyScoreKind, v: { score: number; prototype: number; spreads: number; centreSpreads: number }, threshold: number | null): string {
  const f = (x: number) => x.toFixed(2);
  const t = threshold === null ? '' : `; threshold ${f(threshold)}`;
  switch (kind) {
    case 'spread': return `nearest prototype p${v.prototype} at ${f(v.spreads)} spreads${t}`;
    case 'relative': return `nearest prototype p${v.prototype} at ${f(v.spreads)} spreads, the training data's centre at ${f(v.centreSpreads)}: ratio ${f(v.score)}${t}`;
    case 'log-proximity': return `nearest prototype p${v.prototype} at ${f(v.spreads)} spreads; −log-proximity ${f(v.score)}${t}`;
  }
}

/** The statistics as saved in a model file. */
export function noveltyStatsJSON(s: NoveltyStats): Record<string, unknown> {
  return { spreads: Array.from(s.spreads), counts: Array.from(s.counts), centre: Array.from(s.centre), centreSpread: s.centreSpread };
}

/**
 * Reads the statistics of a saved model with J prototypes and D features.
 * @throws TypeError/RangeError naming the field at fault.
 */
export function noveltyStatsFromJSON(v: unknown, J: number, D: number): NoveltyStats {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError('model: field "novelty" must be an object');
  const o = v as ModelJSON;
  const spreads = jsonFloats(o, 'spreads', J);
  spreads.forEach((x, j) => { if (!(x > 0)) throw new RangeError(`model: field "novelty.spreads" value ${j} is ${x}; expected a positive number`); });
  const counts = jsonFloats(o, 'counts', J);
  counts.forEach((x, j) => { if (!Number.isInteger(x) || x < 0) throw new RangeError(`model: field "novelty.counts" value ${j} is ${x}; expected a non-negative integer`); });
  return { spreads, counts: Int32Array.from(counts), centre: jsonFloats(o, 'centre', D), centreSpread: jsonNumber(o, 'centreSpread', 'positive') };
}

/**
 * Reads a saved rejection rule.
 * @throws TypeError/RangeError naming the field at fault.
 */
export function rejectionRuleFromJSON(v: unknown): RejectionRule {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError('model: field "calibration.rejection" must be an object');
  const o = v as ModelJSON;
  let score: NoveltyScoreKind;
  try {
    score = checkKind(o.score);
  } catch {
    throw new RangeError(`model: field "calibration.rejection.score" is ${JSON.stringify(o.score)}; expected one of: ${NOVELTY_SCORES.join(', ')}`);
  }
  const rate = jsonNumber(o, 'targetFalseRejection', 'non-negative');
  if (rate >= 1) throw new RangeError(`model: field "targetFalseRejection" must be below 1, got ${rate}`);
  return {
    score, threshold: jsonNumber(o, 'threshold'), targetFalseRejection: rate,
    heldOutFalseRejection: jsonNumber(o, 'heldOutFalseRejection', 'non-negative'), heldOut: jsonNumber(o, 'heldOut', 'positive integer'),
  };
}
