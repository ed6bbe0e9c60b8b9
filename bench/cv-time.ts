/**
 * One cross-validated search (`protolens fit --cv`: the default grid, its 24 settings) on the first
 * classes of a feature file, timed, with fingerprints of what it found: every fold's accuracy and
 * log-loss and the refitted model's P and W (same fingerprints = the same search, bit for bit).
 * `--root` is the checkout whose src/ is used (default: this one), so two versions are compared on
 * the same rows in one run: `git worktree add /tmp/before <commit>` and `--root /tmp/before`.
 *
 *   node --import tsx bench/cv-time.ts --features F.npy [--classes 10] [--per-class 20] [--folds 3] [--threads 2] [--preprocess sqrt-l2] [--root DIR]
 *
 * Prints seconds, the chosen setting, the fingerprints, and (when the version has it) how often
 * the learned metric's start was remembered rather than computed.
 */
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const { values } = parseArgs({ options: {
  features: { type: 'string' }, classes: { type: 'string', default: '10' }, 'per-class': { type: 'string', default: '20' },
  folds: { type: 'string', default: '3' }, threads: { type: 'string', default: '2' }, preprocess: { type: 'string', default: 'sqrt-l2' },
  root: { type: 'string', default: resolve(import.meta.dirname, '..') },
} });
if (!values.features) throw new Error('usage: --features F.npy [--classes 10] [--per-class 20] [--folds 3] [--threads 2] [--preprocess sqrt-l2] [--root DIR]');
const src = (p: string) => pathToFileURL(resolve(values.root, 'src', p)).href;
const { readFeatures } = await import(src('data/features.node.ts'));
const { enableNodeGemm } = await import(src('linalg/gemm-native.node.ts'));
const { FeatureTransform } = await import(src('model/preprocess.ts'));
const { PrototypeClassifierCV } = await import(src('select/cv.ts'));
const { workerRunner } = await import(src('select/cv-workers.node.ts'));
const proto = await import(src('model/prototype.ts'));
const gemm = enableNodeGemm();
const fs = readFeatures(values.features);

// The first `classes` labels in file order, the first `per-class` rows of each.
const want = Number(values.classes), per = Number(values['per-class']);
const classes: unknown[] = [], taken = new Map<unknown, number>(), rows: number[] = [];
fs.labels.forEach((l: unknown, i: number) => {
  if (!taken.has(l)) { if (classes.length >= want) return; classes.push(l); taken.set(l, 0); }
  if (taken.get(l)! < per) { taken.set(l, taken.get(l)! + 1); rows.push(i); }
});
const D = fs.X.cols, data = new Float32Array(rows.length * D);
rows.forEach((r, k) => data.set(fs.X.data.subarray(r * D, (r + 1) * D), k * D));
const raw = { data, rows: rows.length, cols: D };
const X = values.preprocess === 'none' ? raw : new FeatureTransform(values.preprocess).fitTransform(raw);
const y = rows.map((r) => fs.labels[r]);

const t0 = Date.now();
const cv = await new PrototypeClassifierCV({ folds: Number(values.folds), seed: 0 }).fitWith(workerRunner(Number(values.threads)), X, y);
const seconds = (Date.now() - t0) / 1000;
const h = (a: ArrayLike<number>) => createHash('sha256').update(Buffer.from(Float64Array.from(a).buffer)).digest('hex').slice(0, 16);
const s = cv.search_;
const folds = s.candidates.flatMap((c: { foldAccuracy: number[]; foldLogLoss: number[] }) => [...c.foldAccuracy, ...c.foldLogLoss]);
const chosen = s.candidates[s.chosen];
const memo = proto.metricStartMemoStats ? ` memo (this thread's refit): ${JSON.stringify(proto.metricStartMemoStats())}` : '';
console.log(`${values.root} (${gemm.backend}), ${values.features}: ${rows.length} rows × ${D}, ${classes.length} classes, ${values.folds} folds, ${s.candidates.length} settings, ${values.threads} threads: ${seconds.toFixed(1)} s; chosen ${JSON.stringify(chosen.params)} (${chosen.mean.toFixed(4)}); folds ${h(folds)}, P ${h(cv.best_.prototypes_.data)}, W ${h(cv.best_.W_.data)}${memo}`);
