/**
 * Features of a whole image dataset in Node: what `protolens extract` runs.
 *
 * Images are read and hashed (SHA-256 of the file bytes) in this thread; vectors found in the
 * on-disk cache are used as they are, the others are computed by an {@link Extractor} (this
 * thread, or worker threads) in batches, and each batch is written to the cache as soon as it
 * is done, so that an interrupted run resumes where it stopped.
 */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { ImageDataset } from '../data/images.node.ts';
import { BadImageError, classCounts, type BadEntry } from '../data/images.ts';
import type { FeatureSet } from '../data/featurefile.ts';
import { VERSION } from '../version.ts';
import { modelKey, modelKeyMaterial } from './cache.ts';
import { DiskFeatureCache, defaultCacheDir } from './cache.node.ts';
import { localExtractor, workerExtractor, type Extractor, type ExtractorSpec, type FileItem } from './extractor.node.ts';

/** Options of {@link extractDataset}. */
export interface ExtractDatasetOptions extends ExtractorSpec {
  /** Images per forward pass (default 8). */
  batchSize?: number;
  /**
   * Threads computing features: a number (capped at the cores and at the batches to compute), or
   * "auto" (default: both cores when ≥ 64 images need computing, else 1).
   */
  workers?: number | 'auto';
  /** Cache directory (default `$PROTOLENS_CACHE` or `~/.cache/protolens`); `false` for none. */
  cacheDir?: string | false;
  /** Leave unreadable images out (reported in meta.dataset.skipped) instead of failing. */
  skipBad?: boolean;
  /** Called as images complete. */
  onProgress?: (p: { done: number; total: number; cached: number }) => void;
  /** Called once the model is loaded. */
  onReady?: (e: { threads: number; loadMs: number; from: string; note?: string; cached: number; total: number }) => void;
}

/** Features of a dataset plus what the run did. */
export interface ExtractResult extends FeatureSet {
  paths: string[];
  /** `threads`: all threads that computed (workers × onnxruntime's intra-op threads); `workers`: the networks loaded for it. */
  stats: { total: number; cached: number; computed: number; skipped: number; threads: number; workers: number; loadMs: number; extractMs: number; from: string };
}

