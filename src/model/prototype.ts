/**
 * The prototype classifier of Drumond, Viéville & Alexandre, "Using prototypes to improve
 * convolutional networks interpretability" (NIPS 2017 workshop on interpreting ML).
 *
 * A prototype layer q_j(x) = softmax_j(−‖x − p_j‖² / 2τ) over J prototypes, then a class layer
 * c_l(x) = softmax_l(w_lᵀ q(x)). Trained on C = −(1/N) Σ log c_{y_i}(x_i) + α‖W‖₁ (or α‖W‖₂²) by
 * alternating
 *  1. a class step: W ← argmin C with Q fixed, a convex multinomial problem solved by L-BFGS (L2)
 *     or monotone FISTA (L1, exact zeros);
 *  2. a prototype step: the stationary point of ∂C/∂p_j = 0 is a proximity-weighted mean of the
 *     samples, p_j = Σ_i ω_ij x_i / Σ_i ω_ij with ω_ij = q_ij (h̄_i − h_ij) (docs/model.md); it is
 *     taken as a step from P towards those means, backtracked until C decreases.
 * Neither step can increase C, so the loss history never goes up.
 */
import { checkFiniteRows, toMatrix, type Matrix, type MatrixInput } from '../linalg/matrix.ts';
import { deriveSeed, rng, type Rng } from '../linalg/random.ts';
import { principalBasis } from '../linalg/eigen.ts';
import { gemm } from '../linalg/gemm.ts';
import { rowSqNorms, softmaxRows, sqDistances } from '../linalg/ops.ts';
import { fista, lbfgs } from '../linalg/optim.ts';
import { checkXy, argmaxRows, codesFor, scoreOf } from './labels.ts';
import { initPrototypes } from './init.ts';
import { checkHeader, jsonClasses, jsonFloats, jsonNumber, readOrigin } from './json.ts';
import { autoTau } from './scale.ts';
import { checkOptions, type OptionRule } from './options.ts';
import {
  applyMetric, classForward, classGradient, classProbabilities, computeQ, makeProblem, makeWorkspace, metricGradient,
  metricPenalty, metricWidth, objective, penalty, prototypeGradient, setMetric,
  type Metric, type Problem, type Regularization, type Workspace,
} from './objective.ts';
import { diagonalWhitening, ldaWhitening } from './metric.ts';
import { contentHash, LruMemo, START_MEMO_ENTRIES } from './start-memo.ts';
import {
  DEFAULT_FALSE_REJECTION, DEFAULT_NOVELTY_SCORE, checkNoveltyScore, noveltyReason, noveltyScores, noveltyStats,
  noveltyStatsFromJSON, noveltyStatsJSON,
  type NoveltyResult, type NoveltyScoreKind, type NoveltyStats, type RejectionRule,
} from './novelty.ts';
import { calibrationFromJSON, calibrationRecord, sampleTemperatures, temperedSoftmax, type CalibrationOptions, type CalibrationRecord, type HeldOutOutputs } from './calibration.ts';
import {
  NotFittedError, modelHeader,
  type Classifier, type FeatureOrigin, type IterationRecord, type Label, type ModelJSON, type ProgressCallback,
} from './types.ts';

/** How τ is set. */
export type TauOption = number | 'auto';

/** Options of {@link PrototypeClassifier}. */
export interface PrototypeOptions {
  /** J, the number of prototypes (≥ number of classes). Default: 2 per class. */
  nPrototypes?: number;
  /** Penalty on W. Default 'l2'. */
  regularization?: Regularization;
  /** Penalty weight α. Default {@link DEFAULT_ALPHA} of the penalty: 1e-5 with L2, 1e-3 with L1. */
  alpha?: number;
  /**
   * Scale of the prototype layer. A number is used as is (τ = 1 is the paper's exact form).
   * 'auto' makes the layer's sharpness independent of the units of the features: with the
   * Euclidean metric τ = tauScale × median_{i,k} ‖x_i − x_k‖² / 2 over (up to 2,000) random
   * training pairs; under a learned metric, whose start whitens the within-class scatter, τ =
   * tauScale in those units (τ = 1 makes q the posterior of the LDA model). Default 'auto'.
   */
  tau?: TauOption;
  /** Multiplier of the scale when tau = 'auto'. Default: 0.1 with the Euclidean metric, 1 under a learned one. */
  tauScale?: number | null;
  /** Outer iterations (class step + prototype step). Default 100. */
  maxIter?: number;
  /** Stop when C decreases by less than tol × max(1, C) over an outer iteration. Default 1e-4 (the paper's L2 value; it used 1e-1 for L1). */
  tol?: number;
  /** Iterations of the inner solver in each class step. Default 50. */
  classIter?: number;
  /** Prototype updates per outer iteration. Default 1. */
  prototypeSteps?: number;
  /** Lloyd iterations after k-means++ seeding in the initialisation. Default 10. */
  initLloydIter?: number;
  /** Seed of every random choice. Default 0. */
  seed?: number;
  /** Margin between the two most probable classes below which `explain` flags a decision as ambiguous. Default 0.2. */
  ambiguityMargin?: number;
  /**
   * Adjust the number of prototypes during training (the paper's future work). Training starts
   * from `nPrototypes` (default: one per class). After each convergence, a training sample is
   * "captured" when its best-matching prototype (argmax_j q_j) wins another class; the class with
   * the most captured samples (at least `growthMinSamples`) gets a new prototype at its captured
   * sample worst served by the model (largest −log c_y), and training resumes. Growth stops when
   * no class has that many captured samples or J reaches `maxPrototypes` — in the spirit of
   * condensed nearest neighbour (Hart 1968). The loss may jump at a growth ('grow' records in the
   * history); it never increases between growths. Default false.
   */
  adaptive?: boolean;
  /** Upper bound on J when adaptive. Default 4 per class. */
  maxPrototypes?: number;
  /** Least number of captured samples for a class to get a new prototype when adaptive. Default 2. */
  growthMinSamples?: number;
  /**
   * The metric under the prototypes (docs/model.md, "A learned metric"): 'euclidean' (the paper's
   * ‖x − p‖²), 'diagonal' (‖ω ⊙ (x − p)‖², ω learned) or 'lowrank' (‖Ω(x − p)‖², Ω r×D learned).
   * Both learned metrics start from shrinkage-LDA whitening of the within-class scatter and are
   * trained with P and W on the same loss. Default 'euclidean'.
   */
  metric?: MetricKind;
  /** Rows r of Ω for 'lowrank' (capped at D). Default: D, up to 128. */
  metricRank?: number | null;
  /** Shrinkage λ ∈ (0, 1] of the within-class scatter towards its mean variance, in the metric's start. Default 0.2. */
  shrinkage?: number;
  /** β of the pull β‖Ω − Ω₀‖²/‖Ω₀‖² that keeps the learned metric near its start (few samples overfit). Default 1. */
  metricPenalty?: number;
  /** L-BFGS iterations of each metric step; 0 keeps Ω at its start (LDA whitening, not learned). Default 5. */
  metricIter?: number;
  /**
   * Re-seed dead prototypes (the best match of no training sample) onto the training samples the
   * model serves badly (c_y < ½), worst first, during training; a re-seeding is kept only if C does
   * not increase (docs/model.md). Default true.
   */
  reseed?: boolean;
  /**
   * After training, remove the prototypes that are still dead: they describe no training sample,
   * and, drifted away, they would only capture far outliers. J shrinks to the live prototypes and a
   * 'prune' record ends the history. Default false (J stays as given; `protolens fit` prunes unless --no-prune).
   */
  prune?: boolean;
}

/** The metrics {@link PrototypeOptions.metric} accepts. */
export const METRICS = ['euclidean', 'diagonal', 'lowrank'] as const;
export type MetricKind = typeof METRICS[number];

/**
 * The penalty weight α used when none is given, per penalty. L2's was chosen on validation
 * alphabets over tasks of 5, 20 and all (≈ 100) classes and confirmed on others (BENCHMARKS.md,
 * "The default α"): the penalty sums J·L weights, so a weight that suits 20 classes holds a
 * 100-class model's weights near zero. L1's is the best L1 value of the Table 1 search.
 * @example
 * new PrototypeClassifier().getParams().alpha                          // 1e-5
 * new PrototypeClassifier({ regularization: 'l1' }).getParams().alpha // 1e-3
 */
export const DEFAULT_ALPHA: Readonly<Record<Regularization, number>> = { l1: 1e-3, l2: 1e-5 };

