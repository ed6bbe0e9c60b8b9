/*
 * protolens — single-precision GEMM for WebAssembly SIMD (simd128).
 *
 *   C <- beta*C + alpha*op(A)*op(B),  row-major, op(A) m x k, op(B) k x n.
 *
 * Layout follows the BLIS/GotoBLAS scheme:
 *   for jc in n step NC            (B panel of NC columns)
 *     for pc in k step KC          pack op(B)[pc:pc+KC, jc:jc+NC] into KC x NR micro-panels
 *       for ic in m step MC        pack op(A)[ic:ic+MC, pc:pc+KC] into MR x KC micro-panels
 *         for jr in NC step NR     one B micro-panel (KC*NR floats) stays in L1
 *           for ir in MC step MR   A micro-panels stream from L2
 *             micro-kernel: MR x NR register tile, KC rank-1 updates
 *
 * The transposes are absorbed by the packing routines, so one micro-kernel serves NN, NT,
 * TN and TT. The micro-kernel uses only baseline simd128 (f32x4.mul + f32x4.add; relaxed-simd
 * FMA is not available by default in Node 20), with MR x NR = 4 x 8 held in 8 f32x4
 * accumulators, which fits x64's 16 xmm registers together with the operands.
 *
 * The module keeps no state: every buffer (operands, result, packing workspace) is passed in
 * by the caller, so two instances sharing one memory (one per thread) never collide, and the
 * code uses no shadow stack (checked by scripts/build-wasm.sh).
 *
 * Build: scripts/build-wasm.sh (regenerates src/linalg/wasm/gemm-wasm.ts).
 */
#include <wasm_simd128.h>

#define MR 4
#define NR 8
#define KC 256
#define MC 256
#define NC 4096

/* Workspace the caller must provide, in floats: packed A block, packed B panel, edge tile. */
#define WORK_FLOATS (MC * KC + KC * NC + MR * NR)

__attribute__((export_name("gemm_work_floats")))
int gemm_work_floats(void) { return WORK_FLOATS; }

static inline int imin(int a, int b) { return a < b ? a : b; }

/*
 * Packs op(A)[i0:i0+mc, p0:p0+kc] into ceil(mc/MR) micro-panels; panel q holds, for each p,
 * the MR values op(A)[i0+q*MR+r, p0+p] at dst[q*kc*MR + p*MR + r]. Rows past mc are zero.
 */
__attribute__((noinline)) static void pack_a(int trans, int mc, int kc, const float *A, int lda, int i0, int p0, float *dst) {
  for (int i = 0; i < mc; i += MR) {
    const int mr = imin(MR, mc - i);
    float *d = dst + (i / MR) * kc * MR;
    if (trans) {
      /* A stored k x m: op(A)[i, p] = A[p*lda + i]; MR consecutive values per p. */
      const float *s = A + (long)p0 * lda + i0 + i;
      if (mr == MR) {
        for (int p = 0; p < kc; p++) wasm_v128_store(d + p * MR, wasm_v128_load(s + (long)p * lda));
      } else {
        for (int p = 0; p < kc; p++)
          for (int r = 0; r < MR; r++) d[p * MR + r] = r < mr ? s[(long)p * lda + r] : 0.0f;
      }
    } else {
      /* A stored m x k: op(A)[i, p] = A[i*lda + p]; MR rows read in step, 4x4 transposes. */
      const float *s = A + (long)(i0 + i) * lda + p0;
      if (mr == MR) {
        const float *s0 = s, *s1 = s + lda, *s2 = s + 2 * (long)lda, *s3 = s + 3 * (long)lda;
        int p = 0;
        for (; p + 4 <= kc; p += 4) {
          v128_t r0 = wasm_v128_load(s0 + p), r1 = wasm_v128_load(s1 + p);
          v128_t r2 = wasm_v128_load(s2 + p), r3 = wasm_v128_load(s3 + p);
          v128_t t0 = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5); /* a0 b0 a1 b1 */
          v128_t t1 = wasm_i32x4_shuffle(r2, r3, 0, 4, 1, 5); /* c0 d0 c1 d1 */
          v128_t t2 = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7); /* a2 b2 a3 b3 */
          v128_t t3 = wasm_i32x4_shuffle(r2, r3, 2, 6, 3, 7); /* c2 d2 c3 d3 */
          wasm_v128_store(d + (p + 0) * MR, wasm_i32x4_shuffle(t0, t1, 0, 1, 4, 5));
          wasm_v128_store(d + (p + 1) * MR, wasm_i32x4_shuffle(t0, t1, 2, 3, 6, 7));
          wasm_v128_store(d + (p + 2) * MR, wasm_i32x4_shuffle(t2, t3, 0, 1, 4, 5));
          wasm_v128_store(d + (p + 3) * MR, wasm_i32x4_shuffle(t2, t3, 2, 3, 6, 7));
        }
        for (; p < kc; p++) {
          d[p * MR + 0] = s0[p]; d[p * MR + 1] = s1[p]; d[p * MR + 2] = s2[p]; d[p * MR + 3] = s3[p];
        }
      } else {
        for (int p = 0; p < kc; p++)
          for (int r = 0; r < MR; r++) d[p * MR + r] = r < mr ? s[(long)r * lda + p] : 0.0f;
      }
    }
  }
}

