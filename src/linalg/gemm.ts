/**
 * General matrix product on row-major Float32Array, BLAS-style:
 * `C ← β·C + α·op(A)·op(B)`, with `op(A)` of shape m×k and `op(B)` of shape k×n.
 *
 * `transA` means A is stored k×m (row-major) and used transposed; `transB` means B is
 * stored n×k. The three layouts protolens needs are
 * - NT: `X·Pᵀ` (inner products between the rows of two matrices),
 * - TN: `Eᵀ·X` (weighted sums of samples for the prototype step),
 * - NN: `Q·W` (the class layer).
 *
 * Every caller goes through {@link gemm}, which validates the arguments and runs the current
 * backend. Importing this module installs nothing and cannot throw: until a backend is installed
 * with {@link setGemmBackend}, the default is chosen on the first product
 * ({@link defaultGemmBackend}), and {@link gemmBackendStatus} says which and why:
 * - `wasm-simd` (the default where WebAssembly SIMD exists): our own kernel in C compiled to
 *   WebAssembly simd128 (src/linalg/wasm/gemm.c, design in docs/linalg.md), instantiated
 *   synchronously on first use;
 * - `js`: the portable JavaScript kernel {@link gemmJs} below (register-blocked 4×4 for NT,
 *   4-row axpy blocks for NN/TN), the default when WebAssembly SIMD is missing or when the
 *   environment variable `PROTOLENS_GEMM=js` asks for it (for comparison);
 * - `wasm-simd-threads<n>`: the wasm kernel on n threads, installed by the Node adapter
 *   `enableGemmThreads()` (src/linalg/gemm-threads.node.ts);
 * - `native-<isa>[-threads<n>]`: a C++ addon built at install (native/gemm.cc), installed by the
 *   Node adapter `enableNodeGemm()` (src/linalg/gemm-native.node.ts), which the CLI prefers.
 * Another implementation may be installed with {@link setGemmBackend}.
 */
import { WasmGemm, compileGemmModule, compileGemmModuleAsync, wasmSimdSupported } from './wasm/backend.ts';

/** Signature of a GEMM implementation (row-major, leading dimensions = row strides). */
export type GemmFn = (
  transA: boolean, transB: boolean, m: number, n: number, k: number,
  alpha: number, A: Float32Array, lda: number, B: Float32Array, ldb: number,
  beta: number, C: Float32Array, ldc: number,
) => void;

function scaleC(m: number, n: number, beta: number, C: Float32Array, ldc: number): void {
  if (beta === 1) return;
  for (let i = 0; i < m; i++) {
    const o = i * ldc;
    if (beta === 0) C.fill(0, o, o + n);
    else for (let j = 0; j < n; j++) C[o + j] *= beta;
  }
}

