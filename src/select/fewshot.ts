/**
 * The few-shot protocol of the paper's Table 1 (Drumond, Viéville & Alexandre, NIPS 2017
 * workshop), as described in docs/benchmark.md:
 *
 * - choose N classes at random (N = 2, 5, 20), 10 subsets per N, each with a recorded seed;
 * - split each class's samples: 10 for test, 10 for training; the training fold again into 5 to
 *   fit and 5 to validate the hyper-parameters (a 5-shot N-way task);
 * - for every method, fit each grid point on the fitting half and keep the best on the
 *   validation half ({@link bestIndex}); then score the chosen setting on the test fold, fitted
 *   once on the 5 fitting samples ("refit on 5") and once on all 10 training samples ("refit on 10").
 *
 * The test fold is only ever passed to `score`, after the choice is made. Preprocessing (a
 * {@link FeatureTransform}) is fitted on the samples each model is fitted on, and is the same for
 * every method. With `reduce` (the default) every fit runs in the coordinates of the row space of
 * its (preprocessed) fitting samples, an exact change of basis (see span.ts) that makes the fits
 * cheap. Browser-safe: no I/O; progress goes through a callback.
 */
import { takeRows, toMatrix, type Matrix, type MatrixInput } from '../linalg/matrix.ts';
import { deriveSeed, rng, shuffled } from '../linalg/random.ts';
import { PrototypeClassifier, type PrototypeOptions } from '../model/prototype.ts';
import { KNearestNeighbors, NearestClassMean, SoftmaxRegression } from '../model/baselines.ts';
import { DEFAULT_PREPROCESS, FeatureTransform, checkPreprocessMethod, type PreprocessMethod } from '../model/preprocess.ts';
import type { Classifier, Label } from '../model/types.ts';
import { bestIndex, expandGrid, validationScore, type ValidationScore } from './grid.ts';
import { meanStd, pairedTTest } from './stats.ts';
import { SpanProjection } from './span.ts';
import { WhitenedClassifier } from './whitened.ts';

/** The rows of the benchmark, in table order. */
export const FEWSHOT_METHODS = ['proto-l1', 'proto-l2', 'ncm', 'softmax', 'nn1', 'proto-l1-tau', 'proto-l2-tau', 'proto-cv', 'proto-metric', 'ncm-lda', 'softmax-lda'] as const;
export type FewShotMethod = typeof FEWSHOT_METHODS[number];

/** How each row is named in tables and whether it is one of ours / one of the paper's. */
export const METHOD_INFO: Record<FewShotMethod, { name: string; ours: boolean; paper: boolean; grid: string }> = {
  'proto-l1': { name: 'ours, L1 (τ = 1)', ours: true, paper: true, grid: 'J/class × α' },
  'proto-l2': { name: 'ours, L2 (τ = 1)', ours: true, paper: true, grid: 'J/class × α' },
  ncm: { name: 'single prototype', ours: false, paper: true, grid: '—' },
  softmax: { name: 'softmax, L2', ours: false, paper: true, grid: 'λ' },
  nn1: { name: '1-NN (reference)', ours: false, paper: false, grid: '—' },
  'proto-l1-tau': { name: 'ours, L1, data-scaled τ', ours: true, paper: false, grid: 'J/class × α × τ scale' },
  'proto-l2-tau': { name: 'ours, L2, data-scaled τ', ours: true, paper: false, grid: 'J/class × α × τ scale' },
  'proto-cv': { name: 'ours, cross-validated (L1/L2, J, α, τ)', ours: true, paper: false, grid: 'L1/L2 × J/class × α × τ scale' },
  'proto-metric': { name: 'ours, learned metric, cross-validated', ours: true, paper: false, grid: 'J/class × τ scale × shrinkage' },
  'ncm-lda': { name: 'single prototype, LDA-whitened (reference)', ours: false, paper: false, grid: 'shrinkage' },
  'softmax-lda': { name: 'softmax, L2, LDA-whitened (reference)', ours: false, paper: false, grid: 'shrinkage × λ' },
};

/** The paper's Table 1 (5-shot, Omniglot `images_background_small`), by method and N. */
export const PAPER_TABLE1: Partial<Record<FewShotMethod, Record<number, number>>> = {
  'proto-l1': { 2: 0.80, 5: 0.81, 20: 0.52 },
  'proto-l2': { 2: 0.91, 5: 0.90, 20: 0.74 },
  ncm: { 2: 0.93, 5: 0.91, 20: 0.77 },
  softmax: { 2: 0.79, 5: 0.96, 20: 0.89 },
};

