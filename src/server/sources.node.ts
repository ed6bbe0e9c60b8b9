/**
 * What `protolens serve` shows: the embedded default (the handwritten digits of `protolens demo`,
 * from the `mnist` package, embedded by a backbone through the feature cache and fitted on the
 * spot like the demo's model), or a
 * feature file with an optional saved model and images folder.
 */
import { existsSync } from 'node:fs';
import { readFeatures } from '../data/features.node.ts';
import { mnistDigits } from '../data/mnist.node.ts';
import { alignLabels, checkFeaturesForModel, readPrototypeModel } from '../data/modelfile.node.ts';
import type { ImageDataset } from '../data/images.node.ts';
import type { Matrix } from '../linalg/matrix.ts';
import { PrototypeClassifier, type PrototypeOptions } from '../model/prototype.ts';
import { FeatureTransform, Pipeline, type PreprocessChoice } from '../model/preprocess.ts';
import { resolvePreprocess, type FeatureMeta } from '../data/featurefile.ts';
import { readReconstructions, reconstructorFor } from './reconstruct.node.ts';
import type { IterationRecord, Label } from '../model/types.ts';
import { backboneEmbedder, onnxInPage, parsePixelBackbone, pixelBackboneName, pixelFeatures, pixelEmbedder, poolOf, type BackboneMeta } from './embed.node.ts';
import type { Preprocessing } from '../features/pixels.ts';
import { isBundledEmbedding } from '../features/load.node.ts';
import type { Embedder, ExplorerSource, ImageStore } from './server.node.ts';
import { contentType, safeResolve } from './static.node.ts';

/** Progress of the long steps of loading a source. */
export interface SourceProgress {
  /** A line of news ("mobilenet_v2 loaded in 7.1 s"). */
  say?: (line: string) => void;
  /** Feature extraction: images done out of total. */
  onExtract?: (done: number, total: number, cached: number) => void;
  /** Model fitting: after each step. */
  onFit?: (record: IterationRecord, maxIter: number) => void;
}

/** Options of {@link digitsSource}. */
export interface DigitsOptions extends SourceProgress {
  /** Digits per class, the first ones of each class in the package (default 30: 300 images). */
  perClass?: number;
  /** `mobilenet_v2` (default), `inception_v3`, or `pixels-<n>` (grey pixels, no network). */
  backbone?: string;
  /** Feature cache folder (default `$PROTOLENS_CACHE` or ~/.cache/protolens); false for none. */
  cacheDir?: string | false;
  /** Threads embedding the digits not found in the cache (default "auto": both cores). */
  workers?: number | 'auto';
  /** Seed of the choice of digits (default 1, as `protolens demo`). */
  seed?: number;
  /** Options of the fitted model (default: the demo's, 3 prototypes per class and seed 1). */
  model?: PrototypeOptions;
}

function memoryImages(png: Uint8Array[]): ImageStore {
  return { count: png.length, get: async (i) => (i >= 0 && i < png.length ? { bytes: png[i], type: 'image/png' } : undefined) };
}

function fitModel(X: Matrix, y: Label[], options: PrototypeOptions, progress: SourceProgress): PrototypeClassifier {
  // Dead prototypes pruned, as `protolens fit` and the demo do, unless the options say otherwise.
  const m = new PrototypeClassifier({ prune: true, ...options });
  m.fit(X, y, progress.onFit);
  return m;
}

/**
 * The embedded default: mnist digits embedded by `backbone` (through the feature cache, so a
 * second start reads them back) and a prototype model fitted on them.
 */