/** C += α A·Bᵀ with A m×k and B n×k (both row-major, contiguous rows). */
function gemmNT(m: number, n: number, k: number, alpha: number, A: Float32Array, lda: number,
  B: Float32Array, ldb: number, C: Float32Array, ldc: number): void {
  const KB = 512;
  for (let p0 = 0; p0 < k; p0 += KB) {
    const p1 = Math.min(k, p0 + KB);
    let i = 0;
    for (; i + 4 <= m; i += 4) {
      const a0 = i * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda;
      let j = 0;
      for (; j + 4 <= n; j += 4) {
        const b0 = j * ldb, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb;
        let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        for (let p = p0; p < p1; p++) {
          const x0 = A[a0 + p], x1 = A[a1 + p], x2 = A[a2 + p], x3 = A[a3 + p];
          const y0 = B[b0 + p], y1 = B[b1 + p], y2 = B[b2 + p], y3 = B[b3 + p];
          c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
          c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
          c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3;
          c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3;
        }
        let o = i * ldc + j;
        C[o] += alpha * c00; C[o + 1] += alpha * c01; C[o + 2] += alpha * c02; C[o + 3] += alpha * c03; o += ldc;
        C[o] += alpha * c10; C[o + 1] += alpha * c11; C[o + 2] += alpha * c12; C[o + 3] += alpha * c13; o += ldc;
        C[o] += alpha * c20; C[o + 1] += alpha * c21; C[o + 2] += alpha * c22; C[o + 3] += alpha * c23; o += ldc;
        C[o] += alpha * c30; C[o + 1] += alpha * c31; C[o + 2] += alpha * c32; C[o + 3] += alpha * c33;
      }
      for (; j < n; j++) {
        const b0 = j * ldb;
        let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
        for (let p = p0; p < p1; p++) {
          const y = B[b0 + p];
          c0 += A[a0 + p] * y; c1 += A[a1 + p] * y; c2 += A[a2 + p] * y; c3 += A[a3 + p] * y;
        }
        C[i * ldc + j] += alpha * c0; C[(i + 1) * ldc + j] += alpha * c1;
        C[(i + 2) * ldc + j] += alpha * c2; C[(i + 3) * ldc + j] += alpha * c3;
      }
    }
    for (; i < m; i++) {
      const a0 = i * lda;
      for (let j = 0; j < n; j++) {
        const b0 = j * ldb;
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        let p = p0;
        for (; p + 4 <= p1; p += 4) {
          s0 += A[a0 + p] * B[b0 + p]; s1 += A[a0 + p + 1] * B[b0 + p + 1];
          s2 += A[a0 + p + 2] * B[b0 + p + 2]; s3 += A[a0 + p + 3] * B[b0 + p + 3];
        }
        for (; p < p1; p++) s0 += A[a0 + p] * B[b0 + p];
        C[i * ldc + j] += alpha * (s0 + s1 + s2 + s3);
      }
    }
  }
}

/**
 * C += α op(A)·B with B k×n row-major: each output row is a combination of B's rows.
 * `aAt(i, p)` reads op(A)[i, p].
 */
function gemmXN(transA: boolean, m: number, n: number, k: number, alpha: number, A: Float32Array,
  lda: number, B: Float32Array, ldb: number, C: Float32Array, ldc: number): void {
  const NB = 1024;
  for (let j0 = 0; j0 < n; j0 += NB) {
    const j1 = Math.min(n, j0 + NB);
    for (let i = 0; i < m; i++) {
      const co = i * ldc;
      let p = 0;
      for (; p + 4 <= k; p += 4) {
        let w0: number, w1: number, w2: number, w3: number;
        if (transA) {
          w0 = A[p * lda + i]; w1 = A[(p + 1) * lda + i]; w2 = A[(p + 2) * lda + i]; w3 = A[(p + 3) * lda + i];
        } else {
          const ao = i * lda + p;
          w0 = A[ao]; w1 = A[ao + 1]; w2 = A[ao + 2]; w3 = A[ao + 3];
        }
        if (w0 === 0 && w1 === 0 && w2 === 0 && w3 === 0) continue;
        w0 *= alpha; w1 *= alpha; w2 *= alpha; w3 *= alpha;
        const b0 = p * ldb, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb;
        for (let j = j0; j < j1; j++) {
          C[co + j] += w0 * B[b0 + j] + w1 * B[b1 + j] + w2 * B[b2 + j] + w3 * B[b3 + j];
        }
      }
      for (; p < k; p++) {
        const w = alpha * (transA ? A[p * lda + i] : A[i * lda + p]);
        if (w === 0) continue;
        const b0 = p * ldb;
        for (let j = j0; j < j1; j++) C[co + j] += w * B[b0 + j];
      }
    }
  }
}

/** The portable JavaScript GEMM. */
export const gemmJs: GemmFn = (transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc) => {
  scaleC(m, n, beta, C, ldc);
  if (m === 0 || n === 0 || k === 0 || alpha === 0) return;
  if (!transB) {
    gemmXN(transA, m, n, k, alpha, A, lda, B, ldb, C, ldc);
  } else if (!transA) {
    gemmNT(m, n, k, alpha, A, lda, B, ldb, C, ldc);
  } else {
    // TT: rare; transpose A into a scratch copy, then NT.
    const At = new Float32Array(m * k);
    for (let p = 0; p < k; p++) for (let i = 0; i < m; i++) At[i * k + p] = A[p * lda + i];
    gemmNT(m, n, k, alpha, At, k, B, ldb, C, ldc);
  }
};