const DEFAULTS: Required<Omit<PrototypeOptions, 'nPrototypes' | 'maxPrototypes' | 'metricRank' | 'tauScale'>> & { nPrototypes: number | null; maxPrototypes: number | null; metricRank: number | null; tauScale: number | null } = {
  nPrototypes: null,
  adaptive: false,
  maxPrototypes: null,
  growthMinSamples: 2,
  regularization: 'l2',
  alpha: 1e-5,
  tau: 'auto',
  tauScale: null,
  maxIter: 100,
  tol: 1e-4,
  classIter: 50,
  prototypeSteps: 1,
  initLloydIter: 10,
  seed: 0,
  ambiguityMargin: 0.2,
  metric: 'euclidean',
  metricRank: null,
  shrinkage: 0.2,
  metricPenalty: 1,
  metricIter: 5,
  reseed: true,
  prune: false,
};

type Params = typeof DEFAULTS;

const RULES: { [K in keyof Params]: OptionRule } = {
  nPrototypes: { nullOr: 'positive integer' },
  adaptive: 'boolean',
  maxPrototypes: { nullOr: 'positive integer' },
  growthMinSamples: 'positive integer',
  regularization: { oneOf: ['l1', 'l2'] },
  alpha: 'non-negative',
  tau: { positiveOr: 'auto' },
  tauScale: { nullOr: 'positive' },
  maxIter: 'non-negative integer',
  tol: 'non-negative',
  classIter: 'non-negative integer',
  prototypeSteps: 'non-negative integer',
  initLloydIter: 'non-negative integer',
  seed: 'integer',
  ambiguityMargin: 'non-negative',
  metric: { oneOf: METRICS },
  metricRank: { nullOr: 'positive integer' },
  shrinkage: 'positive',
  metricPenalty: 'non-negative',
  metricIter: 'non-negative integer',
  reseed: 'boolean',
  prune: 'boolean',
};

/** One prototype's share of a decision, as returned by `explain`. */
export interface PrototypeContribution {
  index: number;
  /** q_j(x): probability that x matches this prototype. */
  q: number;
  /** ‖x − p_j‖² in the model's metric (‖Ω(x − p_j)‖² under a learned one). */
  sqDistance: number;
  /** argmax_l W_jl. */
  winningClass: Label;
  /** The prototype's positive class links (row j of W), strongest first. */
  links: Array<{ label: Label; weight: number }>;
}

/** Why a sample got its label. See docs/model.md, "Ambiguity". */
export interface Explanation {
  label: Label;
  probability: number;
  /** All classes, most probable first. */
  probabilities: Array<{ label: Label; probability: number }>;
  /** c_(1) − c_(2): gap between the two most probable classes. */
  margin: number;
  /** Entropy of c(x) divided by log L (0 = certain, 1 = uniform). */
  normalizedEntropy: number;
  /** exp(entropy of q(x)): how many prototypes effectively share the sample. */
  effectivePrototypes: number;
  /** True when margin < ambiguityMargin. */
  ambiguous: boolean;
  /** The rule behind `ambiguous`, in words. */
  ambiguityRule: string;
  /** The prototypes that matter most for this sample (largest q first). */
  prototypes: PrototypeContribution[];
  /**
   * How far the sample is from everything the model has seen (docs/openset.md), with the
   * model's rejection rule when it has one; null for a model saved without novelty statistics.
   */
  novelty: SampleNovelty | null;
  /** True when the sample is beyond the model's rejection threshold: the answer is "unknown", `label` only the nearest class. */
  unknown: boolean;
}

/** One sample's novelty, as `explain` reports it. */
export interface SampleNovelty {
  /** The score the verdict uses (the rejection rule's, else the default). */
  kind: NoveltyScoreKind;
  score: number;
  /** The prototype the score names. */
  prototype: number;
  /** Its distance in its own spreads. */
  spreads: number;
  /** The distance to the training data's centre in its spread. */
  centreSpreads: number;
  /** The rejection threshold, when the model has one. */
  threshold: number | null;
  /** The verdict and its reason, e.g. "nearest prototype p12 at 3.40 spreads; threshold 2.10". */
  reason: string;
}

/**
 * The paper's prototype classifier.
 * @example
 * const m = new PrototypeClassifier({ nPrototypes: 4, seed: 1 }).fit([[0, 0], [0, 1], [5, 5], [5, 6]], ['a', 'a', 'b', 'b']);
 * m.predict([[0.2, 0.4]]) // ['a']
 */
export class PrototypeClassifier implements Classifier {
  readonly kind = 'PrototypeClassifier';
  private readonly params: Params;
  classes_: Label[] = [];
  nFeatures_ = 0;
  /** What made the features it was fitted on (see {@link Classifier.origin_}). */
  origin_: FeatureOrigin | null = null;
  /** J×D prototypes. */
  prototypes_: Matrix | null = null;
  /** J×L prototype-to-class weights. */
  W_: Matrix | null = null;
  /** τ in use. */
  tau_ = NaN;
  /** How τ was chosen, in words. */
  tauRule_ = '';
  /** Class each prototype was initialised in. */
  initClass_: Int32Array = new Int32Array(0);
  /** Loss after every step; never increases. */
  history_: IterationRecord[] = [];
  nIter_ = 0;
  converged_ = false;
  /**
   * Work done by the last fit: objective evaluations of the class and metric steps, prototype-step
   * trials, re-seeding trials of dead prototypes and how many of them the lower bound could not rule
   * out (evaluated in full), seconds.
   */
  fitStats_ = { classEvaluations: 0, prototypeTrials: 0, metricEvaluations: 0, reseedTrials: 0, reseedEvaluations: 0, seconds: 0 };
  /** The metric distances are measured in (Euclidean unless `metric` says otherwise). */
  metric_: Metric = { kind: 'euclidean' };
  /** How the settings were chosen, when a search chose them (src/select/cv.ts); saved with the model. */
  selection_: Record<string, unknown> | null = null;
  /** Spreads of the prototypes and the training data's centre, for novelty scores (null in models saved before them). */
  noveltyStats_: NoveltyStats | null = null;
  /** T of the class layer's temperature scaling, c = softmax(z / T); 1 until calibrated. */
  temperature_ = 1;
  /** When set, samples scoring above its threshold are answered "unknown" (docs/openset.md). */
  rejection_: RejectionRule | null = null;
  /** How the temperature and the threshold were fitted, with ECE before and after. */
  calibration_: CalibrationRecord | null = null;

  constructor(options: PrototypeOptions = {}) {
    const regularization = options.regularization ?? DEFAULTS.regularization;
    const alpha = options.alpha ?? (Object.hasOwn(DEFAULT_ALPHA, regularization) ? DEFAULT_ALPHA[regularization] : DEFAULTS.alpha);
    this.params = checkOptions('PrototypeClassifier', { ...options, alpha } as Partial<Params>, DEFAULTS, RULES);
    if (this.params.shrinkage > 1) throw new RangeError(`PrototypeClassifier: shrinkage must be in (0, 1], got ${this.params.shrinkage}`);
  }

  score(X: MatrixInput, y: readonly Label[]): number {
    return scoreOf(this, X, y);
  }

  getParams(): Record<string, unknown> {
    return { ...this.params };
  }

  isFitted(): boolean {
    return this.prototypes_ !== null;
  }

  private fitted(): { P: Matrix; W: Matrix } {
    if (!this.prototypes_ || !this.W_) throw new NotFittedError(this.kind);
    return { P: this.prototypes_, W: this.W_ };
  }

  /**
   * Fits prototypes and class weights.
   * @param onProgress - called after every step with its record.
   * @throws RangeError/TypeError on invalid X or y (named row/column), fewer than 2 classes, J < number of classes.
   */
  fit(Xin: MatrixInput, y: readonly Label[], onProgress?: ProgressCallback): this {
    const t0 = Date.now();
    const { X, labels } = checkXy(Xin, y);
    const p = this.params;
    const s = startFit(X, labels, p, onProgress);
    trainFit(s, p);
    if (p.prune) pruneFit(s);
    const J = s.P.rows;
    this.classes_ = labels.classes;
    this.nFeatures_ = X.cols;
    this.prototypes_ = s.P;
    this.W_ = { data: s.W, rows: J, cols: labels.classes.length };
    this.tau_ = s.pb.tau;
    this.tauRule_ = s.tauRule;
    this.initClass_ = s.protoClass;
    this.history_ = s.history;
    this.nIter_ = Math.min(s.iter, p.maxIter);
    this.converged_ = s.converged;
    this.metric_ = s.pb.metric;
    this.selection_ = null;
    this.temperature_ = 1;
    this.rejection_ = null;
    this.calibration_ = null;
    const centre = columnMeans(X);
    this.noveltyStats_ = null;
    const { D2, d0 } = this.metricDistances(X, centre);
    this.noveltyStats_ = noveltyStats(D2, d0, centre);
    this.fitStats_ = { ...s.stats, seconds: (Date.now() - t0) / 1000 };
    return this;
  }

