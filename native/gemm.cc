// Native float32 GEMM for protolens's Node adapter (src/linalg/gemm-native.node.ts):
//   C ← β·C + α·op(A)·op(B), row-major, leading dimensions = row strides,
// exactly the GemmFn of src/linalg/gemm.ts. Design and figures: docs/linalg.md, "Native kernel".
//
// GotoBLAS/BLIS structure: op(B) packed into KC×NR micro-panels, op(A) into MR×KC ones (the
// packing absorbs the transposes, so one micro-kernel serves NN, NT, TN and TT), and an MR×NR
// register-blocked micro-kernel chosen at compile time from the compiler's macros:
//   AVX-512F: 12×32 (24 zmm accumulators), AVX2+FMA: 6×16 (12 ymm), otherwise plain C++ 4×8.
// Large products are cut into shares (ranges of C's rows or columns, or of the depth k) claimed
// by the calling thread and a pool of std::threads; the call returns when every share is done.
#include <node_api.h>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

// The instruction set the kernels are written for, from the compiler's macros (-march=native).
#if defined(__AVX512F__)
#define PL_SIMD 512
#elif defined(__AVX2__) && defined(__FMA__)
#define PL_SIMD 256
#else
#define PL_SIMD 0
#endif
#if PL_SIMD
#include <immintrin.h>
#elif defined(__SSE2__)
#include <xmmintrin.h>
#endif

namespace {

#if PL_SIMD == 512
constexpr const char* kIsa = "avx512";
constexpr int MR = 12, NR = 32, VW = 16;
using vf = __m512;
inline vf vzero() { return _mm512_setzero_ps(); }
inline vf vset1(float x) { return _mm512_set1_ps(x); }
inline vf vload(const float* p) { return _mm512_load_ps(p); }
inline vf vloadu(const float* p) { return _mm512_loadu_ps(p); }
inline void vstoreu(float* p, vf v) { _mm512_storeu_ps(p, v); }
inline vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
inline vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
inline vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
#elif PL_SIMD == 256
constexpr const char* kIsa = "avx2-fma";
constexpr int MR = 6, NR = 16, VW = 8;
using vf = __m256;
inline vf vzero() { return _mm256_setzero_ps(); }
inline vf vset1(float x) { return _mm256_set1_ps(x); }
inline vf vload(const float* p) { return _mm256_load_ps(p); }
inline vf vloadu(const float* p) { return _mm256_loadu_ps(p); }
inline void vstoreu(float* p, vf v) { _mm256_storeu_ps(p, v); }
inline vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
inline vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
inline vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
#else
constexpr const char* kIsa = "generic";
constexpr int MR = 4, NR = 8, VW = 1;
#endif

// Blocking: an MC×KC block of op(A) (480 KB) stays in L2 and its MR×KC micro-panels stream
// through L1 past a KC×NR micro-panel of op(B) (64 KB with AVX-512); the KC×NC block of op(B)
// comes from L2/L3. KC = 512 rather than 256: C is read and written once per depth block, and
// for X·Pᵀ (C is 10000×300, 12 MB) halving those sweeps took it from 115 to 131 GFLOP/s.
constexpr long KC = 512, MC = 240, NC = 2048;
static_assert(MC % MR == 0 && NC % NR == 0, "blocks must hold whole micro-panels");

// The micro-kernel: ab = a·b over kc steps (a: packed MR×kc, b: packed kc×NR), then
// c ← α·ab + β·c (β = 0: c is only written). NVEC < NR/VW computes only the first NVEC·VW
// columns of the panel: the narrow last panel of a product (n = 100 fills 3 panels of 32 and
// 4 columns: 16 computed instead of 32).
#if PL_SIMD
constexpr int NV = NR / VW;

template <int NVEC = NV>
void kernel(long kc, const float* __restrict a, const float* __restrict b, float* c, long ldc,
            float alpha, float beta) {
  vf acc[MR][NVEC];
#pragma GCC unroll 16
  for (int r = 0; r < MR; r++) {  // zero the accumulators; fetch the C tile while computing
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + NVEC * VW - 1), _MM_HINT_T0);
#pragma GCC unroll 4
    for (int v = 0; v < NVEC; v++) acc[r][v] = vzero();
  }
#pragma GCC unroll 4
  for (long p = 0; p < kc; p++) {
    vf bv[NVEC];
#pragma GCC unroll 4
    for (int v = 0; v < NVEC; v++) bv[v] = vload(b + v * VW);
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
      const vf ar = vset1(a[r]);
#pragma GCC unroll 4
      for (int v = 0; v < NVEC; v++) acc[r][v] = vfma(ar, bv[v], acc[r][v]);
    }
    a += MR;
    b += NR;
  }
  const vf va = vset1(alpha), vb = vset1(beta);
#pragma GCC unroll 16
  for (int r = 0; r < MR; r++) {
    float* cr = c + r * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NVEC; v++) {
      const vf ab = vmul(va, acc[r][v]);
      vstoreu(cr + v * VW, beta == 0 ? ab : vfma(vb, vloadu(cr + v * VW), ab));
    }
  }
}

