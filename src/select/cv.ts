/**
 * Model selection where users fit: the prototype model's settings (prototypes per class, penalty
 * and α, τ, metric, its rank and shrinkage) chosen by stratified K-fold cross-validation on the
 * user's own data, then refitted on all of it (docs/model.md, "Choosing the settings").
 *
 * Every candidate is fitted on K − 1 folds and scored on the fold left out; the held-out fold never
 * reaches the fit (tested by poisoning it). The choice is the highest mean accuracy, then the
 * lowest mean log-loss, then the simplest (fewest prototypes) and earliest candidate. The search
 * is recorded in the refitted model (`selection_`), so the model file says how it was chosen.
 *
 * Browser-safe: the fits run here one after the other, or through a {@link JobRunner} that the
 * Node adapter (cv-workers.node.ts) spreads over worker threads.
 */
import { takeRows, type Matrix, type MatrixInput } from '../linalg/matrix.ts';
import { deriveSeed, rng, shuffled } from '../linalg/random.ts';
import { checkXy, encodeLabels } from '../model/labels.ts';
import { PrototypeClassifier, type MetricKind, type PrototypeOptions } from '../model/prototype.ts';
import type { Regularization } from '../model/objective.ts';
import { NotFittedError, type Classifier, type FeatureOrigin, type Label, type ModelJSON } from '../model/types.ts';
import { validationScore, type ValidationScore } from './grid.ts';

/** The values searched for each setting. */
export interface SearchGrid {
  /** Prototypes per class (J = value × number of classes, at most the number of samples). */
  prototypesPerClass: number[];
  regularization: Regularization[];
  /** α with the L1 penalty. */
  alphaL1: number[];
  /** α with the L2 penalty (on another scale than L1's). */
  alphaL2: number[];
  /** τ: numbers as they are, 'auto' with each of `tauScale`. */
  tau: Array<number | 'auto'>;
  tauScale: number[];
  metric: MetricKind[];
  /** Rank r of a 'lowrank' metric (capped at the feature dimension). */
  metricRank: number[];
  /** Shrinkage of the metric's start. */
  shrinkage: number[];
}

/**
 * Default grid (24 settings), chosen on Table 1 tasks of exploration seeds (BENCHMARKS.md,
 * "Prototype model with a learned metric"): the learned metric and the paper's Euclidean layer,
 * one or two prototypes per class, two penalty weights, two τ scales ('auto' is in the metric's
 * own units, see PrototypeOptions.tau), two shrinkages of the metric's start.
 */
export const DEFAULT_SEARCH_GRID: SearchGrid = {
  prototypesPerClass: [1, 2],
  regularization: ['l2'],
  alphaL1: [1e-4, 1e-3],
  alphaL2: [1e-5, 1e-3],
  tau: ['auto'],
  tauScale: [0.3, 1],
  metric: ['lowrank', 'euclidean'],
  metricRank: [128],
  shrinkage: [0.1, 0.3],
};

/** One setting tried, with its score on each fold. */
export interface SearchCandidate {
  params: PrototypeOptions & { prototypesPerClass: number };
  foldAccuracy: number[];
  foldLogLoss: number[];
  mean: number;
  std: number;
  meanLogLoss: number;
}

/** What a search found (written into the model file as `selection`). */
export interface SearchRecord {
  method: 'stratified k-fold cross-validation';
  folds: number;
  seed: number;
  scoring: 'accuracy, then log-loss';
  candidates: SearchCandidate[];
  chosen: number;
  runnerUp: number | null;
  seconds: number;
}

/** A fit to run: candidate `c` on every fold but `fold`. */
export interface CVJob { candidate: number; fold: number }

/** Runs jobs (possibly in parallel) and returns each one's validation score, in order. */
export type JobRunner = (jobs: CVJob[]) => Promise<ValidationScore[]>;

/**
 * The candidates of a grid for data with `nClasses` classes and `nSamples` samples; settings whose J
 * exceeds the samples are left out.
 * @throws RangeError when no candidate remains or a grid entry is empty.
 */
