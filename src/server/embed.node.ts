/**
 * Embedders for the explorer's "classify an image": an uploaded image's bytes → a feature vector
 * made the same way as the features on the map.
 *
 * - {@link backboneEmbedder}: a CNN backbone through the feature extractor of
 *   src/features (loaded on first use, kept, one image at a time);
 * - {@link pixelEmbedder}: the image's own grey pixels, resized to size×size and scaled to
 *   [0, 1] — a "backbone" with no network, for tests and quick looks at small images.
 */
import sharp from 'sharp';
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
export function backboneEmbedder(spec: ExtractorSpec, title = spec.backbone): Embedder & { prefetch(): void; close(): Promise<void> } {
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