/*
 * Packs op(B)[p0:p0+kc, j0:j0+nc] into ceil(nc/NR) micro-panels; panel q holds, for each p,
 * the NR values op(B)[p0+p, j0+q*NR+c] at dst[q*kc*NR + p*NR + c]. Columns past nc are zero.
 */
__attribute__((noinline)) static void pack_b(int trans, int kc, int nc, const float *B, int ldb, int p0, int j0, float *dst) {
  for (int j = 0; j < nc; j += NR) {
    const int nr = imin(NR, nc - j);
    float *d = dst + (j / NR) * kc * NR;
    if (!trans) {
      /* B stored k x n: NR consecutive values per p. */
      const float *s = B + (long)p0 * ldb + j0 + j;
      if (nr == NR) {
        for (int p = 0; p < kc; p++) {
          const float *sp = s + (long)p * ldb;
          wasm_v128_store(d + p * NR, wasm_v128_load(sp));
          wasm_v128_store(d + p * NR + 4, wasm_v128_load(sp + 4));
        }
      } else {
        for (int p = 0; p < kc; p++)
          for (int c = 0; c < NR; c++) d[p * NR + c] = c < nr ? s[(long)p * ldb + c] : 0.0f;
      }
    } else {
      /* B stored n x k: op(B)[p, j] = B[j*ldb + p]. */
      const float *s = B + (long)(j0 + j) * ldb + p0;
      for (int c = 0; c < NR; c++) {
        if (c < nr) {
          const float *sc = s + (long)c * ldb;
          for (int p = 0; p < kc; p++) d[p * NR + c] = sc[p];
        } else {
          for (int p = 0; p < kc; p++) d[p * NR + c] = 0.0f;
        }
      }
    }
  }
}

/*
 * MR x NR micro-kernel: T = sum_p a[p,:]^T b[p,:] over kc packed rows, then
 * C[0:mr, 0:nr] = beta*C + alpha*T (beta == 0 stores without reading C, so NaN in C is ignored).
 * Partial tiles (mr < MR or nr < NR) go through `edge`, an MR x NR scratch tile.
 */
__attribute__((noinline)) static void kernel(int kc, const float *a, const float *b, float *C, int ldc,
                   float alpha, float beta, int mr, int nr, float *edge) {
  v128_t c00 = wasm_f32x4_splat(0), c01 = c00, c10 = c00, c11 = c00;
  v128_t c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  /* One rank-1 update per iteration: 2 loads of b, 4 broadcasts of a, 8 mul + 8 add. Kept
   * unrolled by 1 on purpose: V8 then holds all 8 accumulators and both b vectors in xmm
   * registers with no spills (unrolling by 2 made clang hoist loads and V8 spill). */
  for (int p = 0; p < kc; p++) {
    const v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4);
    v128_t x = wasm_v128_load32_splat(a + 0);
    c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(x, b0)); c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(x, b1));
    x = wasm_v128_load32_splat(a + 1);
    c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(x, b0)); c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(x, b1));
    x = wasm_v128_load32_splat(a + 2);
    c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(x, b0)); c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(x, b1));
    x = wasm_v128_load32_splat(a + 3);
    c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(x, b0)); c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(x, b1));
    a += MR;
    b += NR;
  }

  const int full = mr == MR && nr == NR;
  float *t = full ? C : edge;
  const int ldt = full ? ldc : NR;
  const int load_c = beta != 0.0f && full;
  const v128_t va = wasm_f32x4_splat(alpha), vb = wasm_f32x4_splat(beta);
#define STORE_ROW(r, x0, x1)                                                                  \
  do {                                                                                        \
    float *tr = t + (r) * ldt;                                                                \
    v128_t y0 = wasm_f32x4_mul(va, x0), y1 = wasm_f32x4_mul(va, x1);                          \
    if (load_c) {                                                                             \
      y0 = wasm_f32x4_add(y0, wasm_f32x4_mul(vb, wasm_v128_load(tr)));                        \
      y1 = wasm_f32x4_add(y1, wasm_f32x4_mul(vb, wasm_v128_load(tr + 4)));                    \
    }                                                                                         \
    wasm_v128_store(tr, y0);                                                                  \
    wasm_v128_store(tr + 4, y1);                                                              \
  } while (0)
  STORE_ROW(0, c00, c01);
  STORE_ROW(1, c10, c11);
  STORE_ROW(2, c20, c21);
  STORE_ROW(3, c30, c31);
