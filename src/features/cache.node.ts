/**
 * The on-disk feature cache: one small file per (model key, image content hash), written
 * atomically, so a re-run finds every vector and an interrupted run resumes where it stopped.
 *
 * Layout under the cache directory (`$PROTOLENS_CACHE`, else `~/.cache/protolens`):
 *
 *     features/<model key, 16 hex>/info.json         what the key stands for
 *     features/<model key, 16 hex>/<aa>/<image sha256>.f32   dim little-endian float32 values
 *     models/<name>-<bundle key, 16 hex>/model.json + weights.bin   converted nsfwjs weights
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic, writeFileAtomicSync } from '../data/atomic.node.ts';
import type { FeatureCache } from './cache.ts';

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

  async get(h: string): Promise<Float32Array | undefined> {
    let b: Buffer;
    try {
      b = await readFile(this.file(h));
    } catch {
      return undefined;
    }
    if (b.length !== this.dim * 4) return undefined;
    const out = new Float32Array(this.dim);
    new Uint8Array(out.buffer).set(b);
    return out;
  }

  async set(h: string, v: Float32Array): Promise<void> {
    if (v.length !== this.dim) throw new RangeError(`feature cache: vector of length ${v.length}, expected ${this.dim}`);
    await writeFileAtomic(this.file(h), new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  }
}
