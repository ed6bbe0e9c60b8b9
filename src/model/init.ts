/**
 * Initial prototypes: J split across classes in proportion to their size (at least one each,
 * never more than the class has samples), then k-means++ seeding (Arthur & Vassilvitskii 2007)
 * and a few Lloyd iterations within each class.
 */
import type { Matrix } from '../linalg/matrix.ts';
import type { Rng } from '../linalg/random.ts';

/**
 * Splits J prototypes over classes by the largest-remainder rule: each class gets one, the
 * remaining J − K go in proportion to class size, capped at the class size.
 * @throws RangeError when J < K or J exceeds the number of samples.
 */
export function allocatePrototypes(J: number, counts: ArrayLike<number>): Int32Array {
  const K = counts.length;
  let N = 0;
  for (let l = 0; l < K; l++) N += counts[l];
  if (!Number.isInteger(J) || J < K) {
    throw new RangeError(`nPrototypes (J = ${J}) must be an integer at least the number of classes (${K})`);
  }
  if (J > N) throw new RangeError(`nPrototypes (J = ${J}) exceeds the number of training samples (${N})`);
  const alloc = new Int32Array(K).fill(1);
  let left = J - K;
  while (left > 0) {
    // Distribute `left` in proportion to the room each class still has.
    let room = 0;
    for (let l = 0; l < K; l++) room += counts[l] - alloc[l];
    const share = new Float64Array(K);
    let given = 0;
    for (let l = 0; l < K; l++) {
      const r = counts[l] - alloc[l];
      share[l] = (left * r) / room;
      const g = Math.floor(share[l]);
      alloc[l] += g;
      given += g;
      share[l] -= g;
    }
    left -= given;
    // Largest remainders first (ties by class index, deterministic).
    const order = Array.from({ length: K }, (_, l) => l).sort((a, b) => share[b] - share[a] || a - b);
    for (const l of order) {
      if (left === 0) break;
      if (alloc[l] < counts[l]) { alloc[l]++; left--; }
    }
  }
  return alloc;
}

function sqDist(a: Float32Array, ao: number, b: Float32Array, bo: number, D: number): number {
  let s = 0;
  for (let d = 0; d < D; d++) { const t = a[ao + d] - b[bo + d]; s += t * t; }
  return s;
}

/**
 * k-means on the rows `idx` of X with k-means++ seeding (Arthur & Vassilvitskii 2007); returns k
 * centres (k×D, row-major).
 * @param lloydIters - Lloyd iterations after seeding (0 = seeding only).
 * @param Z - where distances are measured, when not in X itself: the same rows mapped linearly
 *   (e.g. Z = X Ωᵀ under a learned metric). Centres are means, and means commute with a linear
 *   map, so the centres returned in X are exactly those of k-means in Z.
 */
export function kmeansPlusPlus(X: Matrix, idx: ArrayLike<number>, k: number, r: Rng, lloydIters = 10, Z: Matrix = X): Float32Array {
  const D = X.cols, R = Z.cols, n = idx.length, x = X.data, z = Z.data;
  const centres = new Float32Array(k * D);
  const centresZ = Z === X ? centres : new Float32Array(k * R);
  const dmin = new Float64Array(n).fill(Infinity);
  const put = (c: number, i: number) => {
    centres.set(x.subarray(idx[i] * D, idx[i] * D + D), c * D);
    if (centresZ !== centres) centresZ.set(z.subarray(idx[i] * R, idx[i] * R + R), c * R);
  };
  let pick = r.int(n);
  for (let c = 0; c < k; c++) {
    put(c, pick);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const d = sqDist(z, idx[i] * R, centresZ, c * R, R);
      if (d < dmin[i]) dmin[i] = d;
      total += dmin[i];
    }
    if (c + 1 === k) break;
    if (total <= 0) { pick = r.int(n); continue; } // all points coincide with centres
    let u = r.next() * total;
    pick = n - 1;
    for (let i = 0; i < n; i++) { u -= dmin[i]; if (u <= 0) { pick = i; break; } }
  }
  const assign = new Int32Array(n);
  const sums = new Float64Array(k * D);
  const sumsZ = new Float64Array(centresZ === centres ? 0 : k * R);
  const sizes = new Int32Array(k);
  for (let it = 0; it < lloydIters; it++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      let best = 0, bd = Infinity;
      for (let c = 0; c < k; c++) {
        const d = sqDist(z, idx[i] * R, centresZ, c * R, R);
        if (d < bd) { bd = d; best = c; }
      }
      if (it === 0 || assign[i] !== best) changed++;
      assign[i] = best;
    }
    if (it > 0 && changed === 0) break;
    sums.fill(0); sumsZ.fill(0); sizes.fill(0);
    for (let i = 0; i < n; i++) {
      const c = assign[i], o = idx[i] * D;
      sizes[c]++;
      for (let d = 0; d < D; d++) sums[c * D + d] += x[o + d];
      if (sumsZ.length) for (let d = 0; d < R; d++) sumsZ[c * R + d] += z[idx[i] * R + d];
    }
    for (let c = 0; c < k; c++) {
      if (sizes[c] === 0) continue; // keep an empty centre where it is
      for (let d = 0; d < D; d++) centres[c * D + d] = sums[c * D + d] / sizes[c];
      if (sumsZ.length) for (let d = 0; d < R; d++) centresZ[c * R + d] = sumsZ[c * R + d] / sizes[c];
    }
  }
  return centres;
}

/**
 * Initial prototypes for all classes: returns P (J×D) and the class each prototype was seeded in.
 * @param Z - the rows of X where distances are measured (see {@link kmeansPlusPlus}); default X.
 */
export function initPrototypes(X: Matrix, codes: Int32Array, counts: Int32Array, J: number, r: Rng,
  lloydIters = 10, Z: Matrix = X): { P: Matrix; protoClass: Int32Array } {
  const K = counts.length, D = X.cols;
  const alloc = allocatePrototypes(J, counts);
  const members: number[][] = Array.from({ length: K }, () => []);
  for (let i = 0; i < codes.length; i++) members[codes[i]].push(i);
  const P = new Float32Array(J * D);
  const protoClass = new Int32Array(J);
  let j = 0;
  for (let l = 0; l < K; l++) {
    const centres = kmeansPlusPlus(X, members[l], alloc[l], r, lloydIters, Z);
    P.set(centres, j * D);
    protoClass.fill(l, j, j + alloc[l]);
    j += alloc[l];
  }
  return { P: { data: P, rows: J, cols: D }, protoClass };
}
