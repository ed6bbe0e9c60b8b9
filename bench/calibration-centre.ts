/**
 * Calibration centred on other tasks (BENCHMARKS.md, "Calibration on the Table 1 tasks", sixth
 * session): rules for a task's temperature that start from the calibration of other tasks of the
 * same kind (method and N) instead of from T = 1, compared on cached Table 1 outputs of several
 * exploration seeds (the `--outputs` files of bench/calibration-rules.ts; no model is fitted here).
 *
 * For every task of every seed and each calibrated method, `C` tasks of the same method and N are
 * drawn (seeded) from the other seeds' caches; the test-fold logits of those C tasks are pooled and
 * the library's margin rule is fitted on them (fitMarginTemperature, default priors): the centre.
 * Rules, each giving the task's temperature for its test fold:
 *
 *   library     the margin rule fitted on the task's validation half alone (fitMarginTemperature, the default today);
 *   centre C    the centre alone;
 *   around C κ γ  fitMarginTemperatureAround on the validation half, priors κ on log T0 and γ on β around the centre;
 *   test T      one T fitted on the task's own test fold (a diagnostic no rule can use).
 *
 * The test-fold ECE is pooled over the tasks of each N and seed (as bench/calibration.ts does);
 * the totals count the rows ≤ .03 over all seeds. Exploration seeds only.
 *
 *   node --import tsx bench/calibration-centre.ts --outputs a.json,b.json,c.json,d.json [--tasks 3,5,10] (C per task; totals by N too) [--kappas 1,4,16] [--kappas-per-sample 0.2,0.4] [--gammas 16,64] [--gammas-per-sample 3.2,6.4] [--objectives likelihood,top-label]
 */
import { readFileSync } from 'node:fs';
import type { Matrix } from '../src/linalg/matrix.ts';
import { rng, deriveSeed } from '../src/linalg/random.ts';
import {
  checkCalibrationObjective, expectedCalibrationError, fitMarginTemperature, type CalibrationObjective, fitMarginTemperatureAround, fitTemperature, sampleTemperatures, temperedSoftmax, type TemperatureCentre,
} from '../src/model/calibration.ts';

interface Part { z: number[]; y: number[] }
interface Rec { method: string; ways: number; index: number; L: number; val: Part; test: Part }

const args = process.argv.slice(2);
const opt = (n: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : undefined; };
const files = (opt('--outputs') ?? '').split(',').filter(Boolean);
if (files.length < 2) throw new Error('--outputs needs at least two cached output files (bench/calibration-rules.ts --outputs)');
const counts = (opt('--tasks') ?? '3,5,10').split(',').map(Number);
const kappas = (opt('--kappas') ?? '1,4,16').split(',').map(Number);
const gammas = (opt('--gammas') ?? '16,64').split(',').map(Number);
// κ per held-out sample: κ = s · n for a task with n validation samples (the likelihood is a sum over them, so a
// fixed κ weighs less against it as N grows; s · n keeps the centre's share of the evidence the same at every N).
const perSample = (opt('--kappas-per-sample') ?? '').split(',').filter(Boolean).map(Number);
// γ per held-out sample likewise (γ = g · n), with each κ per sample: the prior on β weighs less against the sum too.
const gammasPerSample = (opt('--gammas-per-sample') ?? '').split(',').filter(Boolean).map(Number);
// Objectives (likelihood, top-label) the centre and the task's own fit are each fitted to: every pair with κ × n and γ
// (the first of each list), beside the rules above, which all use the likelihood.
const objectives = (opt('--objectives') ?? '').split(',').filter(Boolean).map((o) => checkCalibrationObjective(o));

const seeds = files.map((f) => { const d = JSON.parse(readFileSync(f, 'utf8')) as { seed: number; recs: Rec[] }; return { file: f, seed: d.seed, recs: d.recs }; });
const mat = (p: Part, L: number): Matrix => ({ data: Float32Array.from(p.z), rows: p.y.length, cols: L });
const cells = [2, 5, 20].flatMap((n) => ['proto-metric', 'proto-cv', 'softmax'].map((m) => `${m} ${n}`));

