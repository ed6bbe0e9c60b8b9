/**
 * The open-set protocol (docs/openset.md): can a model fitted on some classes tell their new
 * samples from samples of classes it never saw? On any labelled feature matrix, for each of many
 * seeded random splits:
 *
 * - N known classes; per known class `shots` samples to fit, `validation` held-out samples that
 *   calibrate (temperature and rejection threshold), and `queries` test samples (known queries);
 * - unknowns of the same groups: `unknownClasses` classes never fitted, from the groups the known
 *   classes come from, `queries` samples each;
 * - when labels have the form group/class (an Omniglot alphabet and its character), unknowns of
 *   unseen groups: `unseenGroups` groups are held out of the split altogether, and
 *   `unknownClasses` of their classes give `queries` samples each.
 *
 * Every model is fitted on the fitting samples only, preprocessing included; the score of every
 * row ranks known queries against unknowns: AUROC (the probability that an unknown scores above a
 * known query, ties counting half) and the false-positive rate at 95 % true-positive rate (the
 * share of unknowns accepted by the threshold that accepts 95 % of known queries). Larger scores
 * mean "more novel" for every row. The prototype models are also calibrated on the validation
 * samples, and the rejection threshold they store is applied to the test samples.
 *
 * Browser-safe: no I/O; progress goes through a callback. The command is `protolens bench
 * openset` (src/cli/commands/bench-openset.ts).
 */
import { takeRows, toMatrix, type Matrix, type MatrixInput } from '../linalg/matrix.ts';
import { deriveSeed, rng, shuffled, type Rng } from '../linalg/random.ts';
import { rowSqNorms, sqDistances } from '../linalg/ops.ts';
import { gemm } from '../linalg/gemm.ts';
import { PrototypeClassifier, type PrototypeOptions } from '../model/prototype.ts';
import { KNearestNeighbors, NearestClassMean, SoftmaxRegression } from '../model/baselines.ts';
import { DEFAULT_PREPROCESS, FeatureTransform, checkPreprocessMethod, type PreprocessMethod } from '../model/preprocess.ts';
import { DEFAULT_FALSE_REJECTION, NOVELTY_SCORES, rejectionThreshold, type NoveltyScoreKind } from '../model/novelty.ts';
import type { Label } from '../model/types.ts';
import { bestIndex, validationScore } from './grid.ts';
import { meanStd } from './stats.ts';
import { WhitenedClassifier } from './whitened.ts';
import { SpanProjection } from './span.ts';

/** The models fitted on each split, in table order. */
export const OPENSET_MODELS = ['metric', 'euclidean', 'softmax', 'ncm', 'nn1', 'ncm-lda'] as const;
export type OpenSetModel = typeof OPENSET_MODELS[number];

/** One row of the table: a model and the score read from it. */
export interface OpenSetRow {
  model: OpenSetModel;
  /** A novelty score of the prototype model, or the baseline's own. */
  score: NoveltyScoreKind | 'msp' | 'calibrated-msp' | 'distance';
}

/** Rows, names and roles. */
export const OPENSET_INFO: Record<OpenSetModel, { name: string; role: 'ours' | 'baseline' | 'reference' }> = {
  metric: { name: 'ours, learned metric', role: 'ours' },
  euclidean: { name: 'ours, Euclidean', role: 'ours' },
  softmax: { name: 'softmax, L2', role: 'baseline' },
  ncm: { name: 'nearest class mean', role: 'baseline' },
  nn1: { name: '1-NN', role: 'baseline' },
  'ncm-lda': { name: 'class mean, LDA-whitened (reference)', role: 'reference' },
};

/** The score rows each model gives. */
export function rowsOf(model: OpenSetModel): OpenSetRow[] {
  switch (model) {
    case 'metric': case 'euclidean':
      return [...NOVELTY_SCORES.map((score) => ({ model, score })), { model, score: 'calibrated-msp' as const }];
    case 'softmax': return [{ model, score: 'msp' }];
    default: return [{ model, score: 'distance' }];
  }
}