export function searchCandidates(grid: SearchGrid, nClasses: number, nSamples: number, base: PrototypeOptions = {}): Array<SearchCandidate['params']> {
  for (const [k, v] of Object.entries(grid)) if (!Array.isArray(v) || v.length === 0) throw new RangeError(`search grid: "${k}" needs at least one value`);
  const out: Array<SearchCandidate['params']> = [];
  for (const metric of grid.metric) for (const metricRank of metric === 'lowrank' ? grid.metricRank : [null]) {
    for (const shrinkage of metric === 'euclidean' ? [null] : grid.shrinkage) {
      for (const ppc of grid.prototypesPerClass) {
        if (ppc * nClasses > nSamples) continue;
        for (const regularization of grid.regularization) for (const alpha of regularization === 'l1' ? grid.alphaL1 : grid.alphaL2) {
          for (const tau of grid.tau) for (const tauScale of tau === 'auto' ? grid.tauScale : [null]) {
            out.push({
              ...base, prototypesPerClass: ppc, nPrototypes: ppc * nClasses, regularization, alpha, tau, metric,
              ...(tauScale !== null ? { tauScale } : {}), ...(metricRank !== null ? { metricRank } : {}), ...(shrinkage !== null ? { shrinkage } : {}),
            });
          }
        }
      }
    }
  }
  if (out.length === 0) throw new RangeError(`search grid: no setting fits ${nSamples} samples of ${nClasses} classes (prototypes per class too large)`);
  return out;
}

/**
 * Stratified fold of every sample: each class's samples are shuffled (seeded) and dealt to the
 * folds in turn, starting where the previous class stopped, so fold sizes differ by at most one.
 * @throws RangeError when a class has fewer samples than 2 (it could not be both fitted and scored).
 */
export function stratifiedFolds(y: readonly Label[], folds: number, seed: number): { fold: Int32Array; folds: number } {
  const labels = encodeLabels(y);
  let smallest = Infinity, smallestClass: Label = labels.classes[0];
  labels.counts.forEach((n, c) => { if (n < smallest) { smallest = n; smallestClass = labels.classes[c]; } });
  if (smallest < 2) throw new RangeError(`cross-validation: class ${JSON.stringify(smallestClass)} has ${smallest} sample; every class needs at least 2`);
  const K = Math.min(folds, smallest);
  const fold = new Int32Array(y.length);
  const r = rng(seed);
  let next = 0;
  for (let c = 0; c < labels.classes.length; c++) {
    const members: number[] = [];
    for (let i = 0; i < y.length; i++) if (labels.codes[i] === c) members.push(i);
    for (const i of shuffled(members, r)) { fold[i] = next; next = (next + 1) % K; }
  }
  return { fold, folds: K };
}

/** The rows of each side of fold `k`. */
export function foldRows(fold: Int32Array, k: number): { fit: number[]; held: number[] } {
  const fit: number[] = [], held: number[] = [];
  fold.forEach((f, i) => (f === k ? held : fit).push(i));
  return { fit, held };
}

/** Fits candidate `params` on every fold but `k` (the held-out rows never enter). */
export function fitFold(X: Matrix, y: readonly Label[], fold: Int32Array, k: number, params: SearchCandidate['params'], seed: number): PrototypeClassifier {
  const { fit } = foldRows(fold, k);
  const { prototypesPerClass: ppc, ...options } = params;
  const yFit = fit.map((i) => y[i]);
  const nClasses = new Set(yFit.map((l) => `${typeof l}:${String(l)}`)).size;
  return new PrototypeClassifier({ ...options, nPrototypes: Math.min(ppc * nClasses, fit.length), seed }).fit(takeRows(X, fit), yFit);
}

