/**
 * What the web explorer draws, computed from a fitted model and its samples. Browser-safe: the
 * server builds it once, and the page's refit worker rebuilds the model part after a refit.
 *
 * The numbers come from the interpretation library ({@link analyzeModel}: PCA projection,
 * per-prototype statistics, per-class composition, findings and their rules); this module only
 * reshapes them for drawing (class indices instead of labels, flags per prototype and class,
 * the PCA basis so that a new image can be placed on the map, and each prototype's spread along
 * the map's axes for its ellipse).
 */
import type { Matrix } from '../linalg/matrix.ts';
import { analyzeModel } from '../interpret/analyze.ts';
import { pca, project as projectRows } from '../interpret/pca.ts';
import type { Finding, FindingKind, ModelAnalysis, PrototypeStats } from '../interpret/types.ts';
import type { PrototypeClassifier } from '../model/prototype.ts';
import type { Label } from '../model/types.ts';
import type { Preprocessing } from '../features/pixels.ts';
import type { FeatureTransformJSON } from '../model/preprocess.ts';

/** A linear projection x ↦ (x − mean)·componentsᵀ (the map's PCA axes). */
export interface Projection {
  kind: 'pca';
  /** Feature means (D). */
  mean: number[];
  /** k×D unit principal axes, row-major, largest variance first. */
  components: number[];
  k: number;
  /** Variance along each axis. */
  variances: number[];
  /** variances / total variance. */
  explainedRatio: number[];
}

/**
 * The leading `k` principal axes of X (the same axes, with the same seed, as the analysis's map).
 * @throws RangeError when X has no rows.
 */
export function fitProjection(X: Matrix, k = 2, seed = 0): Projection {
  const r = pca(X, k, { seed });
  return {
    kind: 'pca', mean: Array.from(r.mean), components: Array.from(r.components.data), k: r.components.rows,
    variances: r.variances.slice(), explainedRatio: r.explainedRatio.slice(),
  };
}

/** Coordinates of the rows of X on a projection's axes (rows×k, row-major). */
export function project(p: Projection, X: Matrix): Float32Array {
  if (p.mean.length !== X.cols) throw new RangeError(`projection: fitted on ${p.mean.length} features, got ${X.cols}`);
  const comps = { data: Float32Array.from(p.components), rows: p.k, cols: X.cols };
  return projectRows(X, { mean: Float64Array.from(p.mean), components: comps }).data;
}

/** One prototype as the explorer shows it: the analysis's description plus what the map needs. */
export type PrototypeView = Pick<PrototypeStats,
  'links' | 'classProbabilities' | 'count' | 'classCounts' | 'purity' | 'meanDistance' | 'rmsDistance' |
  'leadingVariances' | 'leadingVarianceRatio' | 'totalVariance'> & {
  index: number;
  /** Position on the PCA map. */
  x: number;
  y: number;
  /** Index into `classes` of argmax_l W_jl. */
  winningClass: number;
  /** Row j of W (one weight per class, in class order). */
  weights: number[];
  /** Variances along the map's two axes of its samples around it (for its ellipse on the map). */
  mapVariances: [number, number];
  /** Nearest training samples, nearest first, and their distances. */
  nearest: number[];
  nearestDistances: number[];
  dead: boolean;
  ambiguous: boolean;
  singleSample: boolean;
  /** Messages of the findings about it. */
  notes: string[];
};

/** One class as the explorer shows it. */
export interface ClassView {
  label: Label;
  count: number;
  accuracy: number;
  /** Prototypes whose winning class it is, strongest weight first. */
  prototypes: number[];
  /** Where its samples go: best-matching prototype → count. */
  assignedTo: Array<{ index: number; count: number }>;
  /** Its serving prototypes grouped into modes. */
  modes: number[][];
  scattered: boolean;
  singleton: boolean;
  unbalanced: boolean;
  notes: string[];
}

export type { Finding, FindingKind };

/** The model part of the map: recomputed after a refit. */
export interface ModelView {
  J: number;
  tau: number;
  tauRule: string;
  params: { nPrototypes: number; alpha: number; regularization: string };
  accuracy: number;
  prototypes: PrototypeView[];
  classViews: ClassView[];
  /** What stands out, each with the rule that produced it. */
  findings: Finding[];
  /** The rule of every finding kind, in words. */
  rules: Record<FindingKind, string>;
}

/**
 * Reshapes an analysis for drawing: class indices, per-prototype and per-class flags, and each
 * prototype's spread along the map's axes.
 */
