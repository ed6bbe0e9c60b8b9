/**
 * The learned metric's start, remembered by content. A cross-validated search fits every low-rank
 * setting on each fold's rows (16 of the default grid's 24), and the start — the principal basis of
 * wide features and the shrinkage-LDA whitening in it — depends only on the rows, their classes,
 * the seed, the shrinkage and the rank: the same for the 16 settings but for the shrinkage. It is
 * two thirds of a low-rank fit on a few hundred rows (BENCHMARKS.md, "The learned metric's start
 * remembered"), so computing it once per fold and shrinkage saves most of a search's time while
 * every fit stays bit-identical.
 *
 * Entries are keyed by two independent 32-bit hashes of every value's bits (of X and of the class
 * codes) with the shape and the settings, so rows changed in place never meet a stale start; the
 * least recently used entry beyond {@link START_MEMO_ENTRIES} is dropped. Values are handed out as
 * copies: a fit may change its own.
 *
 * Browser-safe: plain typed arrays.
 */

/** Entries kept (one per fold and shrinkage of a search: the default 5 folds × 2 shrinkages fit). */
export const START_MEMO_ENTRIES = 12;

/** Two independent 32-bit hashes of a typed array's bits, as one string. */
export function contentHash(a: Float32Array | Int32Array): string {
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
  let h1 = 0x811c9dc5 ^ a.length, h2 = 0x9747b28c ^ Math.imul(a.length, 0x5bd1e995);
  for (let i = 0; i < u.length; i++) {
    const v = u[i];
    h1 = Math.imul(h1 ^ v, 0x01000193);
    let k = Math.imul(v, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h2 = Math.imul(h2 ^ Math.imul(k, 0x1b873593), 5) + 0xe6546b64 | 0;
    h2 = (h2 << 13) | (h2 >>> 19);
  }
  h1 ^= h1 >>> 16; h1 = Math.imul(h1, 0x85ebca6b); h1 ^= h1 >>> 13;
  h2 ^= h2 >>> 16; h2 = Math.imul(h2, 0xc2b2ae35); h2 ^= h2 >>> 16;
  return `${(h1 >>> 0).toString(16)}.${(h2 >>> 0).toString(16)}`;
}

/** A least-recently-used map of at most `size` entries. */
export class LruMemo<V> {
  private readonly map = new Map<string, V>();
  hits = 0;
  misses = 0;
  constructor(readonly size: number) {}

  /** The value under `key`, computed by `make` (and kept) when absent. */
  get(key: string, make: () => V): V {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.hits++;
      this.map.delete(key);
      this.map.set(key, v);
      return v;
    }
    this.misses++;
    const made = make();
    this.map.set(key, made);
    while (this.map.size > this.size) this.map.delete(this.map.keys().next().value as string);
    return made;
  }

  clear(): void { this.map.clear(); this.hits = 0; this.misses = 0; }
}
