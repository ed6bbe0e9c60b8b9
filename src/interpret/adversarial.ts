/**
 * An adversarial reading of a prototype model's decisions (docs/interpretation.md, "Adversarial
 * reading"): for a sample image x₀, the smallest perturbation δ (in L2 or L∞, pixel values in
 * [0, 1] at the image's own resolution, x₀ + δ kept in [0, 1]) that changes its best prototype,
 * and the smallest that changes its class. The paper connects ambiguous prototypes with
 * adversarial susceptibility; these budgets let the data say whether samples with a small
 * decision margin, or an ambiguous decision, are crossed by smaller perturbations.
 *
 * The search, per sample, norm and target, on the margin m(x) of head.ts (the prototype margin
 * (d_k − d_j₀)/2τ or the class margin s_l₀ − s_l; m > 0 while the decision holds):
 *
 * 1. a bracket: linearised steps from x₀ towards the boundary (DeepFool, Moosavi-Dezfooli et al.
 *    2016): δ ← δ − (m + ξ)·g/‖g‖₂² in L2, δ ← δ − (m + ξ)·sign(g)/‖g‖₁ in L∞ (g = ∇ₓm,
 *    ξ = 2 % of m past the boundary), until m < 0; its norm is a budget that crosses. If
 *    that fails, PGD at doubling budgets up to `maxBudget`;
 * 2. a binary search on the budget ε between `lower` (0 at first) and that budget: at ε = the
 *    middle, projected gradient descent on m (Madry et al. 2018; `steps` steps of 2.5ε/steps,
 *    signed in L∞, normalised in L2, each followed by the projection onto the ε-ball and the
 *    [0, 1] box), from δ = 0 and, where that fails, from the best perturbation so far brought
 *    inside the ball, stopping at the first iterate that crosses. A crossing lowers the budget to its perturbation's norm; a
 *    failure raises `lower` to ε. It stops when budget − lower ≤ tolerance × budget.
 *
 * A perturbation crosses when it takes the margin below −0.1 % of the original's (an iterate right
 * on the boundary could flip back with the rounding of another batch size).
 *
 * So a reading's budget is the norm of a perturbation that does cross (it is returned), and PGD
 * found none at `lower`, within the tolerance below it. A smaller one may exist that PGD did not
 * find: the budget is an upper bound on the true minimum, tight for a model linear in the pixels.
 */
import type { Backbone } from '../features/backbone.ts';
import { batchFeatures, checkImageBatch, featureGradient, gradientForward, type ImageBatch } from '../features/pixel-gradient.ts';
import { rng } from '../linalg/random.ts';
import type { Label } from '../model/types.ts';
import { PrototypeHead, type HeadPoint } from './head.ts';
import { measureImages, toSmallImage, unwrapModel, type InterpretedModel, type SmallImage } from './reconstruct.ts';

export type AttackNorm = 'l2' | 'linf';
export type AttackTarget = 'prototype' | 'class';
export const ATTACK_NORMS: readonly AttackNorm[] = ['l2', 'linf'];
export const ATTACK_TARGETS: readonly AttackTarget[] = ['prototype', 'class'];

/** Options of {@link adversarialReading}. */
export interface AdversarialOptions {
  norms?: readonly AttackNorm[];
  targets?: readonly AttackTarget[];
  /** PGD steps per budget tried. Default 10. */
  steps?: number;
  /** The search stops when budget − lower ≤ tolerance × budget. Default 0.05. */
  tolerance?: number;
  /** Linearised steps of the bracket. Default 8. */
  linearSteps?: number;
  /** Largest budget tried: default √(pixels) in L2 (a root-mean-square change of 1) and 1 in L∞. */
  maxBudget?: Partial<Record<AttackNorm, number>>;
  /** Images per forward pass. Default 64 for network inputs up to 64×64, else 4. */
  batch?: number;
  /** Called after every gradient evaluation batch. */
  onProgress?: (p: { norm: AttackNorm; target: AttackTarget; done: number; total: number }) => void;
}

