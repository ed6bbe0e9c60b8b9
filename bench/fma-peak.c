/*
 * The float32 multiply-add ceiling of this CPU, one thread and all threads: the roofline
 * against which bench/onnx.ts's "GFLOP/s" column (onnxruntime on InceptionV3) is read.
 *
 *   cc -O3 -pthread bench/fma-peak.c -o /tmp/fma-peak && /tmp/fma-peak
 *
 * Each thread runs 12 independent chains of fused multiply-adds on 512-bit, 256-bit and 128-bit
 * vectors (enough chains to cover the FMA latency of every x86 core we have met, few enough to
 * stay in 16 vector registers with the two operands) and reports GFLOP/s, a multiply-add counting
 * as 2 flops, best of 5 rounds; a width the CPU lacks is skipped.
 * It uses no protolens code (the measured ceiling is the machine's, not ours).
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHAINS 12
#define ITERS 20000000L

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static volatile float sink;

#define KERNEL(NAME, TARGET, VEC, SET1, FMADD, ADD, CVT, LANES)                  \
  __attribute__((target(TARGET))) static double NAME(void) {                                                  \
    VEC acc[CHAINS];                                                          \
    VEC a = SET1(0.999999f), b = SET1(1e-7f);                                 \
    for (int c = 0; c < CHAINS; c++) acc[c] = SET1((float)c);                 \
    double t0 = now();                                                        \
    for (long i = 0; i < ITERS; i++) {                                        \
      _Pragma("GCC unroll 12")                                                \
      for (int c = 0; c < CHAINS; c++) acc[c] = FMADD(acc[c], a, b);          \
    }                                                                         \
    double t = now() - t0;                                                    \
    VEC s = acc[0];                                                           \
    for (int c = 1; c < CHAINS; c++) s = ADD(s, acc[c]);                      \
    sink = CVT(s);                                                            \
    return 2.0 * LANES * CHAINS * ITERS / t / 1e9;                            \
  }

KERNEL(fma512, "avx512f,fma", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_cvtss_f32, 16)
KERNEL(fma256, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_cvtss_f32, 8)
KERNEL(fma128, "avx2,fma", __m128, _mm_set1_ps, _mm_fmadd_ps, _mm_add_ps, _mm_cvtss_f32, 4)

typedef double (*kernel_t)(void);
static kernel_t kernels[] = {fma512, fma256, fma128};
static const char *names[] = {"512-bit", "256-bit", "128-bit"};

static void *run(void *arg) {
  double *out = arg;
  *out = kernels[(int)out[1]]();
  return NULL;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 2;
  if (threads < 1 || threads > 64) {
    fprintf(stderr, "fma-peak: threads must be 1 to 64, got %s\n", argv[1]);
    return 2;
  }
  __builtin_cpu_init();
  int has[] = {__builtin_cpu_supports("avx512f"), __builtin_cpu_supports("fma"), __builtin_cpu_supports("fma")};
  for (int k = 0; k < 3; k++) {
    if (!has[k]) {
      printf("%s FMA: not supported by this CPU\n", names[k]);
      continue;
    }
    double one = 0, all = 0;
    for (int round = 0; round < 5; round++) {
      double r = kernels[k]();
      if (r > one) one = r;
      pthread_t th[64];
      double res[64][2];
      for (int t = 0; t < threads; t++) {
        res[t][1] = k;
        pthread_create(&th[t], NULL, run, res[t]);
      }
      double sum = 0;
      for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        sum += res[t][0];
      }
      if (sum > all) all = sum;
    }
    printf("%s FMA: one thread %.1f GFLOP/s; %d threads %.1f GFLOP/s\n", names[k], one, threads, all);
  }
  return 0;
}
