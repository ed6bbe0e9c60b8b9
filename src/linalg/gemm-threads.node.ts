/**
 * Node adapter: runs the WebAssembly GEMM on several threads (worker_threads + a shared
 * WebAssembly.Memory). Node-only; browsers keep the single-threaded backend.
 *
 * The calling thread copies the operands into the shared memory once and cuts the product into
 * shares (see {@link planShares}): ranges of C's rows, of its columns, or of the depth k (partial
 * products summed at the end, for TN products like Eᵀ·X whose C is small and k large). Then it
 * and the workers claim shares from a shared ticket counter until none is left; the caller
 * blocks (Atomics.wait) until every share is done and copies C back, so {@link gemm} stays
 * synchronous. Shares are claimed dynamically (four per thread), so a thread slowed down by
 * other processes on the machine simply takes fewer. Small products (< {@link
 * PARALLEL_MIN_FLOPS}) run on the calling thread alone.
 *
 * Workers are unref'd: they never keep the process alive, and sleep (no CPU) between calls.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { gemmBackendName, requestedGemmBackend, setGemmBackend, type GemmBackend } from './gemm.ts';
import { JOB, WasmGemm, gemmMtWasmBytes, wasmSimdSupported, type WasmCompute } from './wasm/backend.ts';

/** Products below this many flops (2mnk) are not split. */
export const PARALLEL_MIN_FLOPS = 1 << 23;

/** Shares per thread: more balance a slowed thread better, fewer re-pack less. */
const SHARES_PER_THREAD = 4;

/** Slots of the control array shared with the workers. TICKET = (job tag << 16 | next share). */
const SEQ = 0, TICKET = 1, DONE = 2, ERROR = 3, STOP = 4, NCHUNKS = 5, WORKER_SHARES = 6;