/** The smallest crossing found for one norm and target. */
export interface Crossing {
  norm: AttackNorm;
  target: AttackTarget;
  found: boolean;
  /** Norm of the perturbation returned (it crosses); `maxBudget` when none was found. */
  budget: number;
  /** PGD found no crossing at this budget (0 when the first budget tried crossed). */
  lower: number;
  /** Where the perturbed image goes: its best prototype and class (the original's when none was found). */
  toPrototype: number;
  toClass: Label;
  /** The perturbation δ (x₀ + δ crosses; ‖δ‖ = budget), at the image's resolution, or null when none was found. */
  perturbation: Float32Array | null;
  /** The perturbed image (8-bit), and whether its 8-bit version still crosses through the extraction path. */
  perturbed: SmallImage | null;
  crossesAt8Bit: boolean | null;
  /** Gradient evaluations spent. */
  evaluations: number;
}

/** A sample's decision and the crossings that change it. */
export interface AdversarialReading {
  /** Index of the image in the batch given. */
  sample: number;
  prototype: number;
  label: Label;
  /** c₍₁₎ − c₍₂₎ and the model's ambiguity flag, for the original image. */
  margin: number;
  ambiguous: boolean;
  crossings: Crossing[];
}

type Resolved = Required<Omit<AdversarialOptions, 'onProgress' | 'maxBudget'>> & { maxBudget: Record<AttackNorm, number> };

function resolve(backbone: Backbone, images: ImageBatch, o: AdversarialOptions): Resolved {
  const pixels = images.height * images.width * images.channels;
  const p = backbone.preprocessing;
  const r: Resolved = {
    norms: o.norms ?? ATTACK_NORMS, targets: o.targets ?? ATTACK_TARGETS, steps: o.steps ?? 10, tolerance: o.tolerance ?? 0.05,
    linearSteps: o.linearSteps ?? 8, batch: o.batch ?? (p.height * p.width <= 64 * 64 ? 64 : 4),
    maxBudget: { l2: o.maxBudget?.l2 ?? Math.sqrt(pixels), linf: o.maxBudget?.linf ?? 1 },
  };
  for (const n of r.norms) if (!ATTACK_NORMS.includes(n)) throw new RangeError(`adversarial: unknown norm ${String(n)}; expected one of: ${ATTACK_NORMS.join(', ')}`);
  for (const t of r.targets) if (!ATTACK_TARGETS.includes(t)) throw new RangeError(`adversarial: unknown target ${String(t)}; expected one of: ${ATTACK_TARGETS.join(', ')}`);
  for (const k of ['steps', 'linearSteps', 'batch'] as const) if (!Number.isInteger(r[k]) || r[k] < 1) throw new RangeError(`adversarial: ${k} must be a positive integer, got ${r[k]}`);
  if (!(r.tolerance > 0 && r.tolerance < 1)) throw new RangeError(`adversarial: tolerance must be in (0, 1), got ${r.tolerance}`);
  for (const n of ATTACK_NORMS) if (!(r.maxBudget[n] > 0)) throw new RangeError(`adversarial: maxBudget.${n} must be positive, got ${r.maxBudget[n]}`);
  return r;
}

/** ‖v‖ in the norm. */
export function normOf(v: ArrayLike<number>, norm: AttackNorm): number {
  let s = 0;
  if (norm === 'linf') { for (let k = 0; k < v.length; k++) s = Math.max(s, Math.abs(v[k])); return s; }
  for (let k = 0; k < v.length; k++) s += v[k] * v[k];
  return Math.sqrt(s);
}

/** δ brought inside the ε-ball of the norm, then x₀ + δ into [0, 1] (in place). */
function project(delta: Float32Array, x0: Float32Array, eps: number, norm: AttackNorm): void {
  if (norm === 'linf') {
    for (let k = 0; k < delta.length; k++) delta[k] = Math.min(eps, Math.max(-eps, delta[k]));
  } else {
    const n = normOf(delta, 'l2');
    if (n > eps) { const s = eps / n; for (let k = 0; k < delta.length; k++) delta[k] *= s; }
  }
  for (let k = 0; k < delta.length; k++) delta[k] = Math.min(1, Math.max(0, x0[k] + delta[k])) - x0[k];
}