type Rule = (val: Matrix, yv: number[], centre: (C: number, objective?: CalibrationObjective) => TemperatureCentre, test: Matrix, yt: number[]) => Float64Array;
const rules: Array<[string, Rule]> = [
  ['library: validation half alone', (Zv, yv, _c, Zt) => { const f = fitMarginTemperature(Zv, yv); return sampleTemperatures(Zt, f.temperature, f.margin); }],
  ...counts.map((C): [string, Rule] => [`centre of ${C} other tasks alone`, (_v, _y, centre, Zt) => { const c = centre(C); return sampleTemperatures(Zt, c.temperature, c.margin); }]),
  ...counts.flatMap((C) => kappas.flatMap((k) => gammas.map((g): [string, Rule] => [`around ${C} tasks, κ ${k}, γ ${g}`, (Zv, yv, centre, Zt) => {
    const f = fitMarginTemperatureAround(Zv, yv, centre(C), { prior: k, exponentPrior: g });
    return sampleTemperatures(Zt, f.temperature, f.margin);
  }]))),
  ...counts.flatMap((C) => perSample.flatMap((k) => gammas.map((g): [string, Rule] => [`around ${C} tasks, κ ${k} × n, γ ${g}`, (Zv, yv, centre, Zt) => {
    const f = fitMarginTemperatureAround(Zv, yv, centre(C), { prior: k * Zv.rows, exponentPrior: g });
    return sampleTemperatures(Zt, f.temperature, f.margin);
  }]))),
  ...counts.flatMap((C) => perSample.flatMap((k) => gammasPerSample.map((g): [string, Rule] => [`around ${C} tasks, κ ${k} × n, γ ${g} × n`, (Zv, yv, centre, Zt) => {
    const f = fitMarginTemperatureAround(Zv, yv, centre(C), { prior: k * Zv.rows, exponentPrior: g * Zv.rows });
    return sampleTemperatures(Zt, f.temperature, f.margin);
  }]))),
  ...objectives.map((o): [string, Rule] => [`library fitted to ${o}`, (Zv, yv, _c, Zt) => { const f = fitMarginTemperature(Zv, yv, { objective: o }); return sampleTemperatures(Zt, f.temperature, f.margin); }]),
  ...counts.flatMap((C) => objectives.flatMap((oc) => objectives.map((ot): [string, Rule] => [`around ${C} tasks, κ ${perSample[0] ?? 0.4} × n, γ ${gammas[0]}, centre ${oc}, task ${ot}`, (Zv, yv, centre, Zt) => {
    const f = fitMarginTemperatureAround(Zv, yv, centre(C, oc), { prior: (perSample[0] ?? 0.4) * Zv.rows, exponentPrior: gammas[0], objective: ot });
    return sampleTemperatures(Zt, f.temperature, f.margin);
  }]))),
  ...objectives.map((o): [string, Rule] => [`test T fitted to ${o} (diagnostic)`, (_v, _y, _c, Zt, yt) => new Float64Array(Zt.rows).fill(fitTemperature(Zt, yt, { prior: 0, objective: o }).temperature)]),
  ['test T (diagnostic)', (_v, _y, _c, Zt, yt) => new Float64Array(Zt.rows).fill(fitTemperature(Zt, yt, { prior: 0 }).temperature)],
];

