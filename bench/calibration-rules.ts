/**
 * Calibration rules compared on the Table 1 tasks of one exploration seed (BENCHMARKS.md,
 * "Calibration on the Table 1 tasks", 2026-12-01 fourth session). For every task and calibrated
 * method (src/select/calibration-bench.ts, its `onOutputs` hook) it keeps the chosen model's
 * logits and novelty scores on the validation half and the test fold, and the outputs of the same
 * setting fitted on the validation half (preprocessing and span fitted there) applied to the
 * fitting half: held-out outputs that did not choose the setting. Each rule below turns held-out
 * outputs into a temperature per test sample; the test fold's ECE, pooled over the tasks of each N,
 * is printed per rule with the number of rows ≤ .03:
 *
 *   current           T fitted on the validation half with the one-sided prior λ = 16 (the library's rule);
 *   no prior          the same by maximum likelihood;
 *   (a) other half    T fitted on the other half's outputs (did not choose the setting), λ = 16 or no prior;
 *   val + other half  T fitted on both (λ = 16); geo mean: √(T_val · T_other);
 *   (b) <score> γ     T(x) = T0 · exp(β z(x)), z the novelty score standardised by its mean and sd on the
 *                     validation half; (log T0, β) maximise the validation likelihood − (16/2) min(log T0, 0)²
 *                     − (γ/2) β² (grid over β in [−3, 3] by .1 and log T0 in [−6, 6] by .05, then a pattern
 *                     search); softmax rows have no novelty score and keep the current rule;
 *   T = 1; test T, test T0,β: fitted on the test fold itself (diagnostics no rule can use).
 *
 * The last line gives each row's sampling floor under the current rule (eceSamplingFloor, seed 1):
 * the ECE a perfectly calibrated predictor with those confidences would show by chance.
 *
 * Run it on exploration seeds only. --outputs keeps the per-task outputs in a JSON file (written if
 * absent, read if present) so the rules can be re-scored without refitting; it is never a bench output.
 *
 *   node --import tsx bench/calibration-rules.ts --features /work/features/omniglot_small_mobilenet_v2.npy \
 *     [--seed 200] [--ways 2,5,20] [--outputs /tmp/outputs.json] [--gammas 1,4,16] [--scores spread,logprox]
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { readFeatures } from '../src/data/features.node.ts';
import { takeRows, toMatrix, type Matrix } from '../src/linalg/matrix.ts';
import { codesFor } from '../src/model/labels.ts';
import { DEFAULT_PREPROCESS, FeatureTransform } from '../src/model/preprocess.ts';
import { PrototypeClassifier, type PrototypeOptions } from '../src/model/prototype.ts';
import { SoftmaxRegression } from '../src/model/baselines.ts';
import { eceSamplingFloor, expectedCalibrationError, fitTemperature } from '../src/model/calibration.ts';
import { SpanProjection } from '../src/select/span.ts';
import { runCalibrationBench, type CalibrationOutputs } from '../src/select/calibration-bench.ts';

type Kind = 'spread' | 'logprox' | 'relative';
interface Part { z: number[]; y: number[]; spread?: number[]; logprox?: number[]; relative?: number[] }
interface Rec { method: string; ways: number; index: number; L: number; val: Part; test: Part; swap: Part }

const args = process.argv.slice(2);
const opt = (n: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : undefined; };
const file = opt('--features') ?? '/work/features/omniglot_small_mobilenet_v2.npy';
const seed = Number(opt('--seed') ?? 200);
const cache = opt('--outputs');
const kinds = (opt('--scores') ?? 'spread,logprox').split(',') as Kind[];
const gammas = (opt('--gammas') ?? '1,4,16').split(',').map(Number);

/** Logits, labels and novelty scores of some rows under one model. */
function part(model: PrototypeClassifier | SoftmaxRegression, F: Matrix, y: ArrayLike<number>): Part {
  const round = (v: ArrayLike<number>) => Array.from(v, (x) => Math.round(x * 1e5) / 1e5);
  const p: Part = { z: round(model.decisionFunction(F).data), y: Array.from(y) };
  if (model instanceof PrototypeClassifier) {
    p.spread = Array.from(model.novelty(F, 'spread').score);
    p.logprox = Array.from(model.novelty(F, 'log-proximity').score);
    p.relative = Array.from(model.novelty(F, 'relative').score);
  }
  return p;
}