/** Hyper-parameter grids searched on the validation half. */
export interface FewShotGrids {
  /** Prototypes per class (J = value × N). Default [1, 2]. */
  prototypesPerClass: number[];
  /**
   * Penalty weight α of the prototype model with the L1 penalty α‖W‖₁. Default [1e-4, 1e-3, 1e-2].
   * (The two penalties are on different scales, so each has its own grid.)
   */
  alphaL1: number[];
  /** Penalty weight α of the prototype model with the L2 penalty α‖W‖₂². Default [1e-6, 1e-5, 1e-4]. */
  alphaL2: number[];
  /** τ = value × (median squared distance between fitting samples) / 2, for the data-scaled rows. Default [0.1, 0.3, 1]. */
  tauScale: number[];
  /** L2 weight λ of the softmax. Default [1e-7, 1e-6, 1e-5, 1e-4, 1e-3]. */
  l2: number[];
  /** τ scale of the learned-metric row ('auto' in the metric's whitened units, docs/model.md). Default [1]. */
  metricTauScale: number[];
  /** Shrinkage of the whitening the learned metric starts from (and of the LDA-whitened references). Default [0.1, 0.2, 0.4]. */
  shrinkage: number[];
}

/**
 * Default grids, chosen by measurement on MobileNetV2 features (BENCHMARKS.md, "Choosing the
 * grids"): the best L2 penalties are two orders of magnitude below the best L1 penalties; softmax
 * validates best with λ near 0, so its grid reaches down to 1e-7; 3 prototypes per class never
 * beat 1 or 2 with 5 samples per class.
 */
export const DEFAULT_GRIDS: FewShotGrids = {
  prototypesPerClass: [1, 2],
  alphaL1: [1e-4, 1e-3, 1e-2],
  alphaL2: [1e-6, 1e-5, 1e-4],
  tauScale: [0.1, 0.3, 1],
  l2: [1e-7, 1e-6, 1e-5, 1e-4, 1e-3],
  metricTauScale: [1],
  shrinkage: [0.1, 0.2, 0.4],
};

/**
 * Fixed settings of the learned-metric row: the L2 penalty weight on W (small: the whitened space
 * already separates the classes) and the pull β that keeps Ω near its start on 5 samples per
 * class (BENCHMARKS.md, "Prototype model with a learned metric").
 */
export const METRIC_ROW = { alpha: 1e-5, metricPenalty: 10 } as const;

/**
 * Training budget of every prototype model in the benchmark, unless `prototypeOptions` says
 * otherwise: 30 outer iterations with 10 inner iterations per class step. On 5-shot tasks this
 * reaches the same test accuracy as the model's defaults (100 × 50) within noise, in a third of
 * the time (BENCHMARKS.md).
 */
export const DEFAULT_PROTOTYPE_OPTIONS = { maxIter: 30, classIter: 10 } as const;

/** Options of {@link runFewShot}. */
export interface FewShotOptions {
  /** Numbers of classes per task. Default [2, 5, 20]. */
  ways?: number[];
  /** Random subsets per N. Default 10. */
  subsets?: number;
  /** Samples per class used to fit during selection (the "shots"). Default 5. */
  fitPerClass?: number;
  /** Samples per class that validate the hyper-parameters. Default 5. */
  validationPerClass?: number;
  /** Samples per class in the test fold. Default 10. */
  testPerClass?: number;
  /** Seed of every random choice. Default 0. */
  seed?: number;
  /** Feature preprocessing, fitted on each fitting set and used by every method. Default {@link DEFAULT_PREPROCESS}. */
  preprocess?: PreprocessMethod;
  /** Rows to run. Default all of {@link FEWSHOT_METHODS}. */
  methods?: FewShotMethod[];
  /** Grids; missing ones take {@link DEFAULT_GRIDS}. */
  grids?: Partial<FewShotGrids>;
  /** Fit in the coordinates of the fitting samples' row space (exact, faster). Default true. */
  reduce?: boolean;
  /**
   * How a grid point is scored: 'holdout' (the paper's protocol) fits on the fitting half and
   * scores on the validation half; 'swap' also fits on the validation half and scores on the
   * fitting half, and averages the two (2-fold cross-validation inside the training fold; twice
   * the fits, less noisy choices). Default 'holdout'.
   */
  selection?: 'holdout' | 'swap';
  /** Options for every prototype model (maxIter, tol, classIter …), over {@link DEFAULT_PROTOTYPE_OPTIONS}. */
  prototypeOptions?: Omit<PrototypeOptions, 'nPrototypes' | 'regularization' | 'alpha' | 'tau' | 'tauScale' | 'seed'>;
  /** Called after every model fit. */
  onProgress?: (p: FewShotProgress) => void;
}

/** Progress of a run, in model fits. */
export interface FewShotProgress {
  done: number;
  total: number;
  ways: number;
  subset: number;
}