export async function digitsSource(options: DigitsOptions = {}): Promise<ExplorerSource> {
  const perClass = options.perClass ?? 30;
  const backbone = options.backbone ?? 'mobilenet_v2';
  const { png, labels, names } = await mnistDigits(perClass, options.seed ?? 1);
  let X: Matrix;
  let embedder: Embedder;
  let meta: FeatureMeta = { backbone: { name: backbone } };
  const pix = parsePixelBackbone(backbone);
  if (pix !== undefined) {
    X = { data: new Float32Array(png.length * pix * pix), rows: png.length, cols: pix * pix };
    for (let i = 0; i < png.length; i++) X.data.set(await pixelFeatures(png[i], pix, names[i]), i * pix * pix);
    embedder = pixelEmbedder(pix);
  } else {
    const { extractDataset } = await import('../features/extract.node.ts');
    const dataset: ImageDataset = {
      root: 'mnist', kind: 'folder', skipped: [], ignored: [],
      entries: png.map((_, i) => ({ path: `${labels[i]}/${i}.png`, label: labels[i] })),
      read: async (e) => png[Number(e.path.slice(e.path.indexOf('/') + 1, -4))],
    };
    const r = await extractDataset(dataset, {
      backbone, cacheDir: options.cacheDir, workers: options.workers ?? 'auto',
      onReady: (e) => options.say?.(`${backbone}: loaded in ${(e.loadMs / 1000).toFixed(1)} s from ${e.from}`),
      onProgress: (p) => options.onExtract?.(p.done, p.total, p.cached),
    });
    X = r.X;
    options.say?.(`features: ${r.stats.computed} computed, ${r.stats.cached} from the cache`);
    meta = r.meta;
    const m = r.meta as { backbone?: BackboneMeta; preprocessing?: Preprocessing };
    const emb = backboneEmbedder({ backbone, cacheDir: options.cacheDir }, backbone, onnxInPage(m.backbone, m.preprocessing, options.cacheDir));
    embedder = emb;
  }
  const model = fitModel(X, labels, { nPrototypes: Math.min(30, png.length), seed: 1, ...options.model }, options);
  // Reconstructions start from the digits' blank image (the median pixel of 16 of them).
  const start = async () => (await import('../viz/lens.node.ts')).medianGrey(png.filter((_, i) => i % Math.max(1, Math.floor(png.length / 16)) === 0).slice(0, 16));
  const reconstructor = await reconstructorFor(meta, model, { file: 'the embedded digits', cacheDir: options.cacheDir, start });
  return {
    title: `mnist digits (${png.length}), ${backbone} features`,
    source: `${perClass} digits of each class of the mnist package (as protolens demo), embedded by ${pix !== undefined ? pixelBackboneName(pix) : backbone}`,
    X, y: labels, names, model, images: memoryImages(png), embedder, reconstructor,
  };
}

/** Options of {@link fileSource}. */
export interface FileSourceOptions extends SourceProgress {
  /** Feature file (.npy with sidecar, .csv, .jsonl) with labels. */
  features: string;
  /** A saved prototype model (JSON), alone or behind its feature transform (any model `protolens fit` writes); fitted on the spot when absent. */
  model?: string;
  /** Folder the feature file's `paths` are relative to; served under /files/. */
  images?: string;
  /** Options of a model fitted on the spot. */
  fit?: PrototypeOptions;
  /**
   * Feature preprocessing of a model fitted on the spot, resolved as `protolens fit` resolves it
   * (`resolvePreprocess`); default `auto`: the one the feature file recommends, else `sqrt-l2`.
   * Not with `model`, which carries its own.
   */
  preprocess?: PreprocessChoice;
  /** The reconstructions.json a report of the same model wrote (`protolens explain --reconstruct`): served as they are. Needs `model`. */
  reconstructions?: string;
  cacheDir?: string | false;
}

/**
 * The embedder followed by the model's feature transform, so that uploads land in the model's
 * space; the page embedding an upload itself (an ONNX backbone) is given the transform too.
 */
function transformed(embedder: Embedder | undefined, transform: FeatureTransform | null): Embedder | undefined {
  if (!embedder || !transform) return embedder;
  const inner = embedder as Embedder & { prefetch?: () => void };
  return {
    how: `${embedder.how}, then ${transform.method}`,
    prefetch: () => inner.prefetch?.(),
    ...(embedder.inPage ? { inPage: { ...embedder.inPage, spec: { ...embedder.inPage.spec, transform: transform.toJSON() } } } : {}),
    async embed(bytes) {
      const v = await embedder.embed(bytes);
      return transform.transform({ data: v, rows: 1, cols: v.length }).data;
    },
  } as Embedder;
}

/** How the shown features were preprocessed, for the source description: the method, and why when `auto` chose it. */
function preprocessedNote(transform: FeatureTransform | null, pre?: ReturnType<typeof resolvePreprocess>): string {
  if (!pre) return transform ? `, preprocessed ${transform.method}` : '';
  const why = pre.source === 'features' ? ' (as the features\' backbone recommends)' : pre.source === 'default' ? ' (the default for features that recommend none)' : '';
  return `, preprocessed ${pre.method}${why}`;
}

/**
 * A feature file, its model (loaded, or fitted on the spot) and, when named, its images. A saved
 * model behind a feature transform (a Pipeline, as `protolens fit` writes by default) is shown in
 * its own space: the samples and every uploaded image go through the transform first. A model
 * fitted on the spot is fitted behind the preprocessing `protolens fit` would use (`preprocess`,
 * default `auto`), shown the same way, and the source description names the method.
 * @throws RangeError naming the file when the features have no labels, or the model does not
 *   match them (made by another backbone, another dimension, unknown classes), or the
 *   reconstructions are not the model's ({@link readReconstructions}), or the sidecar's
 *   recommended preprocessing is not a method, or `preprocess` is given with `model`; TypeError
 *   when the model is not a prototype model.
 * @example
 * (await fileSource({ features: 'mobilenet.npy' })).source // 'mobilenet.npy (mobilenet_v2 features), model fitted on the spot, preprocessed sqrt-l2 (as the features' backbone recommends)'
 */
