/**
 * How a fitted prototype model organises a feature space with respect to the classes: the
 * analysis behind `protolens explain`, the HTML report and the web explorer.
 *
 * Pure and browser-safe: a model and a labelled sample set in, a plain JSON {@link ModelAnalysis}
 * out. One function per statistic, in the order of docs/interpretation.md ("What the analysis
 * computes"): the samples' assignments and decisions, each prototype's Gaussian description, its
 * nearest samples and its vote, each class's composition and modes, Figure 1's projection. The
 * finding rules that read them are in findings.ts, one function per rule.
 */
import { takeRows, toMatrix, type Matrix, type MatrixInput } from '../linalg/matrix.ts';
import { rowSqNorms, softmaxRows, sqDistances } from '../linalg/ops.ts';
import { codesFor } from '../model/labels.ts';
import { applyMetric } from '../model/objective.ts';
import type { PrototypeClassifier } from '../model/prototype.ts';
import type { Label } from '../model/types.ts';
import { pca, project } from './pca.ts';
import { findingRules, findings, type ResolvedAnalysisOptions } from './findings.ts';
import { nearestIndices } from './nearest.ts';
import {
  ANALYSIS_DEFAULTS, ANALYSIS_FORMAT, ANALYSIS_FORMAT_VERSION,
  type AnalysisOptions, type ClassStats, type ModelAnalysis, type PrototypeStats,
} from './types.ts';

/** Options of {@link analyzeModel}: thresholds, plus the samples' source paths (data, not a threshold). */
export interface AnalyzeOptions extends AnalysisOptions {
  /** Source path (an image) of each sample, shown next to nearest samples. */
  paths?: readonly string[];
}

type Resolved = ResolvedAnalysisOptions;

function resolveOptions(model: PrototypeClassifier, o: AnalyzeOptions): Resolved {
  const known = new Set([...Object.keys(ANALYSIS_DEFAULTS), 'paths']);
  for (const k of Object.keys(o)) {
    if (!known.has(k)) throw new TypeError(`analyzeModel: unknown option "${k}". Valid options: ${[...known].join(', ')}`);
  }
  const { paths: _paths, ...rest } = o;
  const modelMargin = Number(model.getParams().ambiguityMargin ?? 0.2);
  const r = { ...ANALYSIS_DEFAULTS, ...rest } as Resolved;
  if (r.ambiguityMargin === null || r.ambiguityMargin === undefined) r.ambiguityMargin = modelMargin;
  for (const k of ['nearest', 'leadingVariances', 'minServingSamples', 'singletonMax'] as const) {
    if (!Number.isInteger(r[k]) || r[k] < 0) throw new RangeError(`analyzeModel: ${k} must be a non-negative integer, got ${r[k]}`);
  }
  for (const k of ['scatterSeparation', 'linkRatio', 'imbalanceRatio', 'ambiguityMargin'] as const) {
    if (typeof r[k] !== 'number' || !Number.isFinite(r[k]) || r[k] < 0) throw new RangeError(`analyzeModel: ${k} must be a non-negative finite number, got ${r[k]}`);
  }
  if (r.imbalanceRatio < 1) throw new RangeError(`analyzeModel: imbalanceRatio must be at least 1, got ${r.imbalanceRatio}`);
  if (!Number.isInteger(r.seed)) throw new TypeError(`analyzeModel: seed must be an integer, got ${r.seed}`);
  return r;
}

/** Union–find over 0..n−1; returns groups in order of their smallest member. */
function groups(n: number, linked: (a: number, b: number) => boolean): number[][] {
  const parent = Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i])));
  for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) if (linked(a, b)) parent[find(b)] = find(a);
  const by = new Map<number, number[]>();
  for (let i = 0; i < n; i++) { const r = find(i); const g = by.get(r) ?? []; g.push(i); by.set(r, g); }
  return [...by.values()];
}

function meanOf(X: Matrix, idx: readonly number[]): Float64Array {
  const D = X.cols, m = new Float64Array(D);
  for (const i of idx) for (let d = 0; d < D; d++) m[d] += X.data[i * D + d];
  for (let d = 0; d < D; d++) m[d] /= idx.length;
  return m;
}

/**
 * Separation of two groups of samples along the line joining their means, in units of their
 * spread: (mean t_A − mean t_B) / (sd t_A + sd t_B), where t_i is the position of sample i on
 * that line. Each sample is placed with its own group's mean computed without it (leave-one-out):
 * in high dimension a sample pulls its group's mean towards itself, and without this any two
 * halves of a single cloud would look far apart. See docs/interpretation.md, "Scattered classes".
 * Needs at least two samples per group.
 */
