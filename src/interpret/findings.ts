/**
 * The six finding rules of the analysis, one function each, in the order of
 * docs/interpretation.md ("Findings and their rules"), where they are derived. Each reads the
 * statistics {@link analyzeModel} computed ({@link AnalysisFacts}) and returns its findings in
 * class or prototype order; every finding carries its rule in words, with the thresholds in use.
 *
 * Pure and browser-safe.
 */
import { median } from '../linalg/ops.ts';
import type { Label } from '../model/types.ts';
import { FINDING_KINDS, type ClassStats, type Finding, type FindingKind, type ModelAnalysis } from './types.ts';

/** Analysis options with the defaults filled in. */
export type ResolvedAnalysisOptions = ModelAnalysis['options'];

/** The statistics the rules look at (computed once by analyzeModel). */
export interface AnalysisFacts {
  o: ResolvedAnalysisOptions;
  rules: Record<FindingKind, string>;
  classes: readonly Label[];
  /** True label of each sample. */
  y: readonly Label[];
  /** J×L weights, row-major. */
  W: Float32Array;
  /** J×L votes π_j = softmax(W_j·), row-major. */
  votes: Float64Array;
  /** Winning class (code) of each prototype. */
  winning: Int32Array;
  /** The samples of each prototype (those it is the best match of). */
  members: number[][];
  /** Samples per class (code). */
  counts: Int32Array;
  /** N×J squared distances ‖x_i − p_j‖², row-major. */
  D2: Float32Array;
  classStats: readonly ClassStats[];
}

