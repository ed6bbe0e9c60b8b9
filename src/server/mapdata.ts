/**
 * What the web explorer draws, computed from a fitted model and its samples. Browser-safe: the
 * server builds it once, and the page's refit worker rebuilds the model part after a refit.
 *
 * - {@link fitProjection}: the 2-D PCA map (top principal axes of the features, by subspace
 *   iteration on X − μ, so 20,000 × 1,280 features need no D×D covariance).
 * - {@link describeModel}: per-prototype and per-class views (positions on the map, class links,
 *   nearest samples, spread, dead/ambiguous/scattered/singleton flags).
 * - {@link buildMap}: the JSON the page loads (`GET /api/map`).
 */
import { gemm } from '../linalg/gemm.ts';
import type { Matrix } from '../linalg/matrix.ts';
import { rowSqNorms, sqDistances } from '../linalg/ops.ts';
import { rng } from '../linalg/random.ts';
import type { PrototypeClassifier } from '../model/prototype.ts';
import type { Label } from '../model/types.ts';

/** A linear projection x ↦ (x − mean)·componentsᵀ. */
export interface Projection {
  kind: 'pca';
  /** Feature means (D). */
  mean: number[];
  /** k×D orthonormal principal axes, row-major, largest variance first. */
  components: number[];
  k: number;
  /** Variance along each axis. */
  variances: number[];
  /** Total variance (sum of the per-feature variances): variances[i] / totalVariance is the share explained. */
  totalVariance: number;
}

/** Orthonormalises the k columns of a D×k row-major matrix in place (modified Gram–Schmidt). */
function orthonormalizeColumns(V: Float32Array, D: number, k: number): void {
  for (let c = 0; c < k; c++) {
    for (let p = 0; p < c; p++) {
      let dot = 0;
      for (let d = 0; d < D; d++) dot += V[d * k + c] * V[d * k + p];
      for (let d = 0; d < D; d++) V[d * k + c] -= dot * V[d * k + p];
    }
    let n = 0;
    for (let d = 0; d < D; d++) n += V[d * k + c] * V[d * k + c];
    n = Math.sqrt(n);
    if (n < 1e-20) { for (let d = 0; d < D; d++) V[d * k + c] = d === c ? 1 : 0; continue; }
    for (let d = 0; d < D; d++) V[d * k + c] /= n;
  }
}

/**
 * The top `k` principal axes of X by subspace iteration (Halko, Martinsson & Tropp 2011,
 * Algorithm 4.4 without the randomised range step's refinements), with `k + 6` columns and
 * `iterations` passes. Signs are fixed so that each axis's largest-magnitude loading is positive.
 * @throws RangeError when X has fewer than 2 rows or k < 1.
 * @example
 * fitProjection({ data: Float32Array.of(0, 0, 2, 0, 4, 0), rows: 3, cols: 2 }, 1).components // [1, 0]
 */
