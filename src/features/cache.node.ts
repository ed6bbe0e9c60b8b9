/**
 * The on-disk feature cache: one small file per (model key, image content hash), written
 * atomically, so a re-run finds every vector and an interrupted run resumes where it stopped.
 *
 * Layout under the cache directory (`$PROTOLENS_CACHE`, else `~/.cache/protolens`):
 *
 *     features/<model key, 16 hex>/info.json         what the key stands for
 *     features/<model key, 16 hex>/<aa>/<image sha256>.f32   dim little-endian float32 values,
 *                                                            their CRC-32 and "PLF1" (see {@link cacheEntry})
 *     models/<name>-<bundle key, 16 hex>/model.json + weights.bin   converted nsfwjs weights
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic, writeFileAtomicSync } from '../data/atomic.node.ts';
import type { FeatureCache } from './cache.ts';
import { crc32 } from '../data/zip.ts';

/** "PLF1", little-endian: the last 4 bytes of a cache entry of this format. */
const CACHE_MAGIC = 0x31464c50;

/**
 * The bytes of a cache entry: the vector (little-endian float32), its CRC-32, then "PLF1".
 * @example
 * cacheEntry(Float32Array.of(1, 2)).length // 16
 */
export function cacheEntry(v: Float32Array): Uint8Array {
  const n = v.length * 4;
  const out = new Uint8Array(n + 8);
  out.set(new Uint8Array(v.buffer, v.byteOffset, n));
  const dv = new DataView(out.buffer);
  dv.setUint32(n, crc32(out.subarray(0, n)), true);
  dv.setUint32(n + 4, CACHE_MAGIC, true);
  return out;
}

/** `$PROTOLENS_CACHE`, else `~/.cache/protolens`. */
export function defaultCacheDir(): string {
  return process.env.PROTOLENS_CACHE || join(homedir(), '.cache', 'protolens');
}

/** Feature vectors of one model key, on disk. */
export class DiskFeatureCache implements FeatureCache {
  readonly dir: string;
  /**
   * @param root - the cache directory.
   * @param key - the model key (hex); its first 16 characters name the folder.
   * @param dim - vector length; files of another length are treated as missing.
   * @param describe - written once to `info.json` so a person can tell what the folder holds.
   */
  constructor(root: string, readonly key: string, readonly dim: number, describe: unknown) {
    this.dir = join(root, 'features', key.slice(0, 16));
    const info = join(this.dir, 'info.json');
    if (!existsSync(info)) writeFileAtomicSync(info, JSON.stringify({ key, dim, describe }, null, 2) + '\n');
  }

  private file(h: string): string {
    return join(this.dir, h.slice(0, 2), `${h}.f32`);
  }

  /**
   * The vector of an image, or undefined when it is missing or damaged: an entry whose length,
   * trailer or CRC-32 is wrong (cut short, overwritten) is treated as missing, so it is
   * recomputed and never read as features. Entries of the first format (the raw vector, no
   * trailer) are read when their length is right.
   */
  async get(h: string): Promise<Float32Array | undefined> {
    let b: Buffer;
    try {
      b = await readFile(this.file(h));
    } catch {
      return undefined;
    }
    const n = this.dim * 4;
    if (b.length === n + 8) {
      if (b.readUInt32LE(n + 4) !== CACHE_MAGIC || b.readUInt32LE(n) !== crc32(b.subarray(0, n))) return undefined;
    } else if (b.length !== n) return undefined;
    const out = new Float32Array(this.dim);
    new Uint8Array(out.buffer).set(b.subarray(0, n));
    return out;
  }

  /** Stores a vector with its CRC-32 and a format mark after it, atomically. */
  async set(h: string, v: Float32Array): Promise<void> {
    if (v.length !== this.dim) throw new RangeError(`feature cache: vector of length ${v.length}, expected ${this.dim}`);
    await writeFileAtomic(this.file(h), cacheEntry(v));
  }
}