  /** q(x) for every sample: N×J matching probabilities. */
  prototypeActivations(Xin: MatrixInput): Matrix {
    const { P } = this.fitted();
    const X = toMatrix(Xin, { name: 'X', cols: this.nFeatures_ });
    const ws = makeWorkspace(X.rows, P.rows, 0, false);
    computeQ(this.problemFor(X), P, ws);
    return { data: ws.Q, rows: X.rows, cols: P.rows };
  }

  private problemFor(X: Matrix, xNorms?: Float64Array): Problem {
    const m = this.metric_;
    return makeProblem(X, new Int32Array(X.rows), this.classes_.length, this.tau_, this.params.alpha, this.params.regularization,
      m.kind === 'euclidean' ? xNorms : undefined, m);
  }

  predictProba(Xin: MatrixInput): Matrix {
    // A margin-dependent temperature (calibration_.margin) divides each sample's logits by its own T.
    if (this.calibration_?.margin && this.calibration_.margin.exponent !== 0) {
      const Z = this.decisionFunction(Xin);
      return temperedSoftmax(Z, sampleTemperatures(Z, this.temperature_, this.calibration_.margin));
    }
    return this.classLayer(Xin, 'probabilities');
  }

  /**
   * The class layer's logits z = q(x)ᵀ W (N×L), before the softmax and the temperature: c =
   * softmax(z / T). What temperature scaling is fitted on.
   */
  decisionFunction(Xin: MatrixInput): Matrix {
    return this.classLayer(Xin, 'logits');
  }

  /** Logits, or probabilities softmax(z / T) with the model's temperature. */
  private classLayer(Xin: MatrixInput, output: 'logits' | 'probabilities' | 'labels'): Matrix {
    const { P, W } = this.fitted();
    // One pass over X: its squared row norms, which are also its finiteness check.
    const X = toMatrix(Xin, { name: 'X', cols: this.nFeatures_, checkFinite: false });
    const xNorms = rowSqNorms(X.data, X.rows, X.cols);
    checkFiniteRows(X, xNorms, 'X');
    const L = this.classes_.length, J = P.rows, D = X.cols;
    const out = new Float32Array(X.rows * L);
    // Chunks keep Q under 16 MB; fewer, larger chunks share each product better between threads.
    const CH = Math.max(1, Math.floor((4 << 20) / J));
    const ws = makeWorkspace(Math.min(CH, X.rows), J, 0, false);
    // Labels never depend on the temperature: they are taken from the untempered layer.
    const scale = output === 'probabilities' ? 1 / this.temperature_ : 1;
    for (let s = 0; s < X.rows; s += CH) {
      const n = Math.min(CH, X.rows - s);
      const Xc: Matrix = { data: X.data.subarray(s * D, (s + n) * D), rows: n, cols: D };
      const pb = this.problemFor(Xc, xNorms.subarray(s, s + n));
      computeQ(pb, P, ws);
      ws.C = out.subarray(s * L, (s + n) * L); // the class layer writes its rows of the result
      if (output === 'logits') gemm(false, false, n, L, J, 1, ws.Q, J, W.data, L, 0, ws.C, L);
      else classProbabilities(pb, W.data, J, ws, scale);
    }
    return { data: out, rows: X.rows, cols: L };
  }

  predict(X: MatrixInput): Label[] {
    const C = this.classLayer(X, 'labels');
    return Array.from(argmaxRows(C.data, C.rows, C.cols), (c) => this.classes_[c]);
  }

  /**
   * Squared distances in the model's metric from each sample to every prototype (N×J) and to a
   * centre (the training data's, by default).
   */
  metricDistances(Xin: MatrixInput, centre?: Float32Array): { D2: Matrix; d0: Float64Array } {
    const { P } = this.fitted();
    const X = toMatrix(Xin, { name: 'X', cols: this.nFeatures_ });
    const c = centre ?? this.noveltyStats_?.centre;
    const Z = applyMetric(this.metric_, X), U = applyMetric(this.metric_, P);
    const D2 = sqDistances(Z, U, rowSqNorms(Z.data, Z.rows, Z.cols), rowSqNorms(U.data, U.rows, U.cols));
    const d0 = new Float64Array(X.rows);
    if (c) {
      const diff = new Float32Array(X.rows * X.cols);
      for (let i = 0; i < X.rows; i++) for (let d = 0; d < X.cols; d++) diff[i * X.cols + d] = X.data[i * X.cols + d] - c[d];
      const V = applyMetric(this.metric_, { data: diff, rows: X.rows, cols: X.cols });
      d0.set(rowSqNorms(V.data, V.rows, V.cols));
    } else d0.fill(NaN);
    return { D2: { data: D2, rows: X.rows, cols: P.rows }, d0 };
  }

  /**
   * Novelty of each sample (docs/openset.md): how far it lies from everything the model has seen.
   * @param kind - the score; default the rejection rule's, else {@link DEFAULT_NOVELTY_SCORE}.
   * @throws Error when the model was saved without novelty statistics (fitted before they existed): refit it.
   * @example
   * model.novelty(X).score // one score per row, larger = more novel
   */
  novelty(X: MatrixInput, kind?: NoveltyScoreKind): NoveltyResult {
    this.fitted();
    const k = checkNoveltyScore(kind ?? this.rejection_?.score ?? DEFAULT_NOVELTY_SCORE);
    const stats = this.noveltyStats_;
    if (!stats) throw new Error('This model was saved without novelty statistics (protolens before 0.x); fit it again to score novelty.');
    const { D2, d0 } = this.metricDistances(X);
    return noveltyScores(D2, d0, stats, this.tau_, k);
  }

  /**
   * Labels with open-set rejection: "unknown" (or `unknownLabel`) for the samples beyond the
   * rejection threshold, the predicted class otherwise. Without a rejection rule, `predict`.
   */
  predictOpen<U = 'unknown'>(X: MatrixInput, unknownLabel: U = 'unknown' as U): Array<Label | U> {
    const labels: Array<Label | U> = this.predict(X);
    const rule = this.rejection_;
    if (!rule) return labels;
    const v = this.novelty(X, rule.score);
    for (let i = 0; i < labels.length; i++) if (v.score[i] > rule.threshold) labels[i] = unknownLabel;
    return labels;
  }

  /**
   * Fits the temperature of the class layer and the rejection threshold on held-out samples of
   * the known classes (never the samples the model was fitted on); see {@link applyCalibration}.
   * @returns the record, also kept in `calibration_` and saved with the model.
   * @throws RangeError for labels the model does not know or a bad option.
   */
  calibrate(X: MatrixInput, y: readonly Label[], options: CalibrationOptions = {}): CalibrationRecord {
    const codes = codesFor(y, this.classes_);
    const score = checkNoveltyScore(options.score ?? DEFAULT_NOVELTY_SCORE);
    const held: HeldOutOutputs = { logits: this.decisionFunction(X), codes, novelty: this.novelty(X, score).score };
    return this.applyCalibration(held, { ...options, score }, options.source ?? 'held-out samples');
  }

  /**
   * Adopts a temperature and a rejection threshold computed from held-out outputs (of this model,
   * or of models fitted like it on other folds: src/select/calibrate.ts). Labels do not change.
   */
  applyCalibration(held: HeldOutOutputs, options: CalibrationOptions = {}, source = 'held-out samples'): CalibrationRecord {
    const rec = calibrationRecord(held, { targetFalseRejection: DEFAULT_FALSE_REJECTION, score: DEFAULT_NOVELTY_SCORE, ...options }, source);
    this.temperature_ = rec.temperature;
    this.rejection_ = rec.rejection;
    this.calibration_ = rec;
    return rec;
  }

  /** Class of each prototype: argmax_l W_jl. */
  prototypeClasses(): Label[] {
    const { W } = this.fitted();
    return Array.from(argmaxRows(W.data, W.rows, W.cols), (c) => this.classes_[c]);
  }