/** The search state of one sample. */
interface Search {
  i: number;
  x0: Float32Array;
  j0: number;
  l0: number;
  /** The original's margins: a crossing must take the margin below −1e-3 of them (robust to float rounding between batches). */
  m0: Record<AttackTarget, number>;
  lower: number;
  budget: number;
  witness: Float32Array | null;
  evaluations: number;
}

/** How far past the boundary a crossing must go, as a fraction of the original margin. */
const PAST = 1e-3;

/** Margins and their pixel gradients of the perturbed images x₀ + δ of `active`, in batches; `crossed` records the crossing ones. */
function marginsAndGradients(head: PrototypeHead, backbone: Backbone, ss: Search[], deltas: Float32Array[], target: AttackTarget,
  shape: Omit<ImageBatch, 'data' | 'n'>, batch: number): Array<{ m: number; g: Float32Array; crossed: boolean; pt: HeadPoint }> {
  const per = shape.height * shape.width * shape.channels, D = head.D;
  const out: Array<{ m: number; g: Float32Array; crossed: boolean; pt: HeadPoint }> = [];
  for (let b = 0; b < ss.length; b += batch) {
    const part = ss.slice(b, b + batch);
    const data = new Float32Array(part.length * per);
    part.forEach((s, k) => { for (let p = 0; p < per; p++) data[k * per + p] = s.x0[p] + deltas[b + k][p]; });
    const pts: HeadPoint[] = [];
    const ms: number[] = [];
    const { grad } = featureGradient(backbone, { data, n: part.length, ...shape }, (F) => {
      const G = new Float32Array(F.length);
      part.forEach((s, k) => {
        const pt = head.at(F, k * D);
        const ob = target === 'class' ? head.classMargin(pt, s.l0) : head.prototypeMargin(pt, s.j0);
        head.backward(pt, ob.dz, G, k * D);
        pts.push(pt); ms.push(ob.value);
      });
      return { loss: 0, grad: G };
    });
    part.forEach((s, k) => {
      s.evaluations++;
      const pt = pts[k];
      out.push({ m: ms[k], g: grad.subarray(k * per, (k + 1) * per), pt, crossed: ms[k] < -PAST * s.m0[target] });
    });
  }
  return out;
}

/** PGD at budgets `eps` (one per search) with early stop, from δ = 0 or from each search's best perturbation; the crossing perturbation of each, or null. */
function pgdFrom(head: PrototypeHead, backbone: Backbone, ss: Search[], eps: number[], norm: AttackNorm, target: AttackTarget,
  shape: Omit<ImageBatch, 'data' | 'n'>, o: Resolved, warm: boolean): Array<Float32Array | null> {
  const deltas = ss.map((s, k) => {
    const d = warm && s.witness ? s.witness.slice() : new Float32Array(s.x0.length);
    project(d, s.x0, eps[k], norm);
    return d;
  });
  const result: Array<Float32Array | null> = ss.map(() => null);
  let live = ss.map((_, k) => k);
  for (let step = 0; step <= o.steps && live.length; step++) {
    const r = marginsAndGradients(head, backbone, live.map((k) => ss[k]), live.map((k) => deltas[k]), target, shape, o.batch);
    const next: number[] = [];
    live.forEach((k, idx) => {
      const { crossed, g } = r[idx];
      if (crossed) { result[k] = deltas[k].slice(); return; }
      if (step === o.steps) return;
      const alpha = (2.5 * eps[k]) / o.steps, d = deltas[k];
      if (norm === 'linf') for (let p = 0; p < d.length; p++) d[p] -= alpha * Math.sign(g[p]);
      else { const gn = normOf(g, 'l2') || 1; for (let p = 0; p < d.length; p++) d[p] -= (alpha * g[p]) / gn; }
      project(d, ss[k].x0, eps[k], norm);
      next.push(k);
    });
    live = next;
  }
  return result;
}

