/**
 * The shape of a model analysis: plain JSON (numbers, strings, arrays, objects; no typed arrays),
 * so it can be written to a file, sent to a browser, and rendered by `src/viz` or the web
 * explorer. Produced by {@link ../interpret/analyze.ts analyzeModel}; the rules behind every
 * finding are in docs/interpretation.md.
 */
import type { Label } from '../model/types.ts';

/** Version of the {@link ModelAnalysis} layout. */
export const ANALYSIS_FORMAT = 'protolens-analysis';
export const ANALYSIS_FORMAT_VERSION = 1;

/** Thresholds of the findings and sizes of the descriptions. Defaults in {@link ANALYSIS_DEFAULTS}. */
export interface AnalysisOptions {
  /** Nearest training samples listed per prototype. Default 8. */
  nearest?: number;
  /** Leading variances of each prototype's neighbourhood. Default 3. */
  leadingVariances?: number;
  /**
   * Scattered class: two prototypes of one class belong to different modes when their groups of
   * class samples are separated by at least scatterSeparation: (gap between the groups' mean
   * positions on the line joining their means) / (sum of their standard deviations on it), each
   * sample placed with its group's mean computed without it. Default 3.
   */
  scatterSeparation?: number;
  /** A prototype serves a class when at least this many of its samples belong to it. Default 3. */
  minServingSamples?: number;
  /**
   * Ambiguous prototype, in W's logit units. A prototype's lead is how far its strongest weight
   * stands above the median of its other weights; G is the median lead over prototypes (how
   * decisively this model's prototypes usually vote). Prototype j is ambiguous when its two
   * strongest weights differ by less than linkRatio × G and (with 3+ classes) the second stands
   * at least linkRatio × G above the median of the remaining weights. Default 0.5.
   */
  linkRatio?: number;
  /** A class with at most this many samples is a singleton class. Default 1. */
  singletonMax?: number;
  /** Unbalanced: a class with fewer than median/imbalanceRatio or more than median×imbalanceRatio samples. Default 3. */
  imbalanceRatio?: number;
  /** Per-sample ambiguity: margin between the two most probable classes below this. Default: the model's ambiguityMargin (0.2). */
  ambiguityMargin?: number;
  /** Seed of the PCA start vectors. Default 0. */
  seed?: number;
}

export const ANALYSIS_DEFAULTS: Required<Omit<AnalysisOptions, 'ambiguityMargin'>> & { ambiguityMargin: number | null } = {
  nearest: 8,
  leadingVariances: 3,
  scatterSeparation: 3,
  minServingSamples: 3,
  linkRatio: 0.5,
  singletonMax: 1,
  imbalanceRatio: 3,
  ambiguityMargin: null,
  seed: 0,
};

/** The kinds of finding, one rule each. */
export type FindingKind =
  | 'scattered-class'
  | 'ambiguous-prototype'
  | 'singleton-class'
  | 'single-sample-prototype'
  | 'unbalanced-class'
  | 'dead-prototype';

export const FINDING_KINDS: readonly FindingKind[] = [
  'scattered-class', 'ambiguous-prototype', 'singleton-class', 'single-sample-prototype', 'unbalanced-class', 'dead-prototype',
];

/** One observation about the model, with the rule that produced it. */
export interface Finding {
  kind: FindingKind;
  /** The class concerned, if any. */
  label?: Label;
  /** The prototypes concerned, if any. */
  prototypes?: number[];
  /** A sentence for the reader. */
  message: string;
  /** The rule, with its threshold, in words. */
  rule: string;
  /** The numbers the rule looked at. */
  evidence: Record<string, number | string | number[] | string[]>;
}

/** A training sample near a prototype. */
export interface NearSample {
  index: number;
  label: Label;
  /** ‖x − p_j‖. */
  distance: number;
  /** Source path of the sample (an image), when known. */
  path?: string;
}

