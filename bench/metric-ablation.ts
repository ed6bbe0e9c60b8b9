/**
 * What did the work in the learned-metric row of Table 1 (BENCHMARKS.md, "Prototype model with a
 * learned metric", ablation): the Table 1 protocol at one N, the learned-metric row with one lever
 * changed at a time, against the Euclidean cross-validated row and softmax-L2 on the same subsets.
 *
 *   node --import tsx bench/metric-ablation.ts --features F.npy [--ways 20] [--seed 0] [--subsets 10]
 *
 * Levers: the LDA start without learning (metricIter 0), the learned Ω (β = 10, 5 L-BFGS
 * iterations per metric step), its rank r, re-seeding of dead prototypes, and the scaling of the
 * starting W (without it the first steps ran from a one-hot W).
 */
import { readFeatures } from '../src/data/features.node.ts';
import { enableNodeGemm } from '../src/linalg/gemm-native.node.ts';
import { runFewShot, type FewShotMethod, type FewShotOptions, type FewShotResult } from '../src/select/fewshot.ts';
import { pairedTTest } from '../src/select/stats.ts';

const args = process.argv.slice(2);
const opt = (name: string, d?: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : d; };
const file = opt('--features');
if (!file) throw new Error('usage: bench/metric-ablation.ts --features F.npy [--ways 20] [--seed 0] [--subsets 10]');
const ways = Number(opt('--ways', '20')), seed = Number(opt('--seed', '0')), subsets = Number(opt('--subsets', '10'));
enableNodeGemm();
const fs = readFeatures(file);
const base: FewShotOptions = { ways: [ways], subsets, seed };

const variants: Array<{ name: string; method: FewShotMethod; options?: FewShotOptions['prototypeOptions'] }> = [
  { name: 'softmax, L2 (reference)', method: 'softmax' },
  { name: 'ours, Euclidean, cross-validated (no metric)', method: 'proto-cv' },
  { name: 'LDA start only (metric not learned)', method: 'proto-metric', options: { metricIter: 0 } },
  { name: 'learned Ω (the row; full rank)', method: 'proto-metric' },
  { name: 'learned Ω, rank 64', method: 'proto-metric', options: { metricRank: 64 } },
  { name: 'learned Ω, rank 16', method: 'proto-metric', options: { metricRank: 16 } },
  { name: 'learned Ω, no re-seeding', method: 'proto-metric', options: { reseed: false } },
  { name: 'learned Ω, prototypes pruned', method: 'proto-metric', options: { prune: true } },
];

const runs: Array<{ name: string; r: FewShotResult; cpu: number }> = [];
for (const v of variants) {
  const c0 = process.cpuUsage();
  const r = runFewShot({ X: fs.X, labels: fs.labels }, { ...base, methods: [v.method], prototypeOptions: { maxIter: 30, classIter: 10, ...(v.options ?? {}) } });
  const c = process.cpuUsage(c0);
  runs.push({ name: v.name, r, cpu: (c.user + c.system) / 1e6 });
  process.stderr.write(`${v.name}: done\n`);
}
const acc = (r: FewShotResult) => r.tasks.map((t) => Object.values(t.methods)[0]!.testFit);
const ref = acc(runs[3].r);
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const std = (v: number[]) => { const m = mean(v); return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1)); };
console.log(`Ablation at N = ${ways}, ${subsets} subsets (seed ${seed}), ${file}; test accuracy refit on the 5 fitting samples per class.\n`);
console.log('| variant | accuracy, mean (std) | Δ vs the row, p | CPU s |');
console.log('|---|---:|---:|---:|');
for (const { name, r, cpu } of runs) {
  const a = acc(r);
  const same = a.every((x, i) => x === ref[i]);
  const t = same ? null : pairedTTest(a, ref);
  console.log(`| ${name} | ${mean(a).toFixed(3)} (${std(a).toFixed(3)}) | ${same ? '—' : `${(mean(a) - mean(ref) >= 0 ? '+' : '−')}${Math.abs(mean(a) - mean(ref)).toFixed(3)}, p = ${t!.p.toPrecision(2)}`} | ${cpu.toFixed(1)} |`);
}