/** A named GEMM implementation, and why it is the one in use. */
export interface GemmBackend {
  readonly name: string;
  readonly fn: GemmFn;
  /** Why this backend is in use, e.g. "default: WebAssembly SIMD" or "enableNodeGemm: native addon". */
  readonly reason: string;
}

/** What was installed with {@link setGemmBackend}; undefined until then ({@link defaultGemmBackend} is used). */
let installed: GemmBackend | undefined;

/**
 * Installs a GEMM implementation for every later {@link gemm} call in this process (or thread),
 * e.g. the native addon (`enableNodeGemm`, src/linalg/gemm-native.node.ts). Returns the backend
 * that was in use, to restore it.
 * @param reason - why it is installed, reported by {@link gemmBackendStatus}.
 * @example
 * const prev = setGemmBackend('js', gemmJs, 'for comparison');
 * // … later: setGemmBackend(prev.name, prev.fn, prev.reason)
 */
export function setGemmBackend(name: string, fn: GemmFn, reason = 'installed with setGemmBackend'): GemmBackend {
  const prev = currentBackend();
  installed = { name, fn, reason };
  return prev;
}

/** The backend {@link gemm} runs: the installed one, else the default. */
function currentBackend(): GemmBackend {
  return installed ?? defaultGemmBackend();
}

/** Name of the GEMM backend in use ("js", "wasm-simd", "wasm-simd-threads2", "native-avx512-threads2", …). */
export function gemmBackendName(): string {
  return currentBackend().name;
}

/**
 * The GEMM backend in use and why: installed (by {@link setGemmBackend}, which the Node
 * adapters call), or the default chosen on first use ({@link defaultGemmBackend}).
 * @example
 * gemmBackendStatus() // { name: 'wasm-simd', reason: 'default: WebAssembly SIMD kernel' }
 */
export function gemmBackendStatus(): { name: string; reason: string } {
  const b = currentBackend();
  return { name: b.name, reason: b.reason };
}

/**
 * Backend choices of the `PROTOLENS_GEMM` environment variable. `native` concerns the Node
 * adapters only (src/linalg/gemm-native.node.ts); this module alone then uses wasm.
 */
export type GemmChoice = 'auto' | 'js' | 'wasm' | 'native';

const CHOICES: readonly GemmChoice[] = ['auto', 'js', 'wasm', 'native'];

/**
 * The backend asked for by the environment variable `PROTOLENS_GEMM` (Node; "auto" when unset
 * or in a browser).
 * @throws RangeError when the variable holds anything but auto, js, wasm or native.
 */
export function requestedGemmBackend(): GemmChoice {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const v = env?.PROTOLENS_GEMM?.trim().toLowerCase();
  if (v === undefined || v === '') return 'auto';
  if ((CHOICES as readonly string[]).includes(v)) return v as GemmChoice;
  throw new RangeError(`PROTOLENS_GEMM: invalid value "${env?.PROTOLENS_GEMM}". Should be one of: ${CHOICES.join(', ')}`);
}

let wasmSingle: WasmGemm | undefined;

/**
 * The single-threaded WebAssembly GEMM instance, created on first use (synchronously), or
 * undefined when WebAssembly SIMD is unavailable or the engine refuses to compile synchronously.
 */
export function wasmGemmInstance(): WasmGemm | undefined {
  if (wasmSingle === undefined && wasmSimdSupported()) {
    try {
      wasmSingle = new WasmGemm(compileGemmModule());
    } catch {
      return undefined;
    }
  }
  return wasmSingle;
}

let fallback: GemmBackend | undefined;
/** Set when the default is JavaScript only because synchronous compilation was refused: {@link initWasm} can do better. */
let compileRefused = false;

/**
 * The backend used until one is installed, chosen on first use (never when this module is
 * imported) and never throwing: the WebAssembly SIMD kernel where the engine has simd128 and
 * compiles the module synchronously (Node, workers, every current browser), else the JavaScript
 * kernel, with the reason. `PROTOLENS_GEMM=js` asks for the JavaScript kernel; an invalid value
 * is reported in the reason (the Node adapters, which the CLI calls, refuse it).
 */
