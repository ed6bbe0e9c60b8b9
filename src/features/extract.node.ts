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
  /** Threads computing features: a number, or "auto" (default: both cores when ≥ 64 images need computing, else 1). */
  workers?: number | 'auto';
  /** Cache directory (default `$PROTOLENS_CACHE` or `~/.cache/protolens`); `false` for none. */
  cacheDir?: string | false;
  /** Leave unreadable images out (reported in meta.dataset.skipped) instead of failing. */
  skipBad?: boolean;
  /** Called as images complete. */
  onProgress?: (p: { done: number; total: number; cached: number }) => void;
  /** Called once the model is loaded. */
  onReady?: (e: { threads: number; loadMs: number; from: string; cached: number; total: number }) => void;
}

/** Features of a dataset plus what the run did. */
export interface ExtractResult extends FeatureSet {
  paths: string[];
  stats: { total: number; cached: number; computed: number; skipped: number; threads: number; loadMs: number; extractMs: number; from: string };
}

/** The number of threads "auto" picks when `n` images need computing (not in the cache). */
export function autoWorkers(n: number): number {
  return n >= 64 ? Math.max(1, Math.min(availableParallelism(), 4)) : 1;
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * Extracts the features of every image of `dataset` (see `openImageDataset`).
 *
 * @returns `{ X, labels, paths, meta, stats }`: rows in the dataset's order, without the images
 *   left out by `skipBad` (listed in `meta.dataset.skipped`).
 * @throws BadImageError naming the file for an unreadable image (unless `skipBad`), and the
 *   loading errors of {@link loadBackboneNode} (unknown layer, missing model.json, …).
 * @example
 * const r = await extractDataset(openImageDataset('images/'), { backbone: 'mobilenet_v2' });
 * // r.X.cols === 1280, r.labels[i] is the folder of image r.paths[i]
 */
export async function extractDataset(dataset: ImageDataset, options: ExtractDatasetOptions): Promise<ExtractResult> {
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  const entries = dataset.entries;
  const n = entries.length;
  const wanted = options.workers ?? 'auto';
  if (wanted !== 'auto' && (!Number.isInteger(wanted) || wanted < 1)) throw new RangeError(`workers must be a positive integer or "auto", got ${String(options.workers)}`);
  const cacheDir = options.cacheDir === undefined ? defaultCacheDir() : options.cacheDir;
  const spec = { ...options, cacheDir } as ExtractorSpec & Partial<ExtractDatasetOptions>;
  delete spec.onProgress;
  delete spec.onReady;

  let extractor: Extractor | undefined;
  try {
    const skipped: BadEntry[] = [...dataset.skipped];
    const ok = new Uint8Array(n);
    let done = 0;
    let cached = 0;
    const bad = (i: number, reason: string): void => {
      if (!options.skipBad) throw new BadImageError(`${dataset.root}/${entries[i].path}`, reason, true);
      skipped.push({ path: entries[i].path, reason });
      done++;
    };
    const read = async (i: number): Promise<Uint8Array | undefined> => {
      try {
        return await dataset.read(entries[i]);
      } catch (e) {
        if (e instanceof BadImageError) { bad(i, e.reason); return undefined; }
        throw e;
      }
    };

    // Pass 1, with a cache: load the network here (its key names the cache), then look every image up.
    let cache: DiskFeatureCache | undefined;
    let data = new Float32Array(0);
    let misses: number[] = entries.map((_, i) => i);
    if (cacheDir) {
      extractor = await localExtractor(spec);
      const { info, preprocessing } = extractor;
      const key = await modelKey(info, preprocessing);
      cache = new DiskFeatureCache(cacheDir, key, info.dim, JSON.parse(modelKeyMaterial(info, preprocessing)));
      data = new Float32Array(n * info.dim);
      misses = [];
      for (let i = 0; i < n; i++) {
        const bytes = await read(i);
        if (!bytes) continue;
        const hit = await cache.get(sha256(bytes));
        if (hit) { data.set(hit, i * info.dim); ok[i] = 1; cached++; done++; } else misses.push(i);
      }
    }

    // Pass 2: compute the misses, on both cores when there are enough of them.
    const threads = wanted === 'auto' ? autoWorkers(misses.length) : wanted;
    if (misses.length > 0 && (!extractor || extractor.threads !== threads)) {
      await extractor?.close();
      extractor = undefined;
      extractor = threads > 1 ? await workerExtractor(spec, threads) : await localExtractor(spec);
    }
    if (!extractor) extractor = await localExtractor(spec);
    const ext = extractor;
    const dim = ext.info.dim;
    if (data.length !== n * dim) data = new Float32Array(n * dim);
    options.onReady?.({ threads: ext.threads, loadMs: ext.loadMs, from: ext.from, cached, total: n });
    options.onProgress?.({ done, total: n, cached });
    const t0 = performance.now();

    const doBatch = async (batch: number[]): Promise<void> => {
      const idx: number[] = [];
      const items: FileItem[] = [];
      const hashes: string[] = [];
      for (const i of batch) {
        const bytes = await read(i);
        if (!bytes) continue;
        idx.push(i);
        items.push({ bytes, where: `${dataset.root}/${entries[i].path}` });
        hashes.push(sha256(bytes));
      }
      if (items.length > 0) {
        const res = await ext.run(items);
        for (let r = 0; r < idx.length; r++) {
          const x = res[r];
          if ('bad' in x) { bad(idx[r], x.bad); continue; }
          data.set(x.v, idx[r] * dim);
          ok[idx[r]] = 1;
          done++;
          if (cache) await cache.set(hashes[r], x.v);
        }
      }
      options.onProgress?.({ done, total: n, cached });
    };

    // Keep every thread busy: two batches in flight per thread, taken in order.
    let next = 0;
    let failed = false;
    const lanes = Array.from({ length: ext.threads * 2 }, async () => {
      while (next < misses.length && !failed) {
        const batch = misses.slice(next, next + batchSize);
        next += batchSize;
        try {
          await doBatch(batch);
        } catch (e) {
          failed = true;
          throw e;
        }
      }
    });
    await Promise.all(lanes);
    const { info, preprocessing } = ext;
    const key = await modelKey(info, preprocessing);

    const keep: number[] = [];
    for (let i = 0; i < n; i++) if (ok[i]) keep.push(i);
    if (keep.length === 0) throw new RangeError(`${dataset.root}: none of the ${n} images could be read`);
    const X = { data: new Float32Array(keep.length * dim), rows: keep.length, cols: dim };
    keep.forEach((i, r) => X.data.set(data.subarray(i * dim, (i + 1) * dim), r * dim));
    const kept = keep.map((i) => entries[i]);
    const counts = classCounts(kept);
    const extractMs = performance.now() - t0;
    return {
      X,
      labels: kept.map((e) => e.label),
      paths: kept.map((e) => e.path),
      meta: {
        library: `protolens ${VERSION}`,
        created: new Date().toISOString(),
        backbone: { ...info, modelKey: key },
        preprocessing: { ...preprocessing },
        dataset: {
          root: dataset.root, kind: dataset.kind, images: kept.length, classes: counts.length,
          singleImageClasses: counts.filter((c) => c.count === 1).map((c) => c.label),
          skipped, ignored: dataset.ignored.length,
        },
      },
      stats: { total: n, cached, computed: n - cached - (skipped.length - dataset.skipped.length), skipped: skipped.length, threads: ext.threads, loadMs: ext.loadMs, extractMs, from: ext.from },
    };
  } finally {
    await extractor?.close();
  }
}
