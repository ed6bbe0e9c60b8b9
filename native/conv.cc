// Element-wise passes of protolens's Conv-4 training engine (src/features/embedding/engine.ts),
// for Node: im2col/col2im of a 3×3 'same' convolution, batch-norm sums, ReLU + 2×2 max-pool with
// winners, and the batch-norm backward pass. Each is the plain loop of the JavaScript kernel it
// replaces (engine.ts, `jsConvKernels`), compiled with -O3 -march=native and split over the
// images of the batch on the machine's cores. Loaded by src/features/embedding/kernels.node.ts;
// without it the JavaScript kernels run (same results, tested).
#include <node_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

namespace {

int g_threads = std::max(1u, std::thread::hardware_concurrency());

// Runs f(begin, end, part) on [0, n) split into contiguous parts, one per thread (the caller
// runs the first). Small ranges run on the caller alone.
template <class F>
void parallel_for(long n, long min_per_part, F f) {
  const int parts = int(std::max(1L, std::min<long>(g_threads, n / std::max(1L, min_per_part))));
  if (parts <= 1) { f(0L, n, 0); return; }
  std::vector<std::thread> pool;
  for (int p = 1; p < parts; p++) pool.emplace_back([=, &f] { f(n * p / parts, n * (p + 1) / parts, p); });
  f(0L, n / parts, 0);
  for (auto& t : pool) t.join();
}

struct Args {
  napi_env env;
  napi_value argv[12];
  size_t argc = 12;
  bool ok = true;
  const char* fn;