/** Which samples (row indices of the input) a task uses. */
export interface FewShotTask {
  ways: number;
  /** Subset number within its N (0-based). */
  index: number;
  seed: number;
  classes: Label[];
  fit: number[];
  validation: number[];
  test: number[];
}

/** One method on one task. */
export interface MethodOutcome {
  /** The chosen grid point. */
  params: Record<string, unknown>;
  /** Its validation score (fitted on the fitting half). */
  validation: ValidationScore;
  /** Test accuracy, fitted on the 5 fitting samples per class. */
  testFit: number;
  /** Test accuracy, refitted on all 10 training samples per class. */
  testTrain: number;
  /** Grid points tried. */
  candidates: number;
  /** Seconds spent fitting this method's candidates and refit (shared fits counted for each method). */
  seconds: number;
}

/** One task with every method's outcome. */
export interface TaskResult extends FewShotTask {
  /** Dimension the models were fitted in (the rank of the fitting set with `reduce`). */
  dims: { fit: number; train: number };
  methods: Partial<Record<FewShotMethod, MethodOutcome>>;
}

/** The two tables: test accuracy after refitting on the fitting half, or on the whole training fold. */
export type RefitKind = 'testFit' | 'testTrain';
export const REFIT_LABELS: Record<RefitKind, string> = {
  testFit: 'refit on the 5 fitting samples per class (the paper\'s 5-shot setting)',
  testTrain: 'refit on all 10 training samples per class (fitting + validation)',
};

/** Mean (std) per method and N, and paired tests. */
export interface FewShotSummary {
  tables: Record<RefitKind, Partial<Record<FewShotMethod, Record<number, { mean: number; std: number; n: number }>>>>;
  /** Paired t-tests over the same subsets: each of our rows against single prototype and softmax. */
  tests: Array<{ refit: RefitKind; ways: number; method: FewShotMethod; against: FewShotMethod; meanDiff: number; p: number }>;
}

/** Everything a run produced. */
export interface FewShotResult {
  options: {
    ways: number[]; subsets: number; fitPerClass: number; validationPerClass: number; testPerClass: number;
    seed: number; preprocess: PreprocessMethod; preprocessDescription: string; methods: FewShotMethod[];
    grids: FewShotGrids; reduce: boolean; selection: 'holdout' | 'swap'; prototypeOptions: Record<string, unknown>;
  };
  tasks: TaskResult[];
  summary: FewShotSummary;
  seconds: number;
}

interface Resolved {
  ways: number[]; subsets: number; fitPerClass: number; validationPerClass: number; testPerClass: number; seed: number;
  preprocess: PreprocessMethod; methods: FewShotMethod[]; grids: FewShotGrids; reduce: boolean;
  selection: 'holdout' | 'swap'; prototypeOptions: Record<string, unknown>;
}

function positiveInt(name: string, v: unknown, min = 1): number {
  if (!Number.isInteger(v) || (v as number) < min) throw new RangeError(`${name} must be an integer ≥ ${min}, got ${String(v)}`);
  return v as number;
}

