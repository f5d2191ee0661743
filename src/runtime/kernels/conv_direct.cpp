// SPDX-License-Identifier: Apache-2.0
// Kernel family: conv (this file: direct float convs, AVX-512). With stride 1 and output rows as
// wide as input rows, output pixel p reads input pixel p + offset(tap) for each tap, so a run
// of 64 output pixels reads a contiguous run of x per tap (lanes outside the plane masked to
// zero). A register tile of 6 output channels x 64 pixels accumulates over channels and taps
// from the bias and is clamped before its one store: no im2col, no layout copies, no weight
// reorder. Why: mobilenet_v2's 1x1 convs (16 x 32 channels over 112x112) ran at 19 GFLOP/s
// in a general GEMM, and resnet18's 3x3 convs paid oneDNN's layout copies on every call.
// Called from conv.cpp; tested in tests/runtime/test_conv.cpp.
#include "conv_direct.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "qforge/kernel.h"

#include "avx512.h"

namespace qforge::kernels {

bool direct_conv_fits(const WindowGeometry& g) {
  if (g.is_pointwise()) return true;
  return g.spatial == 2 && g.stride[1] == 1 && g.stride[2] == 1 && g.out[2] == g.in[2] &&
         g.out[1] > 0 && g.in[1] > 0 && g.in[2] > 0;
}

namespace {

// Phase planes up to which the phase conv beats oneDNN (its copies into blocked layouts cost
// more than the conv on 3 channels) and its window stays short.
constexpr int64_t kMaxPhaseChannels = 16;

int64_t floor_div(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// A window of `kernel` taps with stride `stride` and `pad` before, seen from the phase planes:
// tap k reads phase (k - pad) mod stride at offset floor((k - pad) / stride); the offsets span
// [first, first + taps).
struct PhaseWindow {
  int64_t first, taps;
};

PhaseWindow phase_window(int64_t kernel, int64_t pad, int64_t stride) {
  const int64_t first = floor_div(-pad, stride);
  return {first, floor_div(kernel - 1 - pad, stride) - first + 1};
}

}  // namespace

bool phase_conv_fits(const WindowGeometry& g, int64_t C) {
  const int64_t sy = g.stride[1], sx = g.stride[2];
  return g.spatial == 2 && g.dilation[1] == 1 && g.dilation[2] == 1 && sy * sx > 1 && C > 0 &&
         C * sy * sx <= kMaxPhaseChannels && g.out[1] > 0 && g.in[1] > 0 && g.in[2] > 0 &&
         g.out[2] == (g.in[2] + sx - 1) / sx;
}

int64_t phase_conv_scratch_floats(const WindowGeometry& g, int64_t C, int64_t M) {
  const int64_t sy = g.stride[1], sx = g.stride[2], phases = C * sy * sx;
  const PhaseWindow wy = phase_window(g.kernel[1], g.pad_begin[1], sy),
                    wx = phase_window(g.kernel[2], g.pad_begin[2], sx);
  return phases * ((g.in[1] + sy - 1) / sy) * g.out[2] + M * phases * wy.taps * wx.taps;
}

#if defined(__AVX512F__)

namespace {

constexpr int kRows = 6;     // output channels per tile
constexpr int kVectors = 4;  // 16-pixel vectors per tile
constexpr int64_t kTilePixels = 16 * kVectors;
constexpr int64_t kChunkBytes = 24 * 1024;  // half of L1d

// The taps of the window: where each reads relative to the output pixel, in flat pixels and
// in rows/columns (for the masks at the plane's borders).
struct Taps {
  std::vector<int64_t> offset, dy, dx;
  int64_t in_h, in_w;
};

Taps make_taps(const WindowGeometry& g) {
  Taps t;
  if (g.is_pointwise()) {
    t.offset = t.dy = t.dx = {0};
    t.in_h = 1;
    t.in_w = g.in_size();  // any rank, flattened
    return t;
  }
  t.in_h = g.in[1];
  t.in_w = g.in[2];
  for (int64_t kh = 0; kh < g.kernel[1]; ++kh)
    for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
      const int64_t dy = kh * g.dilation[1] - g.pad_begin[1],
                    dx = kw * g.dilation[2] - g.pad_begin[2];
      t.dy.push_back(dy);
      t.dx.push_back(dx);
      t.offset.push_back(dy * t.in_w + dx);
    }
  return t;
}

struct Tile {
  const float* x;  // x + n0 (pixel n0 of channel 0)
  const float* w;  // row m0 of w
  const float* bias;
  float* y;  // y[m0, n0]
  int64_t C, taps, in_plane, out_plane;
  int64_t c_begin, c_end;  // the input channels of this pass over the tile
  bool first, last;        // first pass starts from the bias, last one clamps
  const int64_t* offset;
  const __mmask16* masks;  // per tap, per vector: lanes whose input pixel lies in the plane
  const __mmask16* store;  // per vector: lanes inside the output plane
};

// MR output channels x NV vectors. Lanes follow std::min(std::max(v, lo), hi): max/min return
// their second operand when either is NaN, so a NaN sum stays NaN.
template <int MR, int NV>
void tile_kernel(const Tile& t, bool clamp, __m512 lo, __m512 hi) {
  // Fully unrolled (the pragmas), GCC keeps the accumulators in registers; without them it
  // stored all 24 to the stack on every iteration.
  const float* __restrict x = t.x;
  const float* __restrict w = t.w;
  const int64_t C = t.C, taps = t.taps, in_plane = t.in_plane, w_row = C * taps;
  __m512 acc[MR][NV];
  float* y = t.y;
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    const __m512 b = _mm512_set1_ps(t.bias ? t.bias[r] : 0.0f);
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v)
      acc[r][v] = t.first ? b : _mm512_maskz_loadu_ps(t.store[v], y + r * t.out_plane + 16 * v);
  }
  // Taps outside, channels inside: a tap's lane masks stay in mask registers over all channels.
  for (int64_t tap = 0; tap < taps; ++tap) {
    const float* xt = x + t.offset[tap];
    const float* wt = w + tap;
    __mmask16 m[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) m[v] = t.masks[tap * kVectors + v];
    for (int64_t c = t.c_begin; c < t.c_end; ++c) {
      const float* xr = xt + c * in_plane;
      __m512 xv[NV];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) xv[v] = _mm512_maskz_loadu_ps(m[v], xr + 16 * v);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m512 wv = _mm512_set1_ps(wt[r * w_row + c * taps]);
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(wv, xv[v], acc[r][v]);
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      __m512 a = acc[r][v];
      if (clamp && t.last) a = _mm512_min_ps(hi, _mm512_max_ps(lo, a));
      _mm512_mask_storeu_ps(y + r * t.out_plane + 16 * v, t.store[v], a);
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

// Lane masks of the pixel tile starting at output pixel n0: per vector, the lanes inside the
// output plane (`store`), and per tap and vector, those whose input pixel lies in the plane.
void tile_masks(const Taps& taps, int64_t n0, int64_t out_pixels, int64_t out_w, __mmask16* masks,
                __mmask16* store) {
  const size_t num_taps = taps.offset.size();
  const auto lanes = [](int64_t from, int64_t to) {  // bits [from, to) of a 16-lane mask
    if (to <= from) return __mmask16{0};
    return static_cast<__mmask16>(((uint32_t{1} << to) - 1) & ~((uint32_t{1} << from) - 1));
  };
  int64_t oy = n0 / out_w, ox = n0 % out_w;  // the vector's first lane, stepped along
  for (int v = 0; v < kVectors; ++v) {
    const int64_t inside = std::clamp<int64_t>(out_pixels - n0 - 16 * v, 0, 16);
    store[v] = lanes(0, inside);
    __mmask16* vector_masks = masks + v;
    if (ox + inside <= out_w) {
      // Within one output row: per tap, the lanes whose column falls inside x's row.
      for (size_t tap = 0; tap < num_taps; ++tap) {
        const int64_t iy = oy + taps.dy[tap], ix = ox + taps.dx[tap];
        vector_masks[tap * kVectors] = iy < 0 || iy >= taps.in_h
                                           ? __mmask16{0}
                                           : lanes(std::clamp<int64_t>(-ix, 0, inside),
                                                   std::clamp<int64_t>(taps.in_w - ix, 0, inside));
      }
    } else {
      for (size_t tap = 0; tap < num_taps; ++tap) vector_masks[tap * kVectors] = 0;
      for (int64_t lane = 0, y = oy, x = ox; lane < inside; ++lane) {
        for (size_t tap = 0; tap < num_taps; ++tap) {
          const int64_t iy = y + taps.dy[tap], ix = x + taps.dx[tap];
          if (iy >= 0 && iy < taps.in_h && ix >= 0 && ix < taps.in_w)
            vector_masks[tap * kVectors] |= static_cast<__mmask16>(1u << lane);
        }
        if (++x == out_w) {
          x = 0;
          ++y;
        }
      }
    }
    ox += inside;
    oy += ox / out_w;
    ox %= out_w;
  }
}

// The tiles of one output plane of `out_pixels` (rows `out_w` wide): x channels `x_stride`
// apart, y rows `y_stride` apart.
void run_tiles(const float* x, int64_t x_stride, const float* w, const float* bias, float* y,
               int64_t y_stride, int64_t C, int64_t M, int64_t out_pixels, int64_t out_w,
               const Taps& taps, const OutputClamp& clamp, int threads) {
  if (M <= 0 || out_pixels <= 0) return;
  const int64_t pixel_tiles = (out_pixels + kTilePixels - 1) / kTilePixels;
  // Enough pixel tiles to share: each task sweeps all channels of its tile (x read once);
  // too few (7x7 planes): the channels are split too.
  const int64_t rows_per_task = pixel_tiles >= 2 * threads
                                    ? M
                                    : std::max<int64_t>(kRows, (M / (4 * threads)) / kRows * kRows);
  const int64_t row_tasks = (M + rows_per_task - 1) / rows_per_task;
  const int64_t num_taps = static_cast<int64_t>(taps.offset.size());
  // Input channels per pass: the tile's x rows (64 pixels plus the taps' reach) for one pass
  // stay in L1 while every block of output channels reads them; later passes add to y.
  const auto [min_offset, max_offset] = std::minmax_element(taps.offset.begin(), taps.offset.end());
  const int64_t channel_bytes = (kTilePixels + *max_offset - *min_offset) * 4;
  const int64_t chunk =
      std::min(std::max<int64_t>(kChunkBytes / channel_bytes, 8), std::max<int64_t>(C, 1));
  const __m512 lo = _mm512_set1_ps(clamp.lo), hi = _mm512_set1_ps(clamp.hi);
  parallel_for(threads, pixel_tiles * row_tasks, 1, [&](int64_t begin, int64_t end) {
    std::vector<__mmask16> masks(static_cast<size_t>(num_taps * kVectors));
    __mmask16 store[kVectors];
    int64_t masks_for = -1;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t tile = task / row_tasks, n0 = tile * kTilePixels;
      const int64_t m_begin = task % row_tasks * rows_per_task;
      if (masks_for != tile) {
        tile_masks(taps, n0, out_pixels, out_w, masks.data(), store);
        masks_for = tile;
      }
      const int vectors = static_cast<int>((std::min(kTilePixels, out_pixels - n0) + 15) / 16);
      const int64_t m_end = std::min(M, m_begin + rows_per_task);
      for (int64_t c0 = 0; c0 < std::max<int64_t>(C, 1); c0 += chunk) {
        const int64_t c1 = std::min(C, c0 + chunk);
        for (int64_t m0 = m_begin; m0 < m_end; m0 += kRows) {
          const int rows = static_cast<int>(std::min<int64_t>(kRows, m_end - m0));
          const Tile t{x + n0,
                       w + m0 * C * num_taps,
                       bias ? bias + m0 : nullptr,
                       y + m0 * y_stride + n0,
                       C,
                       num_taps,
                       x_stride,
                       y_stride,
                       c0,
                       c1,
                       c0 == 0,
                       c1 >= C,
                       taps.offset.data(),
                       masks.data(),
                       store};
          tile_fn(rows, vectors)(t, clamp.on, lo, hi);
        }
      }
    }
  });
}

}  // namespace