// Every seed's test probabilities per rule and cell, to pool over all seeds at the end: 10 tasks per cell and seed make a
// pooled ECE that is mostly binning noise at N = 5 (bench/calibration.ts's sampling floor); over all seeds it is the
// same rule measured on 4× as many tasks.
const allSeeds = new Map<string, { probs: number[]; codes: number[]; L: number }>();
const totals = new Map<string, { rows: number; sum: number; cells: number; byN: Map<number, { rows: number; sum: number; cells: number }> }>();
for (const s of seeds) {
  const others = seeds.filter((o) => o !== s);
  const table = rules.map(([name]) => ({ name, ece: [] as number[] }));
  for (const cell of cells) {
    const mine = s.recs.filter((r) => `${r.method} ${r.ways}` === cell);
    const pool = others.flatMap((o) => o.recs.filter((r) => `${r.method} ${r.ways}` === cell));
    const probs = rules.map(() => [] as number[]), codes: number[] = [];
    for (const r of mine) {
      // The C pooled tasks: a seeded draw without replacement from the other seeds' tasks of this cell.
      const g = rng(deriveSeed(s.seed, cells.indexOf(cell) * 100 + r.index));
      const order = pool.map((_, i) => i);
      for (let i = order.length - 1; i > 0; i--) { const j = Math.floor(g.next() * (i + 1)); [order[i], order[j]] = [order[j], order[i]]; }
      const cache = new Map<string, TemperatureCentre>();
      const centre = (C: number, objective: CalibrationObjective = 'likelihood') => {
        const key = `${C} ${objective}`;
        if (!cache.has(key)) {
          const picked = order.slice(0, C).map((i) => pool[i]);
          const L = r.L, z = picked.flatMap((p) => p.test.z), y = picked.flatMap((p) => p.test.y);
          const f = fitMarginTemperature({ data: Float32Array.from(z), rows: y.length, cols: L }, y, { objective });
          cache.set(key, { temperature: f.temperature, margin: f.margin });
        }
        return cache.get(key)!;
      };
      const Zv = mat(r.val, r.L), Zt = mat(r.test, r.L);
      rules.forEach(([, rule], k) => probs[k].push(...temperedSoftmax(Zt, rule(Zv, r.val.y, centre, Zt, r.test.y)).data));
      codes.push(...r.test.y);
    }
    rules.forEach(([name], k) => {
      const key = `${name}\u0000${cell}`, a = allSeeds.get(key) ?? { probs: [], codes: [], L: mine[0].L };
      a.probs.push(...probs[k]); a.codes.push(...codes); allSeeds.set(key, a);
    });
    rules.forEach((_, k) => table[k].ece.push(expectedCalibrationError({ data: Float32Array.from(probs[k]), rows: codes.length, cols: mine[0].L }, codes).ece));
  }
  console.log(`\n${s.file}, seed ${s.seed}\n\n| rule | ${cells.join(' | ')} | ≤ .03 | mean |\n|---|${cells.map(() => '---:').join('|')}|---:|---:|`);
  for (const t of table) {
    const ok = t.ece.filter((e) => e <= 0.03).length, mean = t.ece.reduce((a, b) => a + b, 0) / t.ece.length;
    console.log(`| ${t.name} | ${t.ece.map((e) => e.toFixed(3)).join(' | ')} | ${ok} | ${mean.toFixed(3)} |`);
    const a = totals.get(t.name) ?? { rows: 0, sum: 0, cells: 0, byN: new Map() };
    totals.set(t.name, { rows: a.rows + ok, sum: a.sum + mean * t.ece.length, cells: a.cells + t.ece.length, byN: a.byN });
    t.ece.forEach((e, k) => {
      const n = Number(cells[k].split(' ')[1]), b = a.byN.get(n) ?? { rows: 0, sum: 0, cells: 0 };
      a.byN.set(n, { rows: b.rows + (e <= 0.03 ? 1 : 0), sum: b.sum + e, cells: b.cells + 1 });
    });
  }
}
// By N as well: a centre's noise depends on how many samples its C tasks pool (C · N · 10), so C may be chosen per N.
const ns = [2, 5, 20];
console.log(`\nTotals over ${seeds.length} seeds (${seeds.map((s) => s.seed).join(', ')}):\n\n| rule | rows ≤ .03 (of ${cells.length * seeds.length}) | mean ECE | ${ns.map((n) => `N = ${n}: rows, mean`).join(' | ')} |\n|---|---:|---:|${ns.map(() => '---:').join('|')}|`);
for (const [name, t] of totals) console.log(`| ${name} | ${t.rows} | ${(t.sum / t.cells).toFixed(4)} | ${ns.map((n) => { const b = t.byN.get(n)!; return `${b.rows}, ${(b.sum / b.cells).toFixed(4)}`; }).join(' | ')} |`);

console.log(`\nPooled over all ${seeds.length} seeds (${seeds.length * 10} tasks per cell when each seed has 10):\n\n| rule | ${cells.join(' | ')} | ≤ .03 | mean |\n|---|${cells.map(() => '---:').join('|')}|---:|---:|`);
for (const [name] of rules) {
  const ece = cells.map((cell) => { const a = allSeeds.get(`${name}\u0000${cell}`)!; return expectedCalibrationError({ data: Float32Array.from(a.probs), rows: a.codes.length, cols: a.L }, a.codes).ece; });
  console.log(`| ${name} | ${ece.map((e) => e.toFixed(3)).join(' | ')} | ${ece.filter((e) => e <= 0.03).length} | ${(ece.reduce((a, b) => a + b, 0) / ece.length).toFixed(4)} |`);
}