/** Scores one job: fit on the other folds, score on the held-out one. */
export function runJob(X: Matrix, y: readonly Label[], fold: Int32Array, job: CVJob, candidates: ReadonlyArray<SearchCandidate['params']>, seed: number): ValidationScore {
  const model = fitFold(X, y, fold, job.fold, candidates[job.candidate], deriveSeed(seed, job.fold));
  const { held } = foldRows(fold, job.fold);
  return validationScore(model, takeRows(X, held), held.map((i) => y[i]));
}

function summarise(params: SearchCandidate['params'], scores: ValidationScore[]): SearchCandidate {
  const acc = scores.map((s) => s.accuracy), ll = scores.map((s) => s.logLoss);
  const mean = acc.reduce((a, b) => a + b, 0) / acc.length;
  const std = Math.sqrt(acc.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, acc.length - 1));
  return { params, foldAccuracy: acc, foldLogLoss: ll, mean, std, meanLogLoss: ll.reduce((a, b) => a + b, 0) / ll.length };
}

/** Index of the chosen candidate and of the runner-up (the next in the same order). */
export function rankCandidates(c: readonly SearchCandidate[]): number[] {
  return c.map((_, i) => i).sort((a, b) => (c[b].mean - c[a].mean) || (c[a].meanLogLoss - c[b].meanLogLoss)
    || (c[a].params.prototypesPerClass - c[b].params.prototypesPerClass) || a - b);
}

/** Options of {@link PrototypeClassifierCV}. */
export interface PrototypeCVOptions {
  /** Number of folds (fewer when the smallest class has fewer samples). Default 5. */
  folds?: number;
  /** Seed of the folds and of every fit. Default 0. */
  seed?: number;
  /** Values searched; missing entries take {@link DEFAULT_SEARCH_GRID}'s. */
  grid?: Partial<SearchGrid>;
  /** Options of every candidate (maxIter, tol, …) that the grid does not set. */
  base?: PrototypeOptions;
}

/**
 * The prototype model with its settings chosen by stratified K-fold cross-validation, then refitted
 * on all the data. `best_` is the refitted {@link PrototypeClassifier}, which carries the search
 * in `selection_`; `toJSON()` writes that model (any reader of prototype models reads it).
 * @example
 * const cv = new PrototypeClassifierCV({ folds: 5, seed: 1 }).fit(X, y);
 * cv.search_.candidates[cv.search_.chosen].mean // cross-validated accuracy of the chosen setting
 */
export class PrototypeClassifierCV implements Classifier {
  readonly kind = 'PrototypeClassifierCV';
  private readonly folds: number;
  private readonly seed: number;
  private readonly grid: SearchGrid;
  private readonly base: PrototypeOptions;
  best_: PrototypeClassifier | null = null;
  search_: SearchRecord | null = null;
  private origin: FeatureOrigin | null = null;

  /** @throws TypeError/RangeError for unknown options, bad folds/seed, or bad base options. */
  constructor(options: PrototypeCVOptions = {}) {
    for (const k of Object.keys(options)) {
      if (!['folds', 'seed', 'grid', 'base'].includes(k)) throw new TypeError(`PrototypeClassifierCV: unknown option "${k}". Valid options: folds, seed, grid, base`);
    }
    this.folds = options.folds ?? 5;
    this.seed = options.seed ?? 0;
    if (!Number.isInteger(this.folds) || this.folds < 2) throw new RangeError(`PrototypeClassifierCV: folds must be an integer ≥ 2, got ${this.folds}`);
    if (!Number.isInteger(this.seed)) throw new RangeError(`PrototypeClassifierCV: seed must be an integer, got ${this.seed}`);
    for (const k of Object.keys(options.grid ?? {})) {
      if (!(k in DEFAULT_SEARCH_GRID)) throw new TypeError(`PrototypeClassifierCV: unknown grid entry "${k}". Valid entries: ${Object.keys(DEFAULT_SEARCH_GRID).join(', ')}`);
    }
    this.grid = { ...DEFAULT_SEARCH_GRID, ...(options.grid ?? {}) } as SearchGrid;
    this.base = options.base ?? {};
    new PrototypeClassifier(this.base); // fail early on bad base options
  }

