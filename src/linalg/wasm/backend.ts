/**
 * The WebAssembly SIMD GEMM backend: instantiates the module compiled from `gemm.c` (embedded
 * as base64 in `gemm-wasm.ts`) and wraps it as a {@link GemmFn} over JavaScript Float32Arrays.
 *
 * Operands live in JavaScript memory, so each call copies op(A)'s and op(B)'s stored windows
 * into the module's linear memory (grown as needed and reused across calls), runs the kernel,
 * and copies the m×n result back; C is copied in only when β ≠ 0. The copies are O(n²) against
 * the O(n³) product (under 5% at the prototype model's sizes). Products whose operands would
 * not fit the memory budget are computed tile by tile (see {@link WasmGemm.maxBytes}).
 *
 * Browser-safe: no Node imports. The module is under 4 KB, so `new WebAssembly.Module` is
 * allowed even on a browser's main thread; {@link compileGemmModuleAsync} is there for
 * environments that refuse synchronous compilation anyway.
 */
import type { GemmFn } from '../gemm.ts';
import { GEMM_MT_WASM_BASE64, GEMM_WASM_BASE64 } from './gemm-wasm.ts';

/** What the module exports (see gemm.c). Pointers are byte offsets in its memory. */
export interface GemmExports {
  gemm(transA: number, transB: number, m: number, n: number, k: number, alpha: number,
    A: number, lda: number, B: number, ldb: number, beta: number, C: number, ldc: number,
    work: number): void;
  gemm_chunk(job: number, idx: number, work: number): void;
  gemm_add(dst: number, ldd: number, src: number, lds: number, m: number, n: number): void;
  gemm_work_floats(): number;
  __heap_base: WebAssembly.Global;
}

/** Byte size of the `job_t` struct of gemm.c, and the int32 slot of each field. */
export const JOB_BYTES = 64;
export const JOB = {
  transA: 0, transB: 1, m: 2, n: 3, k: 4, alpha: 5, A: 6, lda: 7, B: 8, ldb: 9, beta: 10,
  C: 11, ldc: 12, split: 13, chunk: 14, cpriv: 15,
} as const;

const PAGE = 65536;
const ALIGN = 64;

function alignUp(x: number, a = ALIGN): number {
  return Math.ceil(x / a) * a;
}

function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The bytes of the single-threaded module. */
export function gemmWasmBytes(): Uint8Array<ArrayBuffer> {
  return decodeBase64(GEMM_WASM_BASE64);
}

/** The bytes of the module that imports a shared memory (for worker threads). */
export function gemmMtWasmBytes(): Uint8Array<ArrayBuffer> {
  return decodeBase64(GEMM_MT_WASM_BASE64);
}

// (module (func (result v128) v128.const i32x4 0 0 0 0)): validates only with simd128.
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11,
]);

