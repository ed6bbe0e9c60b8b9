/**
 * Seeded synthetic feature spaces with a known structure: the embedded default data of
 * `protolens demo`, and the known answers of the tests.
 *
 * `twistedClasses` builds the paper's hard case: each class is a union of 1–3 remote Gaussian
 * blobs in high dimension. The blobs of a multi-blob class surround the blob of another class, with
 * their mean exactly on it: the class mean then lies where the other class is and none of its own
 * samples are. Class sizes are unbalanced, and one class has a single sample. A single prototype per class (the class mean)
 * cannot represent such classes; several prototypes per class can.
 */
import { rng } from '../linalg/random.ts';
import type { Matrix } from '../linalg/matrix.ts';

export interface SyntheticOptions {
  /** Number of ordinary classes (the singleton class comes on top). Default 8. */
  nClasses?: number;
  /** Dimension. Default 64. */
  dim?: number;
  /** Minimum and maximum number of blobs per class. Default [1, 3]. */
  blobsPerClass?: [number, number];
  /** Minimum and maximum samples per blob (drawn per class, so sizes are unbalanced). Default [10, 40]. */
  samplesPerBlob?: [number, number];
  /** Standard deviation of each blob per coordinate. Default 1. */
  spread?: number;
  /** Standard deviation of blob centres per coordinate, relative to spread. Default 1.5. */
  separation?: number;
  /** Add a class with one sample. Default true. */
  singleton?: boolean;
  seed?: number;
}

export interface SyntheticData {
  X: Matrix;
  y: string[];
  /** Blob of each sample. */
  blob: Int32Array;
  /** Blob centres (B×D). */
  centres: Matrix;
  /** Class label of each blob. */
  blobClass: string[];
  /** Options used, with the seed. */
  options: Required<SyntheticOptions>;
}

const DEFAULTS: Required<SyntheticOptions> = {
  nClasses: 8, dim: 64, blobsPerClass: [1, 3], samplesPerBlob: [10, 40], spread: 1, separation: 1.5,
  singleton: true, seed: 0,
};

/** Class names: A, B, …, Z, AA, AB, … */
export function className(i: number): string {
  let s = '';
  let n = i;
  do { s = String.fromCharCode(65 + (n % 26)) + s; n = Math.floor(n / 26) - 1; } while (n >= 0);
  return s;
}

/**
 * Generates the twisted-classes data set.
 * @throws RangeError on inconsistent options.
 * @example
 * const d = twistedClasses({ seed: 1 }); d.X.rows // total samples, d.y[0] // 'A'
 */
export function twistedClasses(options: SyntheticOptions = {}): SyntheticData {
  const o = { ...DEFAULTS, ...options };
  const [bMin, bMax] = o.blobsPerClass, [sMin, sMax] = o.samplesPerBlob;
  if (!(o.nClasses >= 1 && bMin >= 1 && bMax >= bMin && sMin >= 1 && sMax >= sMin && o.dim >= 1)) {
    throw new RangeError(`twistedClasses: inconsistent options ${JSON.stringify(options)}`);
  }
  const r = rng(o.seed);
  const D = o.dim;
  const sd = o.separation * o.spread;
  const blobClass: string[] = [];
  const blobSize: number[] = [];
  const centreList: Float32Array[] = [];
  const randomCentre = () => Float32Array.from({ length: D }, () => r.normal() * sd);
  const singleBlobCentres: Float32Array[] = [];
  for (let c = 0; c < o.nClasses; c++) {
    // The first class has one blob, so that later multi-blob classes have a hub to surround.
    const nb = c === 0 ? bMin : bMin + r.int(bMax - bMin + 1);
    const per = sMin + r.int(sMax - sMin + 1);
    if (nb === 1) {
      const centre = randomCentre();
      centreList.push(centre);
      singleBlobCentres.push(centre);
    } else {
      // Interleave: the blobs surround another class's blob, so this class's mean falls on it.
      const pool = singleBlobCentres.length ? singleBlobCentres : centreList;
      const hub = pool.length ? pool[r.int(pool.length)] : new Float32Array(D);
      const sum = new Float64Array(D);
      for (let b = 0; b < nb; b++) {
        const centre = new Float32Array(D);
        for (let d = 0; d < D; d++) {
          const off = b < nb - 1 ? r.normal() * sd : -sum[d];
          sum[d] += off;
          centre[d] = hub[d] + off;
        }
        centreList.push(centre);
      }
    }
    for (let b = 0; b < nb; b++) { blobClass.push(className(c)); blobSize.push(per); }
  }
  if (o.singleton) { blobClass.push('singleton'); blobSize.push(1); centreList.push(randomCentre()); }
  const B = blobClass.length;
  const centres = new Float32Array(B * D);
  centreList.forEach((c, b) => centres.set(c, b * D));
  const N = blobSize.reduce((a, b) => a + b, 0);
  const X = new Float32Array(N * D);
  const y: string[] = [];
  const blob = new Int32Array(N);
  let i = 0;
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < blobSize[b]; s++, i++) {
      for (let d = 0; d < D; d++) X[i * D + d] = centres[b * D + d] + r.normal() * o.spread;
      y.push(blobClass[b]);
      blob[i] = b;
    }
  }
  return { X: { data: X, rows: N, cols: D }, y, blob, centres: { data: centres, rows: B, cols: D }, blobClass, options: o };
}