// The edge tile of a panel with nr ≤ VW columns: only the first vector of each row.
constexpr bool kNarrowEdge = NV > 1;
void kernel_narrow(long kc, const float* a, const float* b, float* c, long ldc, float alpha, float beta) {
  kernel<1>(kc, a, b, c, ldc, alpha, beta);
}
#else
constexpr bool kNarrowEdge = false;
void kernel(long kc, const float* __restrict a, const float* __restrict b, float* c, long ldc,
            float alpha, float beta) {
  float acc[MR][NR] = {};
  for (long p = 0; p < kc; p++, a += MR, b += NR)
    for (int r = 0; r < MR; r++)
      for (int j = 0; j < NR; j++) acc[r][j] += a[r] * b[j];
  for (int r = 0; r < MR; r++)
    for (int j = 0; j < NR; j++) {
      float* cj = c + r * ldc + j;
      *cj = beta == 0 ? alpha * acc[r][j] : alpha * acc[r][j] + beta * *cj;
    }
}
void kernel_narrow(long kc, const float* a, const float* b, float* c, long ldc, float alpha, float beta) {
  kernel(kc, a, b, c, ldc, alpha, beta);
}
#endif

// A stored operand: op(X)[r, c] = trans ? p[c·ld + r] : p[r·ld + c].
struct Operand {
  const float* p;
  long ld;
  bool trans;
  float at(long r, long c) const { return trans ? p[c * ld + r] : p[r * ld + c]; }
  // The operand whose op starts at row r0, column c0.
  Operand shifted(long r0, long c0) const { return {trans ? p + c0 * ld + r0 : p + r0 * ld + c0, ld, trans}; }
};

// out[p·w + r] = src[r·ld + p] for r < rows, p < kc (rows of src become columns of a w-wide
// panel; rows ≤ w, the rest of each panel row is zeros). The packing routines' transposing case.
void transpose_into(const float* src, long ld, long rows, long kc, long w, float* out) {
  long r0 = 0;
#if defined(__SSE2__)
  // 4×4 blocks through registers: 3.5× faster than element by element, and memory-bound.
  for (; r0 + 4 <= rows; r0 += 4) {
    const float* s = src + r0 * ld;
    long p = 0;
    for (; p + 4 <= kc; p += 4) {
      __m128 a = _mm_loadu_ps(s + p), b = _mm_loadu_ps(s + ld + p), c = _mm_loadu_ps(s + 2 * ld + p), d = _mm_loadu_ps(s + 3 * ld + p);
      _MM_TRANSPOSE4_PS(a, b, c, d);
      _mm_storeu_ps(out + p * w + r0, a);
      _mm_storeu_ps(out + (p + 1) * w + r0, b);
      _mm_storeu_ps(out + (p + 2) * w + r0, c);
      _mm_storeu_ps(out + (p + 3) * w + r0, d);
    }
    for (; p < kc; p++)
      for (long r = r0; r < r0 + 4; r++) out[p * w + r] = src[r * ld + p];
  }
#endif
  for (long r = r0; r < rows; r++)
    for (long p = 0; p < kc; p++) out[p * w + r] = src[r * ld + p];
  for (long r = rows; r < w; r++)
    for (long p = 0; p < kc; p++) out[p * w + r] = 0;
}

// out[p·w + c] = src[p·ld + c] for c < cols, zeros up to w (the packing routines' copying case).
void copy_into(const float* src, long ld, long cols, long kc, long w, float* out) {
  for (long p = 0; p < kc; p++) {
    const float* s = src + p * ld;
    float* d = out + p * w;
    for (long c = 0; c < cols; c++) d[c] = s[c];
    for (long c = cols; c < w; c++) d[c] = 0;
  }
}

// op(A)[0:mc, 0:kc] → micro-panels of MR rows, each kc×MR (rows past mc are zeros).
void pack_a(const Operand& A, long mc, long kc, float* out) {
  for (long i = 0; i < mc; i += MR, out += MR * kc) {
    const long mr = std::min<long>(MR, mc - i);
    if (A.trans) copy_into(A.p + i, A.ld, mr, kc, MR, out);  // op(A)'s columns are stored rows
    else transpose_into(A.p + i * A.ld, A.ld, mr, kc, MR, out);
  }
}

// op(B)[0:kc, 0:nc] → micro-panels of NR columns, each kc×NR (columns past nc are zeros).
void pack_b(const Operand& B, long kc, long nc, float* out) {
  for (long j = 0; j < nc; j += NR, out += NR * kc) {
    const long nr = std::min<long>(NR, nc - j);
    if (B.trans) transpose_into(B.p + j * B.ld, B.ld, nr, kc, NR, out);
    else copy_into(B.p + j, B.ld, nr, kc, NR, out);
  }
}

// Packing buffers of one thread, 64-byte aligned, allocated on first use.
struct Workspace {
  float* a = nullptr;
  float* b = nullptr;
  Workspace() {
    a = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * MC * KC));
    b = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * KC * NC));
  }
  ~Workspace() { std::free(a); std::free(b); }
};

Workspace& workspace() {
  thread_local Workspace ws;
  return ws;
}

