/**
 * The native GEMM addon (native/gemm.cc through src/linalg/gemm-native.node.ts): against the
 * JavaScript kernel on random shapes, shared between threads, subnormals, its row softmax, and
 * how Node programs choose it. The checks every backend passes (odd sizes, all layouts, α/β,
 * leading dimensions past the width, against a float64 reference) run on it in gemm.test.ts.
 * Skipped, with the reason, only when the addon is not built here; in CI that fails instead
 * (test/helpers/needs.ts).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gemm, gemmBackendName, gemmBackendStatus, gemmJs } from '../src/linalg/gemm.ts';
import {
  describeNodeGemm, disableNativeGemm, enableNativeGemm, nativeFastOps, nativeGemm, nativeGemmPlan, nativeGemmStatus,
} from '../src/linalg/gemm-native.node.ts';
import { rowSqNorms, setFastOps, softmaxRows, sqDistances } from '../src/linalg/ops.ts';
import { rng } from '../src/linalg/random.ts';
import { repoRoot } from './helpers/data.ts';
import { nativeAddon } from './helpers/needs.ts';
import { FLAGS, check, setup, type Case } from './helpers/gemm-check.ts';

const status = nativeGemmStatus();
const native = nativeAddon();
const skip = native.skip;

test('native agrees with the JavaScript kernel on random shapes crossing its cache blocks', { skip }, native.guard(() => {
  const fn = nativeGemm(1)!;
  const r = rng(11);
  // Small sizes around the register tile (12×32 with AVX-512, 6×16 with AVX2) on two axes, and
  // one axis past a cache block: m past MC = 240, n past NC = 2048, or k past KC = 512.
  const small = [1, 2, 5, 11, 12, 13, 31, 33];
  const large: Array<['m' | 'n' | 'k', number]> = [['m', 241], ['m', 300], ['n', 2050], ['k', 513], ['k', 1030]];
  for (let t = 0; t < 40; t++) {
    const pick = () => small[r.int(small.length)];
    const [transA, transB] = FLAGS[t % 4];
    const dims = { m: pick(), n: pick(), k: pick() };
    const [axis, size] = large[r.int(large.length)];
    dims[axis] = size;
    const c: Case = { transA, transB, ...dims, alpha: [1, -0.5, 2][r.int(3)], beta: [0, 1, 0.25][r.int(3)], pad: r.int(5) };
    const { A, B, C, lda, ldb, ldc, scale } = setup(c, 1000 + t);
    const mine = Float32Array.from(C), js = Float32Array.from(C);
    fn(c.transA, c.transB, c.m, c.n, c.k, c.alpha, A, lda, B, ldb, c.beta, mine, ldc);
    gemmJs(c.transA, c.transB, c.m, c.n, c.k, c.alpha, A, lda, B, ldb, c.beta, js, ldc);
    for (let i = 0; i < c.m; i++) {
      for (let j = 0; j < c.n; j++) {
        const a = mine[i * ldc + j], b = js[i * ldc + j], tol = 2e-5 * scale[i * c.n + j] + 1e-30;
        if (!(Math.abs(a - b) <= tol)) assert.fail(`${JSON.stringify(c)}: C[${i},${j}] native ${a}, js ${b}`);
      }
    }
  }
}));

test('native: subarrays are read and written in place, at their offset', { skip }, native.guard(() => {
  const fn = nativeGemm(1)!;
  const buf = new Float32Array(20).fill(9);
  const A = buf.subarray(2, 6), B = buf.subarray(8, 12), C = buf.subarray(14, 18);
  A.set([1, 2, 3, 4]); B.set([1, 0, 0, 1]);
  fn(false, false, 2, 2, 2, 1, A, 2, B, 2, 0, C, 2);
  assert.deepEqual(Array.from(buf), [9, 9, 1, 2, 3, 4, 9, 9, 1, 0, 0, 1, 9, 9, 1, 2, 3, 4, 9, 9]);
}));

test('native: wrong arguments are refused with what was expected, never read out of bounds', { skip }, native.guard(() => {
  const fn = nativeGemm(1)!;
  const a = new Float32Array(6);
  assert.throws(() => fn(false, false, 2, 3, 3, 1, a, 3, a, 3, 0, a, 3), { name: 'RangeError', message: /B is stored 3×3 with leading dimension 3 but has 6 values/ });
  assert.throws(() => fn(true, false, 2, 2, 3, 1, a, 1, a, 2, 0, a, 2), { name: 'RangeError', message: /leading dimension of A must be ≥ 2/ });
  assert.throws(() => fn(false, false, 1, 1, 1, 1, new Float64Array(1) as unknown as Float32Array, 1, a, 1, 0, a, 1), { name: 'TypeError', message: /A must be a Float32Array/ });
  assert.throws(() => fn(false, false, -1, 1, 1, 1, a, 1, a, 1, 0, a, 1), { name: 'RangeError', message: /non-negative/ });
  assert.throws(() => nativeGemm(0), /threads must be an integer from 1 to 256, got 0/);
}));

test('native: subnormal values count as zero inside the product, nowhere else', { skip }, native.guard(() => {
  // q-like values down to e^-100 (many below 1.2e-38): terms that small change no entry of C by
  // more than 1e-38 in absolute value; normal values are untouched.
  const fn = nativeGemm(1)!;
  const r = rng(21);
  const m = 40, n = 24, k = 64;
  const A = Float32Array.from({ length: m * k }, () => Math.exp(-100 * r.next()));
  const B = Float32Array.from({ length: k * n }, () => r.next() - 0.5);
  A[0] = 1e-40; B[0] = 1e-40; // a subnormal input of each
  const mine = new Float32Array(m * n), js = new Float32Array(m * n);
  fn(false, false, m, n, k, 1, A, k, B, n, 0, mine, n);
  gemmJs(false, false, m, n, k, 1, A, k, B, n, 0, js, n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let scale = 0;
      for (let p = 0; p < k; p++) scale += Math.abs(A[i * k + p] * B[p * n + j]);
      const got = mine[i * n + j], want = js[i * n + j];
      assert.ok(Math.abs(got - want) <= 1e-5 * scale + 1e-37, `C[${i},${j}]: ${got} vs ${want}`);
    }
  }
  // The caller's floating-point mode is restored: JavaScript still sees subnormals.
  assert.equal(new Float32Array([1e-40])[0] * 2 > 0, true);
  assert.equal(A[0], new Float32Array([1e-40])[0]);
}));

test('native softmaxRows gives the JavaScript loop\'s float32 numbers (and log-sum-exp to 1e-15), on 1 or 3 threads', { skip }, native.guard(() => {
  const native = nativeFastOps()!;
  const r = rng(7);
  after(() => { setFastOps(undefined); nativeGemm(1); });
  for (const [rows, cols, scale, spread, threads] of [[500, 100, 1, 5, 1], [1500, 301, -0.037, 400, 3], [7, 13, 1, 2000, 3], [3, 1, 1, 1, 1], [64, 17, -1.5, 100, 1]] as const) {
    nativeGemm(threads); // the row passes share rows between the GEMM's threads
    const x = Float32Array.from({ length: rows * cols }, () => (r.next() - 0.3) * spread);
    const js = Float32Array.from(x), mine = Float32Array.from(x);
    const zJs = new Float64Array(rows), zMine = new Float64Array(rows);
    setFastOps(undefined);
    softmaxRows(js, rows, cols, zJs, scale);
    setFastOps(native);
    softmaxRows(mine, rows, cols, zMine, scale);
    assert.deepEqual(mine, js, `${rows}×${cols}, scale ${scale}, ${threads} threads`);
    for (let i = 0; i < rows; i++) assert.ok(Math.abs(zMine[i] - zJs[i]) <= 1e-15 * Math.abs(zJs[i]), `logZ[${i}]`);
  }
  // NaN spreads over its row and a row of −∞ gives NaN, as in the JavaScript loop.
  const rows = Float32Array.from([1, NaN, 2, 0, -Infinity, 1, -Infinity, -Infinity, -Infinity]);
  native.softmaxRows(rows, 3, 3, 1);
  assert.deepEqual(Array.from(rows).map((v) => Number.isNaN(v) ? 'NaN' : v.toFixed(6)), ['NaN', 'NaN', 'NaN', '0.268941', '0.000000', '0.731059', 'NaN', 'NaN', 'NaN']);
  assert.throws(() => native.softmaxRows(new Float32Array(3), 2, 2, 1), { name: 'RangeError', message: /shorter than rows × cols/ });
  assert.throws(() => native.softmaxRows(new Float32Array(4), 2, 2, 1, new Float64Array(1)), { name: 'RangeError', message: /logZ is shorter than rows/ });
}));

test('native row norms and squared distances are the JavaScript loops\' exact numbers, on 1 or 3 threads', { skip }, native.guard(() => {
  const native = nativeFastOps()!;
  const r = rng(8);
  after(() => { setFastOps(undefined); nativeGemm(1); });
  for (const [n, j, d, threads] of [[13, 7, 2048, 1], [10, 9, 3, 1], [3, 2, 1, 3], [9, 33, 517, 1], [500, 300, 300, 3]] as const) {
    nativeGemm(threads);
    const X = { data: Float32Array.from({ length: n * d }, () => (r.next() - 0.5) * 30), rows: n, cols: d };
    const P = { data: Float32Array.from({ length: j * d }, () => (r.next() - 0.5) * 30), rows: j, cols: d };
    P.data.set(X.data.subarray(0, d)); // p_0 = x_0: a distance of (about) 0, clamped when negative
    const run = (ops: typeof native | undefined) => {
      setFastOps(ops);
      const xn = rowSqNorms(X.data, n, d), pn = rowSqNorms(P.data, j, d);
      return { xn, pn, dist: sqDistances(X, P, xn, pn) };
    };
    const js = run(undefined), mine = run(native);
    assert.deepEqual(mine, js, `${n}×${d}, ${j} prototypes, ${threads} threads`);
  }
  // NaN and negative sums become 0, like the loop's `d > 0 ? d : 0`.
  const g = Float32Array.from([NaN, -5, 1, 2]);
  native.addNormsClamp(g, 2, 2, Float64Array.from([0, 1]), Float64Array.from([1, 1]));
  assert.deepEqual(Array.from(g), [0, 0, 3, 4]);
  assert.throws(() => native.rowSqNorms(new Float32Array(4), 2, 2, new Float64Array(1)), { name: 'RangeError', message: /out is shorter than rows/ });
  assert.throws(() => native.addNormsClamp(new Float32Array(4), 2, 2, new Float64Array(2), new Float64Array(1)), { name: 'RangeError', message: /shorter than rows or cols/ });
}));

// One shape per way of sharing a product (checked against the addon's plan).
const SHARED: Array<[number, number, number, 'rows' | 'cols' | 'depth']> = [
  [600, 40, 200, 'rows'], [40, 600, 200, 'cols'], [40, 30, 3600, 'depth'],
];

test('native threads: products shared by rows, columns and depth stay exact and repeatable', { skip }, native.guard(() => {
  assert.deepEqual(nativeGemmPlan(10_000, 300, 2048, 2), { split: 'rows', chunk: 1260, shares: 8 });
  assert.equal(nativeGemmPlan(300, 2048, 10_000, 2)?.split, 'depth');
  assert.equal(nativeGemmPlan(10_000, 300, 2048, 1)?.shares, 1);
  assert.equal(nativeGemmPlan(64, 64, 64, 2)?.shares, 1);
  let seed = 3;
  for (const threads of [2, 3]) {
    const fn = nativeGemm(threads)!;
    for (const [m, n, k, split] of SHARED) {
      assert.equal(nativeGemmPlan(m, n, k, threads)?.split, split, `${m}×${n}×${k}`);
      for (const [transA, transB] of FLAGS) {
        check(fn, { transA, transB, m, n, k, alpha: 1, beta: 0, pad: 1 }, seed++);
        check(fn, { transA, transB, m, n, k, alpha: -1, beta: 0.5, pad: 0 }, seed++);
      }
    }
  }
  // Same bits on every call whichever thread took which share; row and column shares give
  // exactly the single-threaded result (depth shares add partial sums in share order).
  for (const [m, n, k, split] of SHARED) {
    const r = rng(seed++);
    const A = Float32Array.from({ length: m * k }, () => r.next() - 0.5);
    const B = Float32Array.from({ length: k * n }, () => r.next() - 0.5);
    const first = new Float32Array(m * n), again = new Float32Array(m * n), alone = new Float32Array(m * n);
    const fn = nativeGemm(2)!;
    fn(false, false, m, n, k, 1, A, k, B, n, 0, first, n);
    for (let t = 0; t < 10; t++) {
      fn(false, false, m, n, k, 1, A, k, B, n, 0, again, n);
      assert.deepEqual(again, first, `${m}×${n}×${k}, call ${t + 2}`);
    }
    nativeGemm(1)!(false, false, m, n, k, 1, A, k, B, n, 0, alone, n);
    if (split !== 'depth') assert.deepEqual(first, alone, `${m}×${n}×${k}: threads ≠ single thread`);
  }
}));

test('enableNativeGemm installs the addon behind gemm() and disableNativeGemm restores the previous backend', { skip }, native.guard(() => {
  const prev = gemmBackendName();
  after(() => disableNativeGemm());
  assert.equal(enableNativeGemm({ threads: 2 }), `native-${status.info!.isa}-threads2`);
  assert.deepEqual(gemmBackendStatus(), { name: `native-${status.info!.isa}-threads2`, reason: 'native addon on 2 threads (enableNativeGemm)' });
  const C = new Float32Array(4);
  gemm(false, false, 2, 2, 1, 1, new Float32Array([1, 2]), 1, new Float32Array([3, 4]), 2, 0, C, 2);
  assert.deepEqual(Array.from(C), [3, 4, 6, 8]);
  disableNativeGemm();
  assert.equal(gemmBackendName(), prev);
}));

test('the native addon was built from the current native/gemm.cc (run npm run build:native)', { skip }, native.guard(() => {
  const src = readFileSync(join(repoRoot, 'native/gemm.cc'));
  const built = JSON.parse(readFileSync(join(repoRoot, 'native/build/status.json'), 'utf8')) as { sourceSha256: Record<string, string> };
  assert.equal(built.sourceSha256['gemm.cc'], createHash('sha256').update(src).digest('hex'));
}));

// What a Node program gets from enableNodeGemm() under each PROTOLENS_GEMM, in a fresh process.
function nodeGemm(env: Record<string, string>): string {
  const script = "import('./src/linalg/gemm-native.node.ts').then((g) => console.log(g.describeNodeGemm(g.enableNodeGemm({ threads: 2 }))))";
  return execFileSync(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: repoRoot, env: { ...process.env, PROTOLENS_GEMM: '', PROTOLENS_NATIVE_ADDON: '', ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

test('enableNodeGemm: native by default, the threaded wasm kernel when the addon is missing (with the reason), PROTOLENS_GEMM forces one', () => {
  if (status.available) assert.equal(nodeGemm({}), `GEMM backend native-${status.info!.isa}-threads2`);
  else assert.match(nodeGemm({}), /^GEMM backend wasm-simd-threads2 \(native kernel not used: .+\)$/);
  assert.equal(nodeGemm({ PROTOLENS_GEMM: 'wasm' }), 'GEMM backend wasm-simd-threads2 (native kernel not used: PROTOLENS_GEMM=wasm)');
  assert.equal(nodeGemm({ PROTOLENS_GEMM: 'js' }), 'GEMM backend js (native kernel not used: PROTOLENS_GEMM=js)');
  const missing = { PROTOLENS_NATIVE_ADDON: '/nonexistent/protolens_gemm.node' };
  assert.equal(nodeGemm(missing), 'GEMM backend wasm-simd-threads2 (native kernel not used: the native addon is not built (/nonexistent/protolens_gemm.node is missing; run npm run build:native))');
  assert.throws(() => nodeGemm({ ...missing, PROTOLENS_GEMM: 'native' }), /PROTOLENS_GEMM=native, but the native addon is not built \(\/nonexistent\/protolens_gemm.node is missing/);
  assert.throws(() => nodeGemm({ PROTOLENS_GEMM: 'blas' }), /PROTOLENS_GEMM: invalid value "blas"\. Should be one of: auto, js, wasm, native/);
  assert.equal(describeNodeGemm({ backend: 'native-avx512' }), 'GEMM backend native-avx512');
});