function resolve(o: FewShotOptions): Resolved {
  const known = ['ways', 'subsets', 'fitPerClass', 'validationPerClass', 'testPerClass', 'seed', 'preprocess', 'methods', 'grids', 'reduce', 'selection', 'prototypeOptions', 'onProgress'];
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) throw new TypeError(`runFewShot: unknown option "${k}". Valid options: ${known.join(', ')}`);
  }
  const ways = o.ways ?? [2, 5, 20];
  if (!Array.isArray(ways) || ways.length === 0) throw new RangeError('ways must list at least one number of classes');
  ways.forEach((w) => positiveInt('ways', w, 2));
  const methods = o.methods ?? [...FEWSHOT_METHODS];
  for (const m of methods) {
    if (!(FEWSHOT_METHODS as readonly string[]).includes(m)) {
      throw new RangeError(`Invalid method: ${String(m)}. Should be one of: ${FEWSHOT_METHODS.join(', ')}`);
    }
  }
  const grids: FewShotGrids = { ...DEFAULT_GRIDS };
  for (const [k, v] of Object.entries(o.grids ?? {})) {
    if (!(k in DEFAULT_GRIDS)) throw new TypeError(`grids: unknown grid "${k}". Valid grids: ${Object.keys(DEFAULT_GRIDS).join(', ')}`);
    if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== 'number' || !(x >= 0) || !Number.isFinite(x))) {
      throw new RangeError(`grids.${k} must be a non-empty list of non-negative numbers, got ${JSON.stringify(v)}`);
    }
    grids[k as keyof FewShotGrids] = v.slice();
  }
  grids.prototypesPerClass.forEach((v) => positiveInt('grids.prototypesPerClass', v));
  grids.tauScale.forEach((v) => { if (!(v > 0)) throw new RangeError(`grids.tauScale values must be positive, got ${v}`); });
  const seed = o.seed ?? 0;
  if (!Number.isInteger(seed)) throw new TypeError(`seed must be an integer, got ${seed}`);
  const r: Resolved = {
    ways: ways.slice(),
    subsets: positiveInt('subsets', o.subsets ?? 10),
    fitPerClass: positiveInt('fitPerClass', o.fitPerClass ?? 5),
    validationPerClass: positiveInt('validationPerClass', o.validationPerClass ?? 5),
    testPerClass: positiveInt('testPerClass', o.testPerClass ?? 10),
    seed,
    preprocess: checkPreprocessMethod(o.preprocess ?? DEFAULT_PREPROCESS),
    methods: FEWSHOT_METHODS.filter((m) => methods.includes(m)),
    grids,
    reduce: o.reduce ?? true,
    selection: o.selection ?? 'holdout',
    prototypeOptions: { ...DEFAULT_PROTOTYPE_OPTIONS, ...(o.prototypeOptions ?? {}) },
  };
  const maxJ = Math.max(...grids.prototypesPerClass);
  if (r.selection !== 'holdout' && r.selection !== 'swap') {
    throw new RangeError(`Invalid selection: ${String(r.selection)}. Should be one of: holdout, swap`);
  }
  if (r.selection === 'swap' && maxJ > r.validationPerClass) {
    throw new RangeError(`grids.prototypesPerClass goes up to ${maxJ} but each class has only ${r.validationPerClass} validation samples to fit on with selection 'swap'`);
  }
  if (maxJ > r.fitPerClass) {
    throw new RangeError(`grids.prototypesPerClass goes up to ${maxJ} but each class has only ${r.fitPerClass} fitting samples`);
  }
  // Fail early on bad prototype options.
  new PrototypeClassifier(r.prototypeOptions as PrototypeOptions);
  return r;
}

/**
 * Draws one task: `ways` classes at random among those with enough samples, and for each class a
 * random disjoint choice of fitting, validation and test samples.
 * @param byClass - row indices of each class, in a fixed order.
 * @throws RangeError when fewer than `ways` classes have enough samples.
 */
export function sampleTask(byClass: ReadonlyMap<Label, readonly number[]>, ways: number, index: number, seed: number,
  sizes: { fit: number; validation: number; test: number }): FewShotTask {
  const need = sizes.fit + sizes.validation + sizes.test;
  const eligible = [...byClass.keys()].filter((c) => byClass.get(c)!.length >= need);
  if (eligible.length < ways) {
    throw new RangeError(`a ${ways}-way task needs ${ways} classes with at least ${need} samples each; the data has ${eligible.length}`);
  }
  const r = rng(seed);
  const classes = shuffled(eligible, r).slice(0, ways);
  const task: FewShotTask = { ways, index, seed, classes, fit: [], validation: [], test: [] };
  for (const c of classes) {
    const idx = shuffled(byClass.get(c)!, r);
    task.test.push(...idx.slice(0, sizes.test));
    task.fit.push(...idx.slice(sizes.test, sizes.test + sizes.fit));
    task.validation.push(...idx.slice(sizes.test + sizes.fit, need));
  }
  return task;
}

/** One model setting to fit: a family and its options. */
interface Candidate {
  key: string;
  family: 'prototype' | 'ncm' | 'softmax' | 'knn' | 'ncm-lda' | 'softmax-lda';
  params: Record<string, unknown>;
}

function candidatesFor(method: FewShotMethod, g: FewShotGrids): Candidate[] {
  const proto = (grid: Record<string, readonly unknown[]>): Candidate[] => expandGrid(grid).map((params) => ({
    key: `prototype ${JSON.stringify(params)}`, family: 'prototype', params,
  }));
  const alpha = (reg: 'l1' | 'l2') => (reg === 'l1' ? g.alphaL1 : g.alphaL2);
  const paper = (reg: 'l1' | 'l2') => proto({ regularization: [reg], prototypesPerClass: g.prototypesPerClass, alpha: alpha(reg), tau: [1] });
  const scaled = (reg: 'l1' | 'l2') => proto({ regularization: [reg], prototypesPerClass: g.prototypesPerClass, alpha: alpha(reg), tau: ['auto'], tauScale: g.tauScale });
  switch (method) {
    case 'proto-l1': return paper('l1');
    case 'proto-l2': return paper('l2');
    case 'proto-l1-tau': return scaled('l1');
    case 'proto-l2-tau': return scaled('l2');
    case 'proto-cv': return [...scaled('l1'), ...scaled('l2')];
    case 'proto-metric':
      return proto({
        metric: ['lowrank'], regularization: ['l2'], alpha: [METRIC_ROW.alpha], metricPenalty: [METRIC_ROW.metricPenalty],
        prototypesPerClass: g.prototypesPerClass, tau: ['auto'], tauScale: g.metricTauScale, shrinkage: g.shrinkage,
      });
    case 'ncm-lda':
      return g.shrinkage.map((shrinkage) => ({ key: `ncm-lda ${JSON.stringify({ shrinkage })}`, family: 'ncm-lda', params: { shrinkage } }));
    case 'softmax-lda':
      return expandGrid({ shrinkage: g.shrinkage, l2: g.l2 }).map((params) => ({ key: `softmax-lda ${JSON.stringify(params)}`, family: 'softmax-lda', params }));
    case 'ncm':
      return [{ key: 'ncm', family: 'ncm', params: {} }];
    case 'nn1':
      return [{ key: 'knn {"k":1}', family: 'knn', params: { k: 1 } }];
    case 'softmax':
      return g.l2.map((l2) => ({ key: `softmax ${JSON.stringify({ l2 })}`, family: 'softmax', params: { l2 } }));
    default:
      return assertUnreachable(method);
  }
}