/** Whether this engine has WebAssembly with the fixed-width SIMD (simd128) proposal. */
export function wasmSimdSupported(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

/** Compiles the single-threaded module synchronously. @throws what `new WebAssembly.Module` throws. */
export function compileGemmModule(): WebAssembly.Module {
  return new WebAssembly.Module(gemmWasmBytes());
}

/** Compiles the single-threaded module asynchronously (for hosts that forbid synchronous compilation). */
export function compileGemmModuleAsync(): Promise<WebAssembly.Module> {
  return WebAssembly.compile(gemmWasmBytes());
}

/**
 * Runs `gemm` on operands already in the module's memory (byte offsets). The default calls
 * the module once; the Node threads adapter replaces it to share the product between threads.
 * `free` is the first byte after the operands, where the compute function may put scratch
 * space (after {@link WasmGemm.reserve}-ing it).
 */
export type WasmCompute = (
  transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
  A: number, lda: number, B: number, ldb: number, beta: number, C: number, ldc: number,
  free: number,
) => void;

/** Options for {@link WasmGemm}. */
export interface WasmGemmOptions {
  /** Memory to import (default: a new non-shared one). A shared memory needs the -mt module. */
  memory?: WebAssembly.Memory;
  /** Workspaces to reserve, one per thread that calls the module (default 1). */
  workspaces?: number;
}

/**
 * One instance of the GEMM module and the memory it computes in.
 *
 * Memory layout (bytes): `[0, __heap_base)` the module's own; then a job block
 * ({@link JOB_BYTES}); then `workspaces` packing workspaces; then the operands of the current
 * call (A, B, C windows, compact). The memory only grows.
 */
export class WasmGemm {
  readonly memory: WebAssembly.Memory;
  readonly exports: GemmExports;
  /** Byte offset of the job block used by threaded calls. */
  readonly jobPtr: number;
  /** Byte offset of workspace `t` is `workPtr + t * workBytes`. */
  readonly workPtr: number;
  readonly workBytes: number;
  /** Where operands start. */
  readonly operandsPtr: number;
  /**
   * Largest operand area (bytes) one call may use before the product is split into tiles.
   * Halved automatically when the memory refuses to grow.
   */
  maxBytes = 1 << 30;
  /** How products on operands already in memory are computed (replaceable, see {@link WasmCompute}). */
  compute: WasmCompute;
  private view: Float32Array;

  constructor(module: WebAssembly.Module, options: WasmGemmOptions = {}) {
    this.memory = options.memory ?? new WebAssembly.Memory({ initial: 1 });
    const instance = new WebAssembly.Instance(module, { env: { memory: this.memory } });
    this.exports = instance.exports as unknown as GemmExports;
    const heapBase = this.exports.__heap_base.value as number;
    this.jobPtr = alignUp(heapBase);
    this.workPtr = this.jobPtr + alignUp(JOB_BYTES);
    this.workBytes = alignUp(this.exports.gemm_work_floats() * 4);
    this.operandsPtr = this.workPtr + (options.workspaces ?? 1) * this.workBytes;
    this.view = new Float32Array(this.memory.buffer);
    this.reserve(0);
    const ex = this.exports, work = this.workPtr;
    this.compute = (tA, tB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc) =>
      ex.gemm(tA ? 1 : 0, tB ? 1 : 0, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, work);
  }

  /** Float32 view of the whole memory (refreshed after growth). */
  f32(): Float32Array {
    if (this.view.byteLength !== this.memory.buffer.byteLength) this.view = new Float32Array(this.memory.buffer);
    return this.view;
  }

  /** Grows the memory so that `bytes` fit after byte offset `from`; false if it cannot. */
  reserve(bytes: number, from = this.operandsPtr): boolean {
    const need = from + bytes;
    const have = this.memory.buffer.byteLength;
    if (need <= have) return true;
    try {
      this.memory.grow(Math.ceil((need - have) / PAGE));
      return true;
    } catch {
      return false;
    }
  }

  /** The {@link GemmFn} (bound; arguments are validated by `gemm()` in gemm.ts). */
  readonly gemm: GemmFn = (transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc) => {
    if (m === 0 || n === 0) return;
    if (k === 0 || alpha === 0) {
      scaleRows(C, m, n, ldc, beta);
      return;
    }
    for (;;) {
      const [mb, nb, kb] = tileSizes(m, n, k, this.maxBytes);
      if (this.reserve(tileBytes(mb, nb, kb))) {
        this.tiled(transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, mb, nb, kb);
        return;
      }
      if (this.maxBytes <= 1 << 20) {
        throw new RangeError(`gemm: cannot grow WebAssembly memory to ${this.operandsPtr + this.maxBytes} bytes`);
      }
      this.maxBytes /= 2;
    }
  };

  private tiled(transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    A: Float32Array, lda: number, B: Float32Array, ldb: number, beta: number, C: Float32Array,
    ldc: number, mb: number, nb: number, kb: number): void {
    const pA = this.operandsPtr;
    const pB = pA + alignUp(4 * mb * kb);
    const pC = pB + alignUp(4 * kb * nb);
    for (let i0 = 0; i0 < m; i0 += mb) {
      const mi = Math.min(mb, m - i0);
      for (let j0 = 0; j0 < n; j0 += nb) {
        const nj = Math.min(nb, n - j0);
        if (beta !== 0) copyIn(this.f32(), pC >> 2, C, ldc, i0, j0, mi, nj);
        for (let p0 = 0; p0 < k; p0 += kb) {
          const kp = Math.min(kb, k - p0);
          const mem = this.f32();
          // Stored windows: A is k×m when transposed, B is n×k when transposed.
          if (transA) copyIn(mem, pA >> 2, A, lda, p0, i0, kp, mi);
          else copyIn(mem, pA >> 2, A, lda, i0, p0, mi, kp);
          if (transB) copyIn(mem, pB >> 2, B, ldb, j0, p0, nj, kp);
          else copyIn(mem, pB >> 2, B, ldb, p0, j0, kp, nj);
          this.compute(transA, transB, mi, nj, kp, alpha, pA, transA ? mi : kp, pB, transB ? kp : nj,
            p0 === 0 ? beta : 1, pC, nj, alignUp(pC + 4 * mi * nj));
        }
        copyOut(this.f32(), pC >> 2, C, ldc, i0, j0, mi, nj);
      }
    }
  }
}

/** Bytes taken by the A, B and C windows of an mb×nb×kb tile (as laid out by `tiled`). */
function tileBytes(mb: number, nb: number, kb: number): number {
  return alignUp(4 * mb * kb) + alignUp(4 * kb * nb) + 4 * mb * nb;
}

/** Tile sizes (rows of C, columns of C, depth) whose three compact windows fit `maxBytes`. */
export function tileSizes(m: number, n: number, k: number, maxBytes: number): [number, number, number] {
  let mb = m, nb = n, kb = k;
  while (tileBytes(mb, nb, kb) > maxBytes) {
    // Halve the largest, keeping multiples of 64 so the kernel's tiles stay whole.
    if (kb >= mb && kb >= nb && kb > 64) kb = alignUp(Math.ceil(kb / 2));
    else if (mb >= nb && mb > 64) mb = alignUp(Math.ceil(mb / 2));
    else if (nb > 64) nb = alignUp(Math.ceil(nb / 2));
    else break;
  }
  return [mb, nb, kb];
}

/** C[0:m, 0:n] ← β·C (β = 0 writes zeros, ignoring NaN). */
function scaleRows(C: Float32Array, m: number, n: number, ldc: number, beta: number): void {
  if (beta === 1) return;
  for (let i = 0; i < m; i++) {
    const o = i * ldc;
    if (beta === 0) C.fill(0, o, o + n);
    else for (let j = 0; j < n; j++) C[o + j] *= beta;
  }
}

/** Copies src[r0:r0+rows, c0:c0+cols] (row stride ld) to mem at float index dst, compact. */
function copyIn(mem: Float32Array, dst: number, src: Float32Array, ld: number, r0: number, c0: number,
  rows: number, cols: number): void {
  const o = r0 * ld + c0;
  if (ld === cols) {
    mem.set(src.subarray(o, o + rows * cols), dst);
    return;
  }
  for (let r = 0; r < rows; r++) mem.set(src.subarray(o + r * ld, o + r * ld + cols), dst + r * cols);
}

/** Copies the compact rows×cols block at float index src of mem into dst[r0:, c0:] (stride ld). */
function copyOut(mem: Float32Array, src: number, dst: Float32Array, ld: number, r0: number, c0: number,
  rows: number, cols: number): void {
  const o = r0 * ld + c0;
  if (ld === cols) {
    dst.set(mem.subarray(src, src + rows * cols), o);
    return;
  }
  for (let r = 0; r < rows; r++) dst.set(mem.subarray(src + r * cols, src + (r + 1) * cols), o + r * ld);
}