void scale(long m, long n, float beta, float* C, long ldc) {
  if (beta == 1) return;
  for (long i = 0; i < m; i++) {
    float* c = C + i * ldc;
    if (beta == 0) std::fill(c, c + n, 0.0f);
    else for (long j = 0; j < n; j++) c[j] *= beta;
  }
}

// Subnormal floats (below 1.2e-38) cost a microcode assist per operation on x86: with 15% of
// them among op(A)'s values (softmax outputs such as q_ij = e^−90 are), the kernel runs 20×
// slower. Inside the product they are read and written as zero (MXCSR DAZ + FTZ); the caller's
// mode is restored on return, so JavaScript keeps IEEE subnormals. A term that small changes
// no entry of C by more than 1e-38 in absolute value.
struct FlushSubnormals {
#if defined(__SSE2__)
  unsigned saved = _mm_getcsr();
  FlushSubnormals() { _mm_setcsr(saved | 0x8040); }
  ~FlushSubnormals() { _mm_setcsr(saved); }
#endif
};

// C ← β·C + α·op(A)·op(B) on the calling thread.
void gemm_serial(const Operand& A, const Operand& B, long m, long n, long k, float alpha,
                 float beta, float* C, long ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == 0) return scale(m, n, beta, C, ldc);
  const FlushSubnormals flush;
  Workspace& ws = workspace();
  alignas(64) float tile[MR * NR];
  for (long jc = 0; jc < n; jc += NC) {
    const long nc = std::min(NC, n - jc);
    for (long pc = 0; pc < k; pc += KC) {
      const long kc = std::min(KC, k - pc);
      const float b_eff = pc == 0 ? beta : 1.0f;  // β applies once, in the first depth block
      pack_b(B.shifted(pc, jc), kc, nc, ws.b);
      for (long ic = 0; ic < m; ic += MC) {
        const long mc = std::min(MC, m - ic);
        pack_a(A.shifted(ic, pc), mc, kc, ws.a);
        for (long jr = 0; jr < nc; jr += NR) {
          const long nr = std::min<long>(NR, nc - jr);
          const float* bp = ws.b + jr * kc;
          for (long ir = 0; ir < mc; ir += MR) {
            const long mr = std::min<long>(MR, mc - ir);
            const float* ap = ws.a + ir * kc;
            float* c = C + (ic + ir) * ldc + jc + jr;
            if (mr == MR && nr == NR) {
              kernel(kc, ap, bp, c, ldc, alpha, b_eff);
            } else {  // edge tile: compute it (or its first VW columns) aside, merge the valid part
              if (kNarrowEdge && nr <= VW) kernel_narrow(kc, ap, bp, tile, NR, alpha, 0.0f);
              else kernel(kc, ap, bp, tile, NR, alpha, 0.0f);
              for (long r = 0; r < mr; r++)
                for (long j = 0; j < nr; j++) {
                  float* cj = c + r * ldc + j;
                  *cj = b_eff == 0 ? tile[r * NR + j] : tile[r * NR + j] + b_eff * *cj;
                }
            }
          }
        }
      }
    }
  }
}

// ---- Threads ----------------------------------------------------------------------------

// Products below this many flops (2mnk) run on the calling thread alone.
constexpr double kParallelMinFlops = 1 << 22;
// Shares per thread: more even out a thread slowed by other processes, fewer re-pack less.
constexpr int kSharesPerThread = 4;

enum Split { kRows = 0, kCols = 1, kDepth = 2 };

// How a product is cut into shares (shares = 1: not cut).
struct Plan {
  Split split;
  long chunk;
  int shares;
};

// Computes share s of a product: a sub-product on offset operands. Depth shares other than the
// first write their partial product into `partials` (m×n each), to be added in share order.
void product_share(const Operand& A, const Operand& B, long m, long n, long k, float alpha, float beta,
                   float* C, long ldc, const Plan& pl, float* partials, int s) {
  const long lo = s * pl.chunk;
  switch (pl.split) {
    case kRows: {
      const long hi = std::min(m, lo + pl.chunk);
      gemm_serial(A.shifted(lo, 0), B, hi - lo, n, k, alpha, beta, C + lo * ldc, ldc);
      break;
    }
    case kCols: {
      const long hi = std::min(n, lo + pl.chunk);
      gemm_serial(A, B.shifted(0, lo), m, hi - lo, k, alpha, beta, C + lo, ldc);
      break;
    }
    case kDepth: {
      const long hi = std::min(k, lo + pl.chunk);
      float* out = s == 0 ? C : partials + (s - 1) * m * n;
      gemm_serial(A.shifted(0, lo), B.shifted(lo, 0), m, n, hi - lo, alpha, s == 0 ? beta : 0.0f, out, s == 0 ? ldc : n);
      break;
    }
  }
}

// A job for the pool: `shares` pieces of work, claimed in any order by the calling thread and
// the workers.
struct Job {
  int shares;
  const std::function<void(int)>* work;
  std::atomic<int> next{0};
};

void claim_shares(Job& j) {
  for (int s; (s = j.next.fetch_add(1)) < j.shares;) (*j.work)(s);
}