  /**
   * Explains the decision for one sample: class probabilities, the top prototypes with q_j and
   * their class links, the margin between the two best classes, and an ambiguity flag.
   * @param topK - number of prototypes listed (default 5).
   */
  explain(x: ArrayLike<number>, topK = 5): Explanation {
    const { P, W } = this.fitted();
    if (!x || typeof x.length !== 'number') throw new TypeError('explain: x must be an array of numbers (one sample)');
    const X = toMatrix([x], { name: 'x', cols: this.nFeatures_ });
    const L = this.classes_.length, J = P.rows;
    const ws = makeWorkspace(1, J, L, false);
    const pb = this.problemFor(X);
    objective(pb, P, W.data, ws);
    const q = ws.Q, c = ws.C;
    if (this.temperature_ !== 1 || this.calibration_?.margin) {
      // c = softmax(z / T(x)): recompute from the logits z = q W.
      gemm(false, false, 1, L, J, 1, q, J, W.data, L, 0, c, L);
      const T = sampleTemperatures({ data: c, rows: 1, cols: L }, this.temperature_, this.calibration_?.margin)[0];
      softmaxRows(c, 1, L, undefined, 1 / T);
    }
    const order = Array.from({ length: L }, (_, l) => l).sort((a, b) => c[b] - c[a]);
    const probabilities = order.map((l) => ({ label: this.classes_[l], probability: c[l] }));
    const margin = L > 1 ? c[order[0]] - c[order[1]] : 1;
    let hc = 0, hq = 0;
    for (let l = 0; l < L; l++) if (c[l] > 0) hc -= c[l] * Math.log(c[l]);
    for (let j = 0; j < J; j++) if (q[j] > 0) hq -= q[j] * Math.log(q[j]);
    // Distances for the listed prototypes, in the model's metric (from the q's logits would lose precision: recompute).
    const protoOrder = Array.from({ length: J }, (_, j) => j).sort((a, b) => q[b] - q[a]).slice(0, Math.min(topK, J));
    const prototypes = protoOrder.map((j) => {
      const diff = new Float32Array(X.cols);
      for (let d = 0; d < X.cols; d++) diff[d] = X.data[d] - P.data[j * X.cols + d];
      const v = applyMetric(this.metric_, { data: diff, rows: 1, cols: X.cols }).data;
      let d2 = 0;
      for (let k = 0; k < v.length; k++) d2 += v[k] * v[k];
      return { index: j, q: q[j], sqDistance: d2, ...this.links(j) };
    });
    const novelty = this.sampleNovelty(X);
    return {
      label: this.classes_[order[0]],
      probability: c[order[0]],
      probabilities,
      margin,
      normalizedEntropy: L > 1 ? hc / Math.log(L) : 0,
      effectivePrototypes: Math.exp(hq),
      ambiguous: margin < this.params.ambiguityMargin,
      ambiguityRule: `ambiguous when the two most probable classes differ by less than ${this.params.ambiguityMargin} in probability`,
      prototypes,
      novelty,
      unknown: novelty !== null && novelty.threshold !== null && novelty.score > novelty.threshold,
    };
  }

  /** The novelty of one sample (a 1×D matrix) with the verdict in words; null without novelty statistics. */
  private sampleNovelty(X: Matrix): SampleNovelty | null {
    if (!this.noveltyStats_) return null;
    const rule = this.rejection_;
    const v = this.novelty(X, rule?.score);
    const one = { score: v.score[0], prototype: v.prototype[0], spreads: v.spreads[0], centreSpreads: v.centreSpreads[0] };
    const threshold = rule ? rule.threshold : null;
    const verdict = threshold === null ? '' : one.score > threshold ? 'unknown: ' : 'known: ';
    return { kind: v.kind, ...one, threshold, reason: verdict + noveltyReason(v.kind, one, threshold) };
  }

  /** Winning class and positive links of prototype j, strongest first. */
  links(j: number): { winningClass: Label; links: Array<{ label: Label; weight: number }> } {
    const { W } = this.fitted();
    const L = W.cols;
    const row = Array.from(W.data.subarray(j * L, (j + 1) * L));
    let best = 0;
    for (let l = 1; l < L; l++) if (row[l] > row[best]) best = l;
    const links = row.map((w, l) => ({ label: this.classes_[l], weight: w }))
      .filter((e) => e.weight > 0).sort((a, b) => b.weight - a.weight);
    return { winningClass: this.classes_[best], links };
  }

  toJSON(): ModelJSON {
    const { P, W } = this.fitted();
    return {
      ...modelHeader(this.kind, this.getParams(), this.classes_, this.nFeatures_, this.origin_),
      nPrototypes: P.rows,
      tau: this.tau_,
      tauRule: this.tauRule_,
      seed: this.params.seed,
      prototypes: Array.from(P.data),
      W: Array.from(W.data),
      initClass: Array.from(this.initClass_),
      history: this.history_,
      nIter: this.nIter_,
      converged: this.converged_,
      ...metricJSON(this.metric_),
      ...(this.selection_ ? { selection: this.selection_ } : {}),
      ...(this.noveltyStats_ ? { novelty: noveltyStatsJSON(this.noveltyStats_) } : {}),
      ...(this.calibration_ ? { calibration: this.calibration_ } : {}),
    };
  }

  /** Restores a model written by `toJSON`. @throws TypeError/RangeError on a wrong format, version, kind or shape. */
  static fromJSON(json: ModelJSON): PrototypeClassifier {
    checkHeader(json, 'PrototypeClassifier');
    const J = jsonNumber(json, 'nPrototypes', 'positive integer'), D = json.nFeatures, L = json.classes.length;
    const m = new PrototypeClassifier(json.params as PrototypeOptions);
    m.classes_ = jsonClasses(json);
    m.origin_ = readOrigin(json);
    m.nFeatures_ = D;
    m.prototypes_ = { data: jsonFloats(json, 'prototypes', J * D), rows: J, cols: D };
    m.W_ = { data: jsonFloats(json, 'W', J * L), rows: J, cols: L };
    m.tau_ = jsonNumber(json, 'tau', 'scale');
    m.tauRule_ = String(json.tauRule ?? '');
    m.initClass_ = Int32Array.from((json.initClass as number[] | undefined) ?? new Array(J).fill(0));
    m.history_ = (json.history as IterationRecord[] | undefined) ?? [];
    m.nIter_ = Number(json.nIter ?? 0);
    m.converged_ = Boolean(json.converged);
    m.metric_ = metricFromJSON(json, D);
    if (json.selection !== undefined) {
      if (typeof json.selection !== 'object' || json.selection === null) throw new TypeError('model: field "selection" must be an object');
      m.selection_ = json.selection as Record<string, unknown>;
    }
    // Models saved before open-set recognition have neither field: no novelty scores, T = 1, no rejection.
    if (json.novelty !== undefined) m.noveltyStats_ = noveltyStatsFromJSON(json.novelty, J, D);
    if (json.calibration !== undefined) {
      m.calibration_ = calibrationFromJSON(json.calibration);
      m.temperature_ = m.calibration_.temperature;
      m.rejection_ = m.calibration_.rejection;
      if (m.rejection_ && !m.noveltyStats_) throw new RangeError('model: field "calibration" has a rejection rule but the model has no "novelty" statistics to score it with');
    }
    return m;
  }
}

/** The state of one fit, shared by its phases ({@link startFit}, {@link trainFit}, {@link pruneFit}). */
interface FitState {
  pb: Problem;
  P: Matrix;
  W: Float32Array;
  protoClass: Int32Array;
  /** Holds Q and C at (P, W). */
  ws: Workspace;
  width: number;
  tauRule: string;
  history: IterationRecord[];
  /** Records a step's result at the current state; returns C. */
  record: (iter: number, step: IterationRecord['step'], v: { nll: number; correct: number }) => number;
  last: number;
  iter: number;
  converged: boolean;
  stats: { classEvaluations: number; prototypeTrials: number; metricEvaluations: number; reseedTrials: number; reseedEvaluations: number };
}

/** τ by the options: fixed, or 'auto' (the data scale when Euclidean, whitened units under a metric). */
function chooseTau(Z: Matrix, metric: Metric, p: Params, r: Rng): { tau: number; rule: string } {
  if (p.tau !== 'auto') return { tau: p.tau, rule: p.tau === 1 ? 'fixed: τ = 1 (the paper\'s form)' : `fixed: τ = ${p.tau}` };
  if (metric.kind === 'euclidean') return autoTau(Z, p.tauScale ?? 0.1, r);
  const tau = p.tauScale ?? 1;
  return { tau, rule: `auto: tauScale (${tau}) in the whitened units of the metric's start (unit within-class variance; 1 = the LDA posterior)` };
}