/** PGD at budgets `eps` from δ = 0, then, where that fails, from the best perturbation so far brought inside the ball. */
function pgd(head: PrototypeHead, backbone: Backbone, ss: Search[], eps: number[], norm: AttackNorm, target: AttackTarget,
  shape: Omit<ImageBatch, 'data' | 'n'>, o: Resolved): Array<Float32Array | null> {
  const out = pgdFrom(head, backbone, ss, eps, norm, target, shape, o, false);
  const again = ss.map((s, k) => k).filter((k) => !out[k] && ss[k].witness);
  if (again.length) {
    const warm = pgdFrom(head, backbone, again.map((k) => ss[k]), again.map((k) => eps[k]), norm, target, shape, o, true);
    again.forEach((k, i) => { out[k] = warm[i]; });
  }
  return out;
}

/** Step 1 of the search (module comment): linearised steps to a first crossing; PGD at doubling budgets for the others. */
function bracket(head: PrototypeHead, backbone: Backbone, ss: Search[], norm: AttackNorm, target: AttackTarget,
  shape: Omit<ImageBatch, 'data' | 'n'>, o: Resolved): void {
  const deltas = ss.map((s) => new Float32Array(s.x0.length));
  let live = ss.map((_, k) => k);
  for (let it = 0; it <= o.linearSteps && live.length; it++) {
    const r = marginsAndGradients(head, backbone, live.map((k) => ss[k]), live.map((k) => deltas[k]), target, shape, o.batch);
    const next: number[] = [];
    live.forEach((k, idx) => {
      const { m, g, crossed } = r[idx];
      const s = ss[k], d = deltas[k];
      if (crossed) { s.witness = d.slice(); s.budget = normOf(d, norm); return; }
      if (it === o.linearSteps) return;
      const gn = norm === 'l2' ? g.reduce((a, v) => a + v * v, 0) : g.reduce((a, v) => a + Math.abs(v), 0);
      if (!(gn > 0)) return;
      const step = (m * 1.02 + 2 * PAST * s.m0[target]) / gn;
      for (let p = 0; p < d.length; p++) d[p] -= step * (norm === 'l2' ? g[p] : Math.sign(g[p]));
      project(d, s.x0, o.maxBudget[norm], norm);
      next.push(k);
    });
    live = next;
  }
  // PGD at doubling budgets for the searches the linear steps did not bring across.
  let todo = ss.filter((s) => !s.witness);
  let eps = o.maxBudget[norm] / 64;
  while (todo.length && eps <= o.maxBudget[norm]) {
    const found = pgd(head, backbone, todo, todo.map(() => eps), norm, target, shape, o);
    todo.forEach((s, k) => {
      if (found[k]) { s.witness = found[k]; s.budget = normOf(found[k]!, norm); } else s.lower = eps;
    });
    todo = todo.filter((s) => !s.witness);
    eps = eps * 2 > o.maxBudget[norm] && eps < o.maxBudget[norm] ? o.maxBudget[norm] : eps * 2;
  }
  for (const s of todo) { s.budget = o.maxBudget[norm]; s.lower = o.maxBudget[norm]; }
}

/** Step 2 (module comment): binary search on the budget until budget − lower ≤ tolerance × budget. */
function bisect(head: PrototypeHead, backbone: Backbone, ss: Search[], norm: AttackNorm, target: AttackTarget,
  shape: Omit<ImageBatch, 'data' | 'n'>, o: Resolved): void {
  for (let round = 0; round < 40; round++) {
    const live = ss.filter((s) => s.witness && s.budget - s.lower > o.tolerance * s.budget);
    if (!live.length) return;
    const mids = live.map((s) => (s.lower + s.budget) / 2);
    const found = pgd(head, backbone, live, mids, norm, target, shape, o);
    live.forEach((s, k) => {
      if (found[k]) { s.witness = found[k]; s.budget = normOf(found[k]!, norm); } else s.lower = mids[k];
    });
  }
}

