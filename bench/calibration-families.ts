/**
 * Label-preserving calibrator families on the Table 1 tasks of exploration seeds (BENCHMARKS.md,
 * "Calibration on the Table 1 tasks", 2026-12-01 fifth session), from the per-task outputs that
 * bench/calibration-rules.ts caches with --outputs (it collects them when the file is absent).
 *
 * Part 1, an oracle: each family fitted by likelihood on each task's TEST fold itself (no rule can
 * do this; it says what a family could reach where one temperature cannot). Every family keeps the
 * predicted class (no other class ever gets a larger probability than the class of the largest
 * logit; the script counts violations and prints them):
 *   T             softmax(z / T) (= the "test T (diagnostic)" row of calibration-rules.ts);
 *   T + ε         (1 − ε) softmax(z / T) + ε / L, joint (log T, ε): caps confidently wrong samples;
 *   ETS           w1 softmax(z / T) + w2 softmax(z) + w3 / L, w on the simplex, T from temperature scaling
 *                 (Zhang, Kailkhura & Han, ICML 2020); ETS joint: (T, w) fitted together;
 *   margin T      T(x) = T0 · r(x)^β, r = m(x) / m̄ clamped to [1e−3, 1e3], m = largest minus second
 *                 largest logit, m̄ their geometric mean on the samples fitted on, |β| ≤ 0.9: one
 *                 positive divisor per sample (fitMarginTemperature, src/model/calibration.ts);
 *   best one T    the single T per row of the table that minimises its pooled test ECE (grid).
 * Part 2, rules fitted on the validation half only: the current rule (one T, one-sided prior λ = 16
 * on log T) against the margin T with the same prior on log T0 and a Gaussian prior (γ/2) β² on β,
 * for each γ of --gammas. Each row's test ECE is pooled over the 10 tasks of each N.
 *
 *   node --import tsx bench/calibration-families.ts --outputs /work/tmp/cal-floor/dump-mobilenet_v2-seed200.json \
 *     [--gammas 4,16,64,256] [--part oracle|rules|both]
 */
import { readFileSync } from 'node:fs';
import type { Matrix } from '../src/linalg/matrix.ts';
import { expectedCalibrationError, fitMarginTemperature, fitTemperature, sampleTemperatures } from '../src/model/calibration.ts';

interface Part { z: number[]; y: number[] }
interface Rec { method: string; ways: number; L: number; val: Part; test: Part }
const args = process.argv.slice(2);
const opt = (n: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : undefined; };
const file = opt('--outputs');
if (!file) throw new Error('--outputs FILE is required (a cache written by bench/calibration-rules.ts --outputs)');
const gammas = (opt('--gammas') ?? '4,16,64,256').split(',').map(Number);
const part = opt('--part') ?? 'both';
const cache = JSON.parse(readFileSync(file, 'utf8')) as { file?: string; features?: string; seed: number; recs: Rec[] };
const recs = cache.recs;
const mat = (p: Part, L: number): Matrix => ({ data: Float32Array.from(p.z), rows: p.y.length, cols: L });

/** Softmax of one row of z times b into out. */
function soft(z: ArrayLike<number>, o: number, L: number, b: number, out: Float64Array): void {
  let m = -Infinity, s = 0;
  for (let l = 0; l < L; l++) m = Math.max(m, b * z[o + l]);
  for (let l = 0; l < L; l++) { out[l] = Math.exp(b * z[o + l] - m); s += out[l]; }
  for (let l = 0; l < L; l++) out[l] /= s;
}
/** w1 softmax(z / T_i) + w2 softmax(z) + (1 − w1 − w2) / L for every row; T + ε is w2 = 0, w1 = 1 − ε. */
function mixture(p: Part, L: number, T: ArrayLike<number>, w1: number, w2: number): Float64Array {
  const n = p.y.length, out = new Float64Array(n * L), s = new Float64Array(L), s1 = new Float64Array(L), w3 = 1 - w1 - w2;
  for (let i = 0; i < n; i++) {
    soft(p.z, i * L, L, 1 / T[i], s);
    if (w2 > 0) soft(p.z, i * L, L, 1, s1);
    for (let l = 0; l < L; l++) out[i * L + l] = w1 * s[l] + (w2 > 0 ? w2 * s1[l] : 0) + w3 / L;
  }
  return out;
}
const nll = (P: Float64Array, y: number[], L: number) => { let v = 0; for (let i = 0; i < y.length; i++) v -= Math.log(Math.max(1e-300, P[i * L + y[i]])); return v; };
const fill = (n: number, T: number) => new Float64Array(n).fill(T);

/** Coordinate pattern search from t0 (steps halved 10 times), staying where ok(t). */
function pattern(J: (t: number[]) => number, t0: number[], steps: number[], ok: (t: number[]) => boolean): number[] {
  let best = t0.slice(), bv = J(best);
  for (let k = 0; k < 10; k++) {
    const f = 2 ** -k;
    for (let moved = true, guard = 0; moved && guard < 200; guard++) {
      moved = false;
      for (let d = 0; d < best.length; d++) {
        for (const sg of [1, -1]) {
          const t = best.slice(); t[d] += sg * steps[d] * f;
          if (!ok(t)) continue;
          const v = J(t);
          if (v < bv - 1e-12) { bv = v; best = t; moved = true; }
        }
      }
    }
  }
  return best;
}
const logT = (p: Part, L: number, prior = 0) => Math.log(fitTemperature(mat(p, L), p.y, { prior }).temperature);

