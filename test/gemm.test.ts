import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  defaultGemmBackend, gemm, gemmBackendName, gemmBackendStatus, gemmJs, initWasm, requestedGemmBackend, setGemmBackend, type GemmFn,
} from '../src/linalg/gemm.ts';
import { enableGemmThreads, disableGemmThreads, gemmWorkerShares, planShares } from '../src/linalg/gemm-threads.node.ts';
import { nativeGemm, nativeGemmStatus } from '../src/linalg/gemm-native.node.ts';
import { WasmGemm, compileGemmModule, tileSizes, wasmSimdSupported } from '../src/linalg/wasm/backend.ts';
import { GEMM_C_SHA256 } from '../src/linalg/wasm/gemm-wasm.ts';
import { rng } from '../src/linalg/random.ts';
import { repoRoot } from './helpers/data.ts';
import { FLAGS, SCALARS, cases, check } from './helpers/gemm-check.ts';

const simd = wasmSimdSupported();

// Every backend passes the same checks; the native addon's own ones (threads, softmax, loading)
// are in gemm-native.test.ts.
const backends: Array<[string, () => GemmFn]> = [['js', () => gemmJs]];
if (simd) backends.push(['wasm', () => new WasmGemm(compileGemmModule()).gemm]);
if (nativeGemmStatus().available) backends.push(['native (1 thread)', () => nativeGemm(1)!]);

for (const [name, make] of backends) {
  test(`${name}: NN, NT, TN, TT at odd sizes, compact and with leading dimensions past the width`, () => {
    const fn = make();
    for (const c of cases([0, 3])) check(fn, c);
  });

  test(`${name}: every α/β pair on every layout`, () => {
    const fn = make();
    for (const [transA, transB] of FLAGS) {
      for (const [alpha, beta] of SCALARS) check(fn, { transA, transB, m: 17, n: 13, k: 9, alpha, beta, pad: 2 });
    }
  });

  test(`${name}: α = 0 or k = 0 scales C by β, β = 0 writes zeros over NaN`, () => {
    const fn = make();
    const C = new Float32Array([1, 2, NaN, 4, 5, 6]);
    fn(false, false, 2, 2, 0, 1, new Float32Array(0), 1, new Float32Array(0), 2, 0.5, C, 3);
    assert.deepEqual(Array.from(C), [0.5, 1, NaN, 2, 2.5, 6]);
    const D = new Float32Array([NaN, NaN, NaN, NaN]);
    fn(false, false, 2, 2, 2, 0, new Float32Array(4), 2, new Float32Array(4), 2, 0, D, 2);
    assert.deepEqual(Array.from(D), [0, 0, 0, 0]);
  });

  test(`${name}: a hand-computed product`, () => {
    const fn = make();
    // [1 2; 3 4] · [5 6; 7 8]ᵀ = [17 23; 39 53]; then 2·that − 1·[1 1; 1 1].
    const C = new Float32Array([1, 1, 1, 1]);
    fn(false, true, 2, 2, 2, 2, new Float32Array([1, 2, 3, 4]), 2, new Float32Array([5, 6, 7, 8]), 2, -1, C, 2);
    assert.deepEqual(Array.from(C), [33, 45, 77, 105]);
  });
}

test('wasm: products larger than the memory budget are computed tile by tile', { skip: !simd && 'no WebAssembly SIMD' }, () => {
  const w = new WasmGemm(compileGemmModule());
  w.maxBytes = 64 * 1024; // forces splits of m, n and k at these sizes
  for (const [transA, transB] of FLAGS) {
    check(w.gemm, { transA, transB, m: 150, n: 130, k: 300, alpha: 1.5, beta: 0.5, pad: 1 });
    check(w.gemm, { transA, transB, m: 150, n: 130, k: 300, alpha: 1, beta: 0, pad: 0 });
  }
});

test('tileSizes keeps the three windows within the budget and leaves small products whole', () => {
  assert.deepEqual(tileSizes(10, 20, 30, 1 << 20), [10, 20, 30]);
  const [mb, nb, kb] = tileSizes(10_000, 2048, 300, 16 << 20);
  assert.ok(4 * (mb * kb + kb * nb + mb * nb) <= 16 << 20, `${mb}×${nb}×${kb}`);
  assert.ok(mb % 64 === 0 && mb < 10_000 && kb === 300 && nb === 2048);
});

test('the wasm backend is the default when WebAssembly SIMD is available, and says so', () => {
  const expected = !simd || requestedGemmBackend() === 'js' ? 'js' : 'wasm-simd';
  assert.equal(defaultGemmBackend().name, expected);
  // Another test file may have installed a backend in this process; the default is what remains otherwise.
  if (gemmBackendName() === expected) assert.match(gemmBackendStatus().reason, /^default: /);
});

test('initWasm resolves to the backend in use', async () => {
  assert.equal(await initWasm(), gemmBackendName());
});