/** The searches of a batch: each image's decision at x₀ and an empty bracket. */
function searchesOf(head: PrototypeHead, backbone: Backbone, images: ImageBatch): { ss: Search[]; originals: HeadPoint[] } {
  const per = images.height * images.width * images.channels;
  const F = batchFeatures(backbone, images);
  const originals = Array.from({ length: images.n }, (_, i) => head.at(F, i * head.D));
  const ss = originals.map((pt, i) => ({
    i, x0: images.data.subarray(i * per, (i + 1) * per) as Float32Array, j0: pt.best, l0: pt.cls, lower: 0, budget: Infinity, witness: null, evaluations: 0,
    m0: { prototype: head.prototypeMargin(pt, pt.best).value, class: head.classMargin(pt, pt.cls).value },
  }));
  return { ss, originals };
}

/** The head of a model for a backbone, checked. */
function headFor(model: InterpretedModel, backbone: Backbone): { head: PrototypeHead } & ReturnType<typeof unwrapModel> {
  gradientForward(backbone);
  const { model: m, transform } = unwrapModel(model);
  const head = new PrototypeHead(m, transform);
  if (backbone.info.dim !== (transform?.nFeatures_ ?? head.D)) throw new RangeError(`the backbone "${backbone.info.name}" gives ${backbone.info.dim} features but the model takes ${transform?.nFeatures_ ?? head.D}`);
  return { head, model: m, transform };
}

/**
 * One PGD run per image at a fixed budget, from δ = 0 (the search's inner step, on its own): the
 * perturbation found that changes the image's best prototype or class, or null.
 * @throws as {@link adversarialReading}.
 * @example
 * crossesAt(model, backbone, batch, [0.5], 'linf', 'class') // [Float32Array …] or [null]
 */
export function crossesAt(model: InterpretedModel, backbone: Backbone, images: ImageBatch, budgets: readonly number[], norm: AttackNorm, target: AttackTarget,
  options: AdversarialOptions = {}): Array<Float32Array | null> {
  checkImageBatch(images);
  const { head } = headFor(model, backbone);
  const o = resolve(backbone, images, { ...options, norms: [norm], targets: [target] });
  if (budgets.length !== images.n) throw new RangeError(`crossesAt: ${budgets.length} budgets for ${images.n} images`);
  const { ss } = searchesOf(head, backbone, images);
  return pgdFrom(head, backbone, ss, budgets.slice(), norm, target, { height: images.height, width: images.width, channels: images.channels }, o, false);
}

/**
 * The adversarial reading of each image (see the module comment): for each norm and target, the
 * smallest budget found that changes its best prototype or its class, where it goes, and the
 * perturbed image.
 * @param images - the samples as numbers in [0, 1] at their own resolution (the perturbation lives there).
 * @throws NoGradientError for a backbone without gradients (ONNX); RangeError for a malformed
 *   batch, a backbone of another width than the model, or a bad option (named).
 * @example
 * const [r] = await adversarialReading(model, backbone, { data, n: 1, height: 28, width: 28, channels: 1 });
 * r.crossings.find((c) => c.norm === 'l2' && c.target === 'class') // { budget: 1.7, lower: 1.65, toClass: '9', … }
 */