/** The start of a fit: the metric's start, τ, k-means prototypes, W scaled to its best multiple, the 'init' record. */
function startFit(X: Matrix, labels: ReturnType<typeof checkXy>['labels'], p: Params, onProgress?: ProgressCallback): FitState {
  const K = labels.classes.length, N = X.rows;
  const J = p.nPrototypes ?? (p.adaptive ? K : Math.min(N, 2 * K));
  const maxJ = p.adaptive ? Math.min(N, p.maxPrototypes ?? 4 * K) : J;
  if (p.adaptive && maxJ < J) throw new RangeError(`maxPrototypes (${maxJ}) must be at least the starting number of prototypes (${J})`);
  const r = rng(p.seed);
  const metric = startMetric(X, labels.codes, K, p);
  const Z = applyMetric(metric, X);
  const { tau, rule } = chooseTau(Z, metric, p, r);
  const init = initPrototypes(X, labels.codes, labels.counts, J, r, p.initLloydIter, Z);
  const W = new Float32Array(J * K);
  for (let j = 0; j < J; j++) W[j * K + init.protoClass[j]] = 1;
  const pb = makeProblem(X, labels.codes, K, tau, p.alpha, p.regularization, undefined, metric);
  const width = metricWidth(metric, X.cols);
  const s: FitState = {
    pb, P: init.P, W, protoClass: init.protoClass, ws: makeWorkspace(N, J, K, true, width), width, tauRule: rule, history: [],
    record: (iter, step, v) => {
      const pen = penalty(s.W, p.alpha, p.regularization) + metricPenalty(s.pb.metric);
      const rec: IterationRecord = { iter, step, loss: v.nll + pen, nll: v.nll, penalty: pen, accuracy: v.correct / N, nPrototypes: s.P.rows };
      s.history.push(rec);
      onProgress?.(rec, p.maxIter);
      return rec.loss;
    },
    last: 0, iter: 0, converged: false, stats: { classEvaluations: 0, prototypeTrials: 0, metricEvaluations: 0, reseedTrials: 0, reseedEvaluations: 0 },
  };
  computeQ(pb, s.P, s.ws);
  scaleClassWeights(pb, W, J, s.ws);
  s.last = s.record(0, 'init', classForward(pb, W, J, s.ws));
  return s;
}

/**
 * The alternating steps (class, prototype, metric, re-seeding) until C stops decreasing by tol
 * or maxIter; with adaptive J, a prototype is grown after each convergence and training resumes.
 */
function trainFit(s: FitState, p: Params): void {
  const { pb } = s;
  const N = pb.X.rows, K = pb.nClasses;
  const maxJ = p.adaptive ? Math.min(N, p.maxPrototypes ?? 4 * K) : s.P.rows;
  const learnMetric = pb.metric.kind !== 'euclidean' && p.metricIter > 0;
  for (;;) {
    const trainer = new Trainer(pb, s.ws, s.P, s.W, p);
    s.converged = false;
    for (s.iter = 1; s.iter <= p.maxIter; s.iter++) {
      const start = s.last;
      s.last = s.record(s.iter, 'class', trainer.classStep());
      for (let k = 0; k < p.prototypeSteps; k++) s.last = s.record(s.iter, 'prototype', trainer.prototypeStep());
      if (learnMetric) s.last = s.record(s.iter, 'metric', trainer.metricStep());
      if (p.reseed) {
        const v = trainer.reseedDead();
        if (v) s.last = s.record(s.iter, 'reseed', v);
      }
      if (start - s.last <= p.tol * Math.max(1, Math.abs(start))) { s.converged = true; break; }
    }
    s.stats.classEvaluations += trainer.classEvaluations;
    s.stats.prototypeTrials += trainer.prototypeTrials;
    s.stats.metricEvaluations += trainer.metricEvaluations;
    s.stats.reseedTrials += trainer.reseedTrials;
    s.stats.reseedEvaluations += trainer.reseedEvaluations;
    s.ws = trainer.workspace;
    if (!p.adaptive || s.P.rows >= maxJ) return;
    const grown = growPrototype(pb, s.P, s.W, s.protoClass, s.ws, p.growthMinSamples);
    if (!grown) return;
    ({ P: s.P, W: s.W, protoClass: s.protoClass } = grown);
    s.ws = makeWorkspace(N, s.P.rows, K, true, s.width);
    computeQ(pb, s.P, s.ws);
    s.last = s.record(0, 'grow', classForward(pb, s.W, s.P.rows, s.ws));
  }
}

/** Removes the prototypes still dead after training (a 'prune' record), keeping at least one. */
function pruneFit(s: FitState): void {
  const N = s.pb.X.rows, K = s.pb.nClasses, J = s.P.rows;
  const kept = prunedPrototypes(s.ws.Q, N, J);
  if (kept.length === J || kept.length < 1) return;
  ({ P: s.P, W: s.W, protoClass: s.protoClass } = keepPrototypes(s.P, s.W, s.protoClass, kept, K));
  s.ws = makeWorkspace(N, s.P.rows, K, true, s.width);
  computeQ(s.pb, s.P, s.ws);
  s.last = s.record(s.iter, 'prune', classForward(s.pb, s.W, s.P.rows, s.ws));
}

/** The mean of the rows of X (float64 sums). */
function columnMeans(X: Matrix): Float32Array {
  const { rows: N, cols: D, data } = X;
  const s = new Float64Array(D);
  for (let i = 0; i < N; i++) for (let d = 0; d < D; d++) s[d] += data[i * D + d];
  return Float32Array.from(s, (v) => v / N);
}

/** Alternating minimisation state over (P, W), with the buffers of one fit. */
class Trainer {
  private readonly gradW: Float32Array;
  private readonly gradP: Float32Array;
  private readonly weightSums: Float64Array;
  private readonly trialP: Matrix;
  private trialWs: Workspace;
  private fistaL = 1;
  /** Step length accepted by the last prototype step; the next one starts at twice it (at most 1). */
  private lastEta = 1;
  classEvaluations = 0;
  prototypeTrials = 0;
  metricEvaluations = 0;
  /** Re-seeding trials of dead prototypes, and those the lower bound did not rule out (fully evaluated). */
  reseedTrials = 0;
  reseedEvaluations = 0;

  /** The workspace holding Q and C at the current (P, W). */
  get workspace(): Workspace { return this.ws; }

  constructor(private readonly pb: Problem, private ws: Workspace, private readonly P: Matrix,
    private readonly W: Float32Array, private readonly p: Params) {
    this.gradW = new Float32Array(W.length);
    this.gradP = new Float32Array(P.data.length);
    this.weightSums = new Float64Array(P.rows);
    this.trialP = { data: new Float32Array(P.data.length), rows: P.rows, cols: P.cols };
    this.trialWs = makeWorkspace(pb.X.rows, P.rows, pb.nClasses, true, metricWidth(pb.metric, P.cols));
  }

  /** Smooth part of the class-step objective at w (Q fixed); gradient into g. */
  private smooth = (w: Float64Array, g: Float64Array, withL2: boolean): number => {
    const W = this.W, J = this.P.rows, gradW = this.gradW;
    for (let k = 0; k < w.length; k++) W[k] = w[k];
    // The solvers use only the loss and the gradient: no accuracy count.
    const { nll } = classForward(this.pb, W, J, this.ws, false);
    classGradient(this.pb, J, this.ws, gradW);
    let f = nll;
    const a = this.pb.alpha;
    if (withL2) {
      for (let k = 0; k < w.length; k++) { const wk = w[k]; f += a * wk * wk; g[k] = gradW[k] + 2 * a * wk; }
    } else {
      for (let k = 0; k < w.length; k++) g[k] = gradW[k];
    }
    return f;
  };

  /** W ← argmin_W C(P, W) with Q fixed (warm start). ws.Q must hold Q(P). */
  classStep(): { nll: number; correct: number } {
    const w0 = Float64Array.from(this.W);
    let x: Float64Array;
    if (this.pb.regularization === 'l2') {
      const r = lbfgs((w, g) => this.smooth(w, g, true), w0, { maxIter: this.p.classIter, gtol: 1e-7, ftol: 1e-10 });
      this.classEvaluations += r.evaluations;
      x = r.x;
    } else {
      const r = fista((w, g) => this.smooth(w, g, false), this.pb.alpha, w0, { maxIter: this.p.classIter, ftol: 1e-10, L0: this.fistaL });
      this.fistaL = r.L;
      this.classEvaluations += r.evaluations;
      x = r.x;
    }
    for (let k = 0; k < x.length; k++) this.W[k] = x[k];
    // Leave ws.C/ws.G consistent with the final W.
    const v = classForward(this.pb, this.W, this.P.rows, this.ws);
    return v;
  }