export function fitProjection(X: Matrix, k = 2, iterations = 8, seed = 0): Projection {
  const N = X.rows, D = X.cols;
  if (N < 2) throw new RangeError(`projection: need at least 2 samples, got ${N}`);
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`projection: k must be a positive integer, got ${k}`);
  const kk = Math.min(k, D);
  const m = Math.min(D, kk + 6);
  const mean = new Float64Array(D);
  for (let i = 0; i < N; i++) for (let d = 0; d < D; d++) mean[d] += X.data[i * D + d];
  for (let d = 0; d < D; d++) mean[d] /= N;
  const Xc = new Float32Array(N * D);
  let total = 0;
  for (let i = 0; i < N; i++) {
    for (let d = 0; d < D; d++) { const v = X.data[i * D + d] - mean[d]; Xc[i * D + d] = v; total += v * v; }
  }
  total /= N;
  const r = rng(seed);
  const V = new Float32Array(D * m);
  for (let t = 0; t < V.length; t++) V[t] = r.normal();
  orthonormalizeColumns(V, D, m);
  const Y = new Float32Array(N * m);
  for (let it = 0; it < iterations; it++) {
    gemm(false, false, N, m, D, 1, Xc, D, V, m, 0, Y, m); // Y = Xc·V
    gemm(true, false, D, m, N, 1, Xc, D, Y, m, 0, V, m); // V = Xcᵀ·Y
    orthonormalizeColumns(V, D, m);
  }
  // Rayleigh–Ritz: small m×m eigenproblem of Vᵀ C V, by Jacobi rotations.
  gemm(false, false, N, m, D, 1, Xc, D, V, m, 0, Y, m);
  const B = new Float64Array(m * m);
  for (let a = 0; a < m; a++) {
    for (let b = a; b < m; b++) {
      let s = 0;
      for (let i = 0; i < N; i++) s += Y[i * m + a] * Y[i * m + b];
      B[a * m + b] = B[b * m + a] = s / N;
    }
  }
  const { values, vectors } = jacobiEigen(B, m);
  const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => values[b] - values[a]).slice(0, kk);
  const components = new Array<number>(kk * D).fill(0);
  order.forEach((e, c) => {
    let big = 0;
    for (let d = 0; d < D; d++) {
      let s = 0;
      for (let a = 0; a < m; a++) s += V[d * m + a] * vectors[a * m + e];
      components[c * D + d] = s;
      if (Math.abs(s) > Math.abs(big)) big = s;
    }
    if (big < 0) for (let d = 0; d < D; d++) components[c * D + d] = -components[c * D + d];
  });
  return { kind: 'pca', mean: Array.from(mean), components, k: kk, variances: order.map((e) => Math.max(0, values[e])), totalVariance: total };
}

/** Eigen-decomposition of a symmetric n×n matrix by cyclic Jacobi rotations (columns of `vectors`). */
function jacobiEigen(A: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(A);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq; a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk; a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq; v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i];
  return { values, vectors: v };
}

/** Coordinates of the rows of X under a projection (rows×k, row-major). */
export function project(p: Projection, X: Matrix): Float32Array {
  const D = X.cols, k = p.k;
  if (p.mean.length !== D) throw new RangeError(`projection: fitted on ${p.mean.length} features, got ${D}`);
  const Xc = new Float32Array(X.rows * D);
  for (let i = 0; i < X.rows; i++) for (let d = 0; d < D; d++) Xc[i * D + d] = X.data[i * D + d] - p.mean[d];
  const out = new Float32Array(X.rows * k);
  gemm(false, true, X.rows, k, D, 1, Xc, D, Float32Array.from(p.components), D, 0, out, k);
  return out;
}

/** One prototype as the explorer shows it. */
export interface PrototypeView {
  index: number;
  /** Position on the PCA map. */
  x: number;
  y: number;
  /** Index into `classes` of argmax_l W_jl. */
  winningClass: number;
  /** Row j of W (one weight per class). */
  weights: number[];
  /** Positive links, strongest first. */
  links: Array<{ label: Label; weight: number }>;
  /** Samples whose most active prototype (argmax_j q_j) is this one. */
  count: number;
  /** Of those, how many carry the winning class. */
  countWinning: number;
  /** Mean ‖x − p_j‖² over those samples (NaN when none). */
  meanSqDistance: number;
  /** Mean per-feature variance of those samples around p_j: meanSqDistance / D. */
  spread: number;
  /** Variances along the map's two axes of those samples around p_j (the Gaussian's shape on the map). */
  mapVariances: [number, number];
  /** Indices of the nearest samples, nearest first. */
  nearest: number[];
  /** No sample has it as its most active prototype. */
  dead: boolean;
  /** Its two strongest positive class links are within a factor 2 of each other. */
  ambiguous: boolean;
}

/** One class as the explorer shows it. */
export interface ClassView {
  label: Label;
  count: number;
  /** Prototypes whose winning class is this one. */
  prototypes: number[];
  /** Training accuracy on this class. */
  accuracy: number;
  /** The class's samples fall to ≥ 2 of its prototypes, each taking at least 10% of them. */
  scattered: boolean;
  /** A single sample. */
  singleton: boolean;
}