export function viewFromAnalysis(a: ModelAnalysis): ModelView {
  const classIndex = new Map<Label, number>(a.classes.map((c, l) => [c, l]));
  const J = a.prototypes.length;
  const of = (kind: FindingKind) => a.findings.filter((f) => f.kind === kind);
  const protoFlag = (kind: FindingKind) => new Set(of(kind).flatMap((f) => f.prototypes ?? []));
  const classFlag = (kind: FindingKind) => new Set(of(kind).map((f) => f.label));
  const dead = protoFlag('dead-prototype'), ambiguous = protoFlag('ambiguous-prototype'), single = protoFlag('single-sample-prototype');
  const scattered = classFlag('scattered-class'), singleton = classFlag('singleton-class'), unbalanced = classFlag('unbalanced-class');
  // Spread of each prototype's samples along the map's axes, around the prototype.
  const v = Array.from({ length: J }, () => [0, 0, 0]);
  a.samples.assignment.forEach((j, i) => {
    const [sx, sy] = a.projection.samples[i], [px, py] = a.projection.prototypes[j];
    v[j][0] += (sx - px) ** 2; v[j][1] += (sy - py) ** 2; v[j][2]++;
  });
  const notesFor = (pred: (f: Finding) => boolean) => a.findings.filter(pred).map((f) => f.message);
  const prototypes: PrototypeView[] = a.prototypes.map((p, j) => ({
    index: p.index, x: p.xy[0], y: p.xy[1], winningClass: classIndex.get(p.winningClass) ?? 0, weights: a.W[j].slice(),
    links: p.links, classProbabilities: p.classProbabilities, count: p.count, classCounts: p.classCounts, purity: p.purity,
    meanDistance: p.meanDistance, rmsDistance: p.rmsDistance, leadingVariances: p.leadingVariances,
    leadingVarianceRatio: p.leadingVarianceRatio, totalVariance: p.totalVariance,
    mapVariances: v[j][2] ? [v[j][0] / v[j][2], v[j][1] / v[j][2]] : [0, 0],
    nearest: p.nearest.map((s) => s.index), nearestDistances: p.nearest.map((s) => s.distance),
    dead: dead.has(j), ambiguous: ambiguous.has(j), singleSample: single.has(j),
    notes: notesFor((f) => (f.prototypes ?? []).includes(j) && f.kind.endsWith('prototype')),
  }));
  const classViews: ClassView[] = a.classStats.map((c) => ({
    label: c.label, count: c.count, accuracy: c.accuracy, prototypes: c.prototypes.map((p) => p.index), assignedTo: c.assignedTo,
    modes: c.modes, scattered: scattered.has(c.label), singleton: singleton.has(c.label), unbalanced: unbalanced.has(c.label),
    notes: notesFor((f) => f.label === c.label),
  }));
  const params = a.model.params as { alpha?: number; regularization?: string };
  return {
    J, tau: a.model.tau, tauRule: a.model.tauRule,
    params: { nPrototypes: J, alpha: Number(params.alpha ?? 0), regularization: String(params.regularization ?? 'l2') },
    accuracy: a.samples.accuracy, prototypes, classViews, findings: a.findings, rules: a.rules,
  };
}

/** Analyses a fitted model on (X, y) and reshapes the result for the map ({@link viewFromAnalysis}). */
export function describeModel(model: PrototypeClassifier, X: Matrix, y: readonly Label[]): ModelView {
  return viewFromAnalysis(analyzeModel(model, X, y, { nearest: 12 }));
}

/** Everything the page needs to draw the map (`GET /api/map`). */
export interface ExplorerMap {
  /** Differs between servers (and data sets) on the same address, so that cached thumbnails are never another data set's. */
  version: string;
  title: string;
  /** Where the features come from, in words. */
  source: string;
  n: number;
  d: number;
  classes: Label[];
  /** Class index of each sample. */
  y: number[];
  /** A name per sample (file path or "digit 7 #12"). */
  names: string[];
  hasImages: boolean;
  /** Whether `POST /api/classify` can embed an image, and how; and whether the page can itself. */
  classify: ClassifyInfo;
  /**
   * Whether `GET /api/reconstruction/<j>` computes the prototypes' reconstructions, and how (or why
   * not); `known`: the prototypes whose reconstruction it has already (a report's).
   */
  reconstruct: { available: boolean; how: string; known: number[] };
  projection: Projection;
  /** The model's options (`getParams()`), so that a refit in the page changes only what the user changes. */
  fitParams: Record<string, unknown>;
  /** Sample coordinates on the map, N×2 row-major. */
  points: number[];
  model: ModelView;
}

/**
 * How the page can embed an uploaded image itself, with onnxruntime-web, when the features come
 * from an ONNX backbone: the model is at `./api/backbone.onnx`, cut at `layer`, pooled by `pool`,
 * fed as `preprocessing` says; the result has `dim` values, then goes through `transform` when the
 * model is fitted behind one (the map's samples are in its space).
 */
export interface InPageEmbedding {
  name: string;
  layer: string;
  pool: 'avg' | 'max' | 'none';
  preprocessing: Preprocessing;
  dim: number;
  /** The model's feature transform (a saved Pipeline's, or the one a model fitted on the spot is behind). */
  transform?: FeatureTransformJSON;
}

/** Whether the server can embed an image (`POST /api/classify`), how, and whether the page can. */
export interface ClassifyInfo {
  available: boolean;
  how: string;
  inPage?: InPageEmbedding;
}

/** Assembles the map JSON: the analysis of the model on (X, y), reshaped, with the PCA basis of the map. */
export function buildMap(args: {
  title: string; source: string; X: Matrix; y: readonly Label[]; names: string[]; model: PrototypeClassifier;
  hasImages: boolean; classify: ClassifyInfo; reconstruct?: ExplorerMap['reconstruct'];
}): ExplorerMap {
  const { X, y, model } = args;
  const analysis = analyzeModel(model, X, y, { nearest: 12 });
  const classes = model.classes_.slice();
  const idx = new Map<Label, number>(classes.map((c, l) => [c, l]));
  const points = new Array<number>(X.rows * 2);
  analysis.projection.samples.forEach(([px, py], i) => { points[2 * i] = round(px); points[2 * i + 1] = round(py); });
  return {
    version: `${Date.now().toString(36)}-${Math.floor(Math.random() * 1e9).toString(36)}`,
    title: args.title, source: args.source, n: X.rows, d: X.cols, classes, y: y.map((l) => idx.get(l) ?? -1),
    names: args.names, hasImages: args.hasImages, classify: args.classify,
    reconstruct: args.reconstruct ?? { available: false, how: 'no network is known for these features', known: [] }, projection: fitProjection(X, 2, analysis.options.seed), points,
    fitParams: JSON.parse(JSON.stringify(model.getParams())) as Record<string, unknown>,
    model: viewFromAnalysis(analysis),
  };
}

function round(v: number): number {
  return Math.round(v * 1e5) / 1e5;
}