/** A row's key in results, e.g. "metric/relative". */
export const rowKey = (r: OpenSetRow): string => `${r.model}/${r.score}`;

/** The row in words: "ours, learned metric: relative". */
export function rowName(r: OpenSetRow): string {
  const what: Record<OpenSetRow['score'], string> = {
    relative: 'relative (spreads over the centre\'s)', spread: 'distance in spreads', 'log-proximity': '−log-proximity',
    msp: 'max. softmax probability', 'calibrated-msp': 'max. class probability, calibrated (reference)', distance: 'distance',
  };
  return `${OPENSET_INFO[r.model].name}: ${what[r.score]}`;
}

/**
 * Settings of the prototype models, chosen on validation splits (BENCHMARKS.md, "Open-set
 * recognition"); the training budget is the Table 1 benchmark's.
 */
export const OPENSET_PROTOTYPE_OPTIONS: Record<'metric' | 'euclidean', PrototypeOptions & { prototypesPerClass: number }> = {
  metric: { prototypesPerClass: 1, metric: 'lowrank', regularization: 'l2', alpha: 1e-5, metricPenalty: 10, tau: 'auto', tauScale: 1, shrinkage: 0.2, maxIter: 30, classIter: 10 },
  euclidean: { prototypesPerClass: 1, regularization: 'l2', alpha: 1e-5, tau: 'auto', tauScale: 0.3, maxIter: 30, classIter: 10 },
};

/** Shrinkages of the learned metric tried on each split (see {@link OpenSetOptions.shrinkages}). */
export const OPENSET_SHRINKAGES = [0.2, 0.7];

/** L2 weights of the softmax, chosen per split on the validation samples (Table 1's grid). */
export const OPENSET_SOFTMAX_GRID = [1e-7, 1e-6, 1e-5, 1e-4, 1e-3];

/** Options of {@link runOpenSet}. */
export interface OpenSetOptions {
  /** Known classes per split (N). Default 20. */
  known?: number;
  /** Samples per known class to fit on. Default 5. */
  shots?: number;
  /** Held-out samples per known class that calibrate. Default 5. */
  validation?: number;
  /** Test samples per known class, and per unknown class. Default 10. */
  queries?: number;
  /** Unknown classes of each kind per split. Default: as many as known. */
  unknownClasses?: number;
  /** Groups held out of each split for unknowns of unseen groups (labels group/class only; 0 for none). Default 2. */
  unseenGroups?: number;
  /** Random splits. Default 10. */
  splits?: number;
  /** Seed of every random choice. Default 0. */
  seed?: number;
  /** Feature preprocessing, fitted on each split's fitting samples. Default {@link DEFAULT_PREPROCESS}. */
  preprocess?: PreprocessMethod;
  /** Models to fit. Default all of {@link OPENSET_MODELS}. */
  models?: OpenSetModel[];
  /** Share of held-out known samples the stored threshold rejects. Default 0.05. */
  targetFalseRejection?: number;
  /**
   * Shrinkages of the learned metric's start tried on each split: the one whose model gives the
   * split's validation samples the lowest negative log-likelihood is kept (no unknown sample is
   * used). Default {@link OPENSET_SHRINKAGES}.
   */
  shrinkages?: number[];
  /** Settings of the prototype models over {@link OPENSET_PROTOTYPE_OPTIONS}. */
  prototypeOptions?: Partial<Record<'metric' | 'euclidean', Partial<PrototypeOptions & { prototypesPerClass: number }>>>;
  /**
   * Fit and score the prototype models in the coordinates of the row space of the fitting samples
   * (src/select/span.ts): exact for fitting and for labels, faster, and the novelty scores then
   * leave out the part of a test sample outside that space. The baselines always work on all
   * features. Default true.
   */
  reduce?: boolean;
  /** Called after every split. */
  onProgress?: (p: { done: number; total: number }) => void;
}

type Resolved = Required<Omit<OpenSetOptions, 'onProgress' | 'prototypeOptions' | 'unknownClasses'>> & {
  unknownClasses: number;
  prototypeOptions: Record<'metric' | 'euclidean', PrototypeOptions & { prototypesPerClass: number }>;
};