/** The number of threads "auto" picks when `n` images need computing (not in the cache). */
export function autoWorkers(n: number): number {
  return n >= 64 ? Math.max(1, Math.min(availableParallelism(), 4)) : 1;
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** The state of one extraction run, shared by its steps. */
interface Run {
  dataset: ImageDataset;
  options: ExtractDatasetOptions;
  n: number;
  /** Bad files: those of the listing, then those found while reading or decoding. */
  skipped: BadEntry[];
  /** 1 for the rows whose feature is known. */
  ok: Uint8Array;
  /** n × dim features, in the dataset's order. */
  data: Float32Array;
  done: number;
  cached: number;
  cache?: DiskFeatureCache;
}

/** Checks the options and fills in the defaults. @throws RangeError for a bad batch size or thread count. */
function resolveOptions(options: ExtractDatasetOptions): { batchSize: number; wanted: number | 'auto'; cacheDir: string | false; spec: ExtractorSpec } {
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  const wanted = options.workers ?? 'auto';
  if (wanted !== 'auto' && (!Number.isInteger(wanted) || wanted < 1)) throw new RangeError(`workers must be a positive integer or "auto", got ${String(options.workers)}`);
  const cacheDir = options.cacheDir === undefined ? defaultCacheDir() : options.cacheDir;
  const spec = { ...options, cacheDir } as ExtractorSpec & Partial<ExtractDatasetOptions>;
  delete spec.onProgress;
  delete spec.onReady;
  return { batchSize, wanted, cacheDir, spec };
}

/** Records image i as bad (left out with skipBad). @throws BadImageError naming it, without skipBad. */
function markBad(run: Run, i: number, reason: string): void {
  const e = run.dataset.entries[i];
  if (!run.options.skipBad) throw new BadImageError(`${run.dataset.root}/${e.path}`, reason, true);
  run.skipped.push({ path: e.path, reason });
  run.done++;
}

/** The bytes of image i, or undefined when it cannot be read (then marked bad). */
async function readEntry(run: Run, i: number): Promise<Uint8Array | undefined> {
  try {
    return await run.dataset.read(run.dataset.entries[i]);
  } catch (e) {
    if (e instanceof BadImageError) { markBad(run, i, e.reason); return undefined; }
    throw e;
  }
}

/** Pass 1: looks every image up in the cache (keyed by the network, loaded here) and returns the misses. */
async function lookUpCache(run: Run, extractor: Extractor, cacheDir: string): Promise<number[]> {
  const { info, preprocessing } = extractor;
  const key = await modelKey(info, preprocessing);
  run.cache = new DiskFeatureCache(cacheDir, key, info.dim, JSON.parse(modelKeyMaterial(info, preprocessing)));
  run.data = new Float32Array(run.n * info.dim);
  const misses: number[] = [];
  for (let i = 0; i < run.n; i++) {
    const bytes = await readEntry(run, i);
    if (!bytes) continue;
    const hit = await run.cache.get(sha256(bytes));
    if (hit) { run.data.set(hit, i * info.dim); run.ok[i] = 1; run.cached++; run.done++; } else misses.push(i);
  }
  return misses;
}

/**
 * The threads pass 2 runs on: "auto" as {@link autoWorkers}; a number is capped at the cores and
 * at the batches to compute, since each thread loads its own copy of the network (1,000 threads
 * for 4 images used to load 1,000 networks, which never finished).
 * @example
 * threadsFor(1000, 4, 8) // 1: one batch of 4 images
 */
export function threadsFor(wanted: number | 'auto', misses: number, batchSize: number): number {
  if (wanted === 'auto') return autoWorkers(misses);
  return Math.max(1, Math.min(wanted, availableParallelism(), Math.ceil(misses / batchSize)));
}

/** Pass 2's extractor: the one already loaded when it has the threads the misses call for, else a new one. */
async function extractorFor(loaded: Extractor | undefined, misses: number, wanted: number | 'auto', batchSize: number, spec: ExtractorSpec): Promise<Extractor> {
  const threads = threadsFor(wanted, misses, batchSize);
  // On onnxruntime "auto" runs one network with `threads` intra-op threads rather than `threads`
  // workers of one: as fast on large jobs, faster on a few batches (no uneven split between
  // workers), one copy of the network in memory (BENCHMARKS.md, "Issue 16: the speed table on a
  // quiet machine").
  if (wanted === 'auto' && threads > 1 && spec.threads === undefined && loaded?.from.startsWith('onnx')) {
    await loaded.close();
    return localExtractor({ ...spec, threads });
  }
  if (loaded && (misses === 0 || loaded.threads === threads)) return loaded;
  await loaded?.close();
  if (misses === 0) return localExtractor(spec);
  return threads > 1 ? workerExtractor(spec, threads) : localExtractor(spec);
}

/** Computes one batch of images, writes each feature to the cache as soon as it is known. */
async function computeBatch(run: Run, ext: Extractor, batch: readonly number[]): Promise<void> {
  const { dataset, options } = run;
  const idx: number[] = [];
  const items: FileItem[] = [];
  const hashes: string[] = [];
  for (const i of batch) {
    const bytes = await readEntry(run, i);
    if (!bytes) continue;
    idx.push(i);
    items.push({ bytes, where: `${dataset.root}/${dataset.entries[i].path}` });
    hashes.push(sha256(bytes));
  }
  if (items.length > 0) {
    const res = await ext.run(items);
    for (let r = 0; r < idx.length; r++) {
      const x = res[r];
      if ('bad' in x) { markBad(run, idx[r], x.bad); continue; }
      run.data.set(x.v, idx[r] * ext.info.dim);
      run.ok[idx[r]] = 1;
      run.done++;
      if (run.cache) await run.cache.set(hashes[r], x.v);
    }
  }
  options.onProgress?.({ done: run.done, total: run.n, cached: run.cached });
}

/** Pass 2: computes the misses in batches, keeping every thread busy (two batches in flight per thread, taken in order). */
async function computeMisses(run: Run, ext: Extractor, misses: readonly number[], batchSize: number): Promise<void> {
  let next = 0;
  let failed = false;
  const lanes = Array.from({ length: ext.threads * 2 }, async () => {
    while (next < misses.length && !failed) {
      const batch = misses.slice(next, next + batchSize);
      next += batchSize;
      try {
        await computeBatch(run, ext, batch);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  });
  await Promise.all(lanes);
}

/** The rows that were read, with their labels, paths, the sidecar's metadata and the run's figures. */
async function assembleResult(run: Run, ext: Extractor, extractMs: number): Promise<ExtractResult> {
  const { dataset, n, ok, skipped } = run;
  const { info, preprocessing } = ext;
  const dim = info.dim;
  const key = await modelKey(info, preprocessing);
  const keep: number[] = [];
  for (let i = 0; i < n; i++) if (ok[i]) keep.push(i);
  if (keep.length === 0) throw new RangeError(`${dataset.root}: none of the ${n} images could be read`);
  const X = { data: new Float32Array(keep.length * dim), rows: keep.length, cols: dim };
  keep.forEach((i, r) => X.data.set(run.data.subarray(i * dim, (i + 1) * dim), r * dim));
  const kept = keep.map((i) => dataset.entries[i]);
  const labelled = dataset.labelled !== false;
  const counts = labelled ? classCounts(kept) : [];
  return {
    X,
    labels: labelled ? kept.map((e) => e.label) : [],
    paths: kept.map((e) => e.path),
    meta: {
      library: `protolens ${VERSION}`,
      created: new Date().toISOString(),
      backbone: { ...info, modelKey: key },
      preprocessing: { ...preprocessing },
      dataset: {
        root: dataset.root, kind: dataset.kind, labelled, images: kept.length, classes: counts.length,
        singleImageClasses: counts.filter((c) => c.count === 1).map((c) => c.label),
        skipped, ignored: dataset.ignored.length,
      },
    },
    stats: {
      total: n, cached: run.cached, computed: n - run.cached - (skipped.length - dataset.skipped.length), skipped: skipped.length,
      threads: ext.threads * ext.intraOpThreads, workers: ext.threads, loadMs: ext.loadMs, extractMs, from: ext.from,
    },
  };
}

/**
 * Extracts the features of every image of `dataset` (see `openImageDataset`), in named steps:
 * look every image up in the cache ({@link lookUpCache}), pick the extractor for the misses
 * ({@link extractorFor}), compute them ({@link computeMisses}), keep the rows that were read
 * ({@link assembleResult}).
 *
 * @returns `{ X, labels, paths, meta, stats }`: rows in the dataset's order, without the images
 *   left out by `skipBad` (listed in `meta.dataset.skipped`); no labels (an empty array) for an
 *   unlabelled dataset.
 * @throws BadImageError naming the file for an unreadable image (unless `skipBad`, which the
 *   message names), and the loading errors of {@link loadBackboneNode} (unknown layer, missing
 *   model.json, …).
 * @example
 * const r = await extractDataset(openImageDataset('images/'), { backbone: 'mobilenet_v2' });
 * // r.X.cols === 1280, r.labels[i] is the folder of image r.paths[i]
 */
export async function extractDataset(dataset: ImageDataset, options: ExtractDatasetOptions): Promise<ExtractResult> {
  const { batchSize, wanted, cacheDir, spec } = resolveOptions(options);
  const n = dataset.entries.length;
  const run: Run = { dataset, options, n, skipped: [...dataset.skipped], ok: new Uint8Array(n), data: new Float32Array(0), done: 0, cached: 0 };
  let extractor: Extractor | undefined;
  try {
    let misses = dataset.entries.map((_, i) => i);
    if (cacheDir) {
      extractor = await localExtractor(spec);
      misses = await lookUpCache(run, extractor, cacheDir);
    }
    const loaded = extractor;
    extractor = undefined; // extractorFor closes it when it does not keep it
    extractor = await extractorFor(loaded, misses.length, wanted, batchSize, spec);
    const ext = extractor;
    if (run.data.length !== n * ext.info.dim) run.data = new Float32Array(n * ext.info.dim);
    options.onReady?.({ threads: ext.threads * ext.intraOpThreads, loadMs: ext.loadMs, from: ext.from, note: ext.note, cached: run.cached, total: n });
    options.onProgress?.({ done: run.done, total: n, cached: run.cached });
    const t0 = performance.now();
    await computeMisses(run, ext, misses, batchSize);
    return await assembleResult(run, ext, performance.now() - t0);
  } finally {
    await extractor?.close();
  }
}
