/**
 * Node adapter: the native GEMM, a C++ Node-API addon (native/gemm.cc) built by node-gyp at
 * `npm ci` / `npm install` with `-O3 -march=native`, as the backend of {@link gemm}. Its
 * micro-kernel is AVX-512, AVX2+FMA or plain C++, whichever the build machine's compiler
 * enables; it runs on every core (std::thread inside the addon) and returns when the product is
 * done, so `gemm()` stays synchronous. It reads and writes the Float32Arrays in place: no copies.
 * Design and figures: docs/linalg.md, "The native kernel".
 *
 * {@link enableNodeGemm} is what Node programs (the CLI, the benchmarks) call once: the native
 * kernel when the addon loads, else the WebAssembly kernel on worker threads, and the reason the
 * native one is not in use. `PROTOLENS_GEMM=native|wasm|js` forces a choice.
 * Browsers never load this file; they keep the WebAssembly kernel of src/linalg/gemm.ts.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { gemmBackendName, requestedGemmBackend, setGemmBackend, type GemmBackend, type GemmFn } from './gemm.ts';
import { enableGemmThreads, gemmThreadsFromEnv } from './gemm-threads.node.ts';
import { setFastOps, type FastOps } from './ops.ts';

/** What the addon reports about its build. */
export interface NativeGemmInfo {
  /** Micro-kernel compiled in: "avx512", "avx2-fma" or "generic". */
  isa: string;
  /** Register tile (rows × columns of C) and cache blocks of the kernel. */
  mr: number; nr: number; kc: number; mc: number; nc: number;
  /** Threads per product, the calling one included. */
  threads: number;
  hardwareThreads: number;
  compiler?: string;
}

/** How the addon shares a product between threads: ranges of C's rows or columns, or of k. */
export interface NativeSharePlan {
  split: 'rows' | 'cols' | 'depth';
  /** Rows, columns or depth per share (the last may be shorter). */
  chunk: number;
  /** 1 when the product is computed whole on the calling thread. */
  shares: number;
}

interface NativeAddon extends FastOps {
  gemm: GemmFn;
  setThreads(n: number): number;
  info(): NativeGemmInfo;
  plan(m: number, n: number, k: number, threads: number): NativeSharePlan;
}

/**
 * The addon file: `PROTOLENS_NATIVE_ADDON` when set, else the one node-gyp builds. The status
 * file written next to the default one by scripts/build-native.mjs says why a build failed.
 */
export function nativeAddonPath(): string {
  return process.env.PROTOLENS_NATIVE_ADDON || fileURLToPath(new URL('../../native/build/Release/protolens_gemm.node', import.meta.url));
}
const STATUS_PATH = fileURLToPath(new URL('../../native/build/status.json', import.meta.url));

let loaded: { addon: NativeAddon | undefined; reason: string } | undefined;

/** Why the addon file is missing, from the build's status file when there is one. */
function missingReason(path: string): string {
  if (!process.env.PROTOLENS_NATIVE_ADDON && existsSync(STATUS_PATH)) {
    try {
      const s = JSON.parse(readFileSync(STATUS_PATH, 'utf8')) as { ok?: boolean; reason?: string };
      if (s.ok === false) return `the native addon was not built at install: ${s.reason} (log: native/build/build.log; retry with npm run build:native)`;
    } catch {
      // unreadable status: fall through to the generic message
    }
  }
  return `the native addon is not built (${path} is missing; run npm run build:native)`;
}

function load(): { addon: NativeAddon | undefined; reason: string } {
  if (loaded) return loaded;
  const path = nativeAddonPath();
  if (!existsSync(path)) {
    loaded = { addon: undefined, reason: missingReason(path) };
  } else {
    try {
      const addon = createRequire(import.meta.url)(path) as NativeAddon;
      loaded = { addon, reason: `loaded (${addon.info().isa})` };
    } catch (err) {
      loaded = { addon: undefined, reason: `the native addon failed to load: ${(err as Error).message.split('\n')[0]} (rebuild with npm run build:native)` };
    }
  }
  return loaded;
}

/**
 * Whether the native GEMM can be used here, why not when it cannot, and its build details.
 * @example
 * nativeGemmStatus() // { available: true, reason: 'loaded (avx512)', info: { isa: 'avx512', mr: 12, nr: 32, … } }
 */
export function nativeGemmStatus(): { available: boolean; reason: string; info?: NativeGemmInfo } {
  const { addon, reason } = load();
  return addon ? { available: true, reason, info: addon.info() } : { available: false, reason };
}

/**
 * The native GEMM function itself (whatever backend `gemm()` uses), or undefined when the addon
 * is unavailable. For tests and benchmarks; programs call {@link enableNodeGemm}.
 * @throws RangeError when `threads` is given and is not an integer from 1 to 256.
 */
export function nativeGemm(threads?: number): GemmFn | undefined {
  const { addon } = load();
  if (addon && threads !== undefined) setThreads(addon, threads);
  return addon?.gemm;
}

/**
 * The addon's versions of ops.ts's float32 loops (row softmax with a vectorised exp, row norms,
 * the distance epilogue: see {@link FastOps}), or undefined when the addon is unavailable. For
 * tests; {@link enableNativeGemm} installs them.
 */