/**
 * Imports gemm.ts in a fresh process whose WebAssembly is tampered with as `sim` says ('nosimd':
 * simd128 missing; 'refuse': synchronous compilation throws, as on some browsers' main thread),
 * counts the modules compiled during the import, runs one product, then initWasm.
 */
function probe(env: Record<string, string>, sim = ''): { atImport: number; status: { name: string; reason: string }; C: number; afterInit: string } {
  const script = `
    const W = globalThis.WebAssembly, Module = W.Module;
    let compiles = 0;
    W.Module = new Proxy(Module, { construct(t, a) { compiles++; if (${JSON.stringify(sim)} === 'refuse') throw new RangeError('refused'); return Reflect.construct(t, a); } });
    if (${JSON.stringify(sim)} === 'nosimd') W.validate = () => false;
    const g = await import('./src/linalg/gemm.ts');
    const atImport = compiles;
    const C = new Float32Array(1);
    g.gemm(false, false, 1, 1, 1, 1, new Float32Array([2]), 1, new Float32Array([3]), 1, 0, C, 1);
    const status = g.gemmBackendStatus();
    console.log(JSON.stringify({ atImport, status, C: C[0], afterInit: await g.initWasm() }));`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: repoRoot, env: { ...process.env, PROTOLENS_GEMM: '', ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out);
}

test('importing gemm.ts installs nothing and cannot throw; the default is chosen on first use and reported', { skip: !simd && 'no WebAssembly SIMD' }, () => {
  const plain = probe({});
  assert.deepEqual(plain, { atImport: 0, status: { name: 'wasm-simd', reason: 'default: WebAssembly SIMD kernel' }, C: 6, afterInit: 'wasm-simd' });
  const js = probe({ PROTOLENS_GEMM: 'js' });
  assert.deepEqual([js.atImport, js.status, js.C], [0, { name: 'js', reason: 'default: JavaScript kernel, PROTOLENS_GEMM=js' }, 6]);
  // An invalid value no longer throws during import: the default ignores it and says so
  // (requestedGemmBackend, which the Node adapters and the CLI call, refuses it: below).
  const bad = probe({ PROTOLENS_GEMM: 'blas' });
  assert.equal(bad.status.name, 'wasm-simd');
  assert.match(bad.status.reason, /PROTOLENS_GEMM: invalid value "blas"\. Should be one of: auto, js, wasm, native: ignored/);
  // No SIMD (an old browser) and PROTOLENS_GEMM=wasm: the JavaScript kernel, with the reason.
  const old = probe({ PROTOLENS_GEMM: 'wasm' }, 'nosimd');
  assert.deepEqual([old.atImport, old.status.name, old.C, old.afterInit], [0, 'js', 6, 'js']);
  assert.match(old.status.reason, /PROTOLENS_GEMM=wasm, but this engine has no WebAssembly SIMD \(simd128\)/);
  // Synchronous compilation refused: the JavaScript kernel until initWasm compiles asynchronously.
  const refused = probe({}, 'refuse');
  assert.deepEqual([refused.atImport, refused.status.name, refused.C, refused.afterInit], [0, 'js', 6, 'wasm-simd']);
  assert.match(refused.status.reason, /refused to compile the WebAssembly module synchronously \(call initWasm\(\)\)/);
});

test('PROTOLENS_GEMM: an unknown value is refused with the choices by requestedGemmBackend', () => {
  const env = process.env.PROTOLENS_GEMM;
  try {
    process.env.PROTOLENS_GEMM = 'blas';
    assert.throws(() => requestedGemmBackend(), /PROTOLENS_GEMM: invalid value "blas". Should be one of: auto, js, wasm, native/);
    process.env.PROTOLENS_GEMM = ' JS ';
    assert.equal(requestedGemmBackend(), 'js');
  } finally {
    if (env === undefined) delete process.env.PROTOLENS_GEMM; else process.env.PROTOLENS_GEMM = env;
  }
});

test('gemm() checks its arguments and names what is wrong', () => {
  const a = new Float32Array(6);
  assert.throws(() => gemm(false, false, 2, 3, -1, 1, a, 3, a, 3, 0, a, 3), /k must be a non-negative integer, got -1/);
  assert.throws(() => gemm(false, false, 2, 3, 3, 1, a, 3, a, 3, 0, a, 3), /B is stored 3×3 with leading dimension 3, needing 9 values, but has 6/);
  assert.throws(() => gemm(true, false, 2, 2, 3, 1, a, 1, a, 2, 0, a, 2), /leading dimension of A must be an integer ≥ 2/);
  assert.throws(() => gemm(false, false, 1, 1, 1, 1, [1] as unknown as Float32Array, 1, a, 1, 0, a, 1), TypeError);
  const C = new Float32Array(4);
  gemm(false, false, 2, 2, 1, 1, new Float32Array([1, 2]), 1, new Float32Array([3, 4]), 2, 0, C, 2);
  assert.deepEqual(Array.from(C), [3, 4, 6, 8]);
});