/** Which rows of the data one split uses. */
export interface OpenSetSplit {
  index: number;
  seed: number;
  known: Label[];
  fit: number[];
  validation: number[];
  queries: number[];
  /** Samples of classes never fitted, from the known classes' groups (all classes when unlabelled by group). */
  unknownSame: number[];
  /** Samples of classes of the held-out groups (empty without groups). */
  unknownNew: number[];
  unseenGroups: string[];
}

/** Separation of known queries from one kind of unknowns. */
export interface Separation {
  auroc: number;
  fpr95: number;
}

/** One row on one split. */
export interface RowOutcome {
  same: Separation;
  /** Absent without groups. */
  unseen?: Separation;
}

/** What the stored threshold does on one split's test samples. */
export interface ThresholdOutcome {
  score: NoveltyScoreKind;
  threshold: number;
  /** Share of known queries answered "unknown" (the target is the rate chosen for). */
  falseRejection: number;
  /** Share of unknowns answered "unknown". */
  rejectedSame: number;
  rejectedUnseen?: number;
  temperature: number;
}

/** Everything one split gave. */
export interface SplitResult {
  split: OpenSetSplit;
  rows: Record<string, RowOutcome>;
  /** Closed-set accuracy on the known queries, per model. */
  accuracy: Partial<Record<OpenSetModel, number>>;
  /** Labels changed by calibration (always 0: temperature and threshold never change a class). */
  labelsChanged: Partial<Record<'metric' | 'euclidean', number>>;
  /** The learned metric's shrinkage used on this split (chosen on its validation samples when several were tried). */
  shrinkage?: number;
  thresholds: Partial<Record<'metric' | 'euclidean', ThresholdOutcome>>;
  /** Softmax's λ chosen on the validation samples. */
  softmaxL2?: number;
}

/** Mean and standard deviation over the splits. */
export interface Summary { mean: number; std: number; n: number }

/** Result of {@link runOpenSet}. */
export interface OpenSetResult {
  options: Omit<Resolved, never>;
  rows: OpenSetRow[];
  grouped: boolean;
  splits: SplitResult[];
  summary: {
    rows: Record<string, { same: { auroc: Summary; fpr95: Summary }; unseen?: { auroc: Summary; fpr95: Summary } }>;
    accuracy: Partial<Record<OpenSetModel, Summary>>;
    thresholds: Partial<Record<'metric' | 'euclidean', { falseRejection: Summary; rejectedSame: Summary; rejectedUnseen?: Summary }>>;
  };
  samples: number;
  dim: number;
  seconds: number;
}

/** Group of a label: its part before the first "/", or null. */
function groupOf(label: Label): string | null {
  const s = String(label), k = s.indexOf('/');
  return k < 0 ? null : s.slice(0, k);
}

function positiveInt(name: string, v: unknown, min = 1): number {
  if (!Number.isInteger(v) || (v as number) < min) throw new RangeError(`${name} must be an integer ≥ ${min}, got ${String(v)}`);
  return v as number;
}