export function groupSeparation(X: Matrix, A: readonly number[], B: readonly number[]): number {
  if (A.length < 2 || B.length < 2) return NaN;
  const D = X.cols;
  const mA = meanOf(X, A), mB = meanOf(X, B);
  const u = new Float64Array(D), mid = new Float64Array(D);
  const place = (own: readonly number[], mOwn: Float64Array, mOther: Float64Array, sign: number): number[] => {
    const n = own.length;
    return own.map((i) => {
      let nrm = 0;
      for (let d = 0; d < D; d++) {
        const loo = (n * mOwn[d] - X.data[i * D + d]) / (n - 1);
        u[d] = sign * (loo - mOther[d]);
        mid[d] = 0.5 * (loo + mOther[d]);
        nrm += u[d] * u[d];
      }
      nrm = Math.sqrt(nrm) || 1;
      let t = 0;
      for (let d = 0; d < D; d++) t += (X.data[i * D + d] - mid[d]) * u[d];
      return t / nrm;
    });
  };
  const tA = place(A, mA, mB, 1), tB = place(B, mB, mA, -1);
  const stats = (t: number[]) => {
    const m = t.reduce((x, y) => x + y, 0) / t.length;
    const v = t.reduce((x, y) => x + (y - m) * (y - m), 0) / (t.length - 1);
    return { m, sd: Math.sqrt(v) };
  };
  const a = stats(tA), b = stats(tB);
  const spread = a.sd + b.sd;
  const gap = a.m - b.m;
  return spread > 0 ? gap / spread : gap > 0 ? Infinity : 0;
}


/** The checked inputs and the model's outputs every statistic reads. */
interface Inputs {
  model: PrototypeClassifier;
  o: Resolved;
  classes: Label[];
  X: Matrix;
  /** J×D prototypes. */
  P: Matrix;
  /** J×L weights. */
  W: Float32Array;
  y: readonly Label[];
  /** Class code of each sample. */
  codes: Int32Array | number[];
  paths?: readonly string[];
  N: number;
  J: number;
  L: number;
  /** N×J squared distances in the model's metric, ‖Ω(x_i − p_j)‖² (‖x_i − p_j‖² when Euclidean). */
  D2: Float32Array;
  /** Samples and prototypes seen through the model's metric (X and P themselves when Euclidean). */
  Z: Matrix;
  U: Matrix;
}

/** Checks the model, the samples, the labels and the options (see {@link analyzeModel}'s @throws). */
function checkInputs(model: PrototypeClassifier, Xin: MatrixInput, y: readonly Label[], options: AnalyzeOptions): Inputs {
  if (!model || typeof model !== 'object' || !('prototypes_' in model) || !('W_' in model)) {
    const kind = (model as { kind?: string } | null)?.kind;
    throw new TypeError(`analyzeModel: expected a PrototypeClassifier${kind ? `, got a ${kind}` : ''}; only prototype models can be analysed`);
  }
  if (!model.prototypes_ || !model.W_) {
    throw new TypeError('analyzeModel: the model is not fitted yet. Call fit(X, y) before analysing it.');
  }
  const o = resolveOptions(model, options);
  const P = model.prototypes_, classes = model.classes_.slice();
  const J = P.rows, L = classes.length, D = P.cols;
  const X = toMatrix(Xin, { name: 'X', cols: D });
  const N = X.rows;
  if (!Array.isArray(y)) throw new TypeError('y: expected an array of labels');
  if (y.length !== N) throw new RangeError(`X has ${N} rows but y has ${y.length} labels; they must match`);
  const codes = codesFor(y, classes);
  const paths = options.paths;
  if (paths !== undefined && paths.length !== N) throw new RangeError(`paths: ${paths.length} paths for ${N} samples; they must match`);
  const Z = applyMetric(model.metric_, X), U = applyMetric(model.metric_, P);
  const D2 = sqDistances(Z, U, rowSqNorms(Z.data, N, Z.cols), rowSqNorms(U.data, J, U.cols));
  return { model, o, classes, X, P, W: model.W_.data, y, codes, paths, N, J, L, D2, Z, U };
}

/** Each sample's best-matching prototype, decision, probability and margin (docs: "Assignment"). */
interface SampleOutcomes {
  assignment: Int32Array;
  assignmentQ: Float64Array;
  predictedCode: Int32Array;
  probability: number[];
  margin: number[];
  misclassified: number[];
  ambiguous: number[];
}