export async function fileSource(o: FileSourceOptions): Promise<ExplorerSource> {
  const fs = readFeatures(o.features);
  if (fs.labels.length !== fs.X.rows) throw new RangeError(`${o.features}: the features carry no labels; the explorer colours samples by class`);
  let y: Label[] = fs.labels.slice();
  let model: PrototypeClassifier;
  let X: Matrix = fs.X;
  let transform: FeatureTransform | null = null;
  let chosen: ReturnType<typeof resolvePreprocess> | undefined;
  if (o.model && o.preprocess !== undefined) throw new RangeError(`${o.model}: a saved model carries its own feature preprocessing; preprocess applies to a model fitted on the spot`);
  if (o.model) {
    const read = readPrototypeModel(o.model);
    checkFeaturesForModel(fs, read.saved, { features: o.features, model: o.model }, 'required');
    // Labels are compared as the model stores them (a number label read back from CSV is a string).
    y = alignLabels(y, read.saved);
    model = read.model;
    transform = read.transform;
    if (transform) X = transform.transform(fs.X);
  } else {
    // Preprocessed as `protolens fit` would (auto: the features' recommendation, else sqrt-l2).
    chosen = resolvePreprocess(o.preprocess ?? 'auto', fs.meta, o.features);
    transform = chosen.method === 'none' ? null : new FeatureTransform(chosen.method);
    if (transform) X = transform.fitTransform(fs.X);
    const K = new Set(y).size;
    model = fitModel(X, y, { nPrototypes: Math.min(fs.X.rows, 2 * K), seed: 0, ...o.fit }, o);
  }
  const paths = fs.paths;
  let images: ImageStore | undefined;
  if (o.images && paths && paths.length === fs.X.rows) {
    const root = o.images;
    images = {
      count: paths.length,
      async get(i) {
        const file = safeResolve(root, paths[i].split('/').map(encodeURIComponent).join('/'));
        if (!file) return undefined;
        const { readFile } = await import('node:fs/promises');
        return { bytes: new Uint8Array(await readFile(file)), type: contentType(file) };
      },
    };
  }
  const bb = (fs.meta as { backbone?: BackboneMeta }).backbone;
  const pre = (fs.meta as { preprocessing?: Preprocessing }).preprocessing;
  let embedder: Embedder | undefined;
  const pix = bb?.name ? parsePixelBackbone(bb.name) : undefined;
  if (pix !== undefined) embedder = pixelEmbedder(pix);
  else if (bb?.name === 'mobilenet_v2' || bb?.name === 'inception_v3') {
    // The runtime the features were extracted on (onnxruntime unless the sidecar says TF.js).
    const runtime = bb.kind === 'onnx' ? 'onnx' : 'tfjs';
    embedder = backboneEmbedder({ backbone: bb.name, layer: bb.layer, pool: poolOf(bb.pooling), tta: bb.tta, runtime, preprocessing: pre, cacheDir: o.cacheDir }, bb.name, onnxInPage(bb, pre, o.cacheDir));
  } else if (bb?.name && isBundledEmbedding(bb.name)) {
    embedder = backboneEmbedder({ backbone: bb.name, layer: bb.layer, pool: poolOf(bb.pooling), tta: bb.tta, preprocessing: pre, cacheDir: o.cacheDir }, bb.name);
  } else if (bb?.source && existsSync(bb.source) && (bb.kind === 'onnx' || bb.kind === 'layers' || bb.kind === 'graph')) {
    // A user's ONNX model or TF.js folder, found where it was when the features were extracted, cut and pooled the same way.
    embedder = backboneEmbedder({ backbone: bb.source, layer: bb.layer, pool: poolOf(bb.pooling), tta: bb.tta, preset: pre?.preset, preprocessing: pre, cacheDir: o.cacheDir }, bb.name, onnxInPage(bb, pre, o.cacheDir));
  }
  const images0 = o.images;
  const start = images0 && paths ? async () => (await import('../viz/lens.node.ts')).backgroundLevel(fs, images0) : undefined;
  const reconstructor = await reconstructorFor(fs.meta, transform ? new Pipeline(transform, model) : model, { file: o.features, cacheDir: o.cacheDir, start });
  if (o.reconstructions && !o.model) throw new RangeError(`${o.reconstructions}: reconstructions are of a saved model; give that model too`);
  const known = o.reconstructions ? readReconstructions(o.reconstructions, model.prototypes_!.rows, (j) => model.links(j).winningClass) : undefined;
  return {
    title: o.features.split('/').pop() ?? o.features,
    source: `${o.features}${bb?.name ? ` (${bb.name} features)` : ''}${o.model ? `, model ${o.model}` : ', model fitted on the spot'}${preprocessedNote(transform, chosen)}`,
    X, y, names: Array.from({ length: fs.X.rows }, (_, i) => paths?.[i] ?? `sample ${i}`),
    model, images, imagesDir: o.images, embedder: transformed(embedder, transform), reconstructor, ...(known ? { reconstructions: known } : {}),
  };
}