// CommonJS source of each worker: waits for a new job (SEQ changes), then claims shares with
// compare-and-swap on TICKET and computes them in wasm.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, control, jobPtr, work } = workerData;
const ex = new WebAssembly.Instance(module, { env: { memory } }).exports;
const c = new Int32Array(control);
let seen = 0; // a job posted before this worker started is still joined
for (;;) {
  Atomics.wait(c, ${SEQ}, seen);
  seen = Atomics.load(c, ${SEQ});
  if (Atomics.load(c, ${STOP}) !== 0) break;
  const tag = seen & 0xffff;
  for (;;) {
    const t = Atomics.load(c, ${TICKET});
    const n = Atomics.load(c, ${NCHUNKS});
    if ((t >>> 16) !== tag || (t & 0xffff) >= n) break;
    if (Atomics.compareExchange(c, ${TICKET}, t, t + 1) !== t) continue;
    try { ex.gemm_chunk(jobPtr, t & 0xffff, work); } catch { Atomics.store(c, ${ERROR}, 1); }
    Atomics.add(c, ${WORKER_SHARES}, 1);
    if (Atomics.add(c, ${DONE}, 1) + 1 === n) Atomics.notify(c, ${DONE});
  }
}
`;

/** How a product is cut into shares: 0 rows of C, 1 columns of C, 2 depth (k). */
export interface SharePlan {
  split: 0 | 1 | 2;
  /** Rows, columns or depth per share (the last share may be shorter). */
  chunk: number;
  shares: number;
}

/**
 * Chooses how to share an m×n×k product between `threads` threads, or undefined when it is too
 * small to split. Each way costs extra memory traffic: row shares each re-pack op(B)
 * ((shares−1)·k·n), column shares op(A) ((shares−1)·m·k), depth shares write partial products
 * of C and sum them (2·(shares−1)·m·n); the cheapest wins. X·Pᵀ (10000×300×2048) goes by rows,
 * Eᵀ·X (300×2048×10000) by depth. Every way gives the same result whichever thread computes
 * which share (depth partials are summed in share order); row and column shares give exactly
 * the single-threaded result.
 * @example
 * planShares(10000, 300, 2048, 2) // { split: 0, chunk: 1256, shares: 8 }
 */
export function planShares(m: number, n: number, k: number, threads: number, allowDepth = true): SharePlan | undefined {
  if (threads < 2 || 2 * m * n * k < PARALLEL_MIN_FLOPS) return undefined;
  const target = SHARES_PER_THREAD * threads;
  let best: (SharePlan & { cost: number }) | undefined;
  const consider = (split: 0 | 1 | 2, span: number, minChunk: number, align: number, cost: (shares: number) => number) => {
    const want = Math.min(target, Math.floor(span / minChunk));
    if (want < 2) return;
    const chunk = Math.ceil(span / want / align) * align;
    const shares = Math.ceil(span / chunk);
    if (shares < 2) return;
    const c = cost(shares);
    if (!best || c < best.cost) best = { split, chunk, shares, cost: c };
  };
  consider(0, m, 32, 8, (s) => (s - 1) * k * n);
  consider(1, n, 32, 8, (s) => (s - 1) * m * k);
  if (allowDepth) consider(2, k, 256, 256, (s) => 2 * (s - 1) * m * n);
  if (!best) return undefined;
  const { split, chunk, shares } = best;
  return { split, chunk, shares };
}

interface ThreadPool {
  wasm: WasmGemm;
  workers: Worker[];
  control: Int32Array;
  previous: GemmBackend;
  name: string;
}

let pool: ThreadPool | undefined;

/** Options for {@link enableGemmThreads}. */
export interface GemmThreadsOptions {
  /**
   * Threads in all, the calling one included (default: `PROTOLENS_GEMM_THREADS`, else the
   * number of cores, at most 4). 1 installs the single-threaded wasm kernel.
   */
  threads?: number;
  /**
   * Whether the calling thread computes shares too (default true). False leaves all shares to
   * the workers while the caller waits: slower, for tests of the workers' path.
   */
  callerComputes?: boolean;
}

/**
 * The thread count asked for by `PROTOLENS_GEMM_THREADS`, or undefined when it is unset.
 * @throws RangeError when it is not a positive integer.
 */
export function gemmThreadsFromEnv(): number | undefined {
  const env = process.env.PROTOLENS_GEMM_THREADS;
  if (env === undefined || env === '') return undefined;
  const t = Number(env);
  if (!Number.isInteger(t) || t < 1) {
    throw new RangeError(`PROTOLENS_GEMM_THREADS: expected a positive integer, got "${env}"`);
  }
  return t;
}

function defaultThreads(): number {
  return gemmThreadsFromEnv() ?? Math.min(4, availableParallelism());
}

/**
 * Installs the multi-threaded WebAssembly GEMM as the backend of `gemm()` and returns its name
 * ("wasm-simd-threads2" on two cores). Does nothing and returns the name of the backend in use
 * when `PROTOLENS_GEMM=js`, when WebAssembly SIMD is missing, when the shared memory or the
 * workers cannot be created, or when already enabled.
 * @throws RangeError when `threads` is not a positive integer.
 * @example
 * enableGemmThreads(); // 'wasm-simd-threads2'
 */
export function enableGemmThreads(options: GemmThreadsOptions = {}): string {
  const threads = options.threads ?? defaultThreads();
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(`enableGemmThreads: threads must be a positive integer, got ${threads}`);
  }
  if (pool) return pool.name;
  if (requestedGemmBackend() === 'js' || !wasmSimdSupported()) return gemmBackendName();

  let wasm: WasmGemm;
  const control = new Int32Array(new SharedArrayBuffer(8 * 4));
  const workers: Worker[] = [];
  try {
    // Shared memories cannot move, so engines reserve the maximum (4 GiB) as address space.
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
    const module = new WebAssembly.Module(gemmMtWasmBytes());
    wasm = new WasmGemm(module, { memory, workspaces: threads });
    for (let t = 1; t < threads; t++) {
      const w = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { module, memory, control: control.buffer, jobPtr: wasm.jobPtr, work: wasm.workPtr + t * wasm.workBytes },
      });
      // A worker that dies only takes no more shares; the calling thread computes the rest.
      w.on('error', () => undefined);
      w.unref();
      workers.push(w);
    }
  } catch {
    for (const w of workers) void w.terminate();
    return gemmBackendName(); // no shared memory or threads here: keep the current backend
  }
  const name = threads > 1 ? `wasm-simd-threads${threads}` : 'wasm-simd';
  wasm.compute = parallelCompute(wasm, control, threads, options.callerComputes ?? true);
  const previous = setGemmBackend(name, wasm.gemm, `WebAssembly SIMD kernel on ${threads} thread${threads > 1 ? 's' : ''} (enableGemmThreads)`);
  pool = { wasm, workers, control, previous, name };
  return name;
}

/** Shares of C computed by worker threads since {@link enableGemmThreads} (0 when not enabled). */
export function gemmWorkerShares(): number {
  return pool ? Atomics.load(pool.control, WORKER_SHARES) : 0;
}

/**
 * Stops the worker threads and puts back the backend that was installed before
 * {@link enableGemmThreads}. Resolves when the workers have exited.
 */
export async function disableGemmThreads(): Promise<void> {
  const p = pool;
  if (!p) return;
  pool = undefined;
  Atomics.store(p.control, STOP, 1);
  Atomics.add(p.control, SEQ, 1);
  Atomics.notify(p.control, SEQ);
  setGemmBackend(p.previous.name, p.previous.fn, p.previous.reason);
  await Promise.all(p.workers.map((w) => w.terminate()));
}

function parallelCompute(wasm: WasmGemm, control: Int32Array, threads: number, callerComputes: boolean): WasmCompute {
  const ex = wasm.exports, work = wasm.workPtr, jobPtr = wasm.jobPtr;
  let seq = 0;
  return (tA, tB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, free) => {
    let plan = planShares(m, n, k, threads);
    if (plan?.split === 2 && !wasm.reserve(4 * (plan.shares - 1) * m * n, free)) plan = planShares(m, n, k, threads, false);
    if (!plan) {
      ex.gemm(tA ? 1 : 0, tB ? 1 : 0, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, work);
      return;
    }
    const i32 = new Int32Array(wasm.memory.buffer, jobPtr, 16);
    const f32 = new Float32Array(wasm.memory.buffer, jobPtr, 16);
    i32[JOB.transA] = tA ? 1 : 0; i32[JOB.transB] = tB ? 1 : 0;
    i32[JOB.m] = m; i32[JOB.n] = n; i32[JOB.k] = k; f32[JOB.alpha] = alpha;
    i32[JOB.A] = A; i32[JOB.lda] = lda; i32[JOB.B] = B; i32[JOB.ldb] = ldb;
    f32[JOB.beta] = beta; i32[JOB.C] = C; i32[JOB.ldc] = ldc;
    i32[JOB.split] = plan.split; i32[JOB.chunk] = plan.chunk; i32[JOB.cpriv] = free;
    const shares = plan.shares;

    seq = (seq + 1) | 0;
    const tag = seq & 0xffff;
    Atomics.store(control, DONE, 0);
    Atomics.store(control, ERROR, 0);
    Atomics.store(control, NCHUNKS, shares);
    Atomics.store(control, TICKET, tag << 16);
    Atomics.store(control, SEQ, seq);
    Atomics.notify(control, SEQ);

    let failure: unknown;
    while (callerComputes) {
      const t = Atomics.load(control, TICKET);
      if ((t & 0xffff) >= shares) break;
      if (Atomics.compareExchange(control, TICKET, t, t + 1) !== t) continue;
      try {
        ex.gemm_chunk(jobPtr, t & 0xffff, work);
      } catch (err) {
        failure ??= err;
      }
      Atomics.add(control, DONE, 1);
    }
    for (let d = Atomics.load(control, DONE); d < shares; d = Atomics.load(control, DONE)) {
      Atomics.wait(control, DONE, d);
    }
    if (failure !== undefined) throw failure;
    if (Atomics.load(control, ERROR) !== 0) throw new Error('gemm: a worker thread failed in the WebAssembly kernel');
    if (plan.split === 2) {
      // C holds β·C + share 0; add shares 1… in order.
      for (let s = 1; s < shares; s++) ex.gemm_add(C, ldc, free + 4 * (s - 1) * m * n, n, m, n);
    }
  };
}