/** One observation about the model. */
export interface Finding {
  kind: 'dead-prototype' | 'ambiguous-prototype' | 'scattered-class' | 'singleton-class' | 'classless' | string;
  message: string;
  /** The rule that produced it, in words. */
  rule: string;
  label?: Label;
  prototypes?: number[];
}

/** The model part of the map: recomputed after a refit. */
export interface ModelView {
  J: number;
  tau: number;
  params: { nPrototypes: number; alpha: number; regularization: string };
  accuracy: number;
  prototypes: PrototypeView[];
  classViews: ClassView[];
  /** What stands out (dead or ambiguous prototypes, scattered classes, singletons), with the rule behind each. */
  findings: Finding[];
}

/** Options of {@link describeModel}. */
export interface DescribeOptions {
  /** Nearest samples listed per prototype (default 12). */
  nearest?: number;
}

/**
 * Per-prototype and per-class description of a fitted model on (X, y), with positions on `proj`.
 * @throws RangeError when X does not match the model's dimension or y's length.
 */
export function describeModel(model: PrototypeClassifier, X: Matrix, y: readonly Label[], proj: Projection, options: DescribeOptions = {}): ModelView {
  if (!model.prototypes_ || !model.W_) throw new RangeError('describeModel: the model is not fitted');
  if (y.length !== X.rows) throw new RangeError(`describeModel: ${y.length} labels for ${X.rows} samples`);
  const nNear = options.nearest ?? 12;
  const P = model.prototypes_, W = model.W_;
  const J = P.rows, L = W.cols, N = X.rows, D = X.cols;
  const classes = model.classes_;
  const classIndex = new Map<Label, number>(classes.map((c, l) => [c, l]));
  const yi = Int32Array.from(y, (l) => classIndex.get(l) ?? -1);
  const dist = sqDistances(X, P, rowSqNorms(X.data, N, D), rowSqNorms(P.data, J, D));
  const assign = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    let b = 0;
    for (let j = 1; j < J; j++) if (dist[i * J + j] < dist[i * J + b]) b = j;
    assign[i] = b;
  }
  const pred = model.predict(X);
  const win = model.prototypeClasses().map((c) => classIndex.get(c) ?? 0);
  const pos = project(proj, P);
  const xy = project(proj, X);
  const prototypes: PrototypeView[] = [];
  for (let j = 0; j < J; j++) {
    let count = 0, countWinning = 0, sd = 0, v0 = 0, v1 = 0;
    for (let i = 0; i < N; i++) {
      if (assign[i] !== j) continue;
      count++;
      if (yi[i] === win[j]) countWinning++;
      sd += dist[i * J + j];
      const a = xy[i * proj.k] - pos[j * proj.k], b = proj.k > 1 ? xy[i * proj.k + 1] - pos[j * proj.k + 1] : 0;
      v0 += a * a; v1 += b * b;
    }
    const order = Array.from({ length: N }, (_, i) => i).sort((a, b) => dist[a * J + j] - dist[b * J + j]).slice(0, nNear);
    const weights = Array.from(W.data.subarray(j * L, (j + 1) * L));
    const { links } = model.links(j);
    const ambiguous = links.length >= 2 && links[1].weight >= 0.5 * links[0].weight;
    prototypes.push({
      index: j, x: pos[j * proj.k], y: proj.k > 1 ? pos[j * proj.k + 1] : 0, winningClass: win[j], weights, links,
      count, countWinning, meanSqDistance: count ? sd / count : NaN, spread: count ? sd / count / D : NaN,
      mapVariances: count ? [v0 / count, v1 / count] : [0, 0], nearest: order, dead: count === 0, ambiguous,
    });
  }
  const classViews: ClassView[] = classes.map((label, l) => {
    const members: number[] = [];
    for (let i = 0; i < N; i++) if (yi[i] === l) members.push(i);
    const byProto = new Map<number, number>();
    let correct = 0;
    for (const i of members) {
      if (win[assign[i]] === l) byProto.set(assign[i], (byProto.get(assign[i]) ?? 0) + 1);
      if (pred[i] === label) correct++;
    }
    const big = [...byProto.values()].filter((c) => c >= Math.max(1, 0.1 * members.length)).length;
    return {
      label, count: members.length, prototypes: prototypes.filter((p) => p.winningClass === l).map((p) => p.index),
      accuracy: members.length ? correct / members.length : NaN, scattered: big >= 2, singleton: members.length === 1,
    };
  });
  let correct = 0;
  for (let i = 0; i < N; i++) if (pred[i] === y[i]) correct++;
  const findings: Finding[] = [];
  for (const p of prototypes.filter((q) => q.dead)) {
    findings.push({ kind: 'dead-prototype', prototypes: [p.index], message: `prototype ${p.index} is dead: no sample has it as its nearest prototype`, rule: 'dead: no sample\'s nearest prototype' });
  }
  for (const p of prototypes.filter((q) => q.ambiguous)) {
    findings.push({
      kind: 'ambiguous-prototype', prototypes: [p.index], rule: 'ambiguous: its second strongest class link is at least half its strongest',
      message: `prototype ${p.index} is ambiguous: it links ${p.links[0].label} (${p.links[0].weight.toFixed(2)}) and ${p.links[1].label} (${p.links[1].weight.toFixed(2)})`,
    });
  }
  for (const c of classViews.filter((v) => v.scattered)) {
    findings.push({ kind: 'scattered-class', label: c.label, prototypes: c.prototypes, message: `class ${c.label} is scattered over ${c.prototypes.length} prototypes`, rule: 'scattered: at least two of its prototypes each take 10% or more of its samples' });
  }
  for (const c of classViews.filter((v) => v.singleton)) {
    findings.push({ kind: 'singleton-class', label: c.label, message: `class ${c.label} has a single sample`, rule: 'singleton: one sample' });
  }
  for (const c of classViews.filter((v) => v.prototypes.length === 0)) {
    findings.push({ kind: 'classless', label: c.label, message: `class ${c.label} wins no prototype`, rule: 'no prototype has it as its strongest link' });
  }
  const params = model.getParams() as { alpha: number; regularization: string };
  return {
    J, tau: model.tau_, params: { nPrototypes: J, alpha: params.alpha, regularization: params.regularization },
    accuracy: correct / N, prototypes, classViews, findings,
  };
}

