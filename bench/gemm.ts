/**
 * GEMM speed at the prototype model's shapes: GFLOP/s of the portable JavaScript kernel, the
 * WebAssembly SIMD kernel and the native addon (native/gemm.cc) on one thread and on all threads,
 * and numpy (OpenBLAS) on one thread and on all cores when python3 with numpy is available.
 *
 *   nice -n 10 npm run bench:gemm -- [--reps 5] [--js-reps 2] [--only js,wasm,threads,native,numpy]
 *
 * Shapes (N = 10,000 samples, D = 2048 features, J = 300 prototypes, L = 100 classes):
 *   NT  X·Pᵀ   (N×D)·(J×D)ᵀ   the distances of the prototype layer
 *   TN  Eᵀ·X   (N×J)ᵀ·(N×D)   the prototypes' gradient
 *   NN  Q·W    (N×J)·(J×L)    the class layer
 *   TN  Qᵀ·G   (N×J)ᵀ·(N×L)   the class weights' gradient
 * Each figure is 2mnk / time, from the fastest (min) and the median of `reps` timed calls after
 * one untimed warm-up call; copies in and out of WebAssembly memory are included. Prints a
 * Markdown table for BENCHMARKS.md.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { gemmJs, wasmGemmInstance, type GemmFn } from '../src/linalg/gemm.ts';
import { gemm, gemmBackendName } from '../src/linalg/gemm.ts';
import { enableGemmThreads, disableGemmThreads } from '../src/linalg/gemm-threads.node.ts';
import { nativeGemm, nativeGemmStatus } from '../src/linalg/gemm-native.node.ts';
import { rng } from '../src/linalg/random.ts';

const N = 10_000, D = 2048, J = 300, L = 100;

interface Shape {
  label: string;
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
}

const SHAPES: Shape[] = [
  { label: `NT X·Pᵀ ${N}×${D}·(${J}×${D})ᵀ`, transA: false, transB: true, m: N, n: J, k: D },
  { label: `TN Eᵀ·X (${N}×${J})ᵀ·${N}×${D}`, transA: true, transB: false, m: J, n: D, k: N },
  { label: `NN Q·W ${N}×${J}·${J}×${L}`, transA: false, transB: false, m: N, n: L, k: J },
  { label: `TN Qᵀ·G (${N}×${J})ᵀ·${N}×${L}`, transA: true, transB: false, m: J, n: L, k: N },
];

/**
 * Seconds: fastest and median wall time; median CPU time of all the process's threads; median
 * CPU time of the busiest thread (Linux schedstat; NaN elsewhere).
 */
interface Timing { min: number; median: number; cpu: number; busiest?: number }

/** CPU nanoseconds of each thread of this process (Linux), by thread id. */
function threadCpu(): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      out.set(tid, Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]));
    }
  } catch {
    // not Linux: no per-thread figures
  }
  return out;
}

function busiestSince(before: Map<string, number>): number {
  let max = NaN;
  for (const [tid, ns] of threadCpu()) {
    const d = (ns - (before.get(tid) ?? 0)) / 1e9;
    if (!(d <= max)) max = d;
  }
  return max;
}

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    'js-reps': { type: 'string', default: '2' },
    only: { type: 'string', default: 'js,wasm,threads,native,numpy' },
  },
});
const reps = Number(values.reps), jsReps = Number(values['js-reps']);
const only = new Set(values.only.split(','));

function randomArray(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r.next() - 0.5;
  return a;
}

// One set of operands per shape, stored as the product reads them.
const operands = SHAPES.map((s, i) => ({
  A: randomArray(s.m * s.k, 2 * i + 1),
  B: randomArray(s.k * s.n, 2 * i + 2),
  C: new Float32Array(s.m * s.n),
}));

function time(fn: GemmFn, s: Shape, i: number, n: number): Timing {
  const { A, B, C } = operands[i];
  const call = () => fn(s.transA, s.transB, s.m, s.n, s.k, 1, A, s.transA ? s.m : s.k, B, s.transB ? s.k : s.n, 0, C, s.n);
  call();
  const ts: number[] = [], cs: number[] = [], bs: number[] = [];
  for (let r = 0; r < n; r++) {
    const b0 = threadCpu();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    call();
    ts.push((performance.now() - t0) / 1000);
    const c = process.cpuUsage(c0);
    cs.push((c.user + c.system) / 1e6);
    bs.push(busiestSince(b0));
  }
  const med = (a: number[]) => a.sort((x, y) => x - y)[(a.length - 1) >> 1];
  ts.sort((a, b) => a - b);
  return { min: ts[0], median: med(ts), cpu: med(cs), busiest: med(bs) };
}

const NUMPY_SCRIPT = `
import json, sys, time
import numpy as np
shapes, reps = json.loads(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
out = []
for ta, tb, m, n, k in shapes:
    A = (rng.random((k, m) if ta else (m, k), dtype=np.float32) - 0.5)
    B = (rng.random((n, k) if tb else (k, n), dtype=np.float32) - 0.5)
    a = A.T if ta else A
    b = B.T if tb else B
    c = np.empty((m, n), dtype=np.float32)
    np.matmul(a, b, out=c)
    ts, cs = [], []
    for _ in range(reps):
        c0 = time.process_time(); t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        ts.append(time.perf_counter() - t0); cs.append(time.process_time() - c0)
    ts.sort(); cs.sort()
    out.append({"min": ts[0], "median": ts[(len(ts) - 1) // 2], "cpu": cs[(len(cs) - 1) // 2]})
cfg = {}
try:
    from numpy._core._multiarray_umath import __cpu_features__ as f
    cfg["avx512f"] = bool(f.get("AVX512F"))
except Exception:
    pass
print(json.dumps({"numpy": np.__version__, "timings": out, **cfg}))
`;