  Args(napi_env e, napi_callback_info info, const char* name, size_t want) : env(e), fn(name) {
    napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
    if (argc != want) fail("wrong number of arguments");
  }
  void fail(const char* what) {
    if (!ok) return;
    ok = false;
    char msg[160];
    std::snprintf(msg, sizeof msg, "conv kernels: %s: %s", fn, what);
    napi_throw_type_error(env, nullptr, msg);
  }
  template <class T>
  T* array(size_t i, napi_typedarray_type want, size_t min_length) {
    if (!ok) return nullptr;
    bool is_ta = false;
    napi_is_typedarray(env, argv[i], &is_ta);
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    if (is_ta) napi_get_typedarray_info(env, argv[i], &type, &length, &data, nullptr, nullptr);
    if (!is_ta || type != want) { fail("an array argument has the wrong type"); return nullptr; }
    if (length < min_length) { fail("an array argument is too short for the given sizes"); return nullptr; }
    return static_cast<T*>(data);
  }
  float* f32(size_t i, size_t n) { return array<float>(i, napi_float32_array, n); }
  double* f64(size_t i, size_t n) { return array<double>(i, napi_float64_array, n); }
  int32_t* i32(size_t i, size_t n) { return array<int32_t>(i, napi_int32_array, n); }
  long integer(size_t i) {
    int64_t v = 0;
    if (ok && (napi_get_value_int64(env, argv[i], &v) != napi_ok || v < 0)) fail("sizes must be non-negative integers");
    return long(v);
  }
};

// im2col3x3(x, n, s, cin, col)
napi_value Im2col(napi_env env, napi_callback_info info) {
  Args a(env, info, "im2col3x3", 5);
  const long n = a.integer(1), s = a.integer(2), cin = a.integer(3);
  const float* x = a.f32(0, n * s * s * cin);
  float* col = a.f32(4, n * s * s * 9 * cin);
  if (!a.ok) return nullptr;
  const long row_len = s * cin;
  parallel_for(n, 8, [&](long b0, long b1, int) {
    float* o = col + b0 * s * s * 9 * cin;
    for (long b = b0; b < b1; b++) {
      const float* img = x + b * s * row_len;
      for (long y = 0; y < s; y++)
        for (long xx = 0; xx < s; xx++) {
          const long left = xx > 0, right = xx < s - 1, span = (1 + left + right) * cin;
          for (long yy = y - 1; yy <= y + 1; yy++) {
            if (yy < 0 || yy >= s) { std::fill(o, o + 3 * cin, 0.f); o += 3 * cin; continue; }
            if (!left) { std::fill(o, o + cin, 0.f); o += cin; }
            const float* src = img + yy * row_len + (xx - left) * cin;
            std::copy(src, src + span, o);
            o += span;
            if (!right) { std::fill(o, o + cin, 0.f); o += cin; }
          }
        }
    }
  });
  return nullptr;
}

// col2im3x3(col, n, s, cin, dx): dx overwritten.
napi_value Col2im(napi_env env, napi_callback_info info) {
  Args a(env, info, "col2im3x3", 5);
  const long n = a.integer(1), s = a.integer(2), cin = a.integer(3);
  const float* col = a.f32(0, n * s * s * 9 * cin);
  float* dx = a.f32(4, n * s * s * cin);
  if (!a.ok) return nullptr;
  const long row_len = s * cin;
  parallel_for(n, 8, [&](long b0, long b1, int) {
    std::fill(dx + b0 * s * row_len, dx + b1 * s * row_len, 0.f);
    const float* o = col + b0 * s * s * 9 * cin;
    for (long b = b0; b < b1; b++) {
      float* img = dx + b * s * row_len;
      for (long y = 0; y < s; y++)
        for (long xx = 0; xx < s; xx++) {
          const long left = xx > 0, right = xx < s - 1, span = (1 + left + right) * cin;
          for (long yy = y - 1; yy <= y + 1; yy++) {
            if (yy < 0 || yy >= s) { o += 3 * cin; continue; }
            if (!left) o += cin;
            float* dst = img + yy * row_len + (xx - left) * cin;
            for (long t = 0; t < span; t++) dst[t] += o[t];
            o += span;
            if (!right) o += cin;
          }
        }
    }
  });
  return nullptr;
}

// channelSums(z, M, F, s1, s2): Σ z and Σ z² per channel (Float64Array outputs, overwritten).
napi_value ChannelSums(napi_env env, napi_callback_info info) {
  Args a(env, info, "channelSums", 5);
  const long M = a.integer(1), F = a.integer(2);
  const float* z = a.f32(0, M * F);
  double* s1 = a.f64(3, F);
  double* s2 = a.f64(4, F);
  if (!a.ok) return nullptr;
  std::vector<double> part(size_t(2 * F * g_threads), 0.0);
  parallel_for(M, 4096, [&](long r0, long r1, int p) {
    double* p1 = part.data() + 2 * F * p;
    double* p2 = p1 + F;
    // Float sums over blocks of rows, folded into doubles: vectorisable and accurate enough.
    std::vector<float> b1(F), b2(F);
    for (long r = r0; r < r1;) {
      const long r_end = std::min(r1, r + 256);
      std::fill(b1.begin(), b1.end(), 0.f);
      std::fill(b2.begin(), b2.end(), 0.f);
      for (; r < r_end; r++) {
        const float* row = z + r * F;
        for (long f = 0; f < F; f++) { b1[f] += row[f]; b2[f] += row[f] * row[f]; }
      }
      for (long f = 0; f < F; f++) { p1[f] += b1[f]; p2[f] += b2[f]; }
    }
  });
  for (long f = 0; f < F; f++) {
    s1[f] = 0; s2[f] = 0;
    for (int p = 0; p < g_threads; p++) { s1[f] += part[2 * F * p + f]; s2[f] += part[2 * F * p + F + f]; }
  }
  return nullptr;
}

// affineReluPool(z, n, s, F, a, b, out, winner): out = relu(maxpool2(a·z + b)), winner = flat
// index of the window's maximum in z, or −1 where the ReLU cuts it.
napi_value AffineReluPool(napi_env env, napi_callback_info info) {
  Args a(env, info, "affineReluPool", 8);
  const long n = a.integer(1), s = a.integer(2), F = a.integer(3), so = s / 2;
  const float* z = a.f32(0, n * s * s * F);
  const float* A = a.f32(4, F);
  const float* B = a.f32(5, F);
  float* out = a.f32(6, n * so * so * F);
  int32_t* win = a.i32(7, n * so * so * F);
  if (!a.ok) return nullptr;
  parallel_for(n, 8, [&](long b0, long b1, int) {
    long oi = b0 * so * so * F;
    for (long b = b0; b < b1; b++)
      for (long oy = 0; oy < so; oy++)
        for (long ox = 0; ox < so; ox++) {
          const long p00 = ((b * s + 2 * oy) * s + 2 * ox) * F, p01 = p00 + F, p10 = p00 + s * F, p11 = p10 + F;
          for (long f = 0; f < F; f++, oi++) {
            float best = A[f] * z[p00 + f] + B[f];
            long at = p00 + f;
            float v = A[f] * z[p01 + f] + B[f];
            if (v > best) { best = v; at = p01 + f; }
            v = A[f] * z[p10 + f] + B[f];
            if (v > best) { best = v; at = p10 + f; }
            v = A[f] * z[p11 + f] + B[f];
            if (v > best) { best = v; at = p11 + f; }
            if (best > 0) { out[oi] = best; win[oi] = int32_t(at); } else { out[oi] = 0; win[oi] = -1; }
          }
        }
  });
  return nullptr;
}

// bnBackward(z, M, F, c1, c2, scale, dOut, nOut, winner, dz): dz = c1 + c2·z, then
// dz[winner[i]] += scale·dOut[i]. (dβ and dγ, sums over the winners, are cheap and stay in JS.)
napi_value BnBackward(napi_env env, napi_callback_info info) {
  Args a(env, info, "bnBackward", 10);
  const long M = a.integer(1), F = a.integer(2), nOut = a.integer(7);
  const float* z = a.f32(0, M * F);
  const float* c1 = a.f32(3, F);
  const float* c2 = a.f32(4, F);
  const float* scale = a.f32(5, F);
  const float* dOut = a.f32(6, nOut);
  const int32_t* win = a.i32(8, nOut);
  float* dz = a.f32(9, M * F);
  if (!a.ok) return nullptr;
  parallel_for(M, 4096, [&](long r0, long r1, int) {
    for (long r = r0; r < r1; r++) {
      const float* zr = z + r * F;
      float* dr = dz + r * F;
      for (long f = 0; f < F; f++) dr[f] = c1[f] + c2[f] * zr[f];
    }
  });
  for (long i = 0; i < nOut; i++) {
    const long at = win[i];
    if (at >= 0) dz[at] += scale[at % F] * dOut[i];
  }
  return nullptr;
}

// winnerSums(dOut, nOut, winner, z, F, mean, invStd, dbeta, dgamma): batch-norm parameter
// gradients, dβ = Σ dY and dγ = Σ dY·x̂ with dY non-zero only at the winners (Float64Array outputs,
// overwritten).
napi_value WinnerSums(napi_env env, napi_callback_info info) {
  Args a(env, info, "winnerSums", 9);
  const long nOut = a.integer(1), F = a.integer(4);
  const float* dOut = a.f32(0, nOut);
  const int32_t* win = a.i32(2, nOut);
  const float* mean = a.f32(5, F);
  const float* inv = a.f32(6, F);
  double* db = a.f64(7, F);
  double* dg = a.f64(8, F);
  const float* z = a.f32(3, 0);
  size_t zlen = 0;
  if (a.ok) napi_get_typedarray_info(env, a.argv[3], nullptr, &zlen, nullptr, nullptr, nullptr);
  if (!a.ok) return nullptr;
  std::vector<double> part(size_t(2 * F * g_threads), 0.0);
  bool bad = false;
  parallel_for(nOut, 4096, [&](long i0, long i1, int p) {
    double* pb = part.data() + 2 * F * p;
    double* pg = pb + F;
    for (long i = i0; i < i1; i++) {
      const long at = win[i];
      if (at < 0) continue;
      if (size_t(at) >= zlen) { bad = true; continue; }
      const long f = at % F;
      const double g = dOut[i];
      pb[f] += g;
      pg[f] += g * double((z[at] - mean[f]) * inv[f]);
    }
  });
  if (bad) { a.fail("a winner index lies outside z"); return nullptr; }
  for (long f = 0; f < F; f++) {
    db[f] = 0; dg[f] = 0;
    for (int p = 0; p < g_threads; p++) { db[f] += part[2 * F * p + f]; dg[f] += part[2 * F * p + F + f]; }
  }
  return nullptr;
}

napi_value Threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, nullptr, nullptr);
  int32_t t = 0;
  if (argc == 1) {
    if (napi_get_value_int32(env, arg, &t) != napi_ok || t < 1 || t > 256) {
      napi_throw_range_error(env, nullptr, "conv kernels: threads: expected an integer from 1 to 256");
      return nullptr;
    }
    g_threads = t;
  }
  napi_value out;
  napi_create_int32(env, g_threads, &out);
  return out;
}

}  // namespace

NAPI_MODULE_INIT() {
  const napi_property_descriptor props[] = {
    {"im2col3x3", nullptr, Im2col, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
    {"col2im3x3", nullptr, Col2im, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
    {"channelSums", nullptr, ChannelSums, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
    {"affineReluPool", nullptr, AffineReluPool, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
    {"bnBackward", nullptr, BnBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
    {"winnerSums", nullptr, WinnerSums, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
    {"threads", nullptr, Threads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
