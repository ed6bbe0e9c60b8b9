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
import { rng, type Rng } from '../linalg/random.ts';
import { rowSqNorms } from '../linalg/ops.ts';
import { fista, lbfgs } from '../linalg/optim.ts';
import { checkXy, argmaxRows, scoreOf } from './labels.ts';
import { initPrototypes } from './init.ts';
import { checkHeader, jsonFloats, jsonNumber } from './json.ts';
import { autoTau } from './scale.ts';
import { checkOptions, type OptionRule } from './options.ts';
import {
  classForward, classGradient, classProbabilities, computeQ, makeProblem, makeWorkspace, objective, penalty,
  prototypeGradient, type Problem, type Regularization, type Workspace,
} from './objective.ts';
import {
  NotFittedError, modelHeader,
  type Classifier, type IterationRecord, type Label, type ModelJSON, type ProgressCallback,
} from './types.ts';

/** How τ is set. */
export type TauOption = number | 'auto';

/** Options of {@link PrototypeClassifier}. */
export interface PrototypeOptions {
  /** J, the number of prototypes (≥ number of classes). Default: 2 per class. */
  nPrototypes?: number;
  /** Penalty on W. Default 'l2'. */
  regularization?: Regularization;
  /** Penalty weight α. Default 1e-3. */
  alpha?: number;
  /**
   * Scale of the prototype layer. A number is used as is (τ = 1 is the paper's exact form).
   * 'auto' sets τ = tauScale × median_{i,k} ‖x_i − x_k‖² / 2 over (up to 2,000) random training
   * pairs, so that the layer's sharpness does not depend on the units of the features. Default 'auto'.
   */
  tau?: TauOption;
  /** Multiplier of the data scale when tau = 'auto'. Default 0.1. */
  tauScale?: number;
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
}

const DEFAULTS: Required<Omit<PrototypeOptions, 'nPrototypes' | 'maxPrototypes'>> & { nPrototypes: number | null; maxPrototypes: number | null } = {
  nPrototypes: null,
  adaptive: false,
  maxPrototypes: null,
  growthMinSamples: 2,
  regularization: 'l2',
  alpha: 1e-3,
  tau: 'auto',
  tauScale: 0.1,
  maxIter: 100,
  tol: 1e-4,
  classIter: 50,
  prototypeSteps: 1,
  initLloydIter: 10,
  seed: 0,
  ambiguityMargin: 0.2,
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
  tauScale: 'positive',
  maxIter: 'non-negative integer',
  tol: 'non-negative',
  classIter: 'non-negative integer',
  prototypeSteps: 'non-negative integer',
  initLloydIter: 'non-negative integer',
  seed: 'integer',
  ambiguityMargin: 'non-negative',
};

/** One prototype's share of a decision, as returned by `explain`. */
export interface PrototypeContribution {
  index: number;
  /** q_j(x): probability that x matches this prototype. */
  q: number;
  /** ‖x − p_j‖². */
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
  /** Work done by the last fit: objective evaluations of the class steps, prototype-step trials, seconds. */
  fitStats_ = { classEvaluations: 0, prototypeTrials: 0, seconds: 0 };