/** Runs the Table 1 tasks and keeps each chosen model's outputs (and the other half's). */
function collect(): Rec[] {
  const fs = readFeatures(file);
  const X = toMatrix(fs.X, { name: 'features' });
  const recs: Rec[] = [];
  runCalibrationBench({ X: fs.X, labels: fs.labels }, {
    seed, ways: (opt('--ways') ?? '2,5,20').split(',').map(Number), onOutputs: (o: CalibrationOutputs) => {
      const model = o.fitted.model as PrototypeClassifier | SoftmaxRegression;
      // The same setting fitted on the validation half (preprocessing and span fitted there), applied to the fitting half.
      const t = new FeatureTransform(DEFAULT_PREPROCESS);
      const B0 = t.fitTransform(takeRows(X, o.task.validation));
      const sp = new SpanProjection().fit(B0);
      const other = model instanceof PrototypeClassifier ? new PrototypeClassifier(model.getParams() as PrototypeOptions) : new SoftmaxRegression(model.getParams());
      other.fit(sp.transform(B0), o.task.validation.map((i) => fs.labels[i]));
      const yFit = codesFor(o.task.fit.map((i) => fs.labels[i]), model.classes_);
      recs.push({
        method: o.method, ways: o.ways, index: o.index, L: o.validation.logits.cols,
        val: part(model, o.fitted.features(o.task.validation), o.validation.codes),
        test: part(model, o.fitted.features(o.task.test), o.test.codes),
        swap: part(other, sp.transform(t.transform(takeRows(X, o.task.fit))), yFit),
      });
    },
  });
  return recs;
}

const mat = (p: Part, L: number): Matrix => ({ data: Float32Array.from(p.z), rows: p.y.length, cols: L });

/** softmax(z_i / T_i), row by row. */
function tempered(Z: Matrix, T: ArrayLike<number>): Float32Array {
  const L = Z.cols, out = new Float32Array(Z.data.length);
  for (let i = 0; i < Z.rows; i++) {
    let m = -Infinity, s = 0;
    for (let l = 0; l < L; l++) m = Math.max(m, Z.data[i * L + l]);
    for (let l = 0; l < L; l++) { const e = Math.exp((Z.data[i * L + l] - m) / T[i]); out[i * L + l] = e; s += e; }
    for (let l = 0; l < L; l++) out[i * L + l] /= s;
  }
  return out;
}

/** Σ_i −log softmax(z_i / T_i)_{y_i} + (λ/2) min(u, 0)² + (γ/2) β², T_i = exp(u + β s_i). */
function novelObjective(Z: Matrix, y: number[], s: ArrayLike<number>, u: number, beta: number, lambda: number, gamma: number): number {
  const L = Z.cols;
  let v = 0;
  for (let i = 0; i < Z.rows; i++) {
    const b = Math.exp(-u - beta * s[i]);
    let m = -Infinity, sum = 0;
    for (let l = 0; l < L; l++) m = Math.max(m, b * Z.data[i * L + l]);
    for (let l = 0; l < L; l++) sum += Math.exp(b * Z.data[i * L + l] - m);
    v += m + Math.log(sum) - b * Z.data[i * L + y[i]];
  }
  const low = Math.min(u, 0);
  return v + 0.5 * lambda * low * low + 0.5 * gamma * beta * beta;
}

/** (log T0, β) by a grid, then a pattern search. */
function fitNovel(Z: Matrix, y: number[], s: ArrayLike<number>, lambda: number, gamma: number): { u: number; beta: number } {
  const J = (u: number, beta: number) => novelObjective(Z, y, s, u, beta, lambda, gamma);
  let best = { u: 0, beta: 0 }, bv = J(0, 0);
  for (let bk = -30; bk <= 30; bk++) {
    for (let uk = -120; uk <= 120; uk++) {
      const v = J(uk / 20, bk / 10);
      if (v < bv) { bv = v; best = { u: uk / 20, beta: bk / 10 }; }
    }
  }
  for (let step = 0.025; step > 1e-4; step /= 2) {
    for (let moved = true; moved;) {
      moved = false;
      for (const [du, db] of [[step, 0], [-step, 0], [0, step], [0, -step]]) {
        const v = J(best.u + du, best.beta + db);
        if (v < bv - 1e-12) { bv = v; best = { u: best.u + du, beta: best.beta + db }; moved = true; }
      }
    }
  }
  return best;
}

/** (v − mean(ref)) / sd(ref). */
function standardise(v: number[], ref: number[]): number[] {
  const mu = ref.reduce((a, b) => a + b, 0) / ref.length;
  const sd = Math.sqrt(ref.reduce((a, b) => a + (b - mu) ** 2, 0) / Math.max(1, ref.length - 1)) || 1;
  return v.map((x) => (x - mu) / sd);
}