/** Checks and completes the options. @throws TypeError/RangeError naming the bad option. */
function resolve(o: OpenSetOptions): Resolved {
  const known = ['known', 'shots', 'validation', 'queries', 'unknownClasses', 'unseenGroups', 'splits', 'seed', 'preprocess', 'models', 'targetFalseRejection', 'prototypeOptions', 'shrinkages', 'reduce', 'onProgress'];
  for (const k of Object.keys(o)) if (!known.includes(k)) throw new TypeError(`runOpenSet: unknown option "${k}". Valid options: ${known.join(', ')}`);
  const models = o.models ?? [...OPENSET_MODELS];
  for (const m of models) {
    if (!(OPENSET_MODELS as readonly string[]).includes(m)) throw new RangeError(`Invalid model: ${String(m)}. Should be one of: ${OPENSET_MODELS.join(', ')}`);
  }
  const rate = o.targetFalseRejection ?? DEFAULT_FALSE_REJECTION;
  if (!(rate >= 0 && rate < 1)) throw new RangeError(`targetFalseRejection must be in [0, 1), got ${rate}`);
  const seed = o.seed ?? 0;
  if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  const r: Resolved = {
    known: positiveInt('known', o.known ?? 20, 2), shots: positiveInt('shots', o.shots ?? 5), validation: positiveInt('validation', o.validation ?? 5),
    queries: positiveInt('queries', o.queries ?? 10), unknownClasses: 0, unseenGroups: positiveInt('unseenGroups', o.unseenGroups ?? 2, 0),
    splits: positiveInt('splits', o.splits ?? 10), seed, preprocess: checkPreprocessMethod(o.preprocess ?? DEFAULT_PREPROCESS),
    models: OPENSET_MODELS.filter((m) => models.includes(m)), targetFalseRejection: rate, reduce: o.reduce ?? true,
    // A shrinkage given in prototypeOptions.metric is a grid of one.
    shrinkages: checkShrinkages(o.shrinkages ?? (o.prototypeOptions?.metric?.shrinkage !== undefined ? [o.prototypeOptions.metric.shrinkage] : OPENSET_SHRINKAGES)),
    prototypeOptions: {
      metric: { ...OPENSET_PROTOTYPE_OPTIONS.metric, ...(o.prototypeOptions?.metric ?? {}) },
      euclidean: { ...OPENSET_PROTOTYPE_OPTIONS.euclidean, ...(o.prototypeOptions?.euclidean ?? {}) },
    },
  };
  r.unknownClasses = positiveInt('unknownClasses', o.unknownClasses ?? r.known);
  for (const k of ['metric', 'euclidean'] as const) {
    const { prototypesPerClass: ppc, ...rest } = r.prototypeOptions[k];
    positiveInt(`prototypeOptions.${k}.prototypesPerClass`, ppc);
    if (ppc > r.shots) throw new RangeError(`prototypeOptions.${k}.prototypesPerClass is ${ppc} but each class has only ${r.shots} fitting samples`);
    new PrototypeClassifier(rest); // fail early on bad options
  }
  return r;
}

function checkShrinkages(v: number[]): number[] {
  if (!Array.isArray(v) || v.length === 0) throw new RangeError('shrinkages must be a non-empty list of numbers in (0, 1]');
  for (const x of v) if (!(x > 0 && x <= 1)) throw new RangeError(`shrinkages: ${x} is not in (0, 1]`);
  return [...v];
}

/** Row indices of each class, classes in order of first appearance. */
function byClass(labels: readonly Label[]): Map<Label, number[]> {
  const m = new Map<Label, number[]>();
  labels.forEach((l, i) => { const a = m.get(l); if (a) a.push(i); else m.set(l, [i]); });
  return m;
}

/**
 * Draws one split (see the module comment).
 * @throws RangeError when the data cannot fill it: too few groups, classes or samples (named).
 */