  /**
   * Re-seeds each dead prototype (argmax_j q_ij for no training sample i) onto a badly served
   * training sample (c_{y_i} < ½, worst first, up to 5 tried per prototype), with the row of W of a
   * prototype of that sample's class (or its one-hot at the strongest link); keeps a change only if
   * C does not increase. ws must hold Q and C at the current state.
   * @returns the new state when a prototype moved, else null.
   */
  reseedDead(): { nll: number; correct: number } | null {
    const { pb, P, W } = this;
    const N = pb.X.rows, J = P.rows, D = P.cols, L = pb.nClasses;
    const best = argmaxRows(this.ws.Q, N, J);
    const served = new Uint8Array(J);
    for (let i = 0; i < N; i++) served[best[i]] = 1;
    const dead: number[] = [];
    for (let j = 0; j < J; j++) if (!served[j]) dead.push(j);
    if (dead.length === 0) return null;
    // Candidates: the badly served samples (c_y < ½), worst first. When every sample is served
    // well, a dead prototype has nothing to do: it stays (and is pruned at the end by default).
    // A sample that already has a prototype of its class on it (within 1 % of τ) gains nothing
    // from another one: re-seeding there would only make a duplicate that dies again.
    const loss = (i: number) => -Math.log(Math.max(this.ws.C[i * L + pb.codes[i]], 1e-300));
    const winningNow = argmaxRows(W, J, L);
    const U = applyMetric(pb.metric, P), R = U.cols;
    const covered = (i: number) => {
      const j = best[i];
      if (winningNow[j] !== pb.codes[i]) return false;
      let dd = 0;
      for (let k = 0; k < R; k++) { const t = pb.Z.data[i * R + k] - U.data[j * R + k]; dd += t * t; }
      return dd < 0.02 * pb.tau;
    };
    const order = Array.from({ length: N }, (_, i) => i).filter((i) => loss(i) > Math.LN2 && !covered(i)).sort((a, b) => loss(b) - loss(a) || a - b);
    if (order.length === 0) return null;
    const winning = argmaxRows(W, J, L);
    let base = classForward(pb, W, J, this.ws, false).nll + penalty(W, pb.alpha, pb.regularization) + metricPenalty(pb.metric);
    let moved: { nll: number; correct: number } | null = null;
    let next = 0;
    // Trials whose lower bound (reseedLowerBound) proves them no better are skipped without the
    // full objective: the same trials are kept as without the screen.
    let cache: ReseedCache | null = null;
    for (const j of dead) {
      const pj = P.data.slice(j * D, (j + 1) * D), wj = W.slice(j * L, (j + 1) * L);
      for (let trial = 0; trial < 5 && next < order.length; trial++) {
        const i = order[next++], c = pb.codes[i];
        if (!cache) cache = reseedCache(pb, P, W);
        P.data.set(pb.X.data.subarray(i * D, (i + 1) * D), j * D);
        const sibling = Array.from({ length: J }, (_, t) => t).find((t) => t !== j && served[t] && winning[t] === c);
        if (sibling !== undefined) W.copyWithin(j * L, sibling * L, (sibling + 1) * L);
        else {
          let m = 0;
          for (let t = 0; t < J; t++) m = Math.max(m, W[t * L + winning[t]]);
          W.fill(0, j * L, (j + 1) * L);
          W[j * L + c] = m > 0 ? m : 1;
        }
        this.reseedTrials++;
        if (reseedLowerBound(pb, cache, j, i, sibling ?? -1, c, W[j * L + c], W, wj) > RESEED_SCREEN_MARGIN * Math.max(1, Math.abs(base))) {
          P.data.set(pj, j * D);
          W.set(wj, j * L);
          continue;
        }
        this.reseedEvaluations++;
        const v = objective(pb, P, W, this.trialWs);
        if (v.loss <= base) {
          const tmp = this.ws; this.ws = this.trialWs; this.trialWs = tmp;
          base = v.loss;
          moved = { nll: v.nll, correct: v.correct };
          cache = null;
          break;
        }
        P.data.set(pj, j * D);
        W.set(wj, j * L);
      }
    }
    return moved;
  }

  /** One metric step ({@link metricStepOf}); keeps this trainer's workspace consistent. */
  metricStep(): { nll: number; correct: number } {
    const t = { pb: this.pb, ws: this.ws, P: this.P, W: this.W, iter: this.p.metricIter, evaluations: 0 };
    const v = metricStepOf(t);
    this.metricEvaluations += t.evaluations;
    return v;
  }

  /**
   * One prototype step: move each p_j towards its proximity-weighted mean m_j (the solution of
   * ∂C/∂p_j = 0 with the weights frozen), backtracking until C decreases. Prototypes whose total
   * weight S_j is not positive take a plain gradient step of the average k-means step size.
   */
  prototypeStep(): { nll: number; correct: number } {
    const { pb, ws, P, W } = this;
    const J = P.rows, D = P.cols;
    // ws.Q and ws.C hold the state at (P, W) from the last class step / prototype step.
    const nll0 = classForward(pb, W, J, ws);
    classGradient(pb, J, ws, this.gradW);
    prototypeGradient(pb, P, W, ws, this.gradP, this.weightSums);
    const S = this.weightSums, g = this.gradP, tau = pb.tau;
    let sPos = 0, nPos = 0;
    for (let j = 0; j < J; j++) if (S[j] > 0) { sPos += S[j]; nPos++; }
    const sFallback = nPos > 0 ? sPos / nPos : 1;
    // Direction Δ_j = −(τ / S_j) g̃_j  (= m_j − p_j when S_j > 0). Slope = Σ_j ⟨Δ_j, ΩᵀΩ g̃_j⟩ < 0.
    const dir = this.trialP.data; // reuse as Δ first, then as trial
    for (let j = 0; j < J; j++) {
      const sj = S[j] > 1e-12 * sFallback ? S[j] : sFallback;
      const step = -tau / sj;
      for (let d = 0; d < D; d++) dir[j * D + d] = step * g[j * D + d];
    }
    const slope = metricInner(pb.metric, dir, g, J, D);
    const base = nll0.nll + penalty(W, pb.alpha, pb.regularization) + metricPenalty(pb.metric);
    if (!(slope < 0)) return nll0;
    const delta = Float32Array.from(dir);
    let eta = Math.min(1, 2 * this.lastEta);
    for (let bt = 0; bt < 25; bt++, eta *= 0.5) {
      const T = this.trialP.data;
      for (let k = 0; k < T.length; k++) T[k] = P.data[k] + eta * delta[k];
      const v = objective(pb, this.trialP, W, this.trialWs);
      this.prototypeTrials++;
      if (v.loss <= base + 1e-4 * eta * slope && v.loss < base) {
        this.lastEta = eta;
        P.data.set(T);
        // Swap workspaces so ws holds the accepted state.
        const tmp = this.ws; this.ws = this.trialWs; this.trialWs = tmp;
        return { nll: v.nll, correct: v.correct };
      }
    }
    return nll0;
  }
}

/**
 * One mini-batch step of the alternating training, on a chunk of rows (the streamed fit,
 * src/model/streamed.ts): a class step with Q fixed (at most `classIter` solver iterations), then
 * the prototype steps, then the re-seeding of dead prototypes (when `reseed`), each safeguarded on
 * the chunk's own loss exactly as in {@link PrototypeClassifier.fit}. Updates the fitted model's P and W in place. Euclidean models only.
 * @param codes - each row's class index in `m.classes_`.
 * @returns the chunk's NLL and correct count after the step.
 * @throws NotFittedError before a first fit.
 */
export function trainOnChunk(m: PrototypeClassifier, X: Matrix, codes: Int32Array, classIter: number): { nll: number; correct: number } {
  if (!m.prototypes_ || !m.W_) throw new NotFittedError(m.kind);
  const p = { ...(m.getParams() as Params), classIter };
  const P = m.prototypes_, J = P.rows, K = m.classes_.length;
  const pb = makeProblem(X, codes, K, m.tau_, p.alpha, p.regularization);
  const ws = makeWorkspace(X.rows, J, K, true, 0);
  computeQ(pb, P, ws);
  const trainer = new Trainer(pb, ws, P, m.W_.data, p);
  let v = trainer.classStep();
  for (let k = 0; k < p.prototypeSteps; k++) v = trainer.prototypeStep();
  if (p.reseed) v = trainer.reseedDead() ?? v;
  return v;
}

/** Prototypes that are the best match (argmax_j q_ij) of at least one of the N samples, in order. */
function prunedPrototypes(Q: Float32Array, N: number, J: number): number[] {
  const served = new Uint8Array(J);
  for (const j of argmaxRows(Q, N, J)) served[j] = 1;
  return Array.from({ length: J }, (_, j) => j).filter((j) => served[j]);
}