// Worker threads, created on demand and never destroyed (they sleep on a condition variable
// between calls; the process may exit at any time). Leaked on purpose: no destructor may run
// while a detached worker waits on it.
struct Pool {
  std::mutex mu;
  std::condition_variable wake, finished;
  Job* job = nullptr;
  unsigned long gen = 0;
  int running = 0;  // workers inside the current job
  int workers = 0;  // started so far
  int threads = 1;  // threads per call, the caller included
  std::mutex call;  // one parallel call at a time (Node worker_threads may share the addon)
  std::vector<float> partials;

  void worker_loop(int id) {
    unsigned long seen = 0;
    std::unique_lock<std::mutex> lk(mu);
    for (;;) {
      wake.wait(lk, [&] { return gen != seen; });
      seen = gen;
      Job* j = job;
      if (j == nullptr || id >= threads - 1) continue;
      running++;
      lk.unlock();
      claim_shares(*j);
      lk.lock();
      if (--running == 0) finished.notify_all();
    }
  }

  void set_threads(int t) {
    std::lock_guard<std::mutex> c(call);
    std::lock_guard<std::mutex> lk(mu);
    threads = t;
    for (; workers < t - 1; workers++) std::thread(&Pool::worker_loop, this, workers).detach();
  }

  void run(Job& j) {
    {
      std::lock_guard<std::mutex> lk(mu);
      job = &j;
      gen++;
    }
    wake.notify_all();
    claim_shares(j);
    // Every share is claimed; wait for the workers still computing theirs. A worker that
    // wakes after job is reset finds nothing to do.
    std::unique_lock<std::mutex> lk(mu);
    finished.wait(lk, [&] { return running == 0; });
    job = nullptr;
  }
};

Pool& pool() {
  static Pool* p = new Pool();
  return *p;
}

// How to cut an m×n×k product into shares, or shares = 1 to keep it whole. Each way costs
// extra memory traffic: row shares re-pack op(B) ((s−1)·k·n), column shares op(A) ((s−1)·m·k),
// depth shares write and add partial products (2·(s−1)·m·n); the cheapest wins.
Plan plan(long m, long n, long k, int threads) {
  Plan best{kRows, m, 1};
  if (threads < 2 || 2.0 * m * n * k < kParallelMinFlops) return best;
  double best_cost = 0;
  auto consider = [&](Split split, long span, long min_chunk, long align, double cost_per_share) {
    const long want = std::min<long>(kSharesPerThread * threads, span / min_chunk);
    if (want < 2) return;
    const long chunk = (span / want + align - 1) / align * align;
    const int shares = static_cast<int>((span + chunk - 1) / chunk);
    if (shares < 2) return;
    const double cost = (shares - 1) * cost_per_share;
    if (best.shares == 1 || cost < best_cost) {
      best = {split, chunk, shares};
      best_cost = cost;
    }
  };
  consider(kRows, m, 2 * MR, MR, double(k) * n);
  consider(kCols, n, NR, NR, double(m) * k);
  consider(kDepth, k, KC, KC, 2.0 * m * n);
  return best;
}

void gemm(const Operand& A, const Operand& B, long m, long n, long k, float alpha, float beta,
          float* C, long ldc) {
  Pool& p = pool();
  std::unique_lock<std::mutex> call(p.call, std::try_to_lock);  // busy: this call runs alone
  const Plan pl = call.owns_lock() ? plan(m, n, k, p.threads) : Plan{kRows, m, 1};
  if (pl.shares == 1 || k == 0 || alpha == 0) return gemm_serial(A, B, m, n, k, alpha, beta, C, ldc);
  float* partials = nullptr;
  if (pl.split == kDepth) {
    const size_t need = size_t(pl.shares - 1) * m * n;
    if (p.partials.size() < need) p.partials.resize(need);
    partials = p.partials.data();
  }
  const std::function<void(int)> work = [&](int s) { product_share(A, B, m, n, k, alpha, beta, C, ldc, pl, partials, s); };
  Job j{pl.shares, &work};
  p.run(j);
  if (pl.split == kDepth) {  // add the partials in share order: the same bits on every run
    for (int s = 1; s < pl.shares; s++) {
      const float* part = partials + (s - 1) * m * n;
      for (long i = 0; i < m; i++) {
        float* c = C + i * ldc;
        const float* q = part + i * n;
        for (long x = 0; x < n; x++) c[x] += q[x];
      }
    }
  }
}

// Calls f(lo, hi) on ranges of rows [0, rows) shared between the pool's threads (when there are
// at least min_rows rows per share); each row is in exactly one range, so the results do not
// depend on the number of threads.
template <class F>
void for_rows(long rows, long min_rows, F f) {
  Pool& p = pool();
  std::unique_lock<std::mutex> call(p.call, std::try_to_lock);
  const long want = call.owns_lock() && p.threads > 1 ? std::min<long>(kSharesPerThread * p.threads, rows / std::max(1L, min_rows)) : 1;
  if (want < 2) return f(0L, rows);
  const long chunk = (rows + want - 1) / want;
  const std::function<void(int)> work = [&](int s) { f(s * chunk, std::min(rows, (s + 1) * chunk)); };
  Job j{int((rows + chunk - 1) / chunk), &work};
  p.run(j);
}