function assertUnreachable(x: never): never {
  throw new Error(`unexpected value ${String(x)}`);
}

function makeModel(c: Candidate, ways: number, seed: number, extra: Record<string, unknown>): Classifier {
  switch (c.family) {
    case 'prototype': {
      const { prototypesPerClass, ...rest } = c.params as { prototypesPerClass: number } & Record<string, unknown>;
      return new PrototypeClassifier({ ...extra, ...rest, nPrototypes: prototypesPerClass * ways, seed } as PrototypeOptions);
    }
    case 'ncm': return new NearestClassMean();
    case 'softmax': return new SoftmaxRegression(c.params);
    case 'knn': return new KNearestNeighbors(c.params);
    case 'ncm-lda': return new WhitenedClassifier(new NearestClassMean(), c.params.shrinkage as number);
    case 'softmax-lda': return new WhitenedClassifier(new SoftmaxRegression({ l2: c.params.l2 as number }), c.params.shrinkage as number);
    default: return assertUnreachable(c.family);
  }
}

/** A feature space fitted on some rows: those rows in model coordinates, and the map of any rows into them. */
interface FeatureSpace {
  fit: Matrix;
  map: (rows: number[]) => Matrix;
}

/** Preprocessing (and the exact reduction) fitted on one fitting set, applied to any rows. */
function featureSpace(X: Matrix, fitRows: number[], r: Resolved): FeatureSpace {
  const t = new FeatureTransform(r.preprocess);
  const fit0 = t.fitTransform(takeRows(X, fitRows));
  if (!r.reduce) return { fit: fit0, map: (rows) => t.transform(takeRows(X, rows)) };
  const s = new SpanProjection().fit(fit0);
  return { fit: s.transform(fit0), map: (rows) => s.transform(t.transform(takeRows(X, rows))) };
}

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/** What rows of the data a step of {@link evaluateTask} reads, reported to its `audit` hook. */
export interface DataUse {
  stage: 'select' | 'refit';
  /** 'fit': preprocessing and models are fitted on these rows; 'validate': they score the grid; 'test': they score the chosen models. */
  purpose: 'fit' | 'validate' | 'test';
  rows: readonly number[];
}

/** A model {@link evaluateTask} fitted, given to its `fitted` hook. */
export interface FittedModel {
  stage: 'select' | 'refit';
  /** The rows it was fitted on: the fitting half, the validation half (selection 'swap'), or both ('train'). */
  on: 'fit' | 'validation' | 'train';
  /** The setting, e.g. `softmax {"l2":0.001}`. */
  key: string;
  model: Classifier;
  /** Maps rows of X into the model's coordinates (the preprocessing and reduction fitted with it). */
  features: (rows: number[]) => Matrix;
}

/** Hooks into {@link evaluateTask}: progress, and what the tests check about data use. */
export interface TaskHooks {
  /** Called after every model fit. */
  tick?: () => void;
  /** Told which rows each step reads, before it reads them. */
  audit?: (use: DataUse) => void;
  /** Given every model the task fits. */
  fitted?: (f: FittedModel) => void;
}

type Hooks = Required<TaskHooks>;

/** The rows selection may read: the test fold is not among them. */
type SelectionRows = Pick<FewShotTask, 'ways' | 'seed' | 'fit' | 'validation'>;

/** One grid point fitted on the fitting half, its validation score, and the seconds it took. */
interface CandidateFit {
  model: Classifier;
  score: ValidationScore;
  seconds: number;
}

