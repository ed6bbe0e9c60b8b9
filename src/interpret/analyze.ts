/**
 * How a fitted prototype model organises a feature space with respect to the classes: the
 * analysis behind `protolens explain`, the HTML report and the web explorer.
 *
 * Pure and browser-safe: a model and a labelled sample set in, a plain JSON {@link ModelAnalysis}
 * out. Every finding carries the rule that produced it; the rules and their thresholds are
 * derived in docs/interpretation.md.
 */
import { toMatrix, type Matrix, type MatrixInput } from '../linalg/matrix.ts';
import { rowSqNorms, sqDistances, median } from '../linalg/ops.ts';
import { codesFor } from '../model/labels.ts';
import type { PrototypeClassifier } from '../model/prototype.ts';
import type { Label } from '../model/types.ts';
import { pca, project } from './pca.ts';
import {
  ANALYSIS_DEFAULTS, ANALYSIS_FORMAT, ANALYSIS_FORMAT_VERSION, FINDING_KINDS,
  type AnalysisOptions, type ClassStats, type Finding, type FindingKind, type ModelAnalysis, type PrototypeStats,
} from './types.ts';

/** Options of {@link analyzeModel}: thresholds, plus the samples' source paths (data, not a threshold). */
export interface AnalyzeOptions extends AnalysisOptions {
  /** Source path (an image) of each sample, shown next to nearest samples. */
  paths?: readonly string[];
}

type Resolved = ModelAnalysis['options'];

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

/** The rule of each finding kind, in words, with the thresholds in use. */
export function findingRules(o: Resolved): Record<FindingKind, string> {
  return {
    'scattered-class':
      `A prototype serves a class when it wins that class (largest W weight) and at least ${o.minServingSamples} of the class's samples match it best. ` +
      `Two serving prototypes belong to different modes when their groups of class samples are at least ${o.scatterSeparation} spreads apart: ` +
      `the gap between the groups' mean positions on the line joining the group means, divided by the sum of the groups' standard deviations on that line ` +
      `(each sample placed with its own group's mean computed without it); ` +
      `modes are the groups of prototypes linked by smaller separations. A class with two or more modes is scattered.`,
    'ambiguous-prototype':
      `A prototype's lead is how far its strongest class weight (row of W) stands above the median of its other weights; ` +
      `G, the median lead over all prototypes, is how decisively this model's prototypes usually vote. ` +
      `A prototype is ambiguous when its two strongest weights differ by less than ${o.linkRatio} × G and, with three or more classes, ` +
      `the second stands at least ${o.linkRatio} × G above the median of the remaining weights (a tie between some classes, not a vote for none).`,
    'singleton-class': `A class with at most ${o.singletonMax} sample(s) in the data.`,
    'single-sample-prototype': 'A prototype that is the best match (largest q_j) of exactly one sample.',
    'unbalanced-class':
      `A class with fewer than median/${o.imbalanceRatio} or more than median×${o.imbalanceRatio} samples, the median taken over classes ` +
      `(singleton classes are reported on their own).`,
    'dead-prototype': 'A prototype that is the best match (largest q_j) of no sample.',
  };
}

function fmt(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(digits - 1) : Number(v.toPrecision(digits)).toString();
}

function labelText(l: Label): string {
  return typeof l === 'string' ? `"${l}"` : String(l);
}