/** a(i) = argmax_j q_ij, the predicted class argmax_l c_il, its probability and the margin c₍₁₎ − c₍₂₎. */
function sampleOutcomes(inp: Inputs): SampleOutcomes {
  const { model, X, N, J, L, codes, o } = inp;
  const Q = model.prototypeActivations(X);
  const C = model.predictProba(X);
  const r: SampleOutcomes = {
    assignment: new Int32Array(N), assignmentQ: new Float64Array(N), predictedCode: new Int32Array(N),
    probability: new Array(N), margin: new Array(N), misclassified: [], ambiguous: [],
  };
  for (let i = 0; i < N; i++) {
    let bj = 0;
    for (let j = 1; j < J; j++) if (Q.data[i * J + j] > Q.data[i * J + bj]) bj = j;
    r.assignment[i] = bj;
    r.assignmentQ[i] = Q.data[i * J + bj];
    let b1 = 0, b2 = -1;
    for (let l = 1; l < L; l++) {
      const v = C.data[i * L + l];
      if (v > C.data[i * L + b1]) { b2 = b1; b1 = l; } else if (b2 < 0 || v > C.data[i * L + b2]) b2 = l;
    }
    r.predictedCode[i] = b1;
    r.probability[i] = C.data[i * L + b1];
    r.margin[i] = C.data[i * L + b1] - (b2 >= 0 ? C.data[i * L + b2] : 0);
    if (b1 !== codes[i]) r.misclassified.push(i);
    if (r.margin[i] < o.ambiguityMargin) r.ambiguous.push(i);
  }
  return r;
}

/** The samples of each prototype: {i : a(i) = j}. */
function prototypeMembers(assignment: Int32Array, J: number): number[][] {
  const members: number[][] = Array.from({ length: J }, () => []);
  for (let i = 0; i < assignment.length; i++) members[assignment[i]].push(i);
  return members;
}

/**
 * The Gaussian second-order description of prototype j from its samples `idx`: mean and RMS of
 * ‖x_i − p_j‖, total variance and leading variances of the samples (docs: "Gaussian
 * second-order description").
 */
function gaussianDescription(inp: Inputs, j: number, idx: readonly number[]):
  Pick<PrototypeStats, 'meanDistance' | 'rmsDistance' | 'leadingVariances' | 'leadingVarianceRatio' | 'totalVariance'> {
  const n = idx.length;
  if (n === 0) return { meanDistance: null, rmsDistance: null, leadingVariances: [], leadingVarianceRatio: [], totalVariance: null };
  let sd = 0, sd2 = 0;
  for (const i of idx) {
    const d2 = inp.D2[i * inp.J + j];
    sd += Math.sqrt(d2); sd2 += d2;
  }
  const sub = takeRows(inp.X, idx);
  const k = inp.o.leadingVariances;
  const r = k > 0 ? pca(sub, k, { seed: inp.o.seed }) : pca(sub, 0);
  return {
    meanDistance: sd / n, rmsDistance: Math.sqrt(sd2 / n),
    leadingVariances: k > 0 ? r.variances : [], leadingVarianceRatio: k > 0 ? r.explainedRatio : [], totalVariance: r.totalVariance,
  };
}

/**
 * Each prototype's k nearest samples over all samples, nearest first (docs: "Nearest training
 * samples"). They are found with the matrix-product distances of `D2`; the distance reported is
 * computed again from the difference, in float64: the product form ‖z‖² + ‖u‖² − 2z·u loses
 * the digits of a distance much smaller than the vectors (a prototype sitting on a sample), and
 * a square root then magnifies that loss.
 */
function nearestSamples(inp: Inputs, j: number): PrototypeStats['nearest'] {
  const { D2, J, N, y, paths, Z, U } = inp;
  const D = Z.cols;
  const exact = (i: number) => {
    let s = 0;
    for (let c = 0; c < D; c++) { const t = Z.data[i * D + c] - U.data[j * D + c]; s += t * t; }
    return Math.sqrt(s);
  };
  const order = nearestIndices(N, inp.o.nearest, (i) => D2[i * J + j]).map((i) => ({ i, d: exact(i) })).sort((a, b) => a.d - b.d);
  return order.map(({ i, d }) => ({ index: i, label: y[i], distance: d, ...(paths ? { path: paths[i] } : {}) }));
}