type Rule = (r: Rec) => Float64Array;
const constant = (r: Rec, T: number) => new Float64Array(r.test.y.length).fill(T);
const fitT = (p: Part, L: number, prior: number) => fitTemperature(mat(p, L), p.y, { prior }).temperature;
/** T(x) = T0 exp(β z(x)) fitted on `on` (standardised there) and applied to the test fold. */
const novel = (r: Rec, on: Part, kind: Kind, lambda: number, gamma: number): Float64Array => {
  if (!on[kind]) return constant(r, fitT(on, r.L, lambda)); // softmax: no novelty score, one T fitted the same way
  const f = fitNovel(mat(on, r.L), on.y, standardise(on[kind]!, on[kind]!), lambda, gamma);
  return Float64Array.from(standardise(r.test[kind]!, on[kind]!), (z) => Math.exp(f.u + f.beta * z));
};

function rules(): Array<[string, Rule]> {
  const both = (r: Rec): Part => ({ z: [...r.val.z, ...r.swap.z], y: [...r.val.y, ...r.swap.y] });
  const list: Array<[string, Rule]> = [
    ['current: validation half, λ 16', (r) => constant(r, fitT(r.val, r.L, 16))],
    ['no prior: validation half', (r) => constant(r, fitT(r.val, r.L, 0))],
    ['(a) other half, λ 16', (r) => constant(r, fitT(r.swap, r.L, 16))],
    ['(a) other half, no prior', (r) => constant(r, fitT(r.swap, r.L, 0))],
    ['validation + other half, λ 16', (r) => constant(r, fitT(both(r), r.L, 16))],
    ['geometric mean of the two, λ 16', (r) => constant(r, Math.sqrt(fitT(r.val, r.L, 16) * fitT(r.swap, r.L, 16)))],
  ];
  for (const kind of kinds) for (const g of gammas) list.push([`(b) ${kind}, γ ${g}`, (r) => novel(r, r.val, kind, 16, g)]);
  list.push(['T = 1', (r) => constant(r, 1)], ['test T (diagnostic)', (r) => constant(r, fitT(r.test, r.L, 0))]);
  for (const kind of kinds) list.push([`test T0, β, ${kind} (diagnostic)`, (r) => novel(r, r.test, kind, 0, 0)]);
  return list;
}

/** Pooled test ECE of one rule in one cell; with `floor`, also the sampling floor of its confidences. */
function pooledEce(mine: Rec[], rule: Rule, floor: boolean): { ece: number; floor?: string } {
  const P: number[] = [], codes: number[] = [];
  for (const o of mine) { P.push(...tempered(mat(o.test, o.L), rule(o))); codes.push(...o.test.y); }
  const M = { data: Float32Array.from(P), rows: codes.length, cols: mine[0].L };
  const ece = expectedCalibrationError(M, codes).ece;
  if (!floor) return { ece };
  const conf = Float64Array.from({ length: M.rows }, (_, i) => Math.min(1, Math.max(...M.data.subarray(i * M.cols, (i + 1) * M.cols))));
  const f = eceSamplingFloor(conf, { seed: 1 });
  return { ece, floor: `${f.mean.toFixed(3)} / ${f.p95.toFixed(3)}` };
}

const recs: Rec[] = cache && existsSync(cache) ? (JSON.parse(readFileSync(cache, 'utf8')) as { recs: Rec[] }).recs : collect();
if (cache && !existsSync(cache)) writeFileSync(cache, JSON.stringify({ features: file, seed, recs }));
const cells = [...new Set(recs.map((o) => `${o.method} ${o.ways}`))];
const lines = [`| rule | ${cells.join(' | ')} | ≤ .03 | mean |`, `|---|${cells.map(() => '---:|').join('')}---:|---:|`];
const floors: string[] = [];
for (const [name, rule] of rules()) {
  const first = floors.length === 0;
  const res = cells.map((c) => pooledEce(recs.filter((o) => `${o.method} ${o.ways}` === c), rule, first));
  if (first) floors.push(...res.map((r) => r.floor!));
  const ece = res.map((r) => r.ece);
  lines.push(`| ${name} | ${ece.map((e) => e.toFixed(3)).join(' | ')} | ${ece.filter((e) => e <= 0.03).length} | ${(ece.reduce((a, b) => a + b, 0) / ece.length).toFixed(3)} |`);
}
lines.push(`| sampling floor, current rule (mean / 95th pct.) | ${floors.join(' | ')} | | |`);
process.stdout.write(`${lines.join('\n')}\n\n${file}, seed ${seed}, ${new Date().toISOString()}\n`);