export function drawSplit(classes: ReadonlyMap<Label, readonly number[]>, r: Resolved, index: number, seed: number, grouped: boolean): OpenSetSplit {
  const g: Rng = rng(seed);
  const need = r.shots + r.validation + r.queries;
  const all = [...classes.keys()];
  let unseenGroups: string[] = [];
  let pool = all;
  let unseenPool: Label[] = [];
  if (grouped && r.unseenGroups > 0) {
    const groups = [...new Set(all.map((l) => groupOf(l)!))];
    if (groups.length <= r.unseenGroups) throw new RangeError(`the data has ${groups.length} groups; holding out ${r.unseenGroups} of them leaves none for the known classes`);
    unseenGroups = shuffled(groups, g).slice(0, r.unseenGroups).sort();
    const held = new Set(unseenGroups);
    pool = all.filter((l) => !held.has(groupOf(l)!));
    unseenPool = all.filter((l) => held.has(groupOf(l)!) && classes.get(l)!.length >= r.queries);
    if (unseenPool.length < r.unknownClasses) {
      throw new RangeError(`split ${index}: the held-out groups ${unseenGroups.join(', ')} have ${unseenPool.length} classes with ${r.queries} samples; ${r.unknownClasses} are needed (fewer --unknown-classes?)`);
    }
  }
  const eligible = pool.filter((l) => classes.get(l)!.length >= need);
  if (eligible.length < r.known) throw new RangeError(`split ${index}: ${eligible.length} classes have ${need} samples (fit + validation + queries); ${r.known} known classes are needed`);
  const known = shuffled(eligible, g).slice(0, r.known);
  const isKnown = new Set(known);
  const others = pool.filter((l) => !isKnown.has(l) && classes.get(l)!.length >= r.queries);
  if (others.length < r.unknownClasses) throw new RangeError(`split ${index}: ${others.length} classes remain for unknowns beside the ${r.known} known; ${r.unknownClasses} are needed`);
  const split: OpenSetSplit = { index, seed, known, fit: [], validation: [], queries: [], unknownSame: [], unknownNew: [], unseenGroups };
  for (const c of known) {
    const idx = shuffled(classes.get(c)!, g);
    split.queries.push(...idx.slice(0, r.queries));
    split.fit.push(...idx.slice(r.queries, r.queries + r.shots));
    split.validation.push(...idx.slice(r.queries + r.shots, need));
  }
  for (const c of shuffled(others, g).slice(0, r.unknownClasses)) split.unknownSame.push(...shuffled(classes.get(c)!, g).slice(0, r.queries));
  if (unseenPool.length) for (const c of shuffled(unseenPool, g).slice(0, r.unknownClasses)) split.unknownNew.push(...shuffled(classes.get(c)!, g).slice(0, r.queries));
  return split;
}

/**
 * Area under the ROC curve of scores that should be larger for positives: P(positive > negative)
 * with ties counting half (Mann–Whitney U over average ranks).
 * @example
 * auroc([0.1, 0.4], [0.35, 0.8]) // 0.75: three of the four pairs are ordered
 */
export function auroc(negatives: ArrayLike<number>, positives: ArrayLike<number>): number {
  const n0 = negatives.length, n1 = positives.length;
  if (n0 === 0 || n1 === 0) return NaN;
  const all = Array.from({ length: n0 + n1 }, (_, k) => ({ v: k < n0 ? negatives[k] : positives[k - n0], pos: k >= n0 }));
  all.sort((a, b) => a.v - b.v);
  let rankSum = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j + 1 < all.length && all[j + 1].v === all[i].v) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (all[k].pos) rankSum += avg;
    i = j + 1;
  }
  return (rankSum - (n1 * (n1 + 1)) / 2) / (n0 * n1);
}

/**
 * False-positive rate at a true-positive rate: the share of unknowns whose score is at or below the
 * threshold that accepts `tpr` of the known samples (the known samples are the positives).
 * @example
 * fprAtTpr([1, 2, 3, 4], [2.5, 9], 0.5) // 0: the threshold 2 accepts half the known samples and no unknown
 */
export function fprAtTpr(known: ArrayLike<number>, unknown: ArrayLike<number>, tpr = 0.95): number {
  if (known.length === 0 || unknown.length === 0) return NaN;
  const t = rejectionThreshold(known, 1 - tpr);
  let accepted = 0;
  for (let i = 0; i < unknown.length; i++) if (unknown[i] <= t) accepted++;
  return accepted / unknown.length;
}

/** The samples of a split in the coordinates its models use (preprocessing fitted on the fitting samples). */
interface SplitData {
  fit: Matrix; yFit: Label[];
  validation: Matrix; yValidation: Label[];
  queries: Matrix; yQueries: Label[];
  unknownSame: Matrix; unknownNew: Matrix | null;
}

function splitData(X: Matrix, labels: readonly Label[], s: OpenSetSplit, preprocess: PreprocessMethod): SplitData {
  const t = new FeatureTransform(preprocess);
  const fit = t.fitTransform(takeRows(X, s.fit));
  const map = (rows: number[]) => t.transform(takeRows(X, rows));
  const ys = (rows: number[]) => rows.map((i) => labels[i]);
  return {
    fit, yFit: ys(s.fit), validation: map(s.validation), yValidation: ys(s.validation), queries: map(s.queries), yQueries: ys(s.queries),
    unknownSame: map(s.unknownSame), unknownNew: s.unknownNew.length ? map(s.unknownNew) : null,
  };
}