function numpyTimings(threads?: number): { version: string; core: string; timings: Timing[] } | string {
  const shapes = SHAPES.map((s) => [s.transA, s.transB, s.m, s.n, s.k]);
  // These slow a current numpy down (see the machine notes); unset for this command only.
  // OPENBLAS_VERBOSE=2 makes OpenBLAS name the kernel it picked ("Core: ...") on stderr.
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_VERBOSE: '2' };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  if (threads !== undefined) env.OPENBLAS_NUM_THREADS = String(threads);
  else delete env.OPENBLAS_NUM_THREADS;
  const r = spawnSync('python3', ['-c', NUMPY_SCRIPT, JSON.stringify(shapes), String(reps)], { env, encoding: 'utf8' });
  if (r.error || r.status !== 0) return `numpy not run: ${r.error?.message ?? r.stderr.trim().split('\n').pop()}`;
  const out = JSON.parse(r.stdout) as { numpy: string; timings: Timing[] };
  const core = /Core: (\S+)/.exec(r.stderr)?.[1] ?? 'unknown';
  return { version: out.numpy, core, timings: out.timings };
}

const gflops = (s: Shape, t: number) => (2 * s.m * s.n * s.k) / t / 1e9;
const cell = (s: Shape, t: Timing | undefined) =>
  t ? `${gflops(s, t.min).toFixed(1)} / ${gflops(s, t.median).toFixed(1)} (${gflops(s, t.cpu).toFixed(1)})` : '–';

const results = new Map<string, Timing[]>();
const notes: string[] = [];

if (only.has('js')) results.set('JS (gemmJs)', SHAPES.map((s, i) => time(gemmJs, s, i, jsReps)));
if (only.has('wasm')) {
  const w = wasmGemmInstance();
  if (w) results.set('wasm SIMD, 1 thread', SHAPES.map((s, i) => time(w.gemm, s, i, reps)));
  else notes.push('wasm: WebAssembly SIMD unavailable');
}
if (only.has('threads')) {
  const name = enableGemmThreads();
  results.set(`wasm SIMD, ${name.replace('wasm-simd-', '')}`, SHAPES.map((s, i) => time(gemm, s, i, reps)));
  notes.push(`threads backend: ${gemmBackendName()}`);
  await disableGemmThreads();
}
if (only.has('native')) {
  const st = nativeGemmStatus();
  if (st.available) {
    const threads = cpus().length;
    results.set(`native ${st.info!.isa}, 1 thread`, SHAPES.map((s, i) => time(nativeGemm(1)!, s, i, reps)));
    results.set(`native ${st.info!.isa}, threads${threads}`, SHAPES.map((s, i) => time(nativeGemm(threads)!, s, i, reps)));
  } else notes.push(`native: ${st.reason}`);
}
let numpyCore = '';
if (only.has('numpy')) {
  for (const threads of [1, undefined]) {
    const r = numpyTimings(threads);
    if (typeof r === 'string') notes.push(r);
    else {
      numpyCore = r.core;
      results.set(`numpy ${r.version} (OpenBLAS, ${threads === 1 ? '1 thread' : 'all cores'})`, r.timings);
    }
  }
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
console.log(`GEMM GFLOP/s: fastest / median of ${reps} calls (JS: ${jsReps}), and in parentheses per CPU-second`);
console.log('(median CPU time of all the process\'s threads: robust to other load, and the per-core rate');
console.log('for multi-threaded rows); float32, row-major, copies into and out of wasm memory included');
console.log('(the native addon reads and writes the arrays in place).');
console.log(`machine: ${cpus().length} cores, ${cpu}; node ${process.version}; load average before ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log('');
console.log(`| kernel | ${SHAPES.map((s) => s.label).join(' | ')} | NT+TN (one loss+gradient), s |`);
console.log(`|---|${SHAPES.map(() => '---').join('|')}|---|`);
for (const [name, ts] of results) {
  const both = ts[0] && ts[1] ? `${(ts[0].min + ts[1].min).toFixed(3)} / ${(ts[0].median + ts[1].median).toFixed(3)}` : '–';
  console.log(`| ${name} | ${SHAPES.map((s, i) => cell(s, ts[i])).join(' | ')} | ${both} |`);
}
const threaded = [...results].filter(([name]) => name.includes('threads'));
if (threaded.length > 0) {
  console.log('');
  console.log('Busiest thread: GFLOP per CPU-second of the thread that worked longest (its CPU time is the');
  console.log('wall time the call would take if every thread had a core to itself, sync waits aside):');
  console.log('');
  console.log(`| kernel | ${SHAPES.map((s) => s.label.split(' ').slice(0, 2).join(' ')).join(' | ')} |`);
  console.log(`|---|${SHAPES.map(() => '---').join('|')}|`);
  for (const [name, ts] of [...results].filter(([nm]) => nm.startsWith('wasm') || nm.startsWith('native'))) {
    console.log(`| ${name} | ${SHAPES.map((s, i) => (ts[i]?.busiest ? gflops(s, ts[i].busiest!).toFixed(1) : '–')).join(' | ')} |`);
  }
}
for (const n of notes) console.log(`\n${n}`);
if (numpyCore) console.log(`\nnumpy ran with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset; OpenBLAS kernel: ${numpyCore}.`);