  constructor(options: PrototypeOptions = {}) {
    this.params = checkOptions('PrototypeClassifier', options as Partial<Params>, DEFAULTS, RULES);
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
    const K = labels.classes.length, N = X.rows;
    let J = p.nPrototypes ?? (p.adaptive ? K : Math.min(N, 2 * K));
    const maxJ = p.adaptive ? Math.min(N, p.maxPrototypes ?? 4 * K) : J;
    if (p.adaptive && maxJ < J) throw new RangeError(`maxPrototypes (${maxJ}) must be at least the starting number of prototypes (${J})`);
    const r = rng(p.seed);
    let tau: number;
    let tauRule: string;
    if (p.tau === 'auto') {
      ({ tau, rule: tauRule } = autoTau(X, p.tauScale, r));
    } else {
      tau = p.tau;
      tauRule = tau === 1 ? 'fixed: τ = 1 (the paper\'s form)' : `fixed: τ = ${tau}`;
    }
    const init = initPrototypes(X, labels.codes, labels.counts, J, r, p.initLloydIter);
    let P = init.P;
    let protoClass = init.protoClass;
    let W: Float32Array = new Float32Array(J * K);
    for (let j = 0; j < J; j++) W[j * K + protoClass[j]] = 1;
    const pb = makeProblem(X, labels.codes, K, tau, p.alpha, p.regularization);
    const history: IterationRecord[] = [];
    const record = (iter: number, step: IterationRecord['step'], v: { nll: number; correct: number }) => {
      const pen = penalty(W, p.alpha, p.regularization);
      const rec: IterationRecord = { iter, step, loss: v.nll + pen, nll: v.nll, penalty: pen, accuracy: v.correct / N, nPrototypes: J };
      history.push(rec);
      onProgress?.(rec, p.maxIter);
      return rec.loss;
    };
    let ws = makeWorkspace(N, J, K);
    computeQ(pb, P, ws);
    let last = record(0, 'init', classForward(pb, W, J, ws));
    let converged = false;
    let iter = 0;
    let classEvaluations = 0, prototypeTrials = 0;
    for (;;) {
      const trainer = new Trainer(pb, ws, P, W, p);
      converged = false;
      for (iter = 1; iter <= p.maxIter; iter++) {
        const start = last;
        last = record(iter, 'class', trainer.classStep());
        for (let s = 0; s < p.prototypeSteps; s++) last = record(iter, 'prototype', trainer.prototypeStep());
        if (start - last <= p.tol * Math.max(1, Math.abs(start))) { converged = true; break; }
      }
      classEvaluations += trainer.classEvaluations;
      prototypeTrials += trainer.prototypeTrials;
      ws = trainer.workspace;
      if (!p.adaptive || J >= maxJ) break;
      const grown = growPrototype(pb, P, W, protoClass, ws, p.growthMinSamples);
      if (!grown) break;
      ({ P, W, protoClass } = grown);
      J = P.rows;
      ws = makeWorkspace(N, J, K);
      computeQ(pb, P, ws);
      last = record(0, 'grow', classForward(pb, W, J, ws));
    }
    this.classes_ = labels.classes;
    this.nFeatures_ = X.cols;
    this.prototypes_ = P;
    this.W_ = { data: W, rows: J, cols: K };
    this.tau_ = tau;
    this.tauRule_ = tauRule;
    this.initClass_ = protoClass;
    this.history_ = history;
    this.nIter_ = Math.min(iter, p.maxIter);
    this.converged_ = converged;
    this.fitStats_ = { classEvaluations, prototypeTrials, seconds: (Date.now() - t0) / 1000 };
    return this;
  }

  /** q(x) for every sample: N×J matching probabilities. */
  prototypeActivations(Xin: MatrixInput): Matrix {
    const { P } = this.fitted();
    const X = toMatrix(Xin, { name: 'X', cols: this.nFeatures_ });
    const ws = makeWorkspace(X.rows, P.rows, 0);
    computeQ(this.problemFor(X), P, ws);
    return { data: ws.Q, rows: X.rows, cols: P.rows };
  }

  private problemFor(X: Matrix, xNorms?: Float64Array): Problem {
    return makeProblem(X, new Int32Array(X.rows), this.classes_.length, this.tau_, this.params.alpha, this.params.regularization, xNorms);
  }

  predictProba(Xin: MatrixInput): Matrix {
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
    for (let s = 0; s < X.rows; s += CH) {
      const n = Math.min(CH, X.rows - s);
      const Xc: Matrix = { data: X.data.subarray(s * D, (s + n) * D), rows: n, cols: D };
      const pb = this.problemFor(Xc, xNorms.subarray(s, s + n));
      computeQ(pb, P, ws);
      ws.C = out.subarray(s * L, (s + n) * L); // the class layer writes its rows of the result
      classProbabilities(pb, W.data, J, ws);
    }
    return { data: out, rows: X.rows, cols: L };
  }

