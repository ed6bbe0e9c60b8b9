/**
 * Few-shot episodes: N classes drawn at random, K support and Q query images from each, as
 * indices into an image array. Used to train an embedding episodically (prototypical networks,
 * Snell, Swersky & Zemel 2017) and to evaluate N-way K-shot classification. Browser-safe and
 * seeded: the same index, options and {@link Rng} state give the same episode.
 */
import { shuffled, type Rng } from '../linalg/random.ts';

/** Which images belong to which class: `members[c]` lists the image indices of class `c`. */
export interface ClassIndex {
  /** Class names, for messages (e.g. "Greek/character03", "Greek/character03@90"). */
  readonly names: readonly string[];
  readonly members: ReadonlyArray<ArrayLike<number>>;
}

/** Shape of an episode. */
export interface EpisodeShape {
  /** Classes per episode (N-way). */
  nWay: number;
  /** Support images per class (K-shot). */
  kShot: number;
  /** Query images per class. */
  nQuery: number;
}

/** One episode. Support and query are class-major: images of class i sit at i·K … i·K+K−1. */
export interface Episode {
  /** The episode's classes, as indices into the class index; position i is episode label i. */
  classes: Int32Array;
  /** nWay·kShot image indices. */
  support: Int32Array;
  /** nWay·nQuery image indices. */
  query: Int32Array;
}

/** Builds a class index from one label per image (classes in order of first appearance). */
export function indexByLabel(labels: readonly string[]): ClassIndex {
  const at = new Map<string, number>();
  const members: number[][] = [];
  labels.forEach((l, i) => {
    let c = at.get(l);
    if (c === undefined) { c = members.length; at.set(l, c); members.push([]); }
    members[c].push(i);
  });
  return { names: [...at.keys()], members };
}

/**
 * Checks that every episode of this shape can be drawn from the index.
 * @throws RangeError when the index has fewer classes than N, or a class has fewer images than
 *   K + Q (naming the first such class and its count).
 * @throws TypeError when N, K or Q is not a positive integer (Q may be 0).
 */
export function checkEpisodeShape(index: ClassIndex, shape: EpisodeShape, what = 'the data'): void {
  const { nWay, kShot, nQuery } = shape;
  if (!Number.isInteger(nWay) || nWay < 1) throw new TypeError(`nWay must be a positive integer, got ${nWay}`);
  if (!Number.isInteger(kShot) || kShot < 1) throw new TypeError(`kShot must be a positive integer, got ${kShot}`);
  if (!Number.isInteger(nQuery) || nQuery < 0) throw new TypeError(`nQuery must be a non-negative integer, got ${nQuery}`);
  const nClasses = index.members.length;
  if (nClasses < nWay) {
    throw new RangeError(`${what} has ${nClasses} class${nClasses === 1 ? '' : 'es'}; a ${nWay}-way episode needs at least ${nWay}`);
  }
  const need = kShot + nQuery;
  for (let c = 0; c < nClasses; c++) {
    const n = index.members[c].length;
    if (n < need) {
      throw new RangeError(`${what}: class "${index.names[c]}" has ${n} image${n === 1 ? '' : 's'}; ` +
        `${kShot}-shot episodes with ${nQuery} queries per class need at least ${need} (K + query size)`);
    }
  }
}

/**
 * Draws one episode: N distinct classes uniformly, then K + Q distinct images of each.
 * Call {@link checkEpisodeShape} once beforehand; this function assumes the shape fits.
 * @example
 * const idx = indexByLabel(['a', 'a', 'b', 'b']);
 * sampleEpisode(idx, { nWay: 2, kShot: 1, nQuery: 1 }, rng(0)).support.length // 2
 */
export function sampleEpisode(index: ClassIndex, shape: EpisodeShape, r: Rng): Episode {
  const { nWay, kShot, nQuery } = shape;
  const nClasses = index.members.length;
  // Partial Fisher–Yates: the first nWay entries of a shuffled 0..C−1.
  const order = new Int32Array(nClasses);
  for (let c = 0; c < nClasses; c++) order[c] = c;
  for (let i = 0; i < nWay; i++) {
    const j = i + r.int(nClasses - i);
    const t = order[i]; order[i] = order[j]; order[j] = t;
  }
  const classes = order.slice(0, nWay);
  const support = new Int32Array(nWay * kShot);
  const query = new Int32Array(nWay * nQuery);
  for (let i = 0; i < nWay; i++) {
    const picked = shuffled(Array.from(index.members[classes[i]]), r);
    for (let k = 0; k < kShot; k++) support[i * kShot + k] = picked[k];
    for (let q = 0; q < nQuery; q++) query[i * nQuery + q] = picked[kShot + q];
  }
  return { classes, support, query };
}