test('the embedded WebAssembly was built from the current gemm.c (run npm run build:wasm)', () => {
  const src = readFileSync(join(repoRoot, 'src/linalg/wasm/gemm.c'));
  assert.equal(createHash('sha256').update(src).digest('hex'), GEMM_C_SHA256);
});

// One shape per way of sharing a product between threads (checked against planShares).
const SHARED: Array<[number, number, number, 0 | 1 | 2]> = [[600, 40, 200, 0], [40, 600, 200, 1], [40, 30, 3600, 2]];

test('planShares: X·Pᵀ by rows, Eᵀ·X by depth, small products not at all', () => {
  assert.deepEqual(planShares(10_000, 300, 2048, 2), { split: 0, chunk: 1256, shares: 8 });
  assert.deepEqual(planShares(300, 2048, 10_000, 2), { split: 2, chunk: 1280, shares: 8 });
  assert.equal(planShares(300, 2048, 10_000, 2, false)?.split, 1);
  assert.equal(planShares(10_000, 300, 2048, 1), undefined);
  assert.equal(planShares(64, 64, 64, 2), undefined);
  for (const [m, n, k, split] of SHARED) assert.equal(planShares(m, n, k, 2)?.split, split, `${m}×${n}×${k}`);
});

test('threads: products shared by rows, columns and depth between two threads stay exact', { skip: !simd && 'no WebAssembly SIMD' }, async () => {
  const prev = gemmBackendName();
  after(() => disableGemmThreads());
  if (requestedGemmBackend() === 'js') {
    assert.equal(enableGemmThreads({ threads: 2 }), 'js');
    return;
  }
  assert.throws(() => enableGemmThreads({ threads: 0 }), /threads must be a positive integer, got 0/);
  assert.equal(enableGemmThreads({ threads: 2 }), 'wasm-simd-threads2');
  assert.equal(gemmBackendName(), 'wasm-simd-threads2');
  let seed = 3;
  for (const [transA, transB] of FLAGS) {
    for (const [m, n, k] of SHARED) {
      check(gemm, { transA, transB, m, n, k, alpha: 1, beta: 0, pad: 1 }, seed++);
      check(gemm, { transA, transB, m, n, k, alpha: -1, beta: 0.5, pad: 0 }, seed++);
    }
    check(gemm, { transA, transB, m: 17, n: 5, k: 63, alpha: 1, beta: 1, pad: 2 }, seed++); // too small to split
  }
  // Repeated calls give the same bits whichever thread took which share (every job is finished
  // before the next is posted); row and column shares give exactly the single-threaded result.
  const single = new WasmGemm(compileGemmModule()).gemm;
  for (const [m, n, k, split] of SHARED) {
    const r = rng(seed++);
    const A = Float32Array.from({ length: m * k }, () => r.next() - 0.5);
    const B = Float32Array.from({ length: k * n }, () => r.next() - 0.5);
    const first = new Float32Array(m * n), again = new Float32Array(m * n), alone = new Float32Array(m * n);
    gemm(false, false, m, n, k, 1, A, k, B, n, 0, first, n);
    for (let t = 0; t < 10; t++) {
      gemm(false, false, m, n, k, 1, A, k, B, n, 0, again, n);
      assert.deepEqual(again, first, `${m}×${n}×${k}, call ${t + 2}`);
    }
    single(false, false, m, n, k, 1, A, k, B, n, 0, alone, n);
    if (split !== 2) assert.deepEqual(first, alone, `${m}×${n}×${k}: threads ≠ single thread`);
  }
  await disableGemmThreads();
  assert.equal(gemmBackendName(), prev);
});

test('threads: worker threads alone compute every share correctly', { skip: !simd && 'no WebAssembly SIMD' }, async () => {
  if (requestedGemmBackend() === 'js') return;
  after(() => disableGemmThreads());
  enableGemmThreads({ threads: 3, callerComputes: false });
  let seed = 100;
  for (const [transA, transB] of FLAGS) {
    for (const [m, n, k] of SHARED) {
      check(gemm, { transA, transB, m, n, k, alpha: 1, beta: 0.5, pad: 1 }, seed++);
      check(gemm, { transA, transB, m, n, k, alpha: 2, beta: 0, pad: 0 }, seed++);
    }
  }
  assert.ok(gemmWorkerShares() >= 4 * 3 * 2 * 4, `workers computed ${gemmWorkerShares()} shares`);
  await disableGemmThreads();
  assert.equal(gemmWorkerShares(), 0);
});

test('setGemmBackend returns the previous backend so it can be restored, and the reason is reported', () => {
  const prev = setGemmBackend('js', gemmJs, 'for comparison');
  assert.deepEqual(gemmBackendStatus(), { name: 'js', reason: 'for comparison' });
  setGemmBackend(prev.name, prev.fn, prev.reason);
  assert.deepEqual(gemmBackendStatus(), { name: prev.name, reason: prev.reason });
});
