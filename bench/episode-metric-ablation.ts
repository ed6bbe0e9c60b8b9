/**
 * Which part of the episode metric model (EPISODE_METRIC, src/select/episodes.ts) helps or hurts
 * against the nearest class mean (BENCHMARKS.md, "On a learned embedding: the prototype model
 * against the class mean"): the setting as it is, and the same with the prototype step, the metric
 * step, or both switched off (`prototypeSteps` / `metricIter` 0), with the prototype step turned
 * back on, with J = 2 per class, and with at most 3 outer iterations. 20-way episodes, 15 queries
 * per class; prints each variant's accuracy and its paired difference from the class mean (± s.e.).
 * Run it on validation data (a feature file of the validation alphabets), never on the test ones.
 *
 *   protolens extract <the 5 validation alphabets> --backbone /work/models/f-test -o val.npy
 *   node --import tsx bench/episode-metric-ablation.ts --features val.npy --shots 1 --episodes 300 --seed 7
 *   node --import tsx bench/episode-metric-ablation.ts --synthetic --shots 1 --episodes 40
 *
 * `--synthetic`: 12 overlapping Gaussian classes in 6-d (8 samples each, spread 0.9, seed 5), 10-way
 * episodes with 4 queries — where the class layer W can overturn the nearest prototype at 1-shot.
 */
import { parseArgs } from 'node:util';
import { readFeatures } from '../src/data/features.node.ts';
import { drawEpisodes, EPISODE_METRIC } from '../src/select/episodes.ts';
import { takeRows, type Matrix } from '../src/linalg/matrix.ts';
import { rng } from '../src/linalg/random.ts';
import { PrototypeClassifier, type PrototypeOptions } from '../src/model/prototype.ts';
import { NearestClassMean } from '../src/model/baselines.ts';

const { values } = parseArgs({ options: {
  features: { type: 'string' }, synthetic: { type: 'boolean', default: false },
  shots: { type: 'string', default: '1' }, episodes: { type: 'string', default: '300' }, seed: { type: 'string', default: '7' },
} });
const K = Number(values.shots), E = Number(values.episodes), seed = Number(values.seed);

function synthetic(): { X: Matrix; labels: string[] } {
  const r = rng(5), data: number[] = [], labels: string[] = [];
  for (let c = 0; c < 12; c++) {
    const centre = Array.from({ length: 6 }, () => r.normal());
    for (let i = 0; i < 8; i++) { data.push(...centre.map((v) => v + 0.9 * r.normal())); labels.push(`g0/c${c}`); }
  }
  return { X: { data: Float32Array.from(data), rows: labels.length, cols: 6 }, labels };
}

const d = values.synthetic ? synthetic() : (() => { const f = readFeatures(values.features ?? ''); return { X: f.X, labels: f.labels.map(String) }; })();
const nWay = values.synthetic ? 10 : 20, queries = values.synthetic ? 4 : 15;
const all: Array<[string, Partial<PrototypeOptions>]> = [
  ['EPISODE_METRIC (prototypes at the means)', {}],
  ['with the prototype step', { prototypeSteps: 1 }],
  ['with the prototype step, no metric step', { prototypeSteps: 1, metricIter: 0 }],
  ['no metric step', { metricIter: 0 }],
  ['J = 2 per class', { nPrototypes: 2 * nWay }],
  ['J = 2 per class, with the prototype step', { nPrototypes: 2 * nWay, prototypeSteps: 1 }],
  ['with the prototype step, 3 outer iterations', { prototypeSteps: 1, maxIter: 3 }],
];
// Two prototypes per class need two support samples per class.
const variants = all.filter(([, o]) => K > 1 || o.nPrototypes === undefined);
const eps = drawEpisodes(d.labels, { nWay, kShot: K, groups: 'across' }, queries, E, seed).episodes;
const ncm: number[] = [], acc = variants.map(() => [] as number[]), differ = variants.map(() => 0);
for (const ep of eps) {
  const S = takeRows(d.X, Array.from(ep.support)), Q = takeRows(d.X, Array.from(ep.query));
  const yS = Array.from(ep.support, (i) => d.labels[i]), yQ = Array.from(ep.query, (i) => d.labels[i]);
  const base = new NearestClassMean().fit(S, yS).predict(Q);
  ncm.push(base.filter((l, i) => l === yQ[i]).length / yQ.length);
  variants.forEach(([, o], k) => {
    const p = new PrototypeClassifier({ ...EPISODE_METRIC, nPrototypes: nWay, regularization: 'l2', metric: 'lowrank', tau: 'auto', seed, ...o }).fit(S, yS).predict(Q);
    acc[k].push(p.filter((l, i) => l === yQ[i]).length / yQ.length);
    if (p.some((l, i) => l !== base[i])) differ[k]++;
  });
}
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
console.log(`${values.synthetic ? 'synthetic' : values.features}: ${nWay}-way ${K}-shot, ${E} episodes, seed ${seed}; nearest class mean ${(100 * mean(ncm)).toFixed(2)} %`);
console.log('| variant | accuracy (%) | − class mean (points ± s.e.) | episodes answered differently |\n|---|---:|---:|---:|');
variants.forEach(([name], k) => {
  const diff = acc[k].map((a, i) => a - ncm[i]), m = mean(diff);
  const se = Math.sqrt(diff.reduce((a, b) => a + (b - m) ** 2, 0) / (diff.length - 1) / diff.length);
  console.log(`| ${name} | ${(100 * mean(acc[k])).toFixed(2)} | ${(100 * m).toFixed(3)} ± ${(100 * se).toFixed(3)} | ${differ[k]} |`);
});
