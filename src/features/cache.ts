/**
 * Feature caches: where extracted vectors are kept so that an image is never run through the
 * same network twice. Browser-safe: the interface, an in-memory cache and the key rules. The
 * on-disk cache is in `cache.node.ts`.
 *
 * A cached vector is found by two keys: the *model key*, a SHA-256 of everything that decides the
 * features except the image (backbone name, layer, dimension, pooling, weights hash, runtime when
 * it is onnxruntime, preprocessing), and the image's own SHA-256 content hash. Change any of them and the cache
 * misses.
 */
import type { BackboneInfo } from './backbone.ts';
import type { Preprocessing } from './preprocess.ts';

/** Stores one vector per image content hash, for one model key. */
export interface FeatureCache {
  get(imageHash: string): Promise<Float32Array | undefined>;
  set(imageHash: string, v: Float32Array): Promise<void>;
}

/** A cache in memory (tests, the browser). */
export class MemoryFeatureCache implements FeatureCache {
  private readonly m = new Map<string, Float32Array>();
  async get(h: string): Promise<Float32Array | undefined> {
    const v = this.m.get(h);
    return v ? v.slice() : undefined;
  }
  async set(h: string, v: Float32Array): Promise<void> {
    this.m.set(h, v.slice());
  }
  get size(): number {
    return this.m.size;
  }
}

/** Lower-case hex SHA-256 of bytes (Web Crypto: Node ≥ 20 and browsers). */
export async function sha256Hex(bytes: Uint8Array | string): Promise<string> {
  const b = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
  const d = await globalThis.crypto.subtle.digest('SHA-256', new Uint8Array(b));
  return [...new Uint8Array(d)].map((x) => x.toString(16).padStart(2, '0')).join('');
}

/** What the model key hashes: everything about the features but the image. */
export function modelKeyMaterial(info: BackboneInfo, p: Preprocessing): string {
  // Fields added since version 1 enter the key only when set, so that earlier keys stay valid.
  const added = { shorterSide: p.shorterSide, antialias: p.antialias, mean: p.mean, std: p.std };
  return JSON.stringify({
    name: info.name, layer: info.layer, dim: info.dim, pooling: info.pooling, weightsHash: info.weightsHash,
    ...(info.kind === 'onnx' ? { runtime: 'onnxruntime' } : {}),
    ...(info.tta ? { tta: info.tta } : {}),
    preprocessing: { height: p.height, width: p.width, resize: p.resize, alignCorners: p.alignCorners, range: p.range, colour: p.colour, ...added },
  });
}

/** The model key (hex SHA-256) of a backbone with its preprocessing. */
export function modelKey(info: BackboneInfo, p: Preprocessing): Promise<string> {
  return sha256Hex(modelKeyMaterial(info, p));
}
