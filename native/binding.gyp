# Build of protolens's Node addons, run by scripts/build-native.mjs at `npm ci` / `npm install`
# (and `npm run build:native`); a failed build leaves protolens on its JavaScript/WebAssembly
# kernels. -march=native: the addons are built on the machine that runs them, so the compiler's
# macros pick the widest kernels it has (AVX-512, AVX2+FMA or plain C++).
#   protolens_gemm: the GEMM and row softmax (gemm.cc), for src/linalg/gemm-native.node.ts;
#   protolens_conv: the Conv-4 engine's element-wise passes (conv.cc), for
#                   src/features/embedding/conv-native.node.ts.
{
  "targets": [
    {
      "target_name": "protolens_gemm",
      "sources": ["gemm.cc"],
      "defines": ["NAPI_VERSION=8"],
      # -Wno-maybe-uninitialized: GCC 12 warns falsely inside its own AVX-512 headers
      # (_mm512_undefined_pd), not about our code.
      "cflags_cc": ["-O3", "-std=c++17", "-Wno-maybe-uninitialized"],
      "cflags_cc!": ["-std=gnu++17", "-std=gnu++20"],
      "conditions": [
        ["target_arch=='x64' or target_arch=='ia32'", { "cflags_cc": ["-march=native"] }],
        ["target_arch=='arm64'", { "cflags_cc": ["-mcpu=native"] }],
        ["OS=='mac'", { "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "-std=c++17", "-march=native"] } }]
      ]
    },
    {
      "target_name": "protolens_conv",
      "sources": ["conv.cc"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-O3", "-std=c++17"],
      "cflags_cc!": ["-std=gnu++17", "-std=gnu++20"],
      "conditions": [
        ["target_arch=='x64' or target_arch=='ia32'", { "cflags_cc": ["-march=native"] }],
        ["target_arch=='arm64'", { "cflags_cc": ["-mcpu=native"] }],
        ["OS=='mac'", { "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "-std=c++17", "-march=native"] } }]
      ]
    }
  ]
}