  get classes_(): readonly Label[] { return this.best_?.classes_ ?? []; }
  get nFeatures_(): number { return this.best_?.nFeatures_ ?? 0; }
  /** What made the features (see {@link Classifier.origin_}); the refitted model carries it too. */
  get origin_(): FeatureOrigin | null { return this.origin; }
  set origin_(o: FeatureOrigin | null) {
    this.origin = o;
    if (this.best_) this.best_.origin_ = o;
  }
  getParams(): Record<string, unknown> { return { folds: this.folds, seed: this.seed, grid: this.grid, base: this.base }; }
  isFitted(): boolean { return this.best_ !== null; }

  /** The jobs of a search over `candidates`: every candidate on every fold. */
  private plan(Xin: MatrixInput, y: readonly Label[]) {
    const { X } = checkXy(Xin, y);
    const { fold, folds } = stratifiedFolds(y, this.folds, this.seed);
    const nClasses = new Set(y.map((l) => `${typeof l}:${String(l)}`)).size;
    const candidates = searchCandidates(this.grid, nClasses, Math.floor((X.rows * (folds - 1)) / folds), this.base);
    const jobs: CVJob[] = [];
    candidates.forEach((_, c) => { for (let k = 0; k < folds; k++) jobs.push({ candidate: c, fold: k }); });
    return { X, fold, folds, candidates, jobs };
  }

  private finish(X: Matrix, y: readonly Label[], plan: ReturnType<PrototypeClassifierCV['plan']>, scores: ValidationScore[], t0: number): this {
    const { folds, candidates } = plan;
    const summary = candidates.map((p, c) => summarise(p, scores.slice(c * folds, (c + 1) * folds)));
    const order = rankCandidates(summary);
    const { prototypesPerClass: _ppc, ...chosen } = candidates[order[0]];
    const best = new PrototypeClassifier({ ...chosen, seed: this.seed }).fit(X, y);
    const search: SearchRecord = {
      method: 'stratified k-fold cross-validation', folds, seed: this.seed, scoring: 'accuracy, then log-loss',
      candidates: summary, chosen: order[0], runnerUp: order.length > 1 ? order[1] : null, seconds: (Date.now() - t0) / 1000,
    };
    best.selection_ = search as unknown as Record<string, unknown>;
    best.origin_ = this.origin;
    this.best_ = best;
    this.search_ = search;
    return this;
  }

  /** Searches (fits one after the other), then refits the chosen setting on all of X. */
  fit(Xin: MatrixInput, y: readonly Label[]): this {
    const t0 = Date.now();
    const plan = this.plan(Xin, y);
    const scores = plan.jobs.map((j) => runJob(plan.X, y, plan.fold, j, plan.candidates, this.seed));
    return this.finish(plan.X, y, plan, scores, t0);
  }

  /** As {@link fit}, with the fits of the search run by `runner` (e.g. on worker threads). */
  async fitWith(runner: (X: Matrix, y: readonly Label[], fold: Int32Array, candidates: ReadonlyArray<SearchCandidate['params']>, seed: number) => JobRunner,
    Xin: MatrixInput, y: readonly Label[]): Promise<this> {
    const t0 = Date.now();
    const plan = this.plan(Xin, y);
    const scores = await runner(plan.X, y, plan.fold, plan.candidates, this.seed)(plan.jobs);
    return this.finish(plan.X, y, plan, scores, t0);
  }

  private fitted(): PrototypeClassifier {
    if (!this.best_) throw new NotFittedError(this.kind);
    return this.best_;
  }

  predict(X: MatrixInput): Label[] { return this.fitted().predict(X); }
  predictProba(X: MatrixInput): Matrix { return this.fitted().predictProba(X); }
  score(X: MatrixInput, y: readonly Label[]): number { return this.fitted().score(X, y); }
  /** The refitted prototype model's JSON, with the search in its `selection` field. */
  toJSON(): ModelJSON { return this.fitted().toJSON(); }
}