/** The same samples in the coordinates of the row space of the fitting samples. */
function reduced(d: SplitData): SplitData {
  const p = new SpanProjection().fit(d.fit);
  return {
    ...d, fit: p.transform(d.fit), validation: p.transform(d.validation), queries: p.transform(d.queries),
    unknownSame: p.transform(d.unknownSame), unknownNew: d.unknownNew ? p.transform(d.unknownNew) : null,
  };
}

/** Scores of the three test sets under one row. */
type Scorer = (A: Matrix) => ArrayLike<number>;

function separations(score: Scorer, d: SplitData): RowOutcome {
  const k = score(d.queries), s = score(d.unknownSame);
  const out: RowOutcome = { same: { auroc: auroc(k, s), fpr95: fprAtTpr(k, s) } };
  if (d.unknownNew) { const u = score(d.unknownNew); out.unseen = { auroc: auroc(k, u), fpr95: fprAtTpr(k, u) }; }
  return out;
}

/** −max_l of each row of probabilities (larger = less confident). */
function negMaxRows(P: Matrix): Float64Array {
  const out = new Float64Array(P.rows);
  for (let i = 0; i < P.rows; i++) {
    let m = -Infinity;
    for (let l = 0; l < P.cols; l++) m = Math.max(m, P.data[i * P.cols + l]);
    out[i] = -m;
  }
  return out;
}

/** Smallest squared distance of each row of A to the rows of B. */
function nearestSqDistance(A: Matrix, B: Matrix): Float64Array {
  const D = sqDistances(A, B, rowSqNorms(A.data, A.rows, A.cols), rowSqNorms(B.data, B.rows, B.cols));
  const out = new Float64Array(A.rows).fill(Infinity);
  for (let i = 0; i < A.rows; i++) for (let j = 0; j < B.rows; j++) out[i] = Math.min(out[i], D[i * B.rows + j]);
  return out;
}

/** Fits one prototype model, calibrates it on the validation samples, and reads its rows and its threshold's outcome. */
function prototypeRows(kind: 'metric' | 'euclidean', d: SplitData, r: Resolved, seed: number, out: SplitResult): void {
  const { prototypesPerClass: ppc, ...options } = r.prototypeOptions[kind];
  const fit = (o: PrototypeOptions) => new PrototypeClassifier({ ...o, nPrototypes: ppc * r.known, seed }).fit(d.fit, d.yFit);
  const model = kind === 'metric' ? chooseShrinkage(fit, options, r.shrinkages, d, out) : fit(options);
  const before = model.predict(d.queries);
  const rule = model.calibrate(d.validation, d.yValidation, { targetFalseRejection: r.targetFalseRejection }).rejection;
  const after = model.predict(d.queries);
  out.labelsChanged[kind] = before.filter((l, i) => l !== after[i]).length;
  let ok = 0;
  after.forEach((l, i) => { if (l === d.yQueries[i]) ok++; });
  out.accuracy[kind] = ok / after.length;
  for (const row of rowsOf(kind)) {
    const scorer: Scorer = row.score === 'calibrated-msp' ? (A) => negMaxRows(model.predictProba(A)) : (A) => model.novelty(A, row.score as NoveltyScoreKind).score;
    out.rows[rowKey(row)] = separations(scorer, d);
  }
  const rejected = (A: Matrix | null) => {
    if (!A) return undefined;
    const s = model.novelty(A, rule.score).score;
    return s.filter((v) => v > rule.threshold).length / s.length;
  };
  out.thresholds[kind] = {
    score: rule.score, threshold: rule.threshold, falseRejection: rejected(d.queries)!, rejectedSame: rejected(d.unknownSame)!,
    ...(d.unknownNew ? { rejectedUnseen: rejected(d.unknownNew)! } : {}), temperature: model.temperature_,
  };
}