export async function adversarialReading(model: InterpretedModel, backbone: Backbone, images: ImageBatch, options: AdversarialOptions = {}): Promise<AdversarialReading[]> {
  checkImageBatch(images);
  const { head, model: m, transform } = headFor(model, backbone);
  const o = resolve(backbone, images, options);
  const shape = { height: images.height, width: images.width, channels: images.channels };
  const { originals } = searchesOf(head, backbone, images);
  const explained = await measureImages(m, transform, backbone, Array.from({ length: images.n }, (_, i) => toSmallImage(images.data, { n: images.n, ...shape }, i)));
  const readings: AdversarialReading[] = originals.map((pt, i) => ({
    sample: i, prototype: pt.best, label: head.classes[pt.cls], margin: explained[i].margin, ambiguous: explained[i].ambiguous, crossings: [],
  }));
  let done = 0;
  const total = o.norms.length * o.targets.length;
  for (const norm of o.norms) {
    for (const target of o.targets) {
      const { ss } = searchesOf(head, backbone, images);
      bracket(head, backbone, ss, norm, target, shape, o);
      bisect(head, backbone, ss, norm, target, shape, o);
      const crossings = await describe(head, m, transform, backbone, ss, norm, target, shape);
      crossings.forEach((c, i) => readings[i].crossings.push(c));
      options.onProgress?.({ norm, target, done: ++done, total });
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }
  return readings;
}

/** The crossings of a finished search: where each perturbed image goes, its 8-bit image and whether that still crosses. */
async function describe(head: PrototypeHead, m: ReturnType<typeof unwrapModel>['model'], transform: ReturnType<typeof unwrapModel>['transform'], backbone: Backbone,
  ss: Search[], norm: AttackNorm, target: AttackTarget, shape: Omit<ImageBatch, 'data' | 'n'>): Promise<Crossing[]> {
  const per = shape.height * shape.width * shape.channels;
  const found = ss.filter((s) => s.witness);
  const data = new Float32Array(found.length * per);
  found.forEach((s, k) => { for (let p = 0; p < per; p++) data[k * per + p] = s.x0[p] + s.witness![p]; });
  const F = found.length ? batchFeatures(backbone, { data, n: found.length, ...shape }) : new Float32Array(0);
  const images = found.map((_, k) => toSmallImage(data, { n: found.length, ...shape }, k));
  const eight = found.length ? await measureImages(m, transform, backbone, images) : [];
  return ss.map((s) => {
    const k = found.indexOf(s);
    if (k < 0) {
      return { norm, target, found: false, budget: s.budget, lower: s.lower, toPrototype: s.j0, toClass: head.classes[s.l0], perturbation: null, perturbed: null, crossesAt8Bit: null, evaluations: s.evaluations };
    }
    const pt = head.at(F, k * head.D);
    const e = eight[k];
    const crosses8 = target === 'class' ? String(e.label) !== String(head.classes[s.l0]) : e.prototypes[0].index !== s.j0;
    return {
      norm, target, found: true, budget: s.budget, lower: s.lower, toPrototype: pt.best, toClass: head.classes[pt.cls],
      perturbation: s.witness, perturbed: images[k], crossesAt8Bit: crosses8, evaluations: s.evaluations,
    };
  });
}

/** Average ranks (1-based; ties share the mean of their ranks). */
function ranks(v: readonly number[]): number[] {
  const idx = v.map((_, i) => i).sort((a, b) => v[a] - v[b]);
  const out = new Array<number>(v.length);
  for (let s = 0; s < idx.length;) {
    let e = s;
    while (e + 1 < idx.length && v[idx[e + 1]] === v[idx[s]]) e++;
    for (let k = s; k <= e; k++) out[idx[k]] = (s + e) / 2 + 1;
    s = e + 1;
  }
  return out;
}

function pearson(a: readonly number[], b: readonly number[]): number {
  const n = a.length, ma = a.reduce((s, v) => s + v, 0) / n, mb = b.reduce((s, v) => s + v, 0) / n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) { sab += (a[i] - ma) * (b[i] - mb); saa += (a[i] - ma) ** 2; sbb += (b[i] - mb) ** 2; }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : NaN;
}

/** A rank correlation and its two-sided permutation p-value. */
export interface RankCorrelation {
  /** Spearman's ρ (Pearson's correlation of the average ranks); NaN when either side is constant. */
  rho: number;
  /** Fraction of `permutations` random pairings with |ρ| at least as large (plus one, over permutations plus one). */
  p: number;
  n: number;
  permutations: number;
  seed: number;
}

/**
 * Spearman's rank correlation of two samples with a permutation test (seeded).
 * @throws RangeError when the lengths differ.
 * @example
 * spearman([1, 2, 3, 4], [10, 20, 30, 45]).rho // 1
 */
