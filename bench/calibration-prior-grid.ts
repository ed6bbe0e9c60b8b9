/**
 * How DEFAULT_TEMPERATURE_PRIOR was chosen (BENCHMARKS.md, "Calibration on the Table 1 tasks"):
 * on the Table 1 tasks of one seed (src/select/calibration-bench.ts, its `onOutputs` hook), every
 * chosen model's temperature is fitted on its validation half by each rule below, and the test
 * fold's ECE, pooled over the tasks of each N, is printed per rule:
 *
 *   none        plain maximum likelihood (the rule before the prior);
 *   two-sided λ a Gaussian prior on log T centred at T = 1: − (λ/2)(log T)²;
 *   one-sided λ the same below T = 1 only: − (λ/2) min(log T, 0)² (fitTemperature's prior);
 *   T = 1       no scaling;
 *   test T      T fitted on the test fold itself (a diagnostic: what scaling could reach).
 *
 * Run it on exploration seeds only; the chosen rule is confirmed with bench/calibration.ts on a
 * seed never used.
 *
 *   node --import tsx bench/calibration-prior-grid.ts --features /work/features/omniglot_small_mobilenet_v2.npy \
 *     [--seed 100] [--ways 2,5,20] [--subsets 10] [--priors 1,2,4,8,16,32,64]
 */
import { readFeatures } from '../src/data/features.node.ts';
import type { Matrix } from '../src/linalg/matrix.ts';
import { expectedCalibrationError, fitTemperature, temperatureObjective, temperedSoftmax } from '../src/model/calibration.ts';
import { runCalibrationBench, type CalibrationOutputs } from '../src/select/calibration-bench.ts';

const args = process.argv.slice(2);
const opt = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const file = opt('--features') ?? '/work/features/omniglot_small_mobilenet_v2.npy';
const seed = Number(opt('--seed') ?? 100);
const priors = (opt('--priors') ?? '1,2,4,8,16,32,64').split(',').map(Number);
const outputs: CalibrationOutputs[] = [];
const fs = readFeatures(file);
runCalibrationBench({ X: fs.X, labels: fs.labels }, {
  seed, subsets: Number(opt('--subsets') ?? 10), ways: (opt('--ways') ?? '2,5,20').split(',').map(Number), onOutputs: (o) => outputs.push(o),
});

/** The two-sided prior: the prior-free objective plus (λ/2)(log T)², minimised on a grid of log T (steps of 0.01). */
function twoSided(Z: Matrix, codes: Int32Array, lambda: number): number {
  let best = 0, value = Infinity;
  for (let k = -900; k <= 900; k++) {
    const u = k / 100, v = temperatureObjective(Z, codes, u, 0).value + 0.5 * lambda * u * u;
    if (v < value) { value = v; best = u; }
  }
  return Math.exp(best);
}

type Rule = (o: CalibrationOutputs) => number;
const rules: Array<[string, Rule]> = [['none', (o) => fitTemperature(o.validation.logits, o.validation.codes, { prior: 0 }).temperature]];
for (const l of priors) rules.push([`two-sided ${l}`, (o) => twoSided(o.validation.logits, o.validation.codes, l)]);
for (const l of priors) rules.push([`one-sided ${l}`, (o) => fitTemperature(o.validation.logits, o.validation.codes, { prior: l }).temperature]);
rules.push(['T = 1', () => 1], ['test T', (o) => fitTemperature(o.test.logits, o.test.codes, { prior: 0 }).temperature]);

const cells = [...new Set(outputs.map((o) => `${o.method} ${o.ways}`))];
const lines = [`| rule | ${cells.join(' | ')} | ≤ .03 | mean |`, `|---|${cells.map(() => '---:|').join('')}---:|---:|`];
for (const [name, rule] of rules) {
  const ece = cells.map((c) => {
    const mine = outputs.filter((o) => `${o.method} ${o.ways}` === c);
    const P: number[] = [], codes: number[] = [];
    for (const o of mine) { P.push(...temperedSoftmax(o.test.logits, rule(o)).data); codes.push(...o.test.codes); }
    return expectedCalibrationError({ data: Float32Array.from(P), rows: codes.length, cols: mine[0].test.logits.cols }, codes).ece;
  });
  lines.push(`| ${name} | ${ece.map((e) => e.toFixed(3)).join(' | ')} | ${ece.filter((e) => e <= 0.03).length} | ${(ece.reduce((a, b) => a + b, 0) / ece.length).toFixed(3)} |`);
}
process.stdout.write(`${lines.join('\n')}\n\n${file}, seed ${seed}, ${new Date().toISOString()}\n`);
