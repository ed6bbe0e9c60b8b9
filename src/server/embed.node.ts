/**
 * Embedders for the explorer's "classify an image": an uploaded image's bytes → a feature vector
 * made the same way as the features on the map.
 *
 * - {@link backboneEmbedder}: a CNN backbone through the feature extractor of
 *   src/features (loaded on first use, kept, one image at a time);
 * - {@link pixelEmbedder}: the image's own grey pixels, resized to size×size and scaled to
 *   [0, 1] — a "backbone" with no network, for tests and quick looks at small images.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import sharp from 'sharp';
import { defaultCacheDir } from '../features/cache.node.ts';
import { convertedBytes } from '../features/converted.node.ts';
import { convertedSpec, isBuiltin } from '../features/load.node.ts';
import type { PoolMode } from '../features/onnx-backbone.ts';
import type { Preprocessing } from '../features/pixels.ts';
import type { InPageEmbedding } from '../viz/mapdata.ts';
import { BadImageError } from '../data/images.ts';
import type { Extractor, ExtractorSpec } from '../features/extractor.node.ts';
import type { Embedder } from './server.node.ts';

/** Name of the pixel "backbone" for a given size, as recorded in feature metadata. */
export function pixelBackboneName(size: number): string {
  return `pixels-${size}`;
}

/** Parses "pixels-14" into 14; undefined for other names. */
export function parsePixelBackbone(name: string): number | undefined {
  const m = /^pixels-(\d{1,3})$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * Grey pixels of an image resized to size×size (bilinear, like TF.js without aligned corners,
 * through libvips), scaled to [0, 1], row-major; alpha is composited onto black.
 * @throws BadImageError naming `where` when the bytes are not an image.
 */
export async function pixelFeatures(bytes: Uint8Array, size: number, where = 'image'): Promise<Float32Array> {
  let raw: Buffer;
  try {
    raw = await sharp(bytes).flatten({ background: '#000000' }).greyscale().resize(size, size, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
  } catch (e) {
    throw new BadImageError(where, `not a readable image (${(e as Error).message})`);
  }
  const out = new Float32Array(size * size);
  const ch = raw.length / (size * size);
  for (let i = 0; i < out.length; i++) out[i] = raw[i * ch] / 255;
  return out;
}

/** An embedder by raw grey pixels. */
export function pixelEmbedder(size: number): Embedder {
  return { how: `grey pixels resized to ${size}×${size}, in the server`, embed: (b) => pixelFeatures(b, size, 'upload') };
}

/**
 * An embedder by a CNN backbone (`mobilenet_v2`, `inception_v3` or a model folder), loaded in
 * this thread on first use (MobileNetV2: about 7 s). `prefetch()` starts the load early.
 */
export function backboneEmbedder(spec: ExtractorSpec, title = spec.backbone, inPage?: Embedder['inPage']): Embedder & { prefetch(): void; close(): Promise<void> } {
  let extractor: Promise<Extractor> | undefined;
  const get = () => {
    if (!extractor) {
      extractor = import('../features/extractor.node.ts').then((m) => m.localExtractor(spec));
      extractor.catch(() => { extractor = undefined; });
    }
    return extractor;
  };
  return {
    how: `${title}, in the server`,
    inPage,
    prefetch() { get().catch(() => undefined); },
    async embed(bytes) {
      const e = await get();
      const [r] = await e.run([{ bytes, where: 'upload' }]);
      if ('bad' in r) throw new BadImageError('upload', r.bad);
      return r.v;
    },
    async close() {
      if (extractor) await (await extractor).close();
    },
  };
}

/** What a feature file's sidecar says about its backbone (the fields {@link onnxInPage} reads). */
export interface BackboneMeta {
  name?: string;
  layer?: string;
  kind?: string;
  pooling?: string;
  dim?: number;
  source?: string;
  weightsHash?: string;
  /** Test-time shifts (src/features/tta.ts); the page does not average them, so the server embeds. */
  tta?: number;
}

/**
 * The `--pool` value that gives a sidecar's `pooling`.
 * @example
 * poolOf('global-max') // 'max'
 */
export function poolOf(pooling: string | undefined): PoolMode {
  return pooling === 'global-max' ? 'max' : pooling === 'global-average' ? 'avg' : 'none';
}

/**
 * How the page can embed uploads itself (onnxruntime-web) for features of an ONNX backbone: a
 * user's `.onnx` file still where the sidecar says and with the same SHA-256, or a bundled network
 * on onnxruntime (its converted graph, from the cache or converted again). Undefined otherwise,
 * and the server embeds uploads.
 */
export function onnxInPage(bb: BackboneMeta | undefined, preprocessing: Preprocessing | undefined, cacheDir: string | false | undefined): Embedder['inPage'] {
  if (bb?.kind !== 'onnx' || !bb.name || !bb.layer || !bb.dim || !preprocessing || bb.tta) return undefined;
  const spec: InPageEmbedding = { name: bb.name, layer: bb.layer, pool: poolOf(bb.pooling), preprocessing, dim: bb.dim };
  if (isBuiltin(bb.name)) {
    const name = bb.name;
    return { spec, model: async () => convertedBytes(convertedSpec(name, { cacheDir: cacheDir === undefined ? defaultCacheDir() : cacheDir })).bytes };
  }
  const file = bb.source;
  if (!file || !existsSync(file)) return undefined;
  const bytes = new Uint8Array(readFileSync(file));
  if (createHash('sha256').update(bytes).digest('hex') !== bb.weightsHash) return undefined;
  return { spec, model: async () => bytes };
}