/**
 * Each prototype's vote π_j = softmax(W_j·) (J×L, row-major) and winning class argmax_l W_jl
 * (docs: "The prototype's vote"). The vote is computed in float64: it is reported as
 * probabilities and compared between classes whose weights nearly tie (the ambiguous
 * prototypes), where float32 rounding could reorder them.
 */
function prototypeVotes(inp: Inputs): { votes: Float64Array; winning: Int32Array } {
  const { W, J, L } = inp;
  const votes = Float64Array.from(W);
  softmaxRows(votes, J, L);
  const winning = new Int32Array(J);
  for (let j = 0; j < J; j++) {
    let b = 0;
    for (let l = 1; l < L; l++) if (W[j * L + l] > W[j * L + b]) b = l;
    winning[j] = b;
  }
  return { votes, winning };
}

/** The true classes of a prototype's samples, largest first, and the share of its winning class. */
function memberClasses(inp: Inputs, idx: readonly number[], winning: number): Pick<PrototypeStats, 'classCounts' | 'purity'> {
  const cc = new Map<number, number>();
  for (const i of idx) cc.set(inp.codes[i], (cc.get(inp.codes[i]) ?? 0) + 1);
  return {
    classCounts: [...cc.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).map(([c, k]) => ({ label: inp.classes[c], count: k })),
    purity: idx.length ? (cc.get(winning) ?? 0) / idx.length : null,
  };
}

/** Everything the report says about prototype j. */
function describePrototype(inp: Inputs, j: number, members: readonly number[], votes: Float64Array, winning: Int32Array, xy: [number, number]): PrototypeStats {
  const { model, classes, J, L } = inp;
  const { winningClass, links } = model.links(j);
  const { classCounts, purity } = memberClasses(inp, members, winning[j]);
  return {
    index: j,
    winningClass,
    links,
    classProbabilities: Array.from(votes.subarray(j * L, (j + 1) * L), (p, l) => ({ label: classes[l], probability: p })).sort((a, b) => b.probability - a.probability),
    initClass: model.initClass_.length === J ? classes[model.initClass_[j]] ?? null : null,
    count: members.length,
    classCounts,
    purity,
    ...gaussianDescription(inp, j, members),
    nearest: nearestSamples(inp, j),
    xy,
  };
}

/**
 * The modes of a class (docs: "Scattered classes"): its serving prototypes (they win the class and
 * are the best match of at least max(2, minServingSamples) of its samples), the separation of the
 * sample groups of every pair of them, and the groups of prototypes linked by separations below
 * the threshold.
 */
function classModes(inp: Inputs, l: number, assignedTo: ClassStats['assignedTo'], groupOf: ReadonlyMap<number, number[]>, winning: Int32Array):
  Pick<ClassStats, 'modes' | 'separations'> {
  const serving = assignedTo.filter((e) => winning[e.index] === l && e.count >= Math.max(2, inp.o.minServingSamples)).map((e) => e.index).sort((a, b) => a - b);
  const S = serving.length;
  const sep = new Float64Array(S * S);
  const separations: ClassStats['separations'] = [];
  for (let a = 0; a < S; a++) {
    for (let b = a + 1; b < S; b++) {
      sep[a * S + b] = groupSeparation(inp.X, groupOf.get(serving[a])!, groupOf.get(serving[b])!);
      separations.push({ a: serving[a], b: serving[b], separation: sep[a * S + b] });
    }
  }
  const modes = groups(S, (a, b) => sep[a * S + b] < inp.o.scatterSeparation).map((g) => g.map((a) => serving[a]));
  return { modes, separations };
}

/** The composition of class l (docs: "Composition of a class"): the prototypes it wins, where its samples go, its accuracy and its modes. */
function classComposition(inp: Inputs, l: number, s: SampleOutcomes, winning: Int32Array): ClassStats {
  const { N, J, L, W, codes } = inp;
  const own: ClassStats['prototypes'] = [];
  for (let j = 0; j < J; j++) if (winning[j] === l) own.push({ index: j, weight: W[j * L + l] });
  own.sort((a, b) => b.weight - a.weight);
  const groupOf = new Map<number, number[]>();
  let count = 0, correct = 0;
  for (let i = 0; i < N; i++) {
    if (codes[i] !== l) continue;
    count++;
    if (s.predictedCode[i] === l) correct++;
    const g = groupOf.get(s.assignment[i]) ?? [];
    g.push(i);
    groupOf.set(s.assignment[i], g);
  }
  const assignedTo = [...groupOf.entries()].map(([index, v]) => ({ index, count: v.length })).sort((a, b) => b.count - a.count || a.index - b.index);
  return { label: inp.classes[l], count, accuracy: count ? correct / count : NaN, prototypes: own, assignedTo, ...classModes(inp, l, assignedTo, groupOf, winning) };
}