bool direct_conv(const float* x, const float* w, const float* bias, float* y, int64_t C, int64_t M,
                 const WindowGeometry& g, const OutputClamp& clamp, int threads) {
  const Taps taps = make_taps(g);
  const int64_t out_w = g.is_pointwise() ? g.out_size() : g.out[2];
  run_tiles(x, g.in_size(), w, bias, y, g.out_size(), C, M, g.out_size(), out_w, taps, clamp,
            threads);
  return true;
}

bool phase_direct_conv(const float* x, const float* w, const float* bias, float* y, int64_t C,
                       int64_t M, const WindowGeometry& g, const OutputClamp& clamp, int threads,
                       float* scratch) {
  const int64_t sy = g.stride[1], sx = g.stride[2], in_h = g.in[1], in_w = g.in[2];
  const int64_t kh = g.kernel[1], kw = g.kernel[2], phases = C * sy * sx;
  const int64_t plane_h = (in_h + sy - 1) / sy, plane_w = g.out[2], plane = plane_h * plane_w;
  const PhaseWindow wy = phase_window(kh, g.pad_begin[1], sy),
                    wx = phase_window(kw, g.pad_begin[2], sx);
  float* planes = scratch;
  float* phase_w = scratch + phases * plane;
  // Phase (c, ry, rx) holds x[c][py * sy + ry][px * sx + rx]; zeros past x's edge (padding).
  // The phase window multiplies some inputs by weights the conv does not have (zeros): an Inf
  // or NaN there would spread where the conv keeps it, so such inputs go the other way.
  std::atomic<bool> finite{true};
  parallel_for(threads, phases * plane_h, 16, [&](int64_t begin, int64_t end) {
    bool all_finite = true;
    for (int64_t r = begin; r < end; ++r) {
      const int64_t p = r / plane_h, py = r % plane_h;
      const int64_t c = p / (sy * sx), ry = p / sx % sy, rx = p % sx, iy = py * sy + ry;
      float* row = planes + p * plane + py * plane_w;
      if (iy >= in_h) {
        std::fill(row, row + plane_w, 0.0f);
        continue;
      }
      const float* src = x + (c * in_h + iy) * in_w;
      for (int64_t px = 0; px < plane_w; ++px) {
        const int64_t ix = px * sx + rx;
        const float v = ix < in_w ? src[ix] : 0.0f;
        all_finite &= v - v == 0.0f;  // NaN for NaN and +-Inf
        row[px] = v;
      }
    }
    if (!all_finite) finite.store(false, std::memory_order_relaxed);
  });
  if (!finite.load()) return false;
  // Tap (ky, kx) of channel c moves to phase channel (c, ry, rx), tap (qy, qx) of the window.
  std::fill(phase_w, phase_w + M * phases * wy.taps * wx.taps, 0.0f);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t ky = 0; ky < kh; ++ky)
        for (int64_t kx = 0; kx < kw; ++kx) {
          const int64_t qy = floor_div(ky - g.pad_begin[1], sy), ry = ky - g.pad_begin[1] - qy * sy;
          const int64_t qx = floor_div(kx - g.pad_begin[2], sx), rx = kx - g.pad_begin[2] - qx * sx;
          const int64_t phase = (c * sy + ry) * sx + rx;
          phase_w[((m * phases + phase) * wy.taps + qy - wy.first) * wx.taps + qx - wx.first] =
              w[((m * C + c) * kh + ky) * kw + kx];
        }
  WindowGeometry pg;
  pg.spatial = 2;
  pg.in = {1, plane_h, plane_w};
  pg.kernel = {1, wy.taps, wx.taps};
  pg.pad_begin = {0, -wy.first, -wx.first};
  pg.out = {1, g.out[1], g.out[2]};
  pg.pad_end = {0, pg.out[1] - plane_h + wy.first + wy.taps - 1, wx.first + wx.taps - 1};
  return direct_conv(planes, phase_w, bias, y, phases, M, pg, clamp, threads);
}

bool direct_gemm(const float* x, int64_t ldx, const float* w, const float* bias, float* y,
                 int64_t ldy, int64_t K, int64_t M, int64_t N, const OutputClamp& clamp,
                 int threads) {
  Taps taps;
  taps.offset = taps.dy = taps.dx = {0};
  taps.in_h = 1;
  taps.in_w = N;
  run_tiles(x, ldx, w, bias, y, ldy, K, M, N, N, taps, clamp, threads);
  return true;
}

#else

bool phase_direct_conv(const float*, const float*, const float*, float*, int64_t, int64_t,
                       const WindowGeometry&, const OutputClamp&, int, float*) {
  return false;
}

bool direct_conv(const float*, const float*, const float*, float*, int64_t, int64_t,
                 const WindowGeometry&, const OutputClamp&, int) {
  return false;
}

bool direct_gemm(const float*, int64_t, const float*, const float*, float*, int64_t, int64_t,
                 int64_t, int64_t, const OutputClamp&, int) {
  return false;
}

#endif

}  // namespace qforge::kernels
