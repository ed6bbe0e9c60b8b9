/**
 * `extractFeatures`: decoded images in, a feature matrix out. Browser-safe (the web explorer
 * calls it with `ImageData`s); the CLI's Node pipeline (`extract.node.ts`) adds file reading,
 * an on-disk cache and worker threads around the same {@link Backbone.embed}.
 */
import type { Matrix } from '../linalg/matrix.ts';
import type { Backbone } from './backbone.ts';
import type { FeatureCache } from './cache.ts';
import type { PixelImage } from './preprocess.ts';

/** Options of {@link extractFeatures}. */
export interface ExtractOptions {
  /** Images per forward pass (default 8). Features do not depend on it beyond float rounding. */
  batchSize?: number;
  /** Where to look vectors up and store them. Needs `keys`. */
  cache?: FeatureCache;
  /** One cache key per image, normally the SHA-256 of the image file ({@link sha256Hex}). */
  keys?: readonly string[];
  /** Called after each batch with the number of images done (cached ones included). */
  onProgress?: (done: number, total: number) => void;
}

const defaults: Required<Pick<ExtractOptions, 'batchSize'>> = { batchSize: 8 };

/**
 * Features of `images` through `backbone`, one row per image, in order.
 *
 * @throws RangeError when `batchSize` is not a positive integer, `keys` has the wrong length or
 *   a cache is given without keys, and (naming the image) on malformed pixels.
 * @example
 * const X = await extractFeatures([imageData], backbone); // X.rows === 1, X.cols === backbone.info.dim
 */
export async function extractFeatures(images: readonly PixelImage[], backbone: Backbone, options: ExtractOptions = {}): Promise<Matrix> {
  const { batchSize, cache, keys, onProgress } = { ...defaults, ...options };
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  if (keys !== undefined && keys.length !== images.length) throw new RangeError(`keys: ${keys.length} keys for ${images.length} images`);
  if (cache && !keys) throw new RangeError('a cache needs one key per image (options.keys)');
  const dim = backbone.info.dim;
  const n = images.length;
  const data = new Float32Array(n * dim);
  const todo: number[] = [];
  for (let i = 0; i < n; i++) {
    const hit = cache && keys ? await cache.get(keys[i]) : undefined;
    if (hit && hit.length === dim) data.set(hit, i * dim);
    else todo.push(i);
  }
  let done = n - todo.length;
  onProgress?.(done, n);
  for (let s = 0; s < todo.length; s += batchSize) {
    const idx = todo.slice(s, s + batchSize);
    const v = await backbone.embed(idx.map((i) => images[i]));
    for (let r = 0; r < idx.length; r++) {
      const row = v.subarray(r * dim, (r + 1) * dim);
      data.set(row, idx[r] * dim);
      if (cache && keys) await cache.set(keys[idx[r]], row.slice());
    }
    done += idx.length;
    onProgress?.(done, n);
  }
  return { data, rows: n, cols: dim };
}