// Rows per share of the row passes below: about 64 K values each.
long min_rows_for(long cols) { return std::max(1L, 65536 / std::max(1L, cols)); }

// ---- Row softmax ------------------------------------------------------------------------
//
// The same numbers as softmaxRows in src/linalg/ops.ts, with a vectorised exp: each x is first
// scaled and rounded to float32 (x ← fround(scale·x), scale a double), then e = exp(x − max) in double,
// stored as float32, summed in double (s), and each stored value multiplied by 1/s and rounded
// to float32; logZ = max + log s. exp is computed in double precision (relative error ~1e-16),
// so the float32 results match Math.exp's except in rare ties.

#if PL_SIMD == 512
constexpr int DW = 8;  // doubles per vector
using vd = __m512d;
inline vd dset1(double x) { return _mm512_set1_pd(x); }
inline vd dadd(vd a, vd b) { return _mm512_add_pd(a, b); }
inline vd dsub(vd a, vd b) { return _mm512_sub_pd(a, b); }
inline vd dfma(vd a, vd b, vd c) { return _mm512_fmadd_pd(a, b, c); }
// exp(x) for x ≤ 0: n = round(x·log2 e), r = x − n·ln 2 (two FMAs: |r| ≤ 0.35), degree-13 Taylor
// polynomial (truncation < 1e-17), then p·2ⁿ with vscalefpd (which also underflows to 0 right).
inline vd dexp(vd x) {
  x = _mm512_max_pd(dset1(-746.0), x);  // NaN stays NaN (maxpd returns its second operand)
  const vd n = _mm512_roundscale_pd(_mm512_mul_pd(x, dset1(1.4426950408889634)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  vd r = _mm512_fnmadd_pd(n, dset1(6.93147180369123816490e-01), x);
  r = _mm512_fnmadd_pd(n, dset1(1.90821492927058770002e-10), r);
  vd p = dset1(1.0 / 6227020800.0);
  const double c[] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0, 1.0 / 40320.0,
                      1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0};
  for (double ci : c) p = dfma(p, r, dset1(ci));
  return _mm512_scalef_pd(p, n);
}
inline vd dload_f32(const float* p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
inline void dstore_f32(float* p, vd v) { _mm256_storeu_ps(p, _mm512_cvtpd_ps(v)); }
inline double dsum(vd v) { return _mm512_reduce_add_pd(v); }
#elif PL_SIMD == 256
constexpr int DW = 4;
using vd = __m256d;
inline vd dset1(double x) { return _mm256_set1_pd(x); }
inline vd dadd(vd a, vd b) { return _mm256_add_pd(a, b); }
inline vd dsub(vd a, vd b) { return _mm256_sub_pd(a, b); }
inline vd dfma(vd a, vd b, vd c) { return _mm256_fmadd_pd(a, b, c); }
// As above, with 2ⁿ built from its bits; x is clamped at −708 so that 2ⁿ stays normal (exp of
// anything lower rounds to 0 in float32 and adds nothing visible to a sum that is ≥ 1).
inline vd dexp(vd x) {
  x = _mm256_max_pd(dset1(-708.0), x);
  const vd n = _mm256_round_pd(_mm256_mul_pd(x, dset1(1.4426950408889634)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  vd r = _mm256_fnmadd_pd(n, dset1(6.93147180369123816490e-01), x);
  r = _mm256_fnmadd_pd(n, dset1(1.90821492927058770002e-10), r);
  vd p = dset1(1.0 / 6227020800.0);
  const double c[] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0, 1.0 / 40320.0,
                      1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0};
  for (double ci : c) p = dfma(p, r, dset1(ci));
  // 2ⁿ: n + 1.5·2⁵² holds n in its low bits; shifted to the exponent field and biased.
  const __m256i bits = _mm256_slli_epi64(_mm256_castpd_si256(_mm256_add_pd(n, dset1(6755399441055744.0))), 52);
  return _mm256_mul_pd(p, _mm256_castsi256_pd(_mm256_add_epi64(bits, _mm256_set1_epi64x(1023LL << 52))));
}
inline vd dload_f32(const float* p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }
inline void dstore_f32(float* p, vd v) { _mm_storeu_ps(p, _mm256_cvtpd_ps(v)); }
inline double dsum(vd v) {
  alignas(32) double t[4];
  _mm256_store_pd(t, v);
  return (t[0] + t[1]) + (t[2] + t[3]);
}
#endif

// max(x, m) that keeps m when x is NaN, like `if (x > m) m = x` (maxps returns its second
// operand when the comparison is false).
float row_max(const float* x, long n) {
  float m = -INFINITY;
  long j = 0;
#if PL_SIMD
  vf vm = vset1(-INFINITY);
  for (; j + VW <= n; j += VW) vm = vmax(vloadu(x + j), vm);
  alignas(64) float lanes[VW];
  vstoreu(lanes, vm);
  for (float l : lanes) m = l > m ? l : m;
#endif
  for (; j < n; j++) m = x[j] > m ? x[j] : m;
  return m;
}

void softmax_row(float* x, long n, double scale, double* log_z) {
  if (scale != 1)
    for (long j = 0; j < n; j++) x[j] = float(x[j] * scale);  // as Float32Array *= a double
  const float m = row_max(x, n);
  double s = 0;
  long j = 0;
#if PL_SIMD
  vd acc = dset1(0);
  const vd vm = dset1(m);
  for (; j + DW <= n; j += DW) {
    const vd e = dexp(dsub(dload_f32(x + j), vm));
    dstore_f32(x + j, e);
    acc = dadd(acc, e);
  }
  s = dsum(acc);
#endif
  for (; j < n; j++) {
    const double e = std::exp(double(x[j]) - m);
    x[j] = float(e);
    s += e;
  }
  const double inv = 1 / s;
  for (j = 0; j < n; j++) x[j] = float(x[j] * inv);
  if (log_z) *log_z = m + std::log(s);
}

// ---- Row norms and the distance epilogue -------------------------------------------------
//
// rowSqNorms and the second pass of sqDistances in src/linalg/ops.ts, with the same operations
// in the same order, so the same bits: a row's norm sums x_j² (exact in double) in four running
// sums, s_(j mod 4), then ((s0 + s1) + s2) + s3; a distance is (g + ‖x‖²) + ‖p‖² in double,
// clamped at 0 (NaN too) and rounded to float32.

void row_sq_norms(const float* x, long rows, long cols, double* out) {
  long i = 0;
#if PL_SIMD
  // Four rows at a time, so that four chains of additions overlap; each row's four sums are
  // the four lanes of one vector.
  for (; i + 4 <= rows; i += 4) {
    const float* r[4] = {x + i * cols, x + (i + 1) * cols, x + (i + 2) * cols, x + (i + 3) * cols};
    __m256d s[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
    long j = 0;
    for (; j + 4 <= cols; j += 4)
      for (int q = 0; q < 4; q++) {
        const __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(r[q] + j));
        s[q] = _mm256_fmadd_pd(v, v, s[q]);  // v² is exact: the same as s + v·v
      }
    for (int q = 0; q < 4; q++) {
      alignas(32) double l[4];
      _mm256_store_pd(l, s[q]);
      for (long t = j; t < cols; t++) l[0] += double(r[q][t]) * r[q][t];
      out[i + q] = ((l[0] + l[1]) + l[2]) + l[3];
    }
  }
#endif
  for (; i < rows; i++) {
    const float* r = x + i * cols;
    double l[4] = {0, 0, 0, 0};
    long j = 0;
    for (; j + 4 <= cols; j += 4)
      for (int q = 0; q < 4; q++) l[q] += double(r[j + q]) * r[j + q];
    for (; j < cols; j++) l[0] += double(r[j]) * r[j];
    out[i] = ((l[0] + l[1]) + l[2]) + l[3];
  }
}

void add_norms_clamp(float* g, long rows, long cols, const double* xn, const double* pn) {
  for (long i = 0; i < rows; i++) {
    float* r = g + i * cols;
    long j = 0;
#if PL_SIMD == 512
    const __m512d x = _mm512_set1_pd(xn[i]);
    for (; j + 8 <= cols; j += 8) {
      const __m512d d = _mm512_add_pd(_mm512_add_pd(_mm512_cvtps_pd(_mm256_loadu_ps(r + j)), x), _mm512_loadu_pd(pn + j));
      const __mmask8 pos = _mm512_cmp_pd_mask(d, _mm512_setzero_pd(), _CMP_GT_OQ);
      _mm256_storeu_ps(r + j, _mm512_cvtpd_ps(_mm512_maskz_mov_pd(pos, d)));
    }
#elif PL_SIMD == 256
    const __m256d x = _mm256_set1_pd(xn[i]);
    for (; j + 4 <= cols; j += 4) {
      const __m256d d = _mm256_add_pd(_mm256_add_pd(_mm256_cvtps_pd(_mm_loadu_ps(r + j)), x), _mm256_loadu_pd(pn + j));
      _mm_storeu_ps(r + j, _mm256_cvtpd_ps(_mm256_and_pd(d, _mm256_cmp_pd(d, _mm256_setzero_pd(), _CMP_GT_OQ))));
    }
#endif
    for (; j < cols; j++) {
      const double d = (double(r[j]) + xn[i]) + pn[j];
      r[j] = d > 0 ? float(d) : 0.0f;
    }
  }
}

// ---- Node-API binding -------------------------------------------------------------------

// Throws a RangeError (or a TypeError) and returns nullptr, for `return throw_error(…);`.
napi_value throw_error(napi_env env, const char* msg, bool range = true) {
  if (range) napi_throw_range_error(env, nullptr, msg);
  else napi_throw_type_error(env, nullptr, msg);
  return nullptr;
}

bool get_float32(napi_env env, napi_value v, const char* name, float** data, size_t* length) {
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  napi_typedarray_type type;
  if (is_ta) napi_get_typedarray_info(env, v, &type, length, reinterpret_cast<void**>(data), nullptr, nullptr);
  if (!is_ta || type != napi_float32_array) {
    char msg[96];
    std::snprintf(msg, sizeof msg, "gemm: %s must be a Float32Array", name);
    return throw_error(env, msg, false), false;
  }
  return true;
}

bool check_window(napi_env env, const char* name, size_t length, long rows, long cols, long ld) {
  char msg[160];
  if (ld < std::max(1L, cols)) {
    std::snprintf(msg, sizeof msg, "gemm: leading dimension of %s must be ≥ %ld (its stored width), got %ld", name, std::max(1L, cols), ld);
    return throw_error(env, msg), false;
  }
  if (rows > 0 && cols > 0 && static_cast<double>(length) < double(rows - 1) * ld + cols) {
    std::snprintf(msg, sizeof msg, "gemm: %s is stored %ld×%ld with leading dimension %ld but has %zu values", name, rows, cols, ld, length);
    return throw_error(env, msg), false;
  }
  return true;
}

// gemm(transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
napi_value Gemm(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[13];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc != 13) return throw_error(env, "gemm: expected 13 arguments (transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)", false);
  bool tA = false, tB = false;
  if (napi_get_value_bool(env, argv[0], &tA) != napi_ok || napi_get_value_bool(env, argv[1], &tB) != napi_ok)
    return throw_error(env, "gemm: transA and transB must be booleans", false);
  // m, n, k, alpha, lda, ldb, beta, ldc
  const int at[8] = {2, 3, 4, 5, 7, 9, 10, 12};
  double v[8];
  for (int i = 0; i < 8; i++)
    if (napi_get_value_double(env, argv[at[i]], &v[i]) != napi_ok)
      return throw_error(env, "gemm: sizes, leading dimensions, alpha and beta must be numbers", false);
  const long m = long(v[0]), n = long(v[1]), k = long(v[2]), lda = long(v[4]), ldb = long(v[5]), ldc = long(v[7]);
  const float alpha = float(v[3]), beta = float(v[6]);
  if (m < 0 || n < 0 || k < 0) return throw_error(env, "gemm: m, n and k must be non-negative");
  float *A, *B, *C;
  size_t la, lb, lc;
  if (!get_float32(env, argv[6], "A", &A, &la) || !get_float32(env, argv[8], "B", &B, &lb) ||
      !get_float32(env, argv[11], "C", &C, &lc))
    return nullptr;
  if (!check_window(env, "A", la, tA ? k : m, tA ? m : k, lda) ||
      !check_window(env, "B", lb, tB ? n : k, tB ? k : n, ldb) || !check_window(env, "C", lc, m, n, ldc))
    return nullptr;
  gemm({A, lda, tA}, {B, ldb, tB}, m, n, k, alpha, beta, C, ldc);
  return nullptr;
}

// softmaxRows(data: Float32Array, rows, cols, scale, logZ?: Float64Array): in place, row by row.
napi_value SoftmaxRows(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 4) return throw_error(env, "softmaxRows: expected (data, rows, cols, scale[, logZ])", false);
  float* x;
  size_t len;
  if (!get_float32(env, argv[0], "data", &x, &len)) return nullptr;
  double v[3];
  for (int i = 0; i < 3; i++)
    if (napi_get_value_double(env, argv[i + 1], &v[i]) != napi_ok)
      return throw_error(env, "softmaxRows: rows, cols and scale must be numbers", false);
  const long rows = long(v[0]), cols = long(v[1]);
  if (rows < 0 || cols < 0 || double(rows) * cols > double(len))
    return throw_error(env, "softmaxRows: data is shorter than rows × cols");
  double* log_z = nullptr;
  napi_valuetype t = napi_undefined;
  if (argc == 5) napi_typeof(env, argv[4], &t);
  if (t != napi_undefined) {
    bool is_ta = false;
    napi_typedarray_type type;
    size_t n = 0;
    napi_is_typedarray(env, argv[4], &is_ta);
    if (is_ta) napi_get_typedarray_info(env, argv[4], &type, &n, reinterpret_cast<void**>(&log_z), nullptr, nullptr);
    if (!is_ta || type != napi_float64_array) return throw_error(env, "softmaxRows: logZ must be a Float64Array", false);
    if (n < size_t(rows)) return throw_error(env, "softmaxRows: logZ is shorter than rows");
  }
  const double scale = v[2];
  for_rows(rows, min_rows_for(cols), [&](long lo, long hi) {
    for (long i = lo; i < hi; i++) softmax_row(x + i * cols, cols, scale, log_z ? log_z + i : nullptr);
  });
  return nullptr;
}

bool get_float64(napi_env env, napi_value v, const char* name, double** data, size_t* length) {
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  napi_typedarray_type type;
  if (is_ta) napi_get_typedarray_info(env, v, &type, length, reinterpret_cast<void**>(data), nullptr, nullptr);
  if (!is_ta || type != napi_float64_array) {
    char msg[96];
    std::snprintf(msg, sizeof msg, "%s must be a Float64Array", name);
    return throw_error(env, msg, false), false;
  }
  return true;
}

// Reads (array, rows, cols) from argv[0..2] and checks rows·cols ≤ length.
bool get_matrix(napi_env env, napi_value* argv, const char* fn, float** x, long* rows, long* cols) {
  size_t len;
  double r, c;
  if (!get_float32(env, argv[0], "data", x, &len)) return false;
  if (napi_get_value_double(env, argv[1], &r) != napi_ok || napi_get_value_double(env, argv[2], &c) != napi_ok)
    return throw_error(env, "rows and cols must be numbers", false), false;
  *rows = long(r);
  *cols = long(c);
  if (*rows < 0 || *cols < 0 || r * c > double(len)) {
    char msg[96];
    std::snprintf(msg, sizeof msg, "%s: data is shorter than rows × cols", fn);
    return throw_error(env, msg), false;
  }
  return true;
}

// rowSqNorms(data: Float32Array, rows, cols, out: Float64Array)
napi_value RowSqNorms(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc != 4) return throw_error(env, "rowSqNorms: expected (data, rows, cols, out)", false);
  float* x;
  long rows, cols;
  double* out;
  size_t n;
  if (!get_matrix(env, argv, "rowSqNorms", &x, &rows, &cols) || !get_float64(env, argv[3], "rowSqNorms: out", &out, &n)) return nullptr;
  if (n < size_t(rows)) return throw_error(env, "rowSqNorms: out is shorter than rows");
  for_rows(rows, min_rows_for(cols), [&](long lo, long hi) { row_sq_norms(x + lo * cols, hi - lo, cols, out + lo); });
  return nullptr;
}