/** P, W and the seeding classes restricted to the prototypes `kept`. */
export function keepPrototypes(P: Matrix, W: Float32Array, protoClass: Int32Array, kept: number[], L: number):
  { P: Matrix; W: Float32Array; protoClass: Int32Array } {
  const D = P.cols;
  const P2 = new Float32Array(kept.length * D), W2 = new Float32Array(kept.length * L);
  kept.forEach((j, t) => {
    P2.set(P.data.subarray(j * D, (j + 1) * D), t * D);
    W2.set(W.subarray(j * L, (j + 1) * L), t * L);
  });
  return { P: { data: P2, rows: kept.length, cols: D }, W: W2, protoClass: Int32Array.from(kept, (j) => protoClass[j]) };
}

/**
 * Scales the starting W (one-hot links prototype → class) by the s ≥ 0 minimising C(s·W), a convex
 * function of s: golden-section search after bracketing by doubling. Without it the first class
 * steps start far from the right scale (the optimum has links of 10–30 on 5-shot tasks), and the
 * first prototype steps, taken against a W that barely separates the classes, can drag the
 * prototypes off their classes for good (seen with L1 and a short class-step budget).
 * ws.Q must hold Q(P); leaves ws.C unspecified.
 */
function scaleClassWeights(pb: Problem, W: Float32Array, J: number, ws: Workspace): void {
  const W0 = Float32Array.from(W);
  const C = (s: number): number => {
    for (let k = 0; k < W.length; k++) W[k] = s * W0[k];
    return classForward(pb, W, J, ws, false).nll + penalty(W, pb.alpha, pb.regularization);
  };
  let hi = 1;
  let fhi = C(hi);
  for (let k = 0; k < 20; k++) {
    const f2 = C(2 * hi);
    if (!(f2 < fhi)) break;
    hi *= 2; fhi = f2;
  }
  let a = 0, b = 2 * hi;
  const g = (Math.sqrt(5) - 1) / 2;
  let x1 = b - g * (b - a), x2 = a + g * (b - a), f1 = C(x1), f2 = C(x2);
  for (let it = 0; it < 30; it++) {
    if (f1 <= f2) { b = x2; x2 = x1; f2 = f1; x1 = b - g * (b - a); f1 = C(x1); }
    else { a = x1; x1 = x2; f1 = f2; x2 = a + g * (b - a); f2 = C(x2); }
  }
  const candidates: Array<[number, number]> = [[1, C(1)], [(a + b) / 2, C((a + b) / 2)]];
  const best = candidates[0][1] <= candidates[1][1] ? candidates[0][0] : candidates[1][0];
  for (let k = 0; k < W.length; k++) W[k] = best * W0[k];
}

/**
 * The metric step: Ω ← a few L-BFGS iterations on C(P, W, Ω) with P and W fixed (monotone: the
 * line search only accepts decreases). Leaves pb.Z and ws consistent with the new Ω.
 */
function metricStepOf(t: { pb: Problem; ws: Workspace; P: Matrix; W: Float32Array; iter: number; evaluations: number }): { nll: number; correct: number } {
  const { pb, P, W } = t;
  const m = pb.metric;
  if (m.kind === 'euclidean') return classForward(pb, W, P.rows, t.ws);
  const J = P.rows, D = P.cols, L = pb.nClasses;
  const omega = m.kind === 'lowrank' ? m.omega.data : m.omega;
  const gradW = new Float32Array(J * L), gTilde = new Float32Array(J * D), S = new Float64Array(J), gO = new Float32Array(omega.length);
  const f = (w: Float64Array, g: Float64Array): number => {
    for (let k = 0; k < w.length; k++) omega[k] = w[k];
    setMetric(pb, m);
    computeQ(pb, P, t.ws);
    const { nll } = classForward(pb, W, J, t.ws, false);
    classGradient(pb, J, t.ws, gradW);
    prototypeGradient(pb, P, W, t.ws, gTilde, S);
    metricGradient(pb, P, t.ws, gTilde, S, gO);
    for (let k = 0; k < g.length; k++) g[k] = gO[k];
    return nll + metricPenalty(m);
  };
  const r = lbfgs(f, Float64Array.from(omega), { maxIter: t.iter, gtol: 1e-7, ftol: 1e-10 });
  t.evaluations += r.evaluations;
  for (let k = 0; k < omega.length; k++) omega[k] = r.x[k];
  setMetric(pb, m);
  computeQ(pb, P, t.ws);
  return classForward(pb, W, J, t.ws);
}

/** Σ_j ⟨Ω a_j, Ω b_j⟩ over the rows of two J×D arrays (the plain dot product when Euclidean). */
function metricInner(metric: Metric, a: Float32Array, b: Float32Array, J: number, D: number): number {
  let s = 0;
  if (metric.kind === 'euclidean') {
    for (let k = 0; k < J * D; k++) s += a[k] * b[k];
  } else if (metric.kind === 'diagonal') {
    const w = metric.omega;
    for (let j = 0; j < J; j++) for (let d = 0; d < D; d++) s += a[j * D + d] * b[j * D + d] * w[d] * w[d];
  } else {
    const A = applyMetric(metric, { data: a, rows: J, cols: D }).data;
    const B = applyMetric(metric, { data: b, rows: J, cols: D }).data;
    for (let k = 0; k < A.length; k++) s += A[k] * B[k];
  }
  return s;
}

/**
 * Widest feature space whitened exactly (a K×K eigen-decomposition); wider features are whitened
 * within their leading principal subspace of this dimension.
 */
const MAX_WHITENING_DIM = 384;

/** The metric's start for a fit: Euclidean, or shrinkage-LDA whitening (diagonal or r×D) of X. */
function startMetric(X: Matrix, codes: Int32Array, L: number, p: Params): Metric {
  if (p.metric === 'euclidean') return { kind: 'euclidean' };
  if (p.metric === 'diagonal') {
    const w = diagonalWhitening(X, codes, L, p.shrinkage);
    return { kind: 'diagonal', omega: Float32Array.from(w), omega0: w, beta: p.metricPenalty };
  }
  const rank = Math.min(X.cols, p.metricRank ?? 128);
  // Remembered by content (start-memo.ts): a search fits many settings on the same fold's rows.
  const xKey = `${X.rows}x${X.cols}:${contentHash(X.data)}`;
  const key = `${xKey}:${contentHash(codes)}:${L}:${p.seed}:${p.shrinkage}:${rank}`;
  const O = startMemo.get(key, () => {
    if (X.cols <= MAX_WHITENING_DIM) return ldaWhitening(X, codes, L, p.shrinkage, rank);
    // Wide features: whiten within the leading principal subspace (Fisherfaces: PCA, then LDA).
    const B = basisMemo.get(`${xKey}:${p.seed}`, () => principalBasis(X, MAX_WHITENING_DIM, rng(deriveSeed(p.seed, 7))));
    const Xb = new Float32Array(X.rows * B.rows);
    gemm(false, true, X.rows, B.rows, X.cols, 1, X.data, X.cols, B.data, B.cols, 0, Xb, B.rows);
    const A = ldaWhitening({ data: Xb, rows: X.rows, cols: B.rows }, codes, L, p.shrinkage, rank);
    const out = new Float32Array(A.rows * X.cols);
    gemm(false, false, A.rows, X.cols, B.rows, 1, A.data, A.cols, B.data, B.cols, 0, out, X.cols);
    return { data: out, rows: A.rows, cols: X.cols };
  });
  return { kind: 'lowrank', omega: { data: Float32Array.from(O.data), rows: O.rows, cols: O.cols }, omega0: { data: Float32Array.from(O.data), rows: O.rows, cols: O.cols }, beta: p.metricPenalty };
}

/** Principal bases of wide features and low-rank starts met lately (start-memo.ts). */
const basisMemo = new LruMemo<Matrix>(START_MEMO_ENTRIES);
const startMemo = new LruMemo<Matrix>(START_MEMO_ENTRIES);

/** Hits and misses of the low-rank metric's remembered starts since the last clear (for tests and benchmarks). */
export function metricStartMemoStats(): { basis: { hits: number; misses: number }; start: { hits: number; misses: number } } {
  return { basis: { hits: basisMemo.hits, misses: basisMemo.misses }, start: { hits: startMemo.hits, misses: startMemo.misses } };
}

/** Forgets the remembered starts (a fit then computes its start afresh; tests compare the two). */
export function clearMetricStartMemo(): void { basisMemo.clear(); startMemo.clear(); }