/** What step 1 ({@link selectOnValidation}) leaves: the fitting half's space, every fit, each method's choice. */
interface Selection {
  space: FeatureSpace;
  fits: Map<string, CandidateFit>;
  chosen: Map<FewShotMethod, Candidate>;
  outcomes: Partial<Record<FewShotMethod, MethodOutcome>>;
}

/** The labels of some rows. */
const labelsOf = (labels: readonly Label[], rows: readonly number[]): Label[] => rows.map((i) => labels[i]);

/** The two halves of the training fold as selection sees them, in the coordinates each fit uses. */
interface Halves {
  /** The feature space fitted on the fitting half, and the validation half mapped into it. */
  A: FeatureSpace; yFit: Label[]; valA: Matrix; yVal: Label[];
  /** With selection 'swap': the space fitted on the validation half, and the fitting half mapped into it. */
  swap: { B: FeatureSpace; fitB: Matrix } | null;
}

/**
 * Fits one grid point on the fitting half and scores it on the validation half; with selection
 * 'swap' also the other way round (fitted on the validation half, scored on the fitting half),
 * and the score is the mean of both.
 */
function fitCandidate(c: Candidate, h: Halves, task: SelectionRows, r: Resolved, hooks: Hooks): CandidateFit {
  const t0 = now();
  const model = makeModel(c, task.ways, task.seed, r.prototypeOptions).fit(h.A.fit, h.yFit);
  hooks.fitted({ stage: 'select', on: 'fit', key: c.key, model, features: h.A.map });
  let score = validationScore(model, h.valA, h.yVal);
  if (h.swap) {
    const other = makeModel(c, task.ways, task.seed, r.prototypeOptions).fit(h.swap.B.fit, h.yVal);
    hooks.fitted({ stage: 'select', on: 'validation', key: c.key, model: other, features: h.swap.B.map });
    const back = validationScore(other, h.swap.fitB, h.yFit);
    score = { accuracy: (score.accuracy + back.accuracy) / 2, logLoss: (score.logLoss + back.logLoss) / 2 };
    hooks.tick();
  }
  const seconds = (now() - t0) / 1000;
  hooks.tick();
  return { model, score, seconds };
}

/**
 * Step 1, selection: for every method, each grid point is fitted on the fitting half and scored
 * on the validation half ({@link fitCandidate}; a setting two methods share is fitted once), and
 * the best by {@link bestIndex} is chosen. It is not given the test fold.
 */
function selectOnValidation(X: Matrix, labels: readonly Label[], task: SelectionRows, r: Resolved, hooks: Hooks): Selection {
  hooks.audit({ stage: 'select', purpose: 'fit', rows: task.fit });
  const A = featureSpace(X, task.fit, r);
  hooks.audit({ stage: 'select', purpose: 'validate', rows: task.validation });
  const h: Halves = { A, yFit: labelsOf(labels, task.fit), valA: A.map(task.validation), yVal: labelsOf(labels, task.validation), swap: null };
  if (r.selection === 'swap') {
    hooks.audit({ stage: 'select', purpose: 'fit', rows: task.validation });
    hooks.audit({ stage: 'select', purpose: 'validate', rows: task.fit });
    const B = featureSpace(X, task.validation, r);
    h.swap = { B, fitB: B.map(task.fit) };
  }
  const selection: Selection = { space: A, fits: new Map(), chosen: new Map(), outcomes: {} };
  for (const m of r.methods) {
    const cands = candidatesFor(m, r.grids);
    const fits = cands.map((c) => {
      let e = selection.fits.get(c.key);
      if (!e) selection.fits.set(c.key, e = fitCandidate(c, h, task, r, hooks));
      return e;
    });
    const k = bestIndex(fits.map((e) => e.score));
    selection.chosen.set(m, cands[k]);
    selection.outcomes[m] = {
      params: cands[k].params, validation: fits[k].score, testFit: NaN, testTrain: NaN,
      candidates: cands.length, seconds: fits.reduce((s, e) => s + e.seconds, 0),
    };
  }
  return selection;
}

/**
 * Step 2, refit: each chosen setting is fitted again on the whole training fold (fitting and
 * validation halves), preprocessing included. A setting two methods chose is fitted once.
 */
function refitChosen(X: Matrix, labels: readonly Label[], task: SelectionRows, chosen: ReadonlyMap<FewShotMethod, Candidate>,
  r: Resolved, hooks: Hooks): { space: FeatureSpace; models: Map<string, { model: Classifier; seconds: number }> } {
  const train = [...task.fit, ...task.validation];
  hooks.audit({ stage: 'refit', purpose: 'fit', rows: train });
  const yTrain = labelsOf(labels, train);
  const B = featureSpace(X, train, r);
  const models = new Map<string, { model: Classifier; seconds: number }>();
  for (const c of chosen.values()) {
    if (models.has(c.key)) continue;
    const t0 = now();
    const model = makeModel(c, task.ways, task.seed, r.prototypeOptions).fit(B.fit, yTrain);
    models.set(c.key, { model, seconds: (now() - t0) / 1000 });
    hooks.fitted({ stage: 'refit', on: 'train', key: c.key, model, features: B.map });
    hooks.tick();
  }
  return { space: B, models };
}