function fitMix(p: Part, L: number): Float64Array {
  const n = p.y.length, J = (t: number[]) => nll(mixture(p, L, fill(n, Math.exp(t[0])), 1 - t[1], 0), p.y, L);
  let best = [logT(p, L), 0], bv = J(best);
  for (let uk = -60; uk <= 60; uk++) for (const e of [0.001, 0.003, 0.01, 0.03, 0.1, 0.3]) { const v = J([uk / 10, e]); if (v < bv) { bv = v; best = [uk / 10, e]; } }
  const t = pattern(J, best, [0.05, 0.01], (q) => q[1] >= 0 && q[1] < 1 && Math.abs(q[0]) <= 9);
  return mixture(p, L, fill(n, Math.exp(t[0])), 1 - t[1], 0);
}
function fitEts(p: Part, L: number, joint: boolean): Float64Array {
  const n = p.y.length, u = logT(p, L);
  const J = (t: number[]) => nll(mixture(p, L, fill(n, Math.exp(t[0])), t[1], t[2]), p.y, L);
  const ok = (t: number[]) => t[1] >= 0 && t[2] >= 0 && t[1] + t[2] <= 1 && t[1] + t[2] > 0 && Math.abs(t[0]) <= 9;
  let best = [u, 1, 0], bv = J(best);
  for (let a = 0; a <= 20; a++) for (let b = 0; a + b <= 20; b++) { const t = [u, a / 20, b / 20]; if (!ok(t)) continue; const v = J(t); if (v < bv) { bv = v; best = t; } }
  const t = joint ? pattern(J, best, [0.05, 0.02, 0.02], ok) : pattern((q) => J([u, q[1], q[2]]), best, [0, 0.02, 0.02], ok);
  return mixture(p, L, fill(n, Math.exp(joint ? t[0] : u)), t[1], t[2]);
}

/** The margin T (the library's fitMarginTemperature, priors λ on log T0 and γ on β) fitted on `on`, as each `apply` row's T. */
function marginT(on: Part, apply: Part, L: number, lambda: number, gamma: number): Float64Array {
  const f = fitMarginTemperature(mat(on, L), on.y, { prior: lambda, exponentPrior: gamma });
  return sampleTemperatures(mat(apply, L), f.temperature, f.margin);
}

/** Rows where another class gets a strictly larger probability than the class of the largest logit. */
function violations(P: Float64Array, p: Part, L: number): number {
  let bad = 0;
  for (let i = 0; i < p.y.length; i++) {
    let top = 0;
    for (let l = 1; l < L; l++) if (p.z[i * L + l] > p.z[i * L + top]) top = l;
    for (let l = 0; l < L; l++) if (P[i * L + l] > P[i * L + top]) { bad++; break; }
  }
  return bad;
}

const cells = [...new Set(recs.map((o) => `${o.method} ${o.ways}`))];
const lines = [`| | ${cells.join(' | ')} | ≤ .03 | mean |`, `|---|${cells.map(() => '---:|').join('')}---:|---:|`];
let flips = 0;
function row(name: string, probs: (r: Rec) => Float64Array): void {
  const e = cells.map((c) => {
    const mine = recs.filter((o) => `${o.method} ${o.ways}` === c), P: number[] = [], y: number[] = [];
    for (const o of mine) { const q = probs(o); flips += violations(q, o.test, o.L); P.push(...q); y.push(...o.test.y); }
    return expectedCalibrationError({ data: Float32Array.from(P), rows: y.length, cols: mine[0].L }, y).ece;
  });
  lines.push(`| ${name} | ${e.map((v) => v.toFixed(3)).join(' | ')} | ${e.filter((v) => v <= 0.03).length} | ${(e.reduce((a, b) => a + b, 0) / e.length).toFixed(3)} |`);
}
const tempered = (o: Rec, T: ArrayLike<number>) => mixture(o.test, o.L, T, 1, 0);
if (part !== 'rules') {
  row('T, test fold (oracle)', (o) => tempered(o, fill(o.test.y.length, Math.exp(logT(o.test, o.L)))));
  row('T + ε, test fold (oracle)', (o) => fitMix(o.test, o.L));
  row('ETS, test fold (oracle)', (o) => fitEts(o.test, o.L, false));
  row('ETS joint, test fold (oracle)', (o) => fitEts(o.test, o.L, true));
  row('margin T, test fold (oracle)', (o) => tempered(o, marginT(o.test, o.test, o.L, 0, 0)));
  const best = cells.map((c) => {
    const mine = recs.filter((o) => `${o.method} ${o.ways}` === c);
    let b = Infinity;
    for (let k = -60; k <= 60; k++) {
      const P: number[] = [], y: number[] = [];
      for (const o of mine) { P.push(...tempered(o, fill(o.test.y.length, Math.exp(k / 20)))); y.push(...o.test.y); }
      b = Math.min(b, expectedCalibrationError({ data: Float32Array.from(P), rows: y.length, cols: mine[0].L }, y).ece);
    }
    return b;
  });
  lines.push(`| best one T per row, test fold (oracle; T in [e^−3, e^3], log step .05) | ${best.map((v) => v.toFixed(3)).join(' | ')} | ${best.filter((v) => v <= 0.03).length} | ${(best.reduce((a, b) => a + b, 0) / best.length).toFixed(3)} |`);
}
if (part !== 'oracle') {
  row('current: one T, validation half, λ 16', (o) => tempered(o, fill(o.test.y.length, Math.exp(logT(o.val, o.L, 16)))));
  for (const g of gammas) row(`margin T, validation half, λ 16, γ ${g}`, (o) => tempered(o, marginT(o.val, o.test, o.L, 16, g)));
}
process.stdout.write(`${lines.join('\n')}\n\n${cache.file ?? cache.features}, seed ${cache.seed}; label violations (another class above the top logit's): ${flips}; ${new Date().toISOString()}\n`);