// addNormsClamp(g: Float32Array, rows, cols, xNorms: Float64Array, pNorms: Float64Array)
napi_value AddNormsClamp(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc != 5) return throw_error(env, "addNormsClamp: expected (data, rows, cols, xNorms, pNorms)", false);
  float* g;
  long rows, cols;
  double *xn, *pn;
  size_t nx, np;
  if (!get_matrix(env, argv, "addNormsClamp", &g, &rows, &cols) || !get_float64(env, argv[3], "addNormsClamp: xNorms", &xn, &nx) ||
      !get_float64(env, argv[4], "addNormsClamp: pNorms", &pn, &np))
    return nullptr;
  if (nx < size_t(rows) || np < size_t(cols)) return throw_error(env, "addNormsClamp: xNorms or pNorms is shorter than rows or cols");
  for_rows(rows, min_rows_for(cols), [&](long lo, long hi) { add_norms_clamp(g + lo * cols, hi - lo, cols, xn + lo, pn); });
  return nullptr;
}

// setThreads(n): threads per call, the caller included; returns n.
napi_value SetThreads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, nullptr, nullptr);
  int32_t t = 0;
  if (argc != 1 || napi_get_value_int32(env, arg, &t) != napi_ok || t < 1 || t > 256)
    return throw_error(env, "setThreads: expected an integer from 1 to 256");
  pool().set_threads(t);
  napi_value out;
  napi_create_int32(env, t, &out);
  return out;
}