/** The metric model of the shrinkage whose fit gives the validation samples the lowest NLL (recorded in `out`). */
function chooseShrinkage(fit: (o: PrototypeOptions) => PrototypeClassifier, options: PrototypeOptions, grid: number[], d: SplitData, out: SplitResult): PrototypeClassifier {
  let best = Infinity, model: PrototypeClassifier | null = null;
  for (const shrinkage of grid) {
    const m = fit({ ...options, shrinkage });
    const nll = grid.length > 1 ? validationNll(m, d.validation, d.yValidation) : 0;
    if (model === null || nll < best) { best = nll; model = m; out.shrinkage = shrinkage; }
  }
  return model!;
}

/** Mean −log c_y of held-out samples under a fitted prototype model. */
function validationNll(m: PrototypeClassifier, A: Matrix, y: readonly Label[]): number {
  const P = m.predictProba(A), L = P.cols;
  const index = new Map(m.classes_.map((c, i) => [c, i]));
  let s = 0;
  for (let i = 0; i < A.rows; i++) s -= Math.log(Math.max(P.data[i * L + index.get(y[i])!], 1e-300));
  return s / A.rows;
}

/** Fits one baseline and reads its row. */
function baselineRow(kind: Exclude<OpenSetModel, 'metric' | 'euclidean'>, d: SplitData, out: SplitResult): void {
  let scorer: Scorer;
  let accuracy: number;
  switch (kind) {
    case 'softmax': {
      const fits = OPENSET_SOFTMAX_GRID.map((l2) => new SoftmaxRegression({ l2 }).fit(d.fit, d.yFit));
      const k = bestIndex(fits.map((m) => validationScore(m, d.validation, d.yValidation)));
      out.softmaxL2 = OPENSET_SOFTMAX_GRID[k];
      scorer = (A) => negMaxRows(fits[k].predictProba(A));
      accuracy = fits[k].score(d.queries, d.yQueries);
      break;
    }
    case 'ncm': {
      const m = new NearestClassMean().fit(d.fit, d.yFit);
      scorer = (A) => nearestSqDistance(A, m.means_!);
      accuracy = m.score(d.queries, d.yQueries);
      break;
    }
    case 'nn1': {
      const m = new KNearestNeighbors({ k: 1 }).fit(d.fit, d.yFit);
      scorer = (A) => nearestSqDistance(A, d.fit);
      accuracy = m.score(d.queries, d.yQueries);
      break;
    }
    case 'ncm-lda': {
      const m = new WhitenedClassifier(new NearestClassMean(), 0.2).fit(d.fit, d.yFit);
      const inner = m.inner as NearestClassMean;
      scorer = (A) => nearestSqDistance(whiten(m, A), inner.means_!);
      accuracy = m.score(d.queries, d.yQueries);
      break;
    }
    default: {
      const never: never = kind;
      throw new RangeError(`unknown model ${String(never)}`);
    }
  }
  out.accuracy[kind] = accuracy;
  out.rows[rowKey(rowsOf(kind)[0])] = separations(scorer, d);
}

/** A through the whitening of a fitted {@link WhitenedClassifier}. */
function whiten(m: WhitenedClassifier, A: Matrix): Matrix {
  const O = m.omega_!;
  const Xw = new Float32Array(A.rows * O.rows);
  gemm(false, true, A.rows, O.rows, A.cols, 1, A.data, A.cols, O.data, O.cols, 0, Xw, O.rows);
  return { data: Xw, rows: A.rows, cols: O.rows };
}

/**
 * Runs one split: preprocessing and every model fitted on its fitting samples, the prototype
 * models calibrated on its validation samples, every row scored on its test samples.
 */