/** The rule of each finding kind, in words, with the thresholds in use. */
export function findingRules(o: ResolvedAnalysisOptions): Record<FindingKind, string> {
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

/** Scattered classes: two or more modes among the serving prototypes (the modes and separations are the class's statistics). */
export function scatteredClasses(f: AnalysisFacts): Finding[] {
  const out: Finding[] = [];
  for (const cs of f.classStats) {
    const { modes, separations } = cs;
    if (modes.length < 2) continue;
    const serving = modes.flat().sort((a, b) => a - b);
    const modeOf = (j: number): number => modes.findIndex((m) => m.includes(j));
    const minBetween = Math.min(...separations.filter((s) => modeOf(s.a) !== modeOf(s.b)).map((s) => s.separation));
    out.push({
      kind: 'scattered-class', label: cs.label, prototypes: serving,
      message: `Class ${labelText(cs.label)} is scattered: its ${cs.count} samples form ${modes.length} separate modes ` +
        `(${modes.map((m) => m.map((j) => `p${j}`).join('+')).join(' | ')}), at least ${fmt(minBetween)} spreads apart.`,
      rule: f.rules['scattered-class'],
      evidence: {
        modes: modes.length, pairs: separations.map((s) => `p${s.a}–p${s.b}`),
        separations: separations.map((s) => Number(s.separation.toPrecision(4))), threshold: f.o.scatterSeparation,
      },
    });
  }
  return out;
}

/** Ambiguous prototypes: the two strongest weights of a row within linkRatio × G, the second a real link (weights only). */
export function ambiguousPrototypes(f: AnalysisFacts): Finding[] {
  const J = f.winning.length, L = f.classes.length;
  const sortedRows = Array.from({ length: J }, (_, j) => Array.from(f.W.subarray(j * L, (j + 1) * L), (w, l) => ({ w, l })).sort((p, q) => q.w - p.w || p.l - q.l));
  const G = median(sortedRows.map((r) => r[0].w - median(r.slice(1).map((e) => e.w))));
  const thr = f.o.linkRatio * G;
  const out: Finding[] = [];
  for (let j = 0; j < J; j++) {
    const r = sortedRows[j];
    const gap = r[0].w - r[1].w;
    const rest = L > 2 ? median(r.slice(2).map((e) => e.w)) : NaN;
    const lift = L > 2 ? r[1].w - rest : Infinity;
    if (!(G > 0 && gap < thr && lift >= thr)) continue;
    const tied = r.filter((e) => r[0].w - e.w < thr && (L === 2 || e.w - rest >= thr));
    out.push({
      kind: 'ambiguous-prototype', prototypes: [j],
      message: `Prototype p${j} is ambiguous between classes ${tied.map((e) => labelText(f.classes[e.l])).join(' and ')} (weights ${tied.map((e) => fmt(e.w)).join(', ')}; ` +
        `typical lead G = ${fmt(G)}); it is the best match of ${f.members[j].length} sample(s).`,
      rule: f.rules['ambiguous-prototype'],
      evidence: {
        classes: tied.map((e) => String(f.classes[e.l])), weights: tied.map((e) => e.w), vote: tied.map((e) => f.votes[j * L + e.l]),
        gap, lift: Number.isFinite(lift) ? lift : 'n/a (two classes)', typicalLead: G, threshold: thr,
      },
    });
  }
  return out;
}

/** Singleton classes: at most singletonMax samples. */
export function singletonClasses(f: AnalysisFacts): Finding[] {
  const out: Finding[] = [];
  f.counts.forEach((n, l) => {
    if (n > f.o.singletonMax) return;
    out.push({
      kind: 'singleton-class', label: f.classes[l],
      message: `Class ${labelText(f.classes[l])} has ${n} sample(s): its prototypes rest on ${n === 1 ? 'a single example' : 'almost nothing'}.`,
      rule: f.rules['singleton-class'], evidence: { count: n, threshold: f.o.singletonMax },
    });
  });
  return out;
}

/** Prototypes that capture a single sample. */
export function singleSamplePrototypes(f: AnalysisFacts): Finding[] {
  const out: Finding[] = [];
  f.members.forEach((m, j) => {
    if (m.length !== 1) return;
    const i = m[0], c = f.classes[f.winning[j]];
    out.push({
      kind: 'single-sample-prototype', prototypes: [j], label: c,
      message: `Prototype p${j} (class ${labelText(c)}) is the best match of a single sample, #${i} (${labelText(f.y[i])}).`,
      rule: f.rules['single-sample-prototype'], evidence: { count: 1, sample: i },
    });
  });
  return out;
}

/** Unbalanced classes: below median/imbalanceRatio or above median × imbalanceRatio samples (singletons excepted). */
export function unbalancedClasses(f: AnalysisFacts): Finding[] {
  const med = median(Array.from(f.counts));
  const ratio = f.o.imbalanceRatio;
  const out: Finding[] = [];
  f.counts.forEach((n, l) => {
    if (n <= f.o.singletonMax || (n >= med / ratio && n <= med * ratio)) return;
    out.push({
      kind: 'unbalanced-class', label: f.classes[l],
      message: `Class ${labelText(f.classes[l])} has ${n} samples, ${n < med / ratio ? 'under' : 'over'}-represented against the median class size ${fmt(med)}.`,
      rule: f.rules['unbalanced-class'], evidence: { count: n, median: med, ratio },
    });
  });
  return out;
}

/** Dead prototypes: the best match of no sample (with the distance of the nearest sample). */
export function deadPrototypes(f: AnalysisFacts): Finding[] {
  const J = f.winning.length, N = f.D2.length / Math.max(1, J);
  const out: Finding[] = [];
  f.members.forEach((m, j) => {
    if (m.length !== 0) return;
    let dmin = Infinity;
    for (let i = 0; i < N; i++) dmin = Math.min(dmin, f.D2[i * J + j]);
    const c = f.classes[f.winning[j]];
    out.push({
      kind: 'dead-prototype', prototypes: [j], label: c,
      message: `Prototype p${j} (class ${labelText(c)}) is the best match of no sample; its nearest sample is at distance ${fmt(Math.sqrt(dmin))}.`,
      rule: f.rules['dead-prototype'], evidence: { count: 0 },
    });
  });
  return out;
}

/** Each finding kind's rule. */
const RULES: Record<FindingKind, (f: AnalysisFacts) => Finding[]> = {
  'scattered-class': scatteredClasses,
  'ambiguous-prototype': ambiguousPrototypes,
  'singleton-class': singletonClasses,
  'single-sample-prototype': singleSamplePrototypes,
  'unbalanced-class': unbalancedClasses,
  'dead-prototype': deadPrototypes,
};

/** Every rule's findings, kind by kind in the order of {@link FINDING_KINDS}. */
export function findings(f: AnalysisFacts): Finding[] {
  return FINDING_KINDS.flatMap((k) => RULES[k](f));
}