/** One prototype, described as the centre of a Gaussian-like neighbourhood. */
export interface PrototypeStats {
  index: number;
  /** argmax_l W_jl. */
  winningClass: Label;
  /** Row j of W as {label, weight}, strongest first, positive weights only. */
  links: Array<{ label: Label; weight: number }>;
  /** softmax(W_j): the class probabilities of a sample that matches only this prototype. */
  classProbabilities: Array<{ label: Label; probability: number }>;
  /** Class the prototype was initialised in. */
  initClass: Label | null;
  /** Samples whose best-matching prototype (argmax_j q_j) is this one. */
  count: number;
  /** Those samples per true class, largest first. */
  classCounts: Array<{ label: Label; count: number }>;
  /** Share of its samples from its winning class (NaN written as null when count = 0). */
  purity: number | null;
  /** Mean ‖x − p_j‖ over its samples (null when count = 0). */
  meanDistance: number | null;
  /** √(mean ‖x − p_j‖²) over its samples (null when count = 0). */
  rmsDistance: number | null;
  /** Leading variances of its samples (PCA of the neighbourhood), largest first. */
  leadingVariances: number[];
  /** leadingVariances / total variance of its samples. */
  leadingVarianceRatio: number[];
  /** Total variance (trace of the covariance) of its samples. */
  totalVariance: number | null;
  /** Nearest training samples (over all samples, not only its own), nearest first. */
  nearest: NearSample[];
  /** Position on the two PCA axes of Figure 1. */
  xy: [number, number];
}

/** One class: its samples, the prototypes that compose it, and how they group. */
export interface ClassStats {
  label: Label;
  count: number;
  /** Fraction of its samples predicted correctly. */
  accuracy: number;
  /** Prototypes whose winning class it is, by W weight. */
  prototypes: Array<{ index: number; weight: number }>;
  /** Where its samples go: best-matching prototype → count, largest first. */
  assignedTo: Array<{ index: number; count: number }>;
  /** Serving prototypes grouped into modes by the scatter rule (one group = one mode). */
  modes: number[][];
  /** Separation (scatter rule) between the sample groups of each pair of serving prototypes. */
  separations: Array<{ a: number; b: number; separation: number }>;
}

/** Everything the report shows, as plain JSON. */
export interface ModelAnalysis {
  format: typeof ANALYSIS_FORMAT;
  version: number;
  model: {
    kind: string;
    nPrototypes: number;
    nClasses: number;
    nFeatures: number;
    tau: number;
    tauRule: string;
    /** The metric distances are measured in ('euclidean', the paper's, unless the model learned one). */
    metric?: 'euclidean' | 'diagonal' | 'lowrank';
    seed: number | null;
    params: Record<string, unknown>;
  };
  /** Options used, defaults filled in. */
  options: Required<Omit<AnalysisOptions, 'ambiguityMargin'>> & { ambiguityMargin: number };
  classes: Label[];
  samples: {
    n: number;
    /** True label of each sample. */
    labels: Label[];
    /** Predicted label of each sample. */
    predicted: Label[];
    /** Probability of the predicted class. */
    probability: number[];
    /** Margin between the two most probable classes. */
    margin: number[];
    /** Best-matching prototype (argmax_j q_j(x)). */
    assignment: number[];
    /** q of the best-matching prototype. */
    assignmentQ: number[];
    /** Indices of samples whose predicted label differs from the true one. */
    misclassified: number[];
    /** Indices of samples whose margin is below ambiguityMargin. */
    ambiguous: number[];
    accuracy: number;
    /** Source paths (images), when known. */
    paths?: string[];
  };
  /** Figure 1: the first two PCA axes of the samples, prototypes projected on them. */
  projection: {
    /** [x, y] of each sample. */
    samples: Array<[number, number]>;
    /** [x, y] of each prototype. */
    prototypes: Array<[number, number]>;
    /** Fraction of the total variance along each axis. */
    explainedRatio: [number, number];
    variances: [number, number];
    totalVariance: number;
  };
  /**
   * Figure 1 as the model's learned metric sees the data: the first two principal axes of the
   * samples mapped by Ω (prototypes mapped alike). Only for models with a learned metric.
   */
  metricProjection?: ModelAnalysis['projection'] & { metric: 'diagonal' | 'lowrank' };
  /** J×L weights, row-major as nested arrays. */
  W: number[][];
  prototypes: PrototypeStats[];
  classStats: ClassStats[];
  findings: Finding[];
  /** The rule of every finding kind, in words (also when nothing was found). */
  rules: Record<FindingKind, string>;
}