export function nativeFastOps(): FastOps | undefined {
  const a = load().addon;
  return a && { softmaxRows: a.softmaxRows, rowSqNorms: a.rowSqNorms, addNormsClamp: a.addNormsClamp };
}

/**
 * How the addon would share an m×n×k product between `threads` threads, or undefined when the
 * addon is unavailable. For tests.
 * @example
 * nativeGemmPlan(10000, 300, 2048, 2) // { split: 'rows', chunk: 1260, shares: 8 }
 */
export function nativeGemmPlan(m: number, n: number, k: number, threads: number): NativeSharePlan | undefined {
  return load().addon?.plan(m, n, k, threads);
}

function setThreads(addon: NativeAddon, threads: number): void {
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
    throw new RangeError(`native GEMM: threads must be an integer from 1 to 256, got ${threads}`);
  }
  addon.setThreads(threads);
}

let previous: { gemm: GemmBackend; ops: FastOps | undefined } | undefined;

/**
 * Installs the native GEMM as the backend of `gemm()` on `threads` threads (default:
 * `PROTOLENS_GEMM_THREADS`, else every core), and its versions of ops.ts's float32 loops
 * (softmax, row norms, the distance epilogue; same numbers), and returns the GEMM's name, e.g.
 * "native-avx512-threads2"; returns undefined when the addon is unavailable
 * ({@link nativeGemmStatus} says why).
 * @throws RangeError when `threads` is not an integer from 1 to 256.
 */
export function enableNativeGemm(options: { threads?: number } = {}): string | undefined {
  const threads = options.threads ?? gemmThreadsFromEnv() ?? availableParallelism();
  const { addon } = load();
  if (!addon) return undefined;
  setThreads(addon, threads);
  const name = `native-${addon.info().isa}${threads > 1 ? `-threads${threads}` : ''}`;
  const gemm = setGemmBackend(name, addon.gemm, `native addon on ${threads} thread${threads > 1 ? 's' : ''} (enableNativeGemm)`);
  const ops = setFastOps(nativeFastOps());
  if (!previous) previous = { gemm, ops };
  return name;
}

/** Puts back the GEMM and loops that were in use before {@link enableNativeGemm}. */
export function disableNativeGemm(): void {
  if (!previous) return;
  setGemmBackend(previous.gemm.name, previous.gemm.fn, previous.gemm.reason);
  setFastOps(previous.ops);
  previous = undefined;
}

/** What {@link enableNodeGemm} installed. */
export interface NodeGemmChoice {
  /** Name of the backend now in use ("native-avx512-threads2", "wasm-simd-threads2", "js"). */
  backend: string;
  /** Why the native kernel is not the one in use (absent when it is). */
  nativeUnavailable?: string;
}

/**
 * Installs the fastest GEMM this Node process has, following `PROTOLENS_GEMM`:
 * - `auto` (default): the native addon on every core; if it cannot be loaded, the WebAssembly
 *   kernel on worker threads ({@link enableGemmThreads}), with the reason in `nativeUnavailable`;
 * - `native`: the native addon, or an error saying why it is unavailable;
 * - `wasm`: the WebAssembly kernel on worker threads; `js`: the JavaScript kernel.
 * `PROTOLENS_GEMM_THREADS=n` sets the thread count of either multi-threaded backend.
 * @throws Error when `PROTOLENS_GEMM=native` and the addon is unavailable.
 * @example
 * enableNodeGemm() // { backend: 'native-avx512-threads2' }
 */
export function enableNodeGemm(options: { threads?: number } = {}): NodeGemmChoice {
  lastChoice = chooseNodeGemm(options);
  return lastChoice;
}

let lastChoice: NodeGemmChoice | undefined;

function chooseNodeGemm(options: { threads?: number }): NodeGemmChoice {
  const choice = requestedGemmBackend();
  if (choice === 'js') return { backend: gemmBackendName(), nativeUnavailable: 'PROTOLENS_GEMM=js' };
  if (choice === 'wasm') return { backend: enableGemmThreads(options), nativeUnavailable: 'PROTOLENS_GEMM=wasm' };
  const name = enableNativeGemm(options);
  if (name) return { backend: name };
  const { reason } = load();
  if (choice === 'native') throw new Error(`PROTOLENS_GEMM=native, but ${reason}`);
  return { backend: enableGemmThreads(options), nativeUnavailable: reason };
}

/**
 * What the last {@link enableNodeGemm} installed (undefined before the first call), for reports:
 * the CLI calls it at start-up, `protolens bench` prints it.
 */
export function nodeGemmChoice(): NodeGemmChoice | undefined {
  return lastChoice;
}

/**
 * One line naming the GEMM backend in use, with the reason when the native kernel is not it.
 * @example
 * describeNodeGemm({ backend: 'wasm-simd-threads2', nativeUnavailable: 'PROTOLENS_GEMM=wasm' })
 * // 'GEMM backend wasm-simd-threads2 (native kernel not used: PROTOLENS_GEMM=wasm)'
 */
export function describeNodeGemm(choice: NodeGemmChoice): string {
  return `GEMM backend ${choice.backend}${choice.nativeUnavailable ? ` (native kernel not used: ${choice.nativeUnavailable})` : ''}`;
}
