/**
 * A guard against runaway softening, compared on the Table 1 tasks of exploration seeds
 * (BENCHMARKS.md, "Calibration on the Table 1 tasks", fifth session, softening guard), from the
 * per-task outputs that bench/calibration-rules.ts caches with --outputs. Every rule is the
 * library's margin-dependent temperature fitted on each task's validation half
 * (fitMarginTemperature: prior λ = 16 on log T0 below 0, γ = 16 on β) and applied to its test fold:
 *
 *   λ_soft 0       nothing above T0 = 1 (the rule before the guard);
 *   λ_soft s       a Gaussian prior (s/2) max(log T0, 0)² on the softening side;
 *   cap c          the λ_soft 0 fit with T0 clipped to c afterwards.
 *
 * One file: for each rule the test ECE pooled over the tasks of each N, rows ≤ .03, their mean,
 * the largest T0 fitted on any task (the runaway sends it to e^9 ≈ 8103), then each cell's mean T0.
 * Several files (comma-separated, e.g. one seed each): for each rule and cell, the mean of the
 * pooled ECE over the files, how many files have it ≤ .03, and the worst.
 *
 *   node --import tsx bench/calibration-softening.ts --outputs /work/tmp/cal-floor/dump-inception_v3-seed300.json[,…] \
 *     [--soft 0.25,1,4] [--caps 5,10]
 */
import { readFileSync } from 'node:fs';
import type { Matrix } from '../src/linalg/matrix.ts';
import { expectedCalibrationError, fitMarginTemperature, sampleTemperatures, temperedSoftmax } from '../src/model/calibration.ts';

interface Part { z: number[]; y: number[] }
interface Rec { method: string; ways: number; L: number; val: Part; test: Part }
interface Cache { file?: string; features?: string; seed: number; recs: Rec[] }
const args = process.argv.slice(2);
const opt = (n: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : undefined; };
const files = opt('--outputs')?.split(',');
if (!files) throw new Error('--outputs FILE[,FILE…] is required (caches written by bench/calibration-rules.ts --outputs)');
const softs = (opt('--soft') ?? '0.25,1,4').split(',').map(Number);
const caps = (opt('--caps') ?? '5,10').split(',').map(Number);
const rules: Array<[string, number, number]> = [['λ_soft 0 (before)', 0, Infinity], ...softs.map((s): [string, number, number] => [`λ_soft ${s}`, s, Infinity]),
  ...caps.map((c): [string, number, number] => [`cap T0 ≤ ${c}`, 0, c])];
const mat = (p: Part, L: number): Matrix => ({ data: Float32Array.from(p.z), rows: p.y.length, cols: L });

/** Pooled test ECE per cell, the mean T0 per cell and the largest T0, under one rule. */
function score(recs: Rec[], cells: string[], softPrior: number, cap: number): { ece: number[]; meanT: number[]; largest: number } {
  let largest = 0;
  const meanT: number[] = [];
  const ece = cells.map((c) => {
    const mine = recs.filter((o) => `${o.method} ${o.ways}` === c), P: number[] = [], y: number[] = [];
    let sumT = 0;
    for (const o of mine) {
      const f = fitMarginTemperature(mat(o.val, o.L), o.val.y, { prior: 16, softPrior, exponentPrior: 16 });
      const T0 = Math.min(cap, f.temperature), Zt = mat(o.test, o.L);
      largest = Math.max(largest, T0); sumT += T0 / mine.length;
      P.push(...temperedSoftmax(Zt, sampleTemperatures(Zt, T0, f.margin)).data); y.push(...o.test.y);
    }
    meanT.push(sumT);
    return expectedCalibrationError({ data: Float32Array.from(P), rows: y.length, cols: mine[0].L }, y).ece;
  });
  return { ece, meanT, largest };
}

const caches = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as Cache);
const cells = [...new Set(caches.flatMap((c) => c.recs.map((o) => `${o.method} ${o.ways}`)))];
const f3 = (v: number) => v.toFixed(3);
if (caches.length === 1) {
  const lines = [`| rule | ${cells.join(' | ')} | ≤ .03 | mean | largest T0 |`, `|---|${cells.map(() => '---:|').join('')}---:|---:|---:|`];
  const Tlines = [`| mean T0 | ${cells.join(' | ')} |`, `|---|${cells.map(() => '---:|').join('')}`];
  for (const [name, s, c] of rules) {
    const r = score(caches[0].recs, cells, s, c);
    lines.push(`| ${name} | ${r.ece.map(f3).join(' | ')} | ${r.ece.filter((v) => v <= 0.03).length} | ${f3(r.ece.reduce((a, b) => a + b, 0) / r.ece.length)} | ${r.largest.toFixed(2)} |`);
    Tlines.push(`| ${name} | ${r.meanT.map((v) => v.toFixed(2)).join(' | ')} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n\n${Tlines.join('\n')}\n\n${caches[0].file ?? caches[0].features}, seed ${caches[0].seed}; ${new Date().toISOString()}\n`);
} else {
  const lines = [`| rule | ${cells.map((c) => `${c}: mean, ≤ .03, worst`).join(' | ')} | largest T0 |`, `|---|${cells.map(() => '---:|').join('')}---:|`];
  for (const [name, s, c] of rules) {
    const per = caches.map((k) => score(k.recs, cells, s, c));
    const col = cells.map((_, j) => {
      const e = per.map((r) => r.ece[j]);
      return `${f3(e.reduce((a, b) => a + b, 0) / e.length)}, ${e.filter((v) => v <= 0.03).length}/${e.length}, ${f3(Math.max(...e))}`;
    });
    lines.push(`| ${name} | ${col.join(' | ')} | ${Math.max(...per.map((r) => r.largest)).toFixed(2)} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n\n${caches.length} files, seeds ${caches.map((k) => k.seed).join(', ')}; ${new Date().toISOString()}\n`);
}
