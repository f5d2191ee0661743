// SPDX-License-Identifier: Apache-2.0
// Kernel family: conv (this file: 1x1 convs, float, AVX-512). A register tile of 6 output
// channels x 64 pixels accumulates over all input channels with the pixels' x rows in L1/L2,
// starting from the bias and clamped before its one store. Why not the GEMM: mobilenet_v2's
// 1x1 convs have few channels over many pixels (16 x 32 over 112x112), where a general GEMM
// packs more than it multiplies (19 GFLOP/s there). Called from conv.cpp; tested in
// tests/runtime/test_conv.cpp.
#include "conv_pointwise.h"

#include <algorithm>

#include "qforge/kernel.h"

#if defined(__AVX512F__)
#include <immintrin.h>
// GCC 12 reports its own _mm512_undefined_ps() inside _mm512_min_ps/_mm512_max_ps as "may be
// used uninitialized" (a false positive of the intrinsics header).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#endif

namespace qforge::kernels {

#if defined(__AVX512F__)

namespace {

constexpr int kRows = 6;     // output channels per tile
constexpr int kVectors = 4;  // 16-pixel vectors per tile
constexpr int64_t kTilePixels = 16 * kVectors;

struct Tile {
  const float* x;  // pixel column n0 of x
  const float* w;  // row m0 of w
  const float* bias;
  float* y;  // y[m0, n0]
  int64_t K, N;
  __mmask16 last;  // lanes of the tile's last vector inside the plane
};

// MR output channels x NV vectors; lanes follow std::min(std::max(v, lo), hi): max/min return
// their second operand when either is NaN, so a NaN sum stays NaN.
template <int MR, int NV>
void tile_kernel(const Tile& t, bool clamp, __m512 lo, __m512 hi) {
  // Fully unrolled (the pragmas), GCC keeps the accumulators in registers; without them it
  // stored all 24 to the stack on every iteration.
  const float* __restrict x = t.x;
  const float* __restrict w = t.w;
  const int64_t K = t.K, N = t.N;
  const __mmask16 last = t.last;
  __m512 acc[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    const __m512 b = _mm512_set1_ps(t.bias ? t.bias[r] : 0.0f);
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = b;
  }
  for (int64_t k = 0; k < K; ++k) {
    const float* xr = x + k * N;
    __m512 xv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v)
      xv[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(last, xr + 16 * v) : _mm512_loadu_ps(xr + 16 * v);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512 wv = _mm512_set1_ps(w[r * K + k]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(wv, xv[v], acc[r][v]);
    }
  }
  float* y = t.y;
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      __m512 a = acc[r][v];
      if (clamp) a = _mm512_min_ps(hi, _mm512_max_ps(lo, a));
      float* out = y + r * N + 16 * v;
      if (v == NV - 1)
        _mm512_mask_storeu_ps(out, last, a);
      else
        _mm512_storeu_ps(out, a);
    }
}

using TileFn = void (*)(const Tile&, bool, __m512, __m512);

template <int MR>
TileFn tile_fn(int vectors) {
  switch (vectors) {
    case 1:
      return tile_kernel<MR, 1>;
    case 2:
      return tile_kernel<MR, 2>;
    case 3:
      return tile_kernel<MR, 3>;
    default:
      return tile_kernel<MR, 4>;
  }
}

TileFn tile_fn(int rows, int vectors) {
  switch (rows) {
    case 1:
      return tile_fn<1>(vectors);
    case 2:
      return tile_fn<2>(vectors);
    case 3:
      return tile_fn<3>(vectors);
    case 4:
      return tile_fn<4>(vectors);
    case 5:
      return tile_fn<5>(vectors);
    default:
      return tile_fn<6>(vectors);
  }
}

}  // namespace

bool pointwise_conv(const float* x, const float* w, const float* bias, float* y, int64_t K,
                    int64_t M, int64_t N, const OutputClamp& clamp, int threads) {
  if (M <= 0 || N <= 0) return true;
  const int64_t pixel_tiles = (N + kTilePixels - 1) / kTilePixels;
  // Enough pixel tiles to share: each task sweeps all channels of its tiles (x read once);
  // too few (7x7 planes): the channels are split too.
  const int64_t rows_per_task = pixel_tiles >= 2 * threads
                                    ? M
                                    : std::max<int64_t>(kRows, (M / (4 * threads)) / kRows * kRows);
  const int64_t row_tasks = (M + rows_per_task - 1) / rows_per_task;
  const __m512 lo = _mm512_set1_ps(clamp.lo), hi = _mm512_set1_ps(clamp.hi);
  parallel_for(threads, pixel_tiles * row_tasks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n0 = task / row_tasks * kTilePixels, m_begin = task % row_tasks * rows_per_task;
      const int64_t pixels = std::min(kTilePixels, N - n0);
      const int vectors = static_cast<int>((pixels + 15) / 16);
      const int tail = static_cast<int>(pixels - 16 * (vectors - 1));
      const __mmask16 last = static_cast<__mmask16>(tail == 16 ? 0xFFFF : (1u << tail) - 1);
      const int64_t m_end = std::min(M, m_begin + rows_per_task);
      for (int64_t m0 = m_begin; m0 < m_end; m0 += kRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kRows, m_end - m0));
        const Tile t{x + n0, w + m0 * K, bias ? bias + m0 : nullptr, y + m0 * N + n0, K, N, last};
        tile_fn(rows, vectors)(t, clamp.on, lo, hi);
      }
    }
  });
  return true;
}

#else

bool pointwise_conv(const float*, const float*, const float*, float*, int64_t, int64_t, int64_t,
                    const OutputClamp&, int) {
  return false;
}

#endif

}  // namespace qforge::kernels