// plan(m, n, k, threads): how a product would be shared, { split: 'rows'|'cols'|'depth', chunk,
// shares } (shares = 1: not split). For tests.
napi_value PlanOf(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  double a[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < 4; i++)
    if (i >= argc || napi_get_value_double(env, argv[i], &a[i]) != napi_ok)
      return throw_error(env, "plan: expected (m, n, k, threads) numbers", false);
  const Plan p = plan(long(a[0]), long(a[1]), long(a[2]), int(a[3]));
  static const char* names[] = {"rows", "cols", "depth"};
  napi_value o, v;
  napi_create_object(env, &o);
  napi_create_string_utf8(env, names[p.split], NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, o, "split", v);
  napi_create_int64(env, p.chunk, &v);
  napi_set_named_property(env, o, "chunk", v);
  napi_create_int32(env, p.shares, &v);
  napi_set_named_property(env, o, "shares", v);
  return o;
}

// info(): { isa, mr, nr, kc, mc, nc, threads, hardwareThreads, compiler }
napi_value Info(napi_env env, napi_callback_info) {
  napi_value o, v;
  napi_create_object(env, &o);
  napi_create_string_utf8(env, kIsa, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, o, "isa", v);
  const std::pair<const char*, long> nums[] = {{"mr", MR}, {"nr", NR}, {"kc", KC}, {"mc", MC}, {"nc", NC},
    {"threads", pool().threads}, {"hardwareThreads", long(std::thread::hardware_concurrency())}};
  for (const auto& [name, value] : nums) {
    napi_create_int64(env, value, &v);
    napi_set_named_property(env, o, name, v);
  }
#if defined(__VERSION__)
  napi_create_string_utf8(env, __VERSION__, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, o, "compiler", v);
#endif
  return o;
}

}  // namespace

NAPI_MODULE_INIT() {
  const napi_property_descriptor props[] = {
    {"gemm", nullptr, Gemm, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
    {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
    {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
    {"plan", nullptr, PlanOf, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
    {"softmaxRows", nullptr, SoftmaxRows, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
    {"rowSqNorms", nullptr, RowSqNorms, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
    {"addNormsClamp", nullptr, AddNormsClamp, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