  predict(X: MatrixInput): Label[] {
    const C = this.predictProba(X);
    return Array.from(argmaxRows(C.data, C.rows, C.cols), (c) => this.classes_[c]);
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
    const ws = makeWorkspace(1, J, L);
    const pb = this.problemFor(X);
    objective(pb, P, W.data, ws);
    const q = ws.Q, c = ws.C;
    const order = Array.from({ length: L }, (_, l) => l).sort((a, b) => c[b] - c[a]);
    const probabilities = order.map((l) => ({ label: this.classes_[l], probability: c[l] }));
    const margin = L > 1 ? c[order[0]] - c[order[1]] : 1;
    let hc = 0, hq = 0;
    for (let l = 0; l < L; l++) if (c[l] > 0) hc -= c[l] * Math.log(c[l]);
    for (let j = 0; j < J; j++) if (q[j] > 0) hq -= q[j] * Math.log(q[j]);
    // Distances for the listed prototypes (from the q's logits would lose precision: recompute).
    const protoOrder = Array.from({ length: J }, (_, j) => j).sort((a, b) => q[b] - q[a]).slice(0, Math.min(topK, J));
    const prototypes = protoOrder.map((j) => {
      let d2 = 0;
      for (let d = 0; d < X.cols; d++) { const t = X.data[d] - P.data[j * X.cols + d]; d2 += t * t; }
      return { index: j, q: q[j], sqDistance: d2, ...this.links(j) };
    });
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
    };
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
      ...modelHeader(this.kind, this.getParams(), this.classes_, this.nFeatures_),
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
    };
  }

  /** Restores a model written by `toJSON`. @throws TypeError/RangeError on a wrong format, version, kind or shape. */
  static fromJSON(json: ModelJSON): PrototypeClassifier {
    checkHeader(json, 'PrototypeClassifier');
    const J = jsonNumber(json, 'nPrototypes', 'positive integer'), D = json.nFeatures, L = json.classes.length;
    const m = new PrototypeClassifier(json.params as PrototypeOptions);
    m.classes_ = json.classes.slice();
    m.nFeatures_ = D;
    m.prototypes_ = { data: jsonFloats(json, 'prototypes', J * D), rows: J, cols: D };
    m.W_ = { data: jsonFloats(json, 'W', J * L), rows: J, cols: L };
    m.tau_ = jsonNumber(json, 'tau', 'positive');
    m.tauRule_ = String(json.tauRule ?? '');
    m.initClass_ = Int32Array.from((json.initClass as number[] | undefined) ?? new Array(J).fill(0));
    m.history_ = (json.history as IterationRecord[] | undefined) ?? [];
    m.nIter_ = Number(json.nIter ?? 0);
    m.converged_ = Boolean(json.converged);
    return m;
  }
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

  /** The workspace holding Q and C at the current (P, W). */
  get workspace(): Workspace { return this.ws; }

  constructor(private readonly pb: Problem, private ws: Workspace, private readonly P: Matrix,
    private readonly W: Float32Array, private readonly p: Params) {
    this.gradW = new Float32Array(W.length);
    this.gradP = new Float32Array(P.data.length);
    this.weightSums = new Float64Array(P.rows);
    this.trialP = { data: new Float32Array(P.data.length), rows: P.rows, cols: P.cols };
    this.trialWs = makeWorkspace(pb.X.rows, P.rows, pb.nClasses);
  }

  /** Smooth part of the class-step objective at w (Q fixed); gradient into g. */
  private smooth = (w: Float64Array, g: Float64Array, withL2: boolean): number => {
    const W = this.W, J = this.P.rows;
    for (let k = 0; k < w.length; k++) W[k] = w[k];
    const { nll } = classForward(this.pb, W, J, this.ws);
    classGradient(this.pb, J, this.ws, this.gradW);
    let f = nll;
    const a = this.pb.alpha;
    for (let k = 0; k < w.length; k++) g[k] = this.gradW[k];
    if (withL2) {
      for (let k = 0; k < w.length; k++) { f += a * w[k] * w[k]; g[k] += 2 * a * w[k]; }
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
    // Direction Δ_j = −(τ / S_j) g_j  (= m_j − p_j when S_j > 0). Slope = Σ g·Δ < 0.
    const dir = this.trialP.data; // reuse as Δ first, then as trial
    let slope = 0;
    for (let j = 0; j < J; j++) {
      const sj = S[j] > 1e-12 * sFallback ? S[j] : sFallback;
      const step = -tau / sj;
      for (let d = 0; d < D; d++) {
        const v = step * g[j * D + d];
        dir[j * D + d] = v;
        slope += v * g[j * D + d];
      }
    }
    const base = nll0.nll + penalty(W, pb.alpha, pb.regularization);
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