/** Everything the page needs to draw the map (`GET /api/map`). */
export interface ExplorerMap {
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
  /** Whether `POST /api/classify` can embed an image, and how. */
  classify: { available: boolean; how: string };
  projection: Projection;
  /** Sample coordinates on the map, N×2 row-major. */
  points: number[];
  model: ModelView;
}

/** Assembles the map JSON. */
export function buildMap(args: {
  title: string; source: string; X: Matrix; y: readonly Label[]; names: string[]; model: PrototypeClassifier;
  projection: Projection; hasImages: boolean; classify: { available: boolean; how: string };
}): ExplorerMap {
  const { X, y, model, projection } = args;
  const classes = model.classes_.slice();
  const idx = new Map<Label, number>(classes.map((c, l) => [c, l]));
  const xy = project(projection, X);
  const points = new Array<number>(X.rows * 2);
  for (let i = 0; i < X.rows; i++) {
    points[2 * i] = round(xy[i * projection.k]);
    points[2 * i + 1] = projection.k > 1 ? round(xy[i * projection.k + 1]) : 0;
  }
  return {
    title: args.title, source: args.source, n: X.rows, d: X.cols, classes, y: y.map((l) => idx.get(l) ?? -1),
    names: args.names, hasImages: args.hasImages, classify: args.classify, projection, points,
    model: describeModel(model, X, y, projection),
  };
}

function round(v: number): number {
  return Math.round(v * 1e4) / 1e4;
}