/**
 * Figure 1: samples and prototypes on the samples' first two principal axes (docs: "Figure 1"),
 * in feature space, or (`X` = Z, `P` = U) as the model's learned metric sees them.
 */
function figure1Projection(inp: Inputs, X: Matrix = inp.X, P: Matrix = inp.P): ModelAnalysis['projection'] {
  const proj = pca(X, 2, { seed: inp.o.seed });
  const sxy = project(X, proj), pxy = project(P, proj);
  const xy = (m: Matrix, i: number): [number, number] => [m.data[i * 2], m.data[i * 2 + 1]];
  return {
    samples: Array.from({ length: inp.N }, (_, i) => xy(sxy, i)),
    prototypes: Array.from({ length: inp.J }, (_, j) => xy(pxy, j)),
    explainedRatio: [proj.explainedRatio[0] ?? 0, proj.explainedRatio[1] ?? 0],
    variances: [proj.variances[0] ?? 0, proj.variances[1] ?? 0],
    totalVariance: proj.totalVariance,
  };
}

/**
 * Analyses a fitted {@link PrototypeClassifier} on labelled samples (usually its training set).
 *
 * @param model - a fitted PrototypeClassifier.
 * @param Xin - N×D samples, D the model's dimension.
 * @param y - the N true labels, all known to the model.
 * @param options - thresholds (see {@link AnalysisOptions}, defaults in docs/interpretation.md) and `paths`.
 * @throws TypeError when the model is not a fitted PrototypeClassifier or an option is unknown.
 * @throws RangeError when X's dimension differs from the model's, y's length differs from X's rows,
 *   y holds a label the model does not know (named, with its position), or a threshold is out of range.
 * @example
 * const d = twistedClasses({ seed: 1 });
 * const m = new PrototypeClassifier({ seed: 1 }).fit(d.X, d.y);
 * const a = analyzeModel(m, d.X, d.y);
 * a.findings.filter((f) => f.kind === 'singleton-class')[0].label // 'singleton'
 */
export function analyzeModel(model: PrototypeClassifier, Xin: MatrixInput, y: readonly Label[], options: AnalyzeOptions = {}): ModelAnalysis {
  const inp = checkInputs(model, Xin, y, options);
  const { o, classes, N, J, L, W, paths } = inp;
  const s = sampleOutcomes(inp);
  const members = prototypeMembers(s.assignment, J);
  const projection = figure1Projection(inp);
  const { votes, winning } = prototypeVotes(inp);
  const prototypes = Array.from({ length: J }, (_, j) => describePrototype(inp, j, members[j], votes, winning, [...projection.prototypes[j]]));
  const classStats = Array.from({ length: L }, (_, l) => classComposition(inp, l, s, winning));
  const rules = findingRules(o);
  const counts = Int32Array.from(classStats, (c) => c.count);
  const params = model.getParams();
  return {
    format: ANALYSIS_FORMAT,
    version: ANALYSIS_FORMAT_VERSION,
    model: {
      kind: model.kind, nPrototypes: J, nClasses: L, nFeatures: inp.P.cols, tau: model.tau_, tauRule: model.tauRule_, metric: model.metric_.kind,
      seed: typeof params.seed === 'number' ? params.seed : null, params,
    },
    options: o,
    classes,
    samples: {
      n: N,
      labels: y.slice(),
      predicted: Array.from(s.predictedCode, (c) => classes[c]),
      probability: s.probability,
      margin: s.margin,
      assignment: Array.from(s.assignment),
      assignmentQ: Array.from(s.assignmentQ),
      misclassified: s.misclassified,
      ambiguous: s.ambiguous,
      accuracy: N ? 1 - s.misclassified.length / N : NaN,
      ...(paths ? { paths: paths.slice() } : {}),
    },
    projection,
    ...(model.metric_.kind !== 'euclidean' ? { metricProjection: { ...figure1Projection(inp, inp.Z, inp.U), metric: model.metric_.kind } } : {}),
    W: Array.from({ length: J }, (_, j) => Array.from(W.subarray(j * L, (j + 1) * L))),
    prototypes,
    classStats,
    findings: findings({ o, rules, classes, y, W, votes, winning, members, counts, D2: inp.D2, classStats }),
    rules,
  };
}