/** The metric's fields in a saved model (none when Euclidean: old files and Euclidean models look the same). */
function metricJSON(m: Metric): Record<string, unknown> {
  if (m.kind === 'euclidean') return {};
  if (m.kind === 'diagonal') return { metric: { kind: 'diagonal', beta: m.beta, omega: Array.from(m.omega), omega0: Array.from(m.omega0) } };
  return { metric: { kind: 'lowrank', beta: m.beta, rank: m.omega.rows, omega: Array.from(m.omega.data), omega0: Array.from(m.omega0.data) } };
}

/** Reads the metric of a saved model (Euclidean when the field is absent, as in files written before it existed). */
function metricFromJSON(json: ModelJSON, D: number): Metric {
  const f = json.metric as Record<string, unknown> | undefined;
  if (f === undefined) return { kind: 'euclidean' };
  if (typeof f !== 'object' || f === null) throw new TypeError('model: field "metric" must be an object');
  const sub = f as unknown as ModelJSON;
  const beta = jsonNumber(sub, 'beta', 'non-negative');
  if (f.kind === 'diagonal') return { kind: 'diagonal', beta, omega: jsonFloats(sub, 'omega', D), omega0: jsonFloats(sub, 'omega0', D) };
  if (f.kind === 'lowrank') {
    const r = jsonNumber(sub, 'rank', 'positive integer');
    return { kind: 'lowrank', beta, omega: { data: jsonFloats(sub, 'omega', r * D), rows: r, cols: D }, omega0: { data: jsonFloats(sub, 'omega0', r * D), rows: r, cols: D } };
  }
  throw new RangeError(`model: field "metric.kind" is ${JSON.stringify(f.kind)}; expected "diagonal" or "lowrank"`);
}

/**
 * Adaptive J: adds one prototype for the class whose training samples are most often captured by
 * another class's prototype (argmax_j q_ij wins another class), at its captured sample worst served
 * by the model, linked to the class with that class's strongest existing weight. ws must hold Q
 * and C at (P, W). Returns null when no class has `minSamples` captured samples.
 */
function growPrototype(pb: Problem, P: Matrix, W: Float32Array, protoClass: Int32Array, ws: Workspace, minSamples: number):
  { P: Matrix; W: Float32Array; protoClass: Int32Array } | null {
  const N = pb.X.rows, L = pb.nClasses, D = P.cols, J = P.rows;
  const winning = argmaxRows(W, J, L);
  const best = argmaxRows(ws.Q, N, J);
  const captured = new Int32Array(L);
  for (let i = 0; i < N; i++) if (winning[best[i]] !== pb.codes[i]) captured[pb.codes[i]]++;
  let l = 0;
  for (let k = 1; k < L; k++) if (captured[k] > captured[l]) l = k;
  if (captured[l] < minSamples) return null;
  let worst = -1, worstLoss = -Infinity;
  for (let i = 0; i < N; i++) {
    if (pb.codes[i] !== l || winning[best[i]] === l) continue;
    const li = -Math.log(Math.max(ws.C[i * L + l], 1e-300));
    if (li > worstLoss) { worst = i; worstLoss = li; }
  }
  const P2 = new Float32Array((J + 1) * D);
  P2.set(P.data);
  P2.set(pb.X.data.subarray(worst * D, (worst + 1) * D), J * D);
  const W2 = new Float32Array((J + 1) * L);
  W2.set(W);
  let w0 = 0;
  for (let j = 0; j < J; j++) w0 = Math.max(w0, W[j * L + l]);
  W2[J * L + l] = w0 > 0 ? w0 : 1;
  const c2 = new Int32Array(J + 1);
  c2.set(protoClass);
  c2[J] = l;
  return { P: { data: P2, rows: J + 1, cols: D }, W: W2, protoClass: c2 };
}

/**
 * A re-seeding trial is skipped when its lower bound ({@link reseedLowerBound}) exceeds this share
 * of the current loss: the trial cannot lower the loss, so the full objective would reject it too.
 * The margin leaves room for the float32 rounding of that objective. Fits were identical with and
 * without the screen in every comparison made (4,840 × 64 features, 242 classes, α = 1e-3 and
 * 1e-5, up to a whole 68-iteration fit: BENCHMARKS.md, "The default fit on many classes: screening
 * re-seeding trials"), at a fraction of the time.
 */
export const RESEED_SCREEN_MARGIN = 1e-6;

/** What {@link reseedLowerBound} reads at the current (P, W); computed once per accepted move. */
export interface ReseedCache { Q: Float32Array; logS: Float64Array; G: Float32Array; H: Float32Array; gz: Float64Array; }

/**
 * At the current (P, W): Q (recomputed exactly as computeQ does), log S_i = log Σ_k exp(−d_ik/2τ),
 * G = C − Y (unscaled), H = G Wᵀ and gz_i = g_iᵀ z_i, for {@link reseedLowerBound}.
 * @example
 * const cache = reseedCache(pb, P, W); // then reseedLowerBound(pb, cache, j, i, -1, c, 1, W2, W.slice(j * L, (j + 1) * L))
 */
export function reseedCache(pb: Problem, P: Matrix, W: Float32Array): ReseedCache {
  const N = pb.X.rows, J = P.rows, L = pb.nClasses;
  const U = applyMetric(pb.metric, P);
  const pn = rowSqNorms(U.data, J, U.cols);
  const Q = new Float32Array(N * J);
  sqDistances(pb.Z, U, pb.zNorms, pn, Q);
  const logS = new Float64Array(N);
  softmaxRows(Q, N, J, logS, -1 / (2 * pb.tau));
  const Z = new Float32Array(N * L);
  gemm(false, false, N, L, J, 1, Q, J, W, L, 0, Z, L);
  const G = Float32Array.from(Z);
  softmaxRows(G, N, L);
  for (let i = 0; i < N; i++) G[i * L + pb.codes[i]] -= 1;
  const gz = new Float64Array(N);
  for (let i = 0; i < N; i++) { let t = 0; for (let l = 0; l < L; l++) t += G[i * L + l] * Z[i * L + l]; gz[i] = t; }
  const H = new Float32Array(N * J);
  gemm(false, true, N, J, L, 1, G, L, W, L, 0, H, J);
  return { Q, logS, G, H, gz };
}

/**
 * A lower bound on the change of the loss C when prototype j moves onto sample src and row j of W
 * becomes the row of prototype `sib` (sib ≥ 0) or m·e_c (sib < 0), in O(N·D) instead of the full
 * objective's O(N·J·(D + L)). The class loss of a sample is convex in its logits z, so
 * ℓ(z') ≥ ℓ(z) + g·(z' − z), and z'_i = (z_i − q_ij w_old + a_i w')/(1 − q_ij + a_i) with
 * a_i = exp(−‖z_i − z_src‖²/2τ − log S_i); the penalty's change is exact.
 * @param W - W with row j already replaced; `wOld` is that row before.
 * @returns The bound (−Infinity when it overflows, so that the trial is evaluated in full).
 * @example
 * reseedLowerBound(pb, reseedCache(pb, P, W), j, i, -1, c, 1, W2, wOld) <= objective(pb, P2, W2, ws).loss - objective(pb, P, W, ws).loss // true
 */
export function reseedLowerBound(pb: Problem, c: ReseedCache, j: number, src: number, sib: number, cls: number, mval: number,
  W: Float32Array, wOld: Float32Array): number {
  const N = pb.X.rows, L = pb.nClasses, R = pb.Z.cols, J = c.Q.length / N, Zd = pb.Z.data;
  let penNew = 0, penOld = 0;
  const l1 = pb.regularization === 'l1';
  for (let l = 0; l < L; l++) {
    const a = W[j * L + l], b = wOld[l];
    penNew += l1 ? Math.abs(a) : a * a; penOld += l1 ? Math.abs(b) : b * b;
  }
  let dsum = 0;
  const inv2t = 1 / (2 * pb.tau);
  for (let i = 0; i < N; i++) {
    let d = 0;
    for (let k = 0; k < R; k++) { const t = Zd[i * R + k] - Zd[src * R + k]; d += t * t; }
    const a = Math.exp(Math.min(-d * inv2t - c.logS[i], 700));
    const q = c.Q[i * J + j];
    const gw = sib >= 0 ? c.H[i * J + sib] : mval * c.G[i * L + cls];
    dsum += ((q - a) * c.gz[i] - q * c.H[i * J + j] + a * gw) / (1 - q + a);
  }
  const v = dsum / N + pb.alpha * (penNew - penOld);
  return Number.isFinite(v) ? v : -Infinity;
}