/**
 * Step 3, scoring: test accuracy of each chosen model (by setting key), the only step that reads
 * the test fold; it runs after every choice is made.
 */
function testAccuracies(stage: DataUse['stage'], space: FeatureSpace, models: ReadonlyMap<string, Classifier>,
  labels: readonly Label[], test: number[], hooks: Hooks): Map<string, number> {
  hooks.audit({ stage, purpose: 'test', rows: test });
  const Xt = space.map(test), yt = labelsOf(labels, test);
  return new Map([...models].map(([key, model]) => [key, model.score(Xt, yt)]));
}

/** What {@link selectOnTask} chose for one method: the setting, its validation score, and the model fitted with it on the fitting half. */
export interface TaskChoice {
  params: Record<string, unknown>;
  validation: ValidationScore;
  /** The model fitted on the fitting half with the chosen setting, and its feature map. */
  fitted: FittedModel;
}

/**
 * Step 1 of {@link evaluateTask} alone: each method's setting chosen on the validation half, and
 * the model fitted with it on the fitting half, without the refit on the whole training fold and
 * without reading the test fold. What calibration needs (the chosen model's held-out logits): the
 * same choices and models as evaluateTask's, for half the fits when the grid is one setting.
 * @param hooks - `tick`, `audit` and `fitted`, as evaluateTask's.
 * @throws TypeError/RangeError on invalid options (named).
 * @example
 * const { methods } = selectOnTask(X, labels, task, { methods: ['softmax'] });
 * methods.softmax!.params // { l2: 0.001 }
 * classLogits(methods.softmax!.fitted.model, methods.softmax!.fitted.features(task.validation))
 */
export function selectOnTask(X: Matrix, labels: readonly Label[], task: FewShotTask, options: FewShotOptions = {},
  hooks: TaskHooks = {}): { methods: Partial<Record<FewShotMethod, TaskChoice>> } {
  const r = resolve(options);
  const h: Hooks = { tick: () => {}, audit: () => {}, fitted: () => {}, ...hooks };
  const trainingFold: SelectionRows = { ways: task.ways, seed: task.seed, fit: task.fit, validation: task.validation };
  const sel = selectOnValidation(X, labels, trainingFold, r, h);
  const methods: Partial<Record<FewShotMethod, TaskChoice>> = {};
  for (const m of r.methods) {
    const c = sel.chosen.get(m)!, out = sel.outcomes[m]!;
    methods[m] = { params: out.params, validation: out.validation, fitted: { stage: 'select', on: 'fit', key: c.key, model: sel.fits.get(c.key)!.model, features: sel.space.map } };
  }
  return { methods };
}

/**
 * Runs the protocol on one task: {@link selectOnValidation} chooses each method's setting on
 * the validation half, the chosen models are scored on the test fold ("refit on 5"), then
 * {@link refitChosen} fits them again on the whole training fold and those are scored ("refit
 * on 10").
 * @param hooks - progress (`tick`), and, for the tests, the rows each step reads (`audit`) and every fitted model (`fitted`).
 * @throws TypeError/RangeError on invalid options (named).
 */
export function evaluateTask(X: Matrix, labels: readonly Label[], task: FewShotTask, options: FewShotOptions = {},
  hooks: TaskHooks = {}): TaskResult {
  const r = resolve(options);
  const h: Hooks = { tick: () => {}, audit: () => {}, fitted: () => {}, ...hooks };
  // Selection and refit are given the training fold only, never the test fold.
  const trainingFold: SelectionRows = { ways: task.ways, seed: task.seed, fit: task.fit, validation: task.validation };
  const sel = selectOnValidation(X, labels, trainingFold, r, h);
  const chosenKey = (m: FewShotMethod) => sel.chosen.get(m)!.key;
  const selected = new Map(r.methods.map((m) => [chosenKey(m), sel.fits.get(chosenKey(m))!.model]));
  const testFit = testAccuracies('select', sel.space, selected, labels, task.test, h);
  const refit = refitChosen(X, labels, trainingFold, sel.chosen, r, h);
  const refitted = new Map([...refit.models].map(([key, e]) => [key, e.model]));
  const testTrain = testAccuracies('refit', refit.space, refitted, labels, task.test, h);
  const result: TaskResult = { ...task, dims: { fit: sel.space.fit.cols, train: refit.space.fit.cols }, methods: {} };
  for (const m of r.methods) {
    const out = sel.outcomes[m]!;
    out.testFit = testFit.get(chosenKey(m))!;
    out.testTrain = testTrain.get(chosenKey(m))!;
    out.seconds += refit.models.get(chosenKey(m))!.seconds;
    result.methods[m] = out;
  }
  return result;
}