/**
 * `n` more rows from the blobs of a {@link twistedClasses} space, as many as wanted (the space's
 * own X has its fixed sizes): each row picks a blob uniformly (seeded) and adds unit Gaussian noise
 * to its centre; its label is the blob's class.
 * @example
 * const t = twistedClasses({ nClasses: 6, dim: 16, seed: 3 });
 * blobRows(t, 6000, 1).X.rows // 6000
 */
export function blobRows(t: Pick<SyntheticData, 'centres' | 'blobClass'>, n: number, seed: number): { X: Matrix; y: string[]; nBlobs: number } {
  const B = t.centres.rows, D = t.centres.cols, r = rng(seed);
  const X = new Float32Array(n * D), y: string[] = [];
  for (let i = 0; i < n; i++) {
    const b = r.int(B);
    for (let d = 0; d < D; d++) X[i * D + d] = t.centres.data[b * D + d] + r.normal();
    y.push(t.blobClass[b]);
  }
  return { X: { data: X, rows: n, cols: D }, y, nBlobs: B };
}

/** Splits indices into train/test with a seeded shuffle, stratified by label (each class keeps ≥ 1 training sample). */
export function stratifiedSplit(y: readonly (string | number)[], testFraction: number, seed: number): { train: number[]; test: number[] } {
  const r = rng(seed);
  const byClass = new Map<string | number, number[]>();
  y.forEach((l, i) => { const a = byClass.get(l) ?? []; a.push(i); byClass.set(l, a); });
  const train: number[] = [], test: number[] = [];
  for (const idx of byClass.values()) {
    for (let k = idx.length - 1; k > 0; k--) { const j = r.int(k + 1); [idx[k], idx[j]] = [idx[j], idx[k]]; }
    const nTest = idx.length > 1 ? Math.min(idx.length - 1, Math.round(idx.length * testFraction)) : 0;
    test.push(...idx.slice(0, nTest));
    train.push(...idx.slice(nTest));
  }
  return { train: train.sort((a, b) => a - b), test: test.sort((a, b) => a - b) };
}

/** Options of {@link hiddenDirections}. */
export interface HiddenDirectionsOptions {
  /** Classes. Default 6. */
  nClasses?: number;
  /** Samples per class. Default 60. */
  samplesPerClass?: number;
  /** Directions along which the classes differ. Default 3. */
  informative?: number;
  /** Noise directions. Default 40. */
  noise?: number;
  /** Standard deviation of the class means along the informative directions. Default 2. */
  separation?: number;
  /** Within-class standard deviation along the informative directions. Default 0.2. */
  spread?: number;
  /** Standard deviation along the noise directions (the same for every class). Default 3. */
  noiseScale?: number;
  /** Seed. Default 0. */
  seed?: number;
}

/**
 * Classes that differ only along a few low-variance directions, drowned in many high-variance
 * noise directions that every class shares, the whole rotated at random so that no coordinate is
 * informative alone. Euclidean distances are dominated by the noise, so class means and plain
 * prototypes fail; a metric that whitens the within-class scatter finds the informative directions.
 * @example
 * hiddenDirections({ seed: 1 }).X.cols // 43
 */
export function hiddenDirections(options: HiddenDirectionsOptions = {}): { X: Matrix; y: string[]; options: Required<HiddenDirectionsOptions> } {
  const o: Required<HiddenDirectionsOptions> = {
    nClasses: 6, samplesPerClass: 60, informative: 3, noise: 40, separation: 2, spread: 0.2, noiseScale: 3, seed: 0, ...options,
  };
  const r = rng(o.seed);
  const D = o.informative + o.noise, N = o.nClasses * o.samplesPerClass;
  const means = Array.from({ length: o.nClasses }, () => Array.from({ length: o.informative }, () => r.normal() * o.separation));
  // A random rotation (Gram–Schmidt of a Gaussian matrix), so that the directions are hidden.
  const R: number[][] = [];
  for (let a = 0; a < D; a++) {
    const v = Array.from({ length: D }, () => r.normal());
    for (const u of R) { const s = v.reduce((t, x, k) => t + x * u[k], 0); for (let k = 0; k < D; k++) v[k] -= s * u[k]; }
    const n = Math.sqrt(v.reduce((t, x) => t + x * x, 0));
    R.push(v.map((x) => x / n));
  }
  const X = new Float32Array(N * D);
  const y: string[] = [];
  for (let c = 0; c < o.nClasses; c++) {
    for (let s = 0; s < o.samplesPerClass; s++) {
      const i = c * o.samplesPerClass + s;
      const z = [...means[c].map((m) => m + r.normal() * o.spread), ...Array.from({ length: o.noise }, () => r.normal() * o.noiseScale)];
      for (let d = 0; d < D; d++) {
        let v = 0;
        for (let k = 0; k < D; k++) v += R[k][d] * z[k];
        X[i * D + d] = v;
      }
      y.push(className(c));
    }
  }
  return { X: { data: X, rows: N, cols: D }, y, options: o };
}