export function defaultGemmBackend(): GemmBackend {
  if (fallback) return fallback;
  let choice: GemmChoice;
  let note = '';
  try {
    choice = requestedGemmBackend();
  } catch (err) {
    choice = 'auto';
    note = ` (${(err as Error).message}: ignored)`;
  }
  const js = (why: string): GemmBackend => ({ name: 'js', fn: gemmJs, reason: `default: JavaScript kernel, ${why}${note}` });
  if (choice === 'js') return (fallback = js('PROTOLENS_GEMM=js'));
  const w = wasmGemmInstance();
  if (w) return (fallback = { name: 'wasm-simd', fn: w.gemm, reason: `default: WebAssembly SIMD kernel${note}` });
  compileRefused = wasmSimdSupported();
  const why = compileRefused ? 'this engine refused to compile the WebAssembly module synchronously (call initWasm())' : 'this engine has no WebAssembly SIMD (simd128)';
  return (fallback = js(choice === 'wasm' ? `PROTOLENS_GEMM=wasm, but ${why}` : why));
}

/**
 * Makes the WebAssembly kernel the default where synchronous compilation was refused (an engine
 * that forbids it on the main thread). Resolves to the name of the backend in use: "js" when
 * SIMD is missing or `PROTOLENS_GEMM=js`, an installed backend's name when there is one. Never
 * needed in Node, in workers, or in browsers that compile modules under 4 KB synchronously (all
 * current ones); harmless to call anyway.
 * @throws what `WebAssembly.compile` throws.
 */
export async function initWasm(): Promise<string> {
  const b = currentBackend();
  if (installed || !compileRefused) return b.name;
  if (wasmSingle === undefined) wasmSingle = new WasmGemm(await compileGemmModuleAsync());
  fallback = { name: 'wasm-simd', fn: wasmSingle.gemm, reason: 'default: WebAssembly SIMD kernel (compiled asynchronously by initWasm)' };
  compileRefused = false;
  return gemmBackendName();
}

function checkOperand(name: string, M: unknown, rows: number, cols: number, ld: number): void {
  if (!(M instanceof Float32Array)) {
    throw new TypeError(`gemm: ${name} must be a Float32Array, got ${M === null ? 'null' : typeof M}`);
  }
  if (!Number.isInteger(ld) || ld < Math.max(1, cols)) {
    throw new RangeError(`gemm: leading dimension of ${name} must be an integer ≥ ${Math.max(1, cols)} (its stored width), got ${ld}`);
  }
  if (rows > 0 && cols > 0 && M.length < (rows - 1) * ld + cols) {
    throw new RangeError(`gemm: ${name} is stored ${rows}×${cols} with leading dimension ${ld}, needing ${(rows - 1) * ld + cols} values, but has ${M.length}`);
  }
}

/**
 * `C ← β·C + α·op(A)·op(B)` on row-major Float32Arrays. With β = 0, C is only written
 * (NaN or garbage in it is ignored).
 * @param transA - A is stored k×m and used transposed.
 * @param transB - B is stored n×k and used transposed.
 * @param lda - row stride of A as stored (≥ its stored width); likewise ldb, ldc.
 * @throws TypeError when an operand is not a Float32Array.
 * @throws RangeError when a size is not a non-negative integer, a leading dimension is smaller
 *   than the stored width, or an array is too short for its shape.
 * @example
 * const C = new Float32Array(4);
 * gemm(false, true, 2, 2, 2, 1, new Float32Array([1, 2, 3, 4]), 2, new Float32Array([1, 0, 0, 1]), 2, 0, C, 2);
 * // C = [1, 2, 3, 4]
 */
export function gemm(transA: boolean, transB: boolean, m: number, n: number, k: number,
  alpha: number, A: Float32Array, lda: number, B: Float32Array, ldb: number,
  beta: number, C: Float32Array, ldc: number): void {
  for (const [name, v] of [['m', m], ['n', n], ['k', k]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`gemm: ${name} must be a non-negative integer, got ${v}`);
  }
  checkOperand('A', A, transA ? k : m, transA ? m : k, lda);
  checkOperand('B', B, transB ? n : k, transB ? k : n, ldb);
  checkOperand('C', C, m, n, ldc);
  currentBackend().fn(transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