export function evaluateSplit(X: Matrix, labels: readonly Label[], split: OpenSetSplit, options: OpenSetOptions = {}): SplitResult {
  const r = resolve(options);
  const d = splitData(X, labels, split, r.preprocess);
  // The whitened reference always works in the span: whitening all D features costs a D×D eigen-decomposition.
  const inSpan = (m: OpenSetModel) => m === 'ncm-lda' || (r.reduce && (m === 'metric' || m === 'euclidean'));
  const dp = r.models.some(inSpan) ? reduced(d) : d;
  const out: SplitResult = { split, rows: {}, accuracy: {}, labelsChanged: {}, thresholds: {} };
  for (const m of r.models) {
    if (m === 'metric' || m === 'euclidean') prototypeRows(m, inSpan(m) ? dp : d, r, split.seed, out);
    else baselineRow(m, inSpan(m) ? dp : d, out);
  }
  return out;
}

/** Seed of split `index`, derived from the run's seed. */
export function splitSeed(seed: number, index: number): number {
  return deriveSeed(deriveSeed(seed, 18), index);
}

/**
 * Runs the protocol: `splits` seeded random splits, every model on each.
 * @param data - features (one row per sample) and one label per row.
 * @throws TypeError/RangeError for bad options, a label count that differs from the rows, or data
 *   that cannot fill a split (naming what is missing).
 * @example
 * const r = runOpenSet({ X, labels }, { splits: 5, seed: 1 });
 * r.summary.rows['metric/relative'].same.auroc.mean // e.g. 0.85
 */
export function runOpenSet(data: { X: MatrixInput; labels: readonly Label[] }, options: OpenSetOptions = {}): OpenSetResult {
  const t0 = performance.now();
  const r = resolve(options);
  const X = toMatrix(data.X, { name: 'features' });
  if (!Array.isArray(data.labels) || data.labels.length !== X.rows) {
    throw new RangeError(`features: ${Array.isArray(data.labels) ? data.labels.length : 'no'} labels for ${X.rows} rows; the benchmark needs one label per row`);
  }
  const classes = byClass(data.labels);
  const grouped = r.unseenGroups > 0 && data.labels.every((l) => groupOf(l) !== null);
  const splits = Array.from({ length: r.splits }, (_, k) => drawSplit(classes, r, k, splitSeed(r.seed, k), grouped));
  const results = splits.map((s, k) => {
    const res = evaluateSplit(X, data.labels, s, { ...options, onProgress: undefined });
    options.onProgress?.({ done: k + 1, total: r.splits });
    return res;
  });
  const rows = r.models.flatMap(rowsOf);
  return { options: r, rows, grouped, splits: results, summary: summarizeOpenSet(results, rows, r.models), samples: X.rows, dim: X.cols, seconds: (performance.now() - t0) / 1000 };
}

/** Mean ± std over splits of every figure. */
export function summarizeOpenSet(splits: readonly SplitResult[], rows: readonly OpenSetRow[], models: readonly OpenSetModel[]): OpenSetResult['summary'] {
  const sum = (vals: number[]): Summary => meanStd(vals);
  const out: OpenSetResult['summary'] = { rows: {}, accuracy: {}, thresholds: {} };
  for (const row of rows) {
    const key = rowKey(row);
    const get = (f: (o: RowOutcome) => number | undefined) => splits.map((s) => f(s.rows[key])).filter((v): v is number => v !== undefined);
    const same = { auroc: sum(get((o) => o.same.auroc)), fpr95: sum(get((o) => o.same.fpr95)) };
    const hasUnseen = splits.every((s) => s.rows[key].unseen);
    out.rows[key] = hasUnseen ? { same, unseen: { auroc: sum(get((o) => o.unseen?.auroc)), fpr95: sum(get((o) => o.unseen?.fpr95)) } } : { same };
  }
  for (const m of models) out.accuracy[m] = sum(splits.map((s) => s.accuracy[m]!));
  for (const m of ['metric', 'euclidean'] as const) {
    if (!models.includes(m)) continue;
    const t = splits.map((s) => s.thresholds[m]!);
    out.thresholds[m] = {
      falseRejection: sum(t.map((x) => x.falseRejection)), rejectedSame: sum(t.map((x) => x.rejectedSame)),
      ...(t.every((x) => x.rejectedUnseen !== undefined) ? { rejectedUnseen: sum(t.map((x) => x.rejectedUnseen!)) } : {}),
    };
  }
  return out;
}