/** Number of distinct fits one task makes at selection time (refits come on top, one per method at most). */
function fitsPerTask(r: Resolved): number {
  const keys = new Set<string>();
  for (const m of r.methods) for (const c of candidatesFor(m, r.grids)) keys.add(c.key);
  return keys.size * (r.selection === 'swap' ? 2 : 1) + r.methods.length;
}

/** Seed of subset `index` of the N-way tasks, derived from the run's seed. */
export function taskSeed(seed: number, ways: number, index: number): number {
  return deriveSeed(deriveSeed(seed, ways), index);
}

/**
 * Runs the whole benchmark: for every N in `ways`, `subsets` random tasks, every method.
 * @param data - features (one row per sample) and one label per row.
 * @throws TypeError/RangeError on invalid data or options (named), or too few classes with enough samples.
 * @example
 * const res = runFewShot({ X, labels }, { ways: [2, 5], subsets: 3, seed: 1 });
 * res.summary.tables.testFit.ncm[5].mean // e.g. 0.84
 */
export function runFewShot(data: { X: MatrixInput; labels: readonly Label[] }, options: FewShotOptions = {}): FewShotResult {
  const r = resolve(options);
  const X = toMatrix(data.X, { name: 'features' });
  if (!Array.isArray(data.labels) || data.labels.length !== X.rows) {
    throw new RangeError(`features: ${Array.isArray(data.labels) ? data.labels.length : 'no'} labels for ${X.rows} rows; the benchmark needs one label per row`);
  }
  const byClass = new Map<Label, number[]>();
  data.labels.forEach((l, i) => { const a = byClass.get(l); if (a) a.push(i); else byClass.set(l, [i]); });
  const sizes = { fit: r.fitPerClass, validation: r.validationPerClass, test: r.testPerClass };
  const t0 = now();
  const tasks: TaskResult[] = [];
  const perTask = fitsPerTask(r);
  const total = perTask * r.ways.length * r.subsets;
  let done = 0;
  for (const ways of r.ways) {
    for (let s = 0; s < r.subsets; s++) {
      const task = sampleTask(byClass, ways, s, taskSeed(r.seed, ways, s), sizes);
      const before = done;
      const res = evaluateTask(X, data.labels, task, { ...options, onProgress: undefined }, {
        tick: () => {
          done++;
          options.onProgress?.({ done, total, ways, subset: s });
        },
      });
      done = before + perTask;
      options.onProgress?.({ done, total, ways, subset: s });
      tasks.push(res);
    }
  }
  return {
    options: {
      ways: r.ways, subsets: r.subsets, fitPerClass: r.fitPerClass, validationPerClass: r.validationPerClass,
      testPerClass: r.testPerClass, seed: r.seed, preprocess: r.preprocess,
      preprocessDescription: new FeatureTransform(r.preprocess).describe(), methods: r.methods, grids: r.grids,
      reduce: r.reduce, selection: r.selection, prototypeOptions: r.prototypeOptions,
    },
    tasks,
    summary: summarize(tasks, r.methods, r.ways),
    seconds: (now() - t0) / 1000,
  };
}

/** Mean (std) per method and N for both tables, and the paired t-tests of our rows against single prototype and softmax. */
export function summarize(tasks: readonly TaskResult[], methods: readonly FewShotMethod[], ways: readonly number[]): FewShotSummary {
  const summary: FewShotSummary = { tables: { testFit: {}, testTrain: {} }, tests: [] };
  const values = (refit: RefitKind, m: FewShotMethod, n: number) =>
    tasks.filter((t) => t.ways === n && t.methods[m]).map((t) => t.methods[m]![refit]);
  for (const refit of ['testFit', 'testTrain'] as const) {
    for (const m of methods) {
      const row: Record<number, { mean: number; std: number; n: number }> = {};
      for (const n of ways) row[n] = meanStd(values(refit, m, n));
      summary.tables[refit][m] = row;
    }
    for (const n of ways) {
      for (const m of methods.filter((x) => METHOD_INFO[x].ours)) {
        for (const against of (['ncm', 'softmax'] as const).filter((x) => methods.includes(x))) {
          const a = values(refit, m, n), b = values(refit, against, n);
          if (a.length < 2) continue;
          const t = pairedTTest(a, b);
          summary.tests.push({ refit, ways: n, method: m, against, meanDiff: t.meanDiff, p: t.p });
        }
      }
    }
  }
  return summary;
}