export function spearman(a: readonly number[], b: readonly number[], permutations = 2000, seed = 0): RankCorrelation {
  if (a.length !== b.length) throw new RangeError(`spearman: ${a.length} against ${b.length} values`);
  const ra = ranks(a), rb = ranks(b);
  const rho = pearson(ra, rb);
  if (!Number.isFinite(rho)) return { rho, p: NaN, n: a.length, permutations, seed };
  const r = rng(seed), perm = rb.slice();
  let hits = 0;
  for (let t = 0; t < permutations; t++) {
    for (let i = perm.length - 1; i > 0; i--) { const j = r.int(i + 1); [perm[i], perm[j]] = [perm[j], perm[i]]; }
    if (Math.abs(pearson(ra, perm)) >= Math.abs(rho) - 1e-12) hits++;
  }
  return { rho, p: (hits + 1) / (permutations + 1), n: a.length, permutations, seed };
}

function median(v: readonly number[]): number | null {
  if (!v.length) return null;
  const s = v.slice().sort((x, y) => x - y), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The budgets of one norm and target over a data set. */
export interface CrossingStats {
  norm: AttackNorm;
  target: AttackTarget;
  /** Readings, and how many found a crossing below `maxBudget` (the others count at the largest budget tried). */
  n: number;
  found: number;
  medianBudget: number | null;
  /** From the sample's class to the class (or the best prototype's winning class) it moves to: how many, and their median budget. */
  pairs: Array<{ from: Label; to: Label; count: number; median: number }>;
  /** Rank correlation of the decision margin with the budget (the paper's intuition: positive). */
  margin: RankCorrelation;
  /** Rank correlation of the ambiguity flag (1 ambiguous, 0 not) with the budget (the intuition: negative), and the two groups' medians. */
  ambiguous: RankCorrelation & { count: number; medianAmbiguous: number | null; medianOther: number | null };
}

/**
 * Per norm and target: the median budget per pair of classes, and the rank correlations of the
 * decision margin and of the ambiguity flag with the budget (docs/interpretation.md,
 * "Adversarial reading").
 * @param classOf - the winning class of a prototype (for prototype crossings' pairs).
 * @example
 * crossingSummary(readings, (j) => model.links(j).winningClass)[0].margin.rho // e.g. 0.41
 */
export function crossingSummary(readings: readonly AdversarialReading[], classOf: (j: number) => Label, seed = 0): CrossingStats[] {
  const kinds = new Map<string, { norm: AttackNorm; target: AttackTarget }>();
  for (const r of readings) for (const c of r.crossings) kinds.set(`${c.norm} ${c.target}`, { norm: c.norm, target: c.target });
  return [...kinds.values()].map(({ norm, target }) => {
    const rows = readings.map((r) => ({ r, c: r.crossings.find((c) => c.norm === norm && c.target === target)! })).filter((x) => x.c);
    const budgets = rows.map((x) => x.c.budget);
    const groups = new Map<string, { from: Label; to: Label; budgets: number[] }>();
    for (const { r, c } of rows) {
      if (!c.found) continue;
      const to = target === 'class' ? c.toClass : classOf(c.toPrototype);
      const key = JSON.stringify([String(r.label), String(to)]);
      const g = groups.get(key) ?? { from: r.label, to, budgets: [] };
      g.budgets.push(c.budget);
      groups.set(key, g);
    }
    const amb = rows.map((x) => (x.r.ambiguous ? 1 : 0));
    return {
      norm, target, n: rows.length, found: rows.filter((x) => x.c.found).length, medianBudget: median(budgets),
      pairs: [...groups.values()].map((g) => ({ from: g.from, to: g.to, count: g.budgets.length, median: median(g.budgets)! })),
      margin: spearman(rows.map((x) => x.r.margin), budgets, 2000, seed),
      ambiguous: {
        ...spearman(amb, budgets, 2000, seed), count: amb.filter((v) => v === 1).length,
        medianAmbiguous: median(rows.filter((x) => x.r.ambiguous).map((x) => x.c.budget)),
        medianOther: median(rows.filter((x) => !x.r.ambiguous).map((x) => x.c.budget)),
      },
    };
  });
}