#undef STORE_ROW
  if (!full) {
    for (int i = 0; i < mr; i++)
      for (int j = 0; j < nr; j++) {
        float *cij = C + (long)i * ldc + j;
        *cij = beta == 0.0f ? edge[i * NR + j] : beta * *cij + edge[i * NR + j];
      }
  }
}

/*
 * C <- beta*C + alpha*op(A)*op(B). Pointers are byte offsets in this module's memory; `work`
 * points at gemm_work_floats() floats owned by the calling thread. beta == 0 never reads C.
 */
__attribute__((export_name("gemm")))
void gemm(int transA, int transB, int m, int n, int k, float alpha,
          const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc,
          float *work) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    for (int i = 0; i < m; i++) {
      float *c = C + (long)i * ldc;
      for (int j = 0; j < n; j++) c[j] = beta == 0.0f ? 0.0f : beta * c[j];
    }
    return;
  }
  float *pa = work, *pb = work + MC * KC, *edge = pb + KC * NC;
  for (int jc = 0; jc < n; jc += NC) {
    const int nc = imin(NC, n - jc);
    for (int pc = 0; pc < k; pc += KC) {
      const int kc = imin(KC, k - pc);
      const float bt = pc == 0 ? beta : 1.0f;
      pack_b(transB, kc, nc, B, ldb, pc, jc, pb);
      for (int ic = 0; ic < m; ic += MC) {
        const int mc = imin(MC, m - ic);
        pack_a(transA, mc, kc, A, lda, ic, pc, pa);
        for (int jr = 0; jr < nc; jr += NR) {
          const int nr = imin(NR, nc - jr);
          const float *bp = pb + (jr / NR) * kc * NR;
          for (int ir = 0; ir < mc; ir += MR) {
            kernel(kc, pa + (ir / MR) * kc * MR, bp, C + (long)(ic + ir) * ldc + jc + jr, ldc,
                   alpha, bt, imin(MR, mc - ir), nr, edge);
          }
        }
      }
    }
  }
}

/*
 * One share of a product split between threads. `job` holds the arguments of gemm() (as
 * written by the JavaScript side, see JOB in backend.ts) and how the product is split into
 * shares of `chunk` rows of C (split 0), columns of C (split 1) or depth k (split 2). Share
 * `idx` is computed with the calling thread's workspace `work`.
 *
 * Depth shares are partial products: share 0 goes into C (with beta), share s > 0 into the
 * m x n buffer s-1 at `cpriv` (row stride n, overwritten); gemm_add then sums them into C in
 * share order, so the result does not depend on which thread computed which share.
 */
typedef struct {
  int transA, transB, m, n, k;
  float alpha;
  int A, lda, B, ldb;
  float beta;
  int C, ldc;
  int split, chunk, cpriv;
} job_t;

__attribute__((export_name("gemm_chunk")))
void gemm_chunk(const job_t *job, int idx, float *work) {
  const float *A = (const float *)job->A, *B = (const float *)job->B;
  float *C = (float *)job->C;
  int m = job->m, n = job->n, k = job->k, ldc = job->ldc;
  float beta = job->beta;
  const int lo = idx * job->chunk;
  if (job->split == 0) {
    if (lo >= m) return;
    m = imin(job->chunk, m - lo);
    A += job->transA ? lo : lo * job->lda;
    C += lo * ldc;
  } else if (job->split == 1) {
    if (lo >= n) return;
    n = imin(job->chunk, n - lo);
    B += job->transB ? lo * job->ldb : lo;
    C += lo;
  } else {
    if (lo >= k) return;
    k = imin(job->chunk, k - lo);
    A += job->transA ? lo * job->lda : lo;
    B += job->transB ? lo : lo * job->ldb;
    if (idx > 0) {
      C = (float *)job->cpriv + (idx - 1) * job->m * job->n;
      ldc = n;
      beta = 0.0f;
    }
  }
  gemm(job->transA, job->transB, m, n, k, job->alpha, A, job->lda, B, job->ldb, beta, C, ldc, work);
}

/* dst[0:m, 0:n] += src[0:m, 0:n] (row strides ldd and lds). */
__attribute__((export_name("gemm_add")))
void gemm_add(float *dst, int ldd, const float *src, int lds, int m, int n) {
  for (int i = 0; i < m; i++) {
    float *d = dst + i * ldd;
    const float *s = src + i * lds;
    int j = 0;
    for (; j + 4 <= n; j += 4) wasm_v128_store(d + j, wasm_f32x4_add(wasm_v128_load(d + j), wasm_v128_load(s + j)));
    for (; j < n; j++) d[j] += s[j];
  }
}