/** softmax of a row, in float64. */
function softmax(row: ArrayLike<number>): number[] {
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > m) m = row[i];
  const e = Array.from(row, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
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
  if (!model || typeof model !== 'object' || !('prototypes_' in model) || !('W_' in model)) {
    const kind = (model as { kind?: string } | null)?.kind;
    throw new TypeError(`analyzeModel: expected a PrototypeClassifier${kind ? `, got a ${kind}` : ''}; only prototype models can be analysed`);
  }
  if (!model.prototypes_ || !model.W_) {
    throw new TypeError('analyzeModel: the model is not fitted yet. Call fit(X, y) before analysing it.');
  }
  const o = resolveOptions(model, options);
  const P = model.prototypes_, Wm = model.W_;
  const classes = model.classes_.slice();
  const J = P.rows, L = classes.length, D = P.cols;
  const X = toMatrix(Xin, { name: 'X', cols: D });
  const N = X.rows;
  if (!Array.isArray(y)) throw new TypeError('y: expected an array of labels');
  if (y.length !== N) throw new RangeError(`X has ${N} rows but y has ${y.length} labels; they must match`);
  const codes = codesFor(y, classes);
  const paths = options.paths;
  if (paths !== undefined && paths.length !== N) throw new RangeError(`paths: ${paths.length} paths for ${N} samples; they must match`);

  // Model outputs.
  const Q = model.prototypeActivations(X);
  const C = model.predictProba(X);
  const D2 = sqDistances(X, P, rowSqNorms(X.data, N, D), rowSqNorms(P.data, J, D));

  // Per-sample.
  const assignment = new Int32Array(N);
  const assignmentQ = new Float64Array(N);
  const predictedCode = new Int32Array(N);
  const probability: number[] = new Array(N);
  const margin: number[] = new Array(N);
  const misclassified: number[] = [];
  const ambiguous: number[] = [];
  for (let i = 0; i < N; i++) {
    let bj = 0;
    for (let j = 1; j < J; j++) if (Q.data[i * J + j] > Q.data[i * J + bj]) bj = j;
    assignment[i] = bj;
    assignmentQ[i] = Q.data[i * J + bj];
    let b1 = 0, b2 = -1;
    for (let l = 1; l < L; l++) {
      const v = C.data[i * L + l];
      if (v > C.data[i * L + b1]) { b2 = b1; b1 = l; } else if (b2 < 0 || v > C.data[i * L + b2]) b2 = l;
    }
    predictedCode[i] = b1;
    probability[i] = C.data[i * L + b1];
    margin[i] = C.data[i * L + b1] - (b2 >= 0 ? C.data[i * L + b2] : 0);
    if (b1 !== codes[i]) misclassified.push(i);
    if (margin[i] < o.ambiguityMargin) ambiguous.push(i);
  }

  // Members of each prototype.
  const members: number[][] = Array.from({ length: J }, () => []);
  for (let i = 0; i < N; i++) members[assignment[i]].push(i);

  // Projection (Figure 1).
  const proj = pca(X, 2, { seed: o.seed });
  const sxy = project(X, proj), pxy = project(P, proj);
  const xy = (m: Matrix, i: number): [number, number] => [m.data[i * 2], m.data[i * 2 + 1]];

  // Prototypes.
  const winning = new Int32Array(J);
  const votes: number[][] = [];
  for (let j = 0; j < J; j++) {
    const row = Wm.data.subarray(j * L, (j + 1) * L);
    let b = 0;
    for (let l = 1; l < L; l++) if (row[l] > row[b]) b = l;
    winning[j] = b;
    votes.push(softmax(row));
  }
  const nearestOf = nearestSamples(D2, N, J, o.nearest);
  const prototypes: PrototypeStats[] = [];
  for (let j = 0; j < J; j++) {
    const idx = members[j];
    const n = idx.length;
    const cc = new Map<number, number>();
    let sd = 0, sd2 = 0;
    for (const i of idx) {
      cc.set(codes[i], (cc.get(codes[i]) ?? 0) + 1);
      const d2 = D2[i * J + j];
      sd += Math.sqrt(d2); sd2 += d2;
    }
    const classCounts = [...cc.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).map(([c, k]) => ({ label: classes[c], count: k }));
    let lead: number[] = [], leadRatio: number[] = [], total: number | null = null;
    if (n >= 1 && o.leadingVariances > 0) {
      const sub = takeRowsOf(X, idx);
      const r = pca(sub, o.leadingVariances, { seed: o.seed });
      lead = r.variances; leadRatio = r.explainedRatio; total = r.totalVariance;
    } else if (n >= 1) {
      total = pca(takeRowsOf(X, idx), 0).totalVariance;
    }
    const { winningClass, links } = model.links(j);
    prototypes.push({
      index: j,
      winningClass,
      links,
      classProbabilities: votes[j].map((p, l) => ({ label: classes[l], probability: p })).sort((a, b) => b.probability - a.probability),
      initClass: model.initClass_.length === J ? classes[model.initClass_[j]] ?? null : null,
      count: n,
      classCounts,
      purity: n ? (cc.get(winning[j]) ?? 0) / n : null,
      meanDistance: n ? sd / n : null,
      rmsDistance: n ? Math.sqrt(sd2 / n) : null,
      leadingVariances: lead,
      leadingVarianceRatio: leadRatio,
      totalVariance: total,
      nearest: nearestOf[j].map((i) => ({
        index: i, label: y[i], distance: Math.sqrt(D2[i * J + j]), ...(paths ? { path: paths[i] } : {}),
      })),
      xy: xy(pxy, j),
    });
  }

  // Classes.
  const counts = new Int32Array(L), correct = new Int32Array(L);
  for (let i = 0; i < N; i++) { counts[codes[i]]++; if (predictedCode[i] === codes[i]) correct[codes[i]]++; }
  const findings: Finding[] = [];
  const rules = findingRules(o);
  const classStats: ClassStats[] = [];
  for (let l = 0; l < L; l++) {
    const own: Array<{ index: number; weight: number }> = [];
    for (let j = 0; j < J; j++) if (winning[j] === l) own.push({ index: j, weight: Wm.data[j * L + l] });
    own.sort((a, b) => b.weight - a.weight);
    const to = new Map<number, number[]>();
    for (let i = 0; i < N; i++) if (codes[i] === l) { const a = to.get(assignment[i]) ?? []; a.push(i); to.set(assignment[i], a); }
    const assignedTo = [...to.entries()].map(([index, v]) => ({ index, count: v.length })).sort((a, b) => b.count - a.count || a.index - b.index);
    // Scatter rule.
    const serving = assignedTo.filter((e) => winning[e.index] === l && e.count >= Math.max(2, o.minServingSamples)).map((e) => e.index).sort((a, b) => a - b);
    const sep = new Map<string, number>();
    for (let a = 0; a < serving.length; a++) {
      for (let b = a + 1; b < serving.length; b++) sep.set(`${a},${b}`, groupSeparation(X, to.get(serving[a])!, to.get(serving[b])!));
    }
    const modeIdx = groups(serving.length, (a, b) => (sep.get(`${a},${b}`) ?? 0) < o.scatterSeparation);
    const modes = modeIdx.map((g) => g.map((a) => serving[a]));
    const separations = [...sep.entries()].map(([k, v]) => { const [x, z] = k.split(',').map(Number); return { a: serving[x], b: serving[z], separation: v }; });
    classStats.push({ label: classes[l], count: counts[l], accuracy: counts[l] ? correct[l] / counts[l] : NaN, prototypes: own, assignedTo, modes, separations });
    if (modes.length >= 2) {
      const pairs: string[] = [], values: number[] = [];
      for (const [k, v] of sep) {
        const [a, b] = k.split(',').map(Number);
        pairs.push(`p${serving[a]}–p${serving[b]}`);
        values.push(Number(v.toPrecision(4)));
      }
      const minBetween = Math.min(...[...sep.entries()].filter(([k]) => {
        const [a, b] = k.split(',').map(Number);
        return modes.findIndex((m) => m.includes(serving[a])) !== modes.findIndex((m) => m.includes(serving[b]));
      }).map(([, v]) => v));
      findings.push({
        kind: 'scattered-class', label: classes[l], prototypes: serving,
        message: `Class ${labelText(classes[l])} is scattered: its ${counts[l]} samples form ${modes.length} separate modes ` +
          `(${modes.map((m) => m.map((j) => `p${j}`).join('+')).join(' | ')}), at least ${fmt(minBetween)} spreads apart.`,
        rule: rules['scattered-class'],
        evidence: { modes: modes.length, pairs, separations: values, threshold: o.scatterSeparation },
      });
    }
  }

  // Ambiguous prototypes (weights only; see the rule).
  const sortedRows = Array.from({ length: J }, (_, j) => Array.from(Wm.data.subarray(j * L, (j + 1) * L), (w, l) => ({ w, l })).sort((p, q) => q.w - p.w || p.l - q.l));
  const leads = sortedRows.map((r) => r[0].w - median(r.slice(1).map((e) => e.w)));
  const G = median(leads);
  const thr = o.linkRatio * G;
  for (let j = 0; j < J; j++) {
    const r = sortedRows[j];
    const gap = r[0].w - r[1].w;
    const lift = L > 2 ? r[1].w - median(r.slice(2).map((e) => e.w)) : Infinity;
    if (G > 0 && gap < thr && lift >= thr) {
      const tied = r.filter((e) => r[0].w - e.w < thr && (L === 2 || e.w - median(r.slice(2).map((x) => x.w)) >= thr));
      const names = tied.map((e) => labelText(classes[e.l]));
      findings.push({
        kind: 'ambiguous-prototype', prototypes: [j],
        message: `Prototype p${j} is ambiguous between classes ${names.join(' and ')} (weights ${tied.map((e) => fmt(e.w)).join(', ')}; ` +
          `typical lead G = ${fmt(G)}); it is the best match of ${members[j].length} sample(s).`,
        rule: rules['ambiguous-prototype'],
        evidence: {
          classes: tied.map((e) => String(classes[e.l])), weights: tied.map((e) => e.w), vote: tied.map((e) => votes[j][e.l]),
          gap, lift: Number.isFinite(lift) ? lift : 'n/a (two classes)', typicalLead: G, threshold: thr,
        },
      });
    }
  }
  // Singleton and unbalanced classes.
  const med = median(Array.from(counts));
  for (let l = 0; l < L; l++) {
    if (counts[l] <= o.singletonMax) {
      findings.push({
        kind: 'singleton-class', label: classes[l],
        message: `Class ${labelText(classes[l])} has ${counts[l]} sample(s): its prototypes rest on ${counts[l] === 1 ? 'a single example' : 'almost nothing'}.`,
        rule: rules['singleton-class'], evidence: { count: counts[l], threshold: o.singletonMax },
      });
    } else if (counts[l] < med / o.imbalanceRatio || counts[l] > med * o.imbalanceRatio) {
      const under = counts[l] < med / o.imbalanceRatio;
      findings.push({
        kind: 'unbalanced-class', label: classes[l],
        message: `Class ${labelText(classes[l])} has ${counts[l]} samples, ${under ? 'under' : 'over'}-represented against the median class size ${fmt(med)}.`,
        rule: rules['unbalanced-class'], evidence: { count: counts[l], median: med, ratio: o.imbalanceRatio },
      });
    }
  }
  // Prototypes with one or no sample.
  for (let j = 0; j < J; j++) {
    const n = members[j].length;
    if (n === 1) {
      const i = members[j][0];
      findings.push({
        kind: 'single-sample-prototype', prototypes: [j], label: classes[winning[j]],
        message: `Prototype p${j} (class ${labelText(classes[winning[j]])}) is the best match of a single sample, #${i} (${labelText(y[i])}).`,
        rule: rules['single-sample-prototype'], evidence: { count: 1, sample: i },
      });
    } else if (n === 0) {
      let dmin = Infinity;
      for (let i = 0; i < N; i++) dmin = Math.min(dmin, D2[i * J + j]);
      findings.push({
        kind: 'dead-prototype', prototypes: [j], label: classes[winning[j]],
        message: `Prototype p${j} (class ${labelText(classes[winning[j]])}) is the best match of no sample; its nearest sample is at distance ${fmt(Math.sqrt(dmin))}.`,
        rule: rules['dead-prototype'], evidence: { count: 0 },
      });
    }
  }
  findings.sort((a, b) => FINDING_KINDS.indexOf(a.kind) - FINDING_KINDS.indexOf(b.kind));

  const W: number[][] = [];
  for (let j = 0; j < J; j++) W.push(Array.from(Wm.data.subarray(j * L, (j + 1) * L)));
  const params = model.getParams();
  return {
    format: ANALYSIS_FORMAT,
    version: ANALYSIS_FORMAT_VERSION,
    model: {
      kind: model.kind, nPrototypes: J, nClasses: L, nFeatures: D, tau: model.tau_, tauRule: model.tauRule_,
      seed: typeof params.seed === 'number' ? params.seed : null, params,
    },
    options: o,
    classes,
    samples: {
      n: N,
      labels: y.slice(),
      predicted: Array.from(predictedCode, (c) => classes[c]),
      probability,
      margin,
      assignment: Array.from(assignment),
      assignmentQ: Array.from(assignmentQ),
      misclassified,
      ambiguous,
      accuracy: N ? 1 - misclassified.length / N : NaN,
      ...(paths ? { paths: paths.slice() } : {}),
    },
    projection: {
      samples: Array.from({ length: N }, (_, i) => xy(sxy, i)),
      prototypes: Array.from({ length: J }, (_, j) => xy(pxy, j)),
      explainedRatio: [proj.explainedRatio[0] ?? 0, proj.explainedRatio[1] ?? 0],
      variances: [proj.variances[0] ?? 0, proj.variances[1] ?? 0],
      totalVariance: proj.totalVariance,
    },
    W,
    prototypes,
    classStats,
    findings,
    rules,
  };
}

function takeRowsOf(X: Matrix, idx: readonly number[]): Matrix {
  const D = X.cols;
  const out = new Float32Array(idx.length * D);
  idx.forEach((i, r) => out.set(X.data.subarray(i * D, (i + 1) * D), r * D));
  return { data: out, rows: idx.length, cols: D };
}

/** Indices of the k smallest entries of each column of the N×J distance matrix, nearest first. */
function nearestSamples(D2: Float32Array, N: number, J: number, k: number): number[][] {
  const kk = Math.min(k, N);
  const out: number[][] = [];
  for (let j = 0; j < J; j++) {
    const best: number[] = [];
    for (let i = 0; i < N; i++) {
      const v = D2[i * J + j];
      if (best.length === kk && v >= D2[best[kk - 1] * J + j]) continue;
      let pos = best.length;
      while (pos > 0 && D2[best[pos - 1] * J + j] > v) pos--;
      best.splice(pos, 0, i);
      if (best.length > kk) best.pop();
    }
    out.push(best);
  }
  return out;
}
