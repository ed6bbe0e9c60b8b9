/**
 * Calibration on the paper's Table 1 tasks (BENCHMARKS.md, "Calibration on the Table 1 tasks"):
 * ECE of the prototype models and of softmax-L2 before and after temperature scaling fitted on
 * each task's validation half (src/select/calibration-bench.ts): the library's margin-dependent temperature (priors
 * --prior on log T0 below 0, default DEFAULT_TEMPERATURE_PRIOR, --soft-prior above 0, default DEFAULT_SOFTENING_PRIOR, and --margin-prior on β, default DEFAULT_MARGIN_PRIOR; "off" for
 * one T), one T with the prior (the rule before), one T by maximum likelihood (the rule before that), and, as context
 * for the ECE ≤ .03 target, the ECE a perfectly calibrated predictor with the same confidences and as many test samples
 * would show by chance (eceSamplingFloor: mean and 95th percentile of 1000 draws seeded from --seed). With
 * --centre-tasks C, also the rule centred on C other tasks per task (classes outside the task's;
 * fitMarginTemperatureAround with priors --centre-prior κ, or --centre-prior-per-sample s for κ = s × the task's validation
 * samples, default DEFAULT_CENTRE_PRIOR_PER_SAMPLE, and --centre-exponent-prior γ; the other tasks are fitted with the task's own
 * chosen setting, or with --centre-own-choice each chooses its own as in Table 1). Writes
 * calibration.md and calibration.json into --out (a folder protolens owns; --force to replace another).
 *
 *   node --import tsx bench/calibration.ts --features /work/features/omniglot_small_mobilenet_v2.npy \
 *     [--ways 2,5,20] [--subsets 10] [--seed 0] [--prior 8] [--soft-prior 1] [--margin-prior 16|off] [--centre-tasks 5] [--centre-prior κ | --centre-prior-per-sample 1.6] [--centre-exponent-prior 64] [--centre-own-choice] [--preprocess sqrt-l2] [--out bench-out/calibration] [--force]
 */
import { cpus } from 'node:os';
import { readFeatures } from '../src/data/features.node.ts';
import { writeOutputFolder } from '../src/data/outputs.node.ts';
import { checkPreprocessMethod } from '../src/model/preprocess.ts';
import { METHOD_INFO } from '../src/select/fewshot.ts';
import { calibrationMarkdown, runCalibrationBench } from '../src/select/calibration-bench.ts';

const args = process.argv.slice(2);
const opt = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const file = opt('--features') ?? '/work/features/omniglot_small_mobilenet_v2.npy';
const out = opt('--out') ?? 'bench-out/calibration';
const check = { inputs: [file], force: args.includes('--force') };
const fs = readFeatures(file);
const r = runCalibrationBench({ X: fs.X, labels: fs.labels }, {
  ways: (opt('--ways') ?? '2,5,20').split(',').map(Number), subsets: Number(opt('--subsets') ?? 10), seed: Number(opt('--seed') ?? 0),
  ...(opt('--preprocess') ? { preprocess: checkPreprocessMethod(opt('--preprocess')) } : {}),
  ...(opt('--prior') !== undefined ? { prior: Number(opt('--prior')) } : {}),
  ...(opt('--soft-prior') !== undefined ? { softPrior: Number(opt('--soft-prior')) } : {}),
  ...(opt('--margin-prior') !== undefined ? { marginPrior: opt('--margin-prior') === 'off' ? false : Number(opt('--margin-prior')) } : {}),
  ...(opt('--centre-tasks') !== undefined ? { centreTasks: Number(opt('--centre-tasks')) } : {}),
  ...(opt('--centre-prior') !== undefined ? { centrePrior: Number(opt('--centre-prior')) } : {}),
  ...(opt('--centre-prior-per-sample') !== undefined ? { centrePriorPerSample: Number(opt('--centre-prior-per-sample')) } : {}),
  ...(opt('--centre-exponent-prior') !== undefined ? { centreExponentPrior: Number(opt('--centre-exponent-prior')) } : {}),
  ...(args.includes('--centre-own-choice') ? { centreSameSetting: false } : {}),
});
const names = Object.fromEntries(Object.entries(METHOD_INFO).map(([k, v]) => [k, v.name]));
const machine = `${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}`;
const md = `${calibrationMarkdown(r, names)}\n\n${file}, seed ${r.seed}, ${r.subsets} tasks per N, prior on log T of strength ${r.prior} below 0 and ${r.softPrior} above, on the margin exponent ${r.marginPrior === false ? 'off (one T)' : `of strength ${r.marginPrior}`}${r.centreTasks > 0 ? `; centred rule: ${r.centreTasks} other tasks per task, priors κ ${r.centrePrior ?? `${r.centrePriorPerSample} × the task's validation samples`} on log T0 and γ ${r.centreExponentPrior} on β around their calibration${r.centreSameSetting ? ', the other tasks fitted with the task\'s own chosen setting' : ', each other task choosing its own setting'}` : ''}; ${r.seconds.toFixed(0)} s on ${machine}, ${new Date().toISOString()}\n`;
writeOutputFolder(out, { 'calibration.md': md, 'calibration.json': JSON.stringify({ features: file, command: `node --import tsx bench/calibration.ts ${args.join(' ')}`, machine, ...r }) + '\n' }, 'bench', check);
process.stdout.write(md);
