// SPDX-License-Identifier: Apache-2.0
// Kernel family: conv. Conv and ConvTranspose (1-3 spatial dims, groups, dilations, pads,
// auto_pad) as im2col/col2im + BLAS GEMM with a direct loop for depthwise convs; ConvInteger and
// QLinearConv accumulate exactly in double. Registered in register_conv_kernels (listed in
// src/runtime/kernel_registry.cpp); tested in tests/runtime/test_conv.cpp.
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "conv_chain.h"
#include "conv_channels_last.h"
#include "conv_depthwise.h"
#include "conv_direct.h"
#include "conv_dnnl.h"
#include "kernel_families.h"
#include "kernel_util.h"
#include "nn_util.h"

namespace qforge::kernels {

namespace {

// Outputs o in [0, out) whose input index o * stride + offset falls inside [0, in).
struct Range {
  int64_t lo, hi;
};
Range valid_range(int64_t out, int64_t in, int64_t stride, int64_t offset) {
  int64_t lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  int64_t hi = in - 1 - offset < 0 ? 0 : (in - 1 - offset) / stride + 1;
  lo = std::min(lo, out);
  hi = std::clamp(hi, lo, out);
  return {lo, hi};
}

// Window offset along slot s for kernel tap k.
int64_t tap_offset(const WindowGeometry& g, int s, int64_t k) {
  return k * g.dilation[s] - g.pad_begin[s];
}

// Hot inner loops, compiled for AVX2 and a baseline, picked at load time, unless the build
// already targets AVX2 or better (-march=native): then the resolver would pick the AVX2 clone
// over the build's own AVX-512 code.
#if defined(__AVX2__)
#define QF_VECTOR_CLONES
#else
#define QF_VECTOR_CLONES __attribute__((target_clones("arch=haswell", "default")))
#endif
QF_VECTOR_CLONES void axpy_f32(float* y, const float* x, float a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}
QF_VECTOR_CLONES void axpy_stride2_f32(float* y, const float* x, float a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[2 * i];
}

template <typename T>
void axpy(T* y, const T* x, T a, int64_t n, int64_t stride) {
  if constexpr (std::is_same_v<T, float>) {
    if (stride == 1) return axpy_f32(y, x, a, n);
    if (stride == 2) return axpy_stride2_f32(y, x, a, n);
  }
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i * stride];
}

// Output rows [r0, r1) (r = od * out_h + oh) of one im2col row: input channel plane `x` read
// through kernel tap (kd, kh, kw), written contiguously to dst.
template <typename T>
void im2col_row(const T* x, const WindowGeometry& g, const int64_t tap[3], int64_t r0, int64_t r1,
                T* dst) {
  const int64_t off_w = tap_offset(g, 2, tap[2]);
  const Range rw = valid_range(g.out[2], g.in[2], g.stride[2], off_w);
  for (int64_t r = r0; r < r1; ++r, dst += g.out[2]) {
    const int64_t id = (r / g.out[1]) * g.stride[0] + tap_offset(g, 0, tap[0]);
    const int64_t ih = (r % g.out[1]) * g.stride[1] + tap_offset(g, 1, tap[1]);
    if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1]) {
      std::fill(dst, dst + g.out[2], T(0));
      continue;
    }
    const T* src = x + (id * g.in[1] + ih) * g.in[2] + off_w;
    std::fill(dst, dst + rw.lo, T(0));
    if (g.stride[2] == 1) {
      std::memcpy(dst + rw.lo, src + rw.lo, sizeof(T) * (rw.hi - rw.lo));
    } else {
      for (int64_t ow = rw.lo; ow < rw.hi; ++ow) dst[ow] = src[ow * g.stride[2]];
    }
    std::fill(dst + rw.hi, dst + g.out[2], T(0));
  }
}

void split_tap(const WindowGeometry& g, int64_t k, int64_t tap[3]) {
  tap[2] = k % g.kernel[2];
  tap[1] = (k / g.kernel[2]) % g.kernel[1];
  tap[0] = k / (g.kernel[2] * g.kernel[1]);
}

// col[(c * K + k), o - o0] = x[c, o * stride + k * dilation - pad] (0 outside the input) for
// the outputs o of rows [r0, r1); `threads` split the (c, k) rows.
template <typename T>
void im2col(const T* x, int64_t channels, const WindowGeometry& g, int64_t r0, int64_t r1, T* col,
            int threads) {
  const int64_t K = g.kernel_size(), rows = channels * K, rowlen = (r1 - r0) * g.out[2];
  parallel_for(threads, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(rowlen, 1)),
               [&](int64_t begin, int64_t end) {
                 for (int64_t r = begin; r < end; ++r) {
                   int64_t tap[3];
                   split_tap(g, r % K, tap);
                   im2col_row(x + (r / K) * g.in_size(), g, tap, r0, r1, col + r * rowlen);
                 }
               });
}

// The adjoint of im2col: image[c] += col rows of channel c scattered back (ConvTranspose).
template <typename T>
void col2im(const T* col, int64_t channels, const WindowGeometry& g, T* image, int threads) {
  const int64_t K = g.kernel_size(), rowlen = g.out_size();
  parallel_for(threads, channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      T* img = image + c * g.in_size();
      for (int64_t k = 0; k < K; ++k) {
        int64_t tap[3];
        split_tap(g, k, tap);
        const T* src = col + (c * K + k) * rowlen;
        const int64_t off_w = tap_offset(g, 2, tap[2]);
        const Range rw = valid_range(g.out[2], g.in[2], g.stride[2], off_w);
        for (int64_t od = 0; od < g.out[0]; ++od) {
          const int64_t id = od * g.stride[0] + tap_offset(g, 0, tap[0]);
          for (int64_t oh = 0; oh < g.out[1]; ++oh, src += g.out[2]) {
            const int64_t ih = oh * g.stride[1] + tap_offset(g, 1, tap[1]);
            if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1]) continue;
            T* dst = img + (id * g.in[1] + ih) * g.in[2] + off_w;
            for (int64_t ow = rw.lo; ow < rw.hi; ++ow) dst[ow * g.stride[2]] += src[ow];
          }
        }
      }
    }
  });
}

// One output plane of a depthwise conv: out (already holding the bias) += taps * plane.
template <typename T>
void depthwise_plane(const T* plane, const T* wk, const WindowGeometry& g, T* out) {
  Range rw[64];
  const bool cached = g.kernel[2] <= 64;
  if (cached)
    for (int64_t kw = 0; kw < g.kernel[2]; ++kw)
      rw[kw] = valid_range(g.out[2], g.in[2], g.stride[2], tap_offset(g, 2, kw));
  for (int64_t od = 0; od < g.out[0]; ++od)
    for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
      const int64_t id = od * g.stride[0] + tap_offset(g, 0, kd);
      if (id < 0 || id >= g.in[0]) continue;
      for (int64_t oh = 0; oh < g.out[1]; ++oh) {
        T* orow = out + (od * g.out[1] + oh) * g.out[2];
        for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
          const int64_t ih = oh * g.stride[1] + tap_offset(g, 1, kh);
          if (ih < 0 || ih >= g.in[1]) continue;
          const T* irow = plane + (id * g.in[1] + ih) * g.in[2];
          const T* wrow = wk + (kd * g.kernel[1] + kh) * g.kernel[2];
          for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
            const int64_t off = tap_offset(g, 2, kw);
            const Range r = cached ? rw[kw] : valid_range(g.out[2], g.in[2], g.stride[2], off);
            if (r.hi > r.lo)
              axpy(orow + r.lo, irow + r.lo * g.stride[2] + off, wrow[kw], r.hi - r.lo,
                   g.stride[2]);
          }
        }
      }
    }
}

struct ConvShape {
  int64_t batch, in_channels, out_channels, group;
  WindowGeometry g;
};

// y[m, c0:c1] = bias[m] for an output of `plane` columns.
template <typename T>
void fill_bias(T* y, const T* bias, int64_t channels, int64_t plane, int64_t c0, int64_t c1) {
  for (int64_t m = 0; m < channels; ++m) std::fill(y + m * plane + c0, y + m * plane + c1, bias[m]);
}

// Bytes of im2col buffer per block: the block's columns stay in L2 while the GEMM reads them.
// (Measured on resnet18 layers: 1 MiB / 256 columns beat 384 KiB / 128 and 4 MiB / 512.)
constexpr int64_t kColumnBlockBytes = 1024 * 1024;
constexpr int64_t kMinBlockColumns = 256;

// One group of a conv: y (Mg x out) = w (Mg x Cg*K) * im2col(x), computed in blocks of whole
// output rows, each block im2col'ed into a thread-local buffer and multiplied right away.
template <typename T>
void conv_group_im2col(const T* x, const T* w, const T* bias, T* y, int64_t Cg, int64_t Mg,
                       const WindowGeometry& g, const OutputClamp& clamp, int threads) {
  const int64_t CK = Cg * g.kernel_size(), rows = g.out[0] * g.out[1], row_len = g.out[2],
                plane = g.out_size();
  // At least ~256 columns per block: narrower GEMMs lose more to packing than cache misses cost.
  int64_t rows_per_block = std::max(
      kColumnBlockBytes / static_cast<int64_t>(sizeof(T)) / std::max<int64_t>(CK * row_len, 1),
      (kMinBlockColumns + row_len - 1) / row_len);
  rows_per_block = std::min(rows_per_block, std::max<int64_t>(rows, 1));
  if (threads > 1) rows_per_block = std::min(rows_per_block, (rows + threads - 1) / threads);
  const int64_t blocks = (rows + rows_per_block - 1) / rows_per_block;
  if (threads > 1 && blocks < threads) {
    // Too few output rows to share (deep layers, e.g. 7x7): one im2col, GEMM split over channels.
    std::vector<T> col(static_cast<size_t>(CK * plane));
    im2col(x, Cg, g, 0, rows, col.data(), threads);
    if constexpr (std::is_same_v<T, float>) {
      if (CK <= kShortIm2col &&
          direct_gemm(col.data(), plane, w, bias, y, plane, CK, Mg, plane, clamp, threads))
        return;
    }
    if (bias) fill_bias(y, bias, Mg, plane, 0, plane);
    gemm<T>(false, false, Mg, plane, CK, T(1), w, CK, col.data(), plane, bias ? T(1) : T(0), y,
            plane, threads);
    if (clamp.on)
      parallel_for(threads, Mg, 1, [&](int64_t m0, int64_t m1) {
        finish_rows<T>(y + m0 * plane, m1 - m0, plane, 0, plane, nullptr, clamp);
      });
    return;
  }
  parallel_for(threads, blocks, 1, [&](int64_t b0, int64_t b1) {
    std::vector<T> col(static_cast<size_t>(CK * rows_per_block * row_len));
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t r0 = b * rows_per_block, r1 = std::min(rows, r0 + rows_per_block);
      const int64_t c0 = r0 * row_len, cols = (r1 - r0) * row_len;
      im2col(x, Cg, g, r0, r1, col.data(), 1);
      if constexpr (std::is_same_v<T, float>) {
        if (CK <= kShortIm2col &&
            direct_gemm(col.data(), cols, w, bias, y + c0, plane, CK, Mg, cols, clamp, 1))
          continue;
      }
      if (bias) fill_bias(y, bias, Mg, plane, c0, c0 + cols);
      gemm<T>(false, false, Mg, cols, CK, T(1), w, CK, col.data(), cols, bias ? T(1) : T(0), y + c0,
              plane, 1);
      finish_rows<T>(y, Mg, plane, c0, c0 + cols, nullptr, clamp);  // while the block is in cache
    }
  });
}

// Output bytes per block of a 1x1 conv: the GEMM writes the block without bias, and bias and
// clamp are applied while it is still in L2 (one pass over y instead of a bias fill, a
// read-modify-write GEMM and a separate activation pass).
constexpr int64_t kPointwiseBlockBytes = 512 * 1024;

// One group of a 1x1 conv: y (M x plane) = w (M x C) * x (C x plane) + bias, clamped.
template <typename T>
void conv_pointwise(const T* x, const T* w, const T* bias, T* y, int64_t C, int64_t M,
                    int64_t plane, const OutputClamp& clamp, int threads) {
  if constexpr (std::is_same_v<T, float>) {
    WindowGeometry g;
    g.in = {1, 1, plane};
    g.out = g.in;
    if (direct_conv(x, w, bias, y, C, M, g, clamp, threads)) return;
  }
  const int64_t block =
      std::max<int64_t>(256, kPointwiseBlockBytes / static_cast<int64_t>(sizeof(T)) /
                                 std::max<int64_t>(M, 1) / 16 * 16);
  for (int64_t c0 = 0; c0 < plane; c0 += block) {
    const int64_t cols = std::min(block, plane - c0);
    gemm<T>(false, false, M, cols, C, T(1), w, C, x + c0, plane, T(0), y + c0, plane, threads);
    if (!bias && !clamp.on) continue;
    parallel_for(threads, M, std::max<int64_t>(1, 4096 / cols), [&](int64_t m0, int64_t m1) {
      finish_rows<T>(y + m0 * plane, m1 - m0, plane, c0, c0 + cols, bias ? bias + m0 : nullptr,
                     clamp);
    });
  }
}

// The oneDNN description of a dense 2-D conv (slots 1 and 2 of the geometry). For a
// ConvTranspose, s.g is the forward conv from y to x, so x's size is g.out and y's is g.in.
DnnlConv dnnl_conv(const ConvShape& s, bool transposed) {
  DnnlConv c{s.batch, s.in_channels, s.out_channels, {}, {}, {}, {}, {}, {}, {}, transposed};
  for (int i = 0; i < 2; ++i) {
    c.in[i] = transposed ? s.g.out[i + 1] : s.g.in[i + 1];
    c.out[i] = transposed ? s.g.in[i + 1] : s.g.out[i + 1];
    c.kernel[i] = s.g.kernel[i + 1];
    c.stride[i] = s.g.stride[i + 1];
    c.dilation[i] = s.g.dilation[i + 1];
    c.pad_begin[i] = s.g.pad_begin[i + 1];
    c.pad_end[i] = s.g.pad_end[i + 1];
  }
  return c;
}

// y[N, M, out...] = conv(x[N, C, in...], w[M, C/group, k...]) + bias.
template <typename T>
void conv_forward(const T* x, const T* w, const T* bias, T* y, const ConvShape& s,
                  const OutputClamp& clamp, const DnnlConvCache& cache, int threads) {
  const WindowGeometry& g = s.g;
  const int64_t Cg = s.in_channels / s.group, Mg = s.out_channels / s.group;
  const int64_t K = g.kernel_size(), in_plane = g.in_size(), out_plane = g.out_size();
  if (Cg == 1 && s.group > 1) {
    // Depthwise: GEMM with one input channel has K rows only; a direct loop is faster.
    const bool dw3x3 = std::is_same_v<T, float> && is_dw3x3(g);
    parallel_for(threads, s.batch * s.out_channels, 1, [&](int64_t begin, int64_t end) {
      std::optional<Dw3x3Scratch> scratch;
      if (dw3x3) scratch.emplace(g);
      for (int64_t p = begin; p < end; ++p) {
        const int64_t n = p / s.out_channels, m = p % s.out_channels;
        T* out = y + p * out_plane;
        const T* plane = x + (n * s.in_channels + m / Mg) * in_plane;
        if constexpr (std::is_same_v<T, float>) {
          if (dw3x3) {
            dw3x3_plane(plane, w + m * K, bias ? bias[m] : 0.0f, g, clamp, *scratch, out);
            continue;
          }
        }
        std::fill(out, out + out_plane, bias ? bias[m] : T(0));
        depthwise_plane(plane, w + m * K, g, out);
        finish_rows<T>(out, 1, 0, 0, out_plane, nullptr, clamp);
      }
    });
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    // Stride 1, "same" width: straight from NCHW, no im2col or layout copies. Measured on
    // resnet18's 3x3 convs (1 thread): 512 channels at 7x7 2.05 ms against 2.1 for oneDNN with
    // its copies; at 14x14, 28x28 and 56x56 oneDNN won (1.35 vs 1.64, 1.45 vs 1.65, 1.6 vs
    // 2.0 ms). So: direct on one-tile planes and on channel counts that do not fill oneDNN's
    // blocks, else only where oneDNN declines.
    const bool direct = !g.is_pointwise() && direct_conv_fits(g);
    const auto run_direct = [&] {
      bool done = true;
      for (int64_t n = 0; n < s.batch && done; ++n)
        for (int64_t gi = 0; gi < s.group && done; ++gi)
          done = direct_conv(x + (n * s.in_channels + gi * Cg) * in_plane, w + gi * Mg * Cg * K,
                             bias ? bias + gi * Mg : nullptr,
                             y + (n * s.out_channels + gi * Mg) * out_plane, Cg, Mg, g, clamp,
                             threads);
      return done;
    };
    // oneDNN pads channels to its blocks of 16: 24 output channels run as 32 (PaddleOCR det's
    // 96 -> 24 at 160x160: 11.8 ms oneDNN, 10.0 direct).
    const bool unblocked = Mg % 16 != 0 || Cg % 16 != 0;
    if (direct && (out_plane <= 64 || unblocked) && run_direct()) return;
    // A strided first layer on few channels whose outputs do not fill oneDNN's blocks: a
    // stride-1 conv on phase planes (conv_direct.h). BlazeFace's 3 -> 24 5x5 stride 2 at
    // 128x128: 0.21 ms against oneDNN's 0.23 (docs/benchmarks.md), and a model without other
    // dense convs then needs none of oneDNN's primitive state and code (about 200 KiB for the
    // first). resnet18's 3 -> 64 7x7 and mobilenet_v2's 3 -> 32 3x3 (full blocks) stayed faster
    // in oneDNN at batch 1 when this was written with the rule lifted (2.48 against 2.65 ms,
    // 0.49 against 0.54 ms).
    if (s.group == 1 && Mg % 16 != 0 && phase_conv_fits(g, Cg)) {
      const auto floats = static_cast<size_t>(phase_conv_scratch_floats(g, Cg, Mg));
      Tensor held;
      std::vector<float> local;
      float* scratch = nullptr;
      if (cache.scratch) {
        held = cache.scratch->allocate_scratch(floats * sizeof(float));
        scratch = static_cast<float*>(held.raw());
      } else {
        local.resize(floats);
        scratch = local.data();
      }
      bool done = true;  // else the paths below write all of y
      for (int64_t n = 0; n < s.batch && done; ++n)
        done = phase_direct_conv(x + n * s.in_channels * in_plane, w, bias,
                                 y + n * s.out_channels * out_plane, Cg, Mg, g, clamp, threads,
                                 scratch);
      if (done) return;
    }
    if (s.group == 1 && g.spatial == 2 &&
        conv_dnnl(dnnl_conv(s, false), x, w, bias, y, threads, cache)) {
      if (clamp.on)
        parallel_for(threads, s.batch * s.out_channels, 1, [&](int64_t p0, int64_t p1) {
          finish_rows<T>(y + p0 * out_plane, p1 - p0, out_plane, 0, out_plane, nullptr, clamp);
        });
      return;
    }
    if (direct && run_direct()) return;
  }
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t gi = 0; gi < s.group; ++gi) {
      const T* xg = x + (n * s.in_channels + gi * Cg) * in_plane;
      T* yg = y + (n * s.out_channels + gi * Mg) * out_plane;
      const T* wg = w + gi * Mg * Cg * K;
      const T* bg = bias ? bias + gi * Mg : nullptr;
      if (g.is_pointwise())
        conv_pointwise(xg, wg, bg, yg, Cg, Mg, out_plane, clamp, threads);
      else
        conv_group_im2col(xg, wg, bg, yg, Cg, Mg, g, clamp, threads);
    }
}

// A 2-D ConvTranspose whose stride equals its kernel (no pads, dilation 1, y exactly x times the
// stride; the upsampling heads of detection and segmentation models): every output pixel comes
// from one input pixel through one tap, so each tap is a 1x1 conv (Mg x Cg times Cg x pixels)
// whose result is scattered with the stride. PaddleOCR det's 24 -> 1 channel 2x2 upsampling to
// 640x640 took 10.4 ms through oneDNN's deconvolution (its blocked layout pads 1 channel to 16).
bool stride_equals_kernel(const WindowGeometry& g) {
  return g.spatial == 2 && g.kernel[1] == g.stride[1] && g.kernel[2] == g.stride[2] &&
         g.dilation[1] == 1 && g.dilation[2] == 1 && g.pad_begin[1] == 0 && g.pad_begin[2] == 0 &&
         g.in[1] == g.out[1] * g.stride[1] && g.in[2] == g.out[2] * g.stride[2];
}

bool conv_transpose_by_taps(const float* x, const float* w, const float* bias, float* y,
                            const ConvShape& s, KernelContext* scratch, int threads) {
  const WindowGeometry& g = s.g;
  const int64_t Cg = s.in_channels / s.group, Mg = s.out_channels / s.group;
  const int64_t H = g.out[1], W = g.out[2], SH = g.stride[1], SW = g.stride[2], K = SH * SW;
  const int64_t pixels = H * W, y_plane = g.in_size(), rows = Mg * K;
  // One product row per (output channel, tap), all from one pass over x.
  std::vector<float> rows_w(static_cast<size_t>(rows * Cg)), rows_bias(static_cast<size_t>(rows));
  Tensor held = scratch ? scratch->allocate_scratch(static_cast<size_t>(rows * pixels) * 4)
                        : Tensor::uninitialized(DataType::Float, {rows * pixels});
  float* product = static_cast<float*>(held.raw());
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t gi = 0; gi < s.group; ++gi) {
      const float* xg = x + (n * s.in_channels + gi * Cg) * pixels;
      const float* wg = w + gi * Cg * Mg * K;  // [Cg, Mg, SH, SW]
      float* yg = y + (n * s.out_channels + gi * Mg) * y_plane;
      for (int64_t r = 0; r < rows; ++r) {
        rows_bias[static_cast<size_t>(r)] = bias ? bias[gi * Mg + r / K] : 0.0f;
        for (int64_t c = 0; c < Cg; ++c) rows_w[r * Cg + c] = wg[c * rows + r];
      }
      if (!direct_gemm(xg, pixels, rows_w.data(), rows_bias.data(), product, pixels, Cg, rows,
                       pixels, OutputClamp{}, threads))
        return false;
      parallel_for(threads, rows * H, 16, [&](int64_t q0, int64_t q1) {
        for (int64_t q = q0; q < q1; ++q) {
          const int64_t r = q / H, ih = q % H, m = r / K, kh = r % K / SW, kw = r % SW;
          const float* src = product + r * pixels + ih * W;
          float* dst = yg + m * y_plane + (ih * SH + kh) * (W * SW) + kw;
          for (int64_t iw = 0; iw < W; ++iw) dst[iw * SW] = src[iw];
        }
      });
    }
  return true;
}

// y[N, M, out...] = conv_transpose(x[N, C, in...], w[C, M/group, k...]) + bias; s.g describes
// the equivalent forward conv from y (g.in) to x (g.out).
template <typename T>
void conv_transpose_forward(const T* x, const T* w, const T* bias, T* y, const ConvShape& s,
                            const DnnlConvCache& cache, int threads) {
  const WindowGeometry& g = s.g;
  const int64_t Cg = s.in_channels / s.group, Mg = s.out_channels / s.group;
  const int64_t K = g.kernel_size(), x_plane = g.out_size(), y_plane = g.in_size();
  if constexpr (std::is_same_v<T, float>) {
    if (stride_equals_kernel(g) && conv_transpose_by_taps(x, w, bias, y, s, cache.scratch, threads))
      return;
    if (s.group == 1 && g.spatial == 2 &&
        conv_dnnl(dnnl_conv(s, true), x, w, bias, y, threads, cache))
      return;
  }
  std::vector<T> col(static_cast<size_t>(Mg * K * x_plane));
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t gi = 0; gi < s.group; ++gi) {
      const T* xg = x + (n * s.in_channels + gi * Cg) * x_plane;
      T* yg = y + (n * s.out_channels + gi * Mg) * y_plane;
      gemm<T>(true, false, Mg * K, x_plane, Cg, T(1), w + gi * Cg * Mg * K, Mg * K, xg, x_plane,
              T(0), col.data(), x_plane, threads);
      col2im(col.data(), Mg, g, yg, threads);
    }
  if (bias)
    parallel_for(threads, s.batch * s.out_channels, 16, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        T* out = y + p * y_plane;
        const T b = bias[p % s.out_channels];
        for (int64_t i = 0; i < y_plane; ++i) out[i] += b;
      }
    });
}

// ---- shape checks shared by the four ops ----

std::vector<int64_t> weight_kernel(const KernelContext& ctx, const Tensor& x, const Tensor& w) {
  if (w.rank() != x.rank())
    fail(ErrorKind::Shape, "{}: weight rank {} differs from input rank {}", ctx.op().describe(),
         w.rank(), x.rank());
  std::vector<int64_t> kernel(w.shape().begin() + 2, w.shape().end());
  const std::vector<int64_t> attr = ctx.attr_ints("kernel_shape");
  if (!attr.empty() && attr != kernel)
    fail(ErrorKind::Shape, "{}: kernel_shape {} does not match weight {}", ctx.op().describe(),
         shape_to_string(attr), shape_to_string(w.shape()));
  return kernel;
}

ConvShape conv_shape(const KernelContext& ctx, const Tensor& x, const Tensor& w) {
  const std::string node = ctx.op().describe();
  if (x.rank() < 3)
    fail(ErrorKind::Shape, "{}: input needs rank >= 3, got {}", node, shape_to_string(x.shape()));
  ConvShape s;
  s.batch = x.dim(0);
  s.in_channels = x.dim(1);
  s.out_channels = w.dim(0);
  s.group = ctx.attr_int("group", 1);
  if (s.group < 1 || s.in_channels % s.group != 0 || s.out_channels % s.group != 0 ||
      w.dim(1) * s.group != s.in_channels)
    fail(ErrorKind::Shape, "{}: input {} and weight {} do not fit group {}", node,
         shape_to_string(x.shape()), shape_to_string(w.shape()), s.group);
  s.g = window_geometry(ctx, x.shape(), weight_kernel(ctx, x, w));
  return s;
}

Shape output_shape(const ConvShape& s, std::vector<int64_t> spatial) {
  Shape shape{s.batch, s.out_channels};
  shape.insert(shape.end(), spatial.begin(), spatial.end());
  return shape;
}

const Tensor* checked_bias(const KernelContext& ctx, size_t index, int64_t channels,
                           DataType dtype) {
  const Tensor* b = ctx.optional_input(index);
  if (b && (b->numel() != channels || b->dtype() != dtype))
    fail(ErrorKind::Shape, "{}: bias needs {} {} values, got {} {}", ctx.op().describe(), channels,
         dtype_name(dtype), dtype_name(b->dtype()), shape_to_string(b->shape()));
  return b;
}

template <typename T>
void check_dtype(const KernelContext& ctx, const Tensor& t, const char* what) {
  if (t.dtype() != dtype_of<T>())
    fail(ErrorKind::InvalidModel, "{}: {} is {}, expected {}", ctx.op().describe(), what,
         dtype_name(t.dtype()), dtype_name(dtype_of<T>()));
}

// ---- kernels ----

void conv(KernelContext& ctx) {
  if (needs_widening(ctx)) return run_widened(ctx, conv);
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const ConvShape s = conv_shape(ctx, x, w);
  visit_float_dtype(x.dtype(), ctx.op(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      check_dtype<T>(ctx, w, "weight");
      const Tensor* b = checked_bias(ctx, 2, s.out_channels, x.dtype());
      Tensor& y = ctx.allocate_output(0, x.dtype(), output_shape(s, s.g.out_dims()),
                                      KernelContext::OutputInit::Uninitialized);
      OutputClamp clamp;
      if constexpr (std::is_same_v<T, float>) {
        if (const auto fused = ctx.take_fused_clamp()) clamp = {true, fused->lo, fused->hi};
      }
      conv_forward<T>(x.data<T>(), w.data<T>(), b ? b->data<T>() : nullptr, y.data<T>(), s, clamp,
                      DnnlConvCache{ctx.kernel_state(), &w, ctx.may_keep_weights(), &ctx},
                      ctx.num_threads());
    }
  });
}

// Output dims and pads of ConvTranspose (ONNX: output_shape wins over pads; SAME_UPPER puts
// the odd padding pixel at the end, NOTSET and SAME_LOWER at the beginning).
WindowGeometry transpose_geometry(const KernelContext& ctx, const Shape& x_shape,
                                  const std::vector<int64_t>& kernel) {
  const std::string node = ctx.op().describe();
  const size_t spatial = kernel.size();
  const auto ints = [&](const char* name, int64_t fill, size_t count) {
    std::vector<int64_t> v = ctx.attr_ints(name);
    if (v.empty()) v.assign(count, fill);
    if (v.size() != count)
      fail(ErrorKind::InvalidModel, "{}: attribute {} needs {} values, got {}", node, name, count,
           v.size());
    return v;
  };
  const std::vector<int64_t> strides = ints("strides", 1, spatial),
                             dilations = ints("dilations", 1, spatial);
  const std::vector<int64_t> out_pad = ints("output_padding", 0, spatial);
  std::vector<int64_t> pads = ints("pads", 0, 2 * spatial),
                       out_shape = ctx.attr_ints("output_shape");
  if (out_shape.size() == spatial + 2) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
  if (!out_shape.empty() && out_shape.size() != spatial)
    fail(ErrorKind::InvalidModel, "{}: output_shape needs {} values", node, spatial);
  const std::string auto_pad = ctx.attr_string("auto_pad", "NOTSET");
  const bool same = auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER";
  std::vector<int64_t> in(x_shape.begin() + 2, x_shape.end()), out(spatial);
  for (size_t i = 0; i < spatial; ++i) {
    if (strides[i] < 1 || dilations[i] < 1)
      fail(ErrorKind::InvalidModel, "{}: strides and dilations must be positive", node);
    const int64_t natural =
        strides[i] * (in[i] - 1) + out_pad[i] + (kernel[i] - 1) * dilations[i] + 1;
    if (auto_pad == "VALID") pads[i] = pads[i + spatial] = 0;
    if (out_shape.empty() && !same) {
      out[i] = natural - pads[i] - pads[i + spatial];
      continue;
    }
    out[i] = out_shape.empty() ? in[i] * strides[i] : out_shape[i];
    const int64_t total = std::max<int64_t>(0, natural - out[i]);
    pads[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    pads[i + spatial] = total - pads[i];
  }
  WindowGeometry g;
  g.spatial = static_cast<int>(spatial);
  g.in = to_slots(out, 1);  // the equivalent forward conv reads y and produces x
  g.out = to_slots(in, 1);
  g.kernel = to_slots(kernel, 1);
  g.stride = to_slots(strides, 1);
  g.dilation = to_slots(dilations, 1);
  g.pad_begin = to_slots(std::vector<int64_t>(pads.begin(), pads.begin() + spatial), 0);
  g.pad_end = to_slots(std::vector<int64_t>(pads.begin() + spatial, pads.end()), 0);
  for (size_t i = 0; i < spatial; ++i)
    if (out[i] < 1 || in[i] < 1)
      fail(ErrorKind::Shape, "{}: output spatial dim {} would be {}", node, i, out[i]);
  return g;
}

void conv_transpose(KernelContext& ctx) {
  if (needs_widening(ctx)) return run_widened(ctx, conv_transpose);
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const std::string node = ctx.op().describe();
  if (x.rank() < 3 || x.rank() > 5 || w.rank() != x.rank())
    fail(ErrorKind::Shape, "{}: input {} and weight {} need rank 3-5", node,
         shape_to_string(x.shape()), shape_to_string(w.shape()));
  ConvShape s;
  s.batch = x.dim(0);
  s.in_channels = x.dim(1);
  s.group = ctx.attr_int("group", 1);
  s.out_channels = w.dim(1) * s.group;
  if (s.group < 1 || w.dim(0) != s.in_channels || s.in_channels % s.group != 0)
    fail(ErrorKind::Shape, "{}: input {} and weight {} do not fit group {}", node,
         shape_to_string(x.shape()), shape_to_string(w.shape()), s.group);
  s.g = transpose_geometry(ctx, x.shape(), weight_kernel(ctx, x, w));
  visit_float_dtype(x.dtype(), ctx.op(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      check_dtype<T>(ctx, w, "weight");
      const Tensor* b = checked_bias(ctx, 2, s.out_channels, x.dtype());
      std::vector<int64_t> spatial(s.g.in.begin() + (3 - s.g.spatial), s.g.in.end());
      Tensor& y = ctx.allocate_output(0, x.dtype(), output_shape(s, spatial));
      conv_transpose_forward<T>(
          x.data<T>(), w.data<T>(), b ? b->data<T>() : nullptr, y.data<T>(), s,
          DnnlConvCache{ctx.kernel_state(), &w, ctx.may_keep_weights(), &ctx}, ctx.num_threads());
    }
  });
}

// Integer convs: (x - x_zp) and (w - w_zp[m]) as doubles, whose products and sums stay exact;
// padding contributes x_zp, i.e. zero after the shift.
std::vector<double> conv_integer_acc(KernelContext& ctx, const Tensor& x, const Tensor* x_zp,
                                     const Tensor& w, const Tensor* w_zp, const ConvShape& s) {
  std::vector<double> xd = to_double_vector(x), wd = to_double_vector(w);
  const double xz = read_channel_param(ctx, x_zp, 1, 0.0, "x_zero_point")[0];
  for (double& v : xd) v -= xz;
  const std::vector<double> wz = read_channel_param(ctx, w_zp, s.out_channels, 0.0, "w_zero_point");
  const int64_t per_m = w.numel() / std::max<int64_t>(s.out_channels, 1);
  for (int64_t m = 0; m < s.out_channels; ++m)
    for (int64_t i = 0; i < per_m; ++i) wd[m * per_m + i] -= wz[m];
  std::vector<double> acc(static_cast<size_t>(s.batch * s.out_channels * s.g.out_size()));
  conv_forward<double>(xd.data(), wd.data(), nullptr, acc.data(), s, OutputClamp{}, DnnlConvCache{},
                       ctx.num_threads());
  return acc;
}

void check_int8(const KernelContext& ctx, const Tensor& t, const char* what) {
  if (t.dtype() != DataType::UInt8 && t.dtype() != DataType::Int8)
    fail(ErrorKind::UnsupportedOp, "{}: {} must be uint8 or int8, got {}", ctx.op().describe(),
         what, dtype_name(t.dtype()));
}

void conv_integer(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  check_int8(ctx, x, "x");
  check_int8(ctx, w, "w");
  const ConvShape s = conv_shape(ctx, x, w);
  const std::vector<double> acc =
      conv_integer_acc(ctx, x, ctx.optional_input(2), w, ctx.optional_input(3), s);
  Tensor& y = ctx.allocate_output(0, DataType::Int32, output_shape(s, s.g.out_dims()));
  int32_t* out = y.data<int32_t>();
  for (size_t i = 0; i < acc.size(); ++i) out[i] = static_cast<int32_t>(acc[i]);
}

template <typename Q>
void requantize(const std::vector<double>& acc, const std::vector<double>& bias,
                const std::vector<float>& multiplier, float zero_point, int64_t plane, Q* out) {
  const float lo = static_cast<float>(std::numeric_limits<Q>::min());
  const float hi = static_cast<float>(std::numeric_limits<Q>::max());
  const int64_t channels = static_cast<int64_t>(multiplier.size());
  for (size_t i = 0; i < acc.size(); ++i) {
    const int64_t m = (static_cast<int64_t>(i) / plane) % channels;
    // As ONNX Runtime: int32 accumulator times a float multiplier, rounded half to even.
    const float v = static_cast<float>(acc[i] + bias[m]) * multiplier[m];
    out[i] = static_cast<Q>(std::clamp(std::nearbyint(v) + zero_point, lo, hi));
  }
}

void qlinear_conv(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(3);
  check_int8(ctx, x, "x");
  check_int8(ctx, w, "w");
  const ConvShape s = conv_shape(ctx, x, w);
  const std::vector<double> acc =
      conv_integer_acc(ctx, x, ctx.optional_input(2), w, ctx.optional_input(5), s);
  const float xs = static_cast<float>(read_channel_param(ctx, &ctx.input(1), 1, 1.0, "x_scale")[0]);
  const float ys = static_cast<float>(read_channel_param(ctx, &ctx.input(6), 1, 1.0, "y_scale")[0]);
  const std::vector<double> ws =
      read_channel_param(ctx, &ctx.input(4), s.out_channels, 1.0, "w_scale");
  std::vector<float> multiplier(ws.size());
  for (size_t m = 0; m < ws.size(); ++m) multiplier[m] = xs * static_cast<float>(ws[m]) / ys;
  const Tensor* y_zp = ctx.optional_input(7);
  const float zp = static_cast<float>(read_channel_param(ctx, y_zp, 1, 0.0, "y_zero_point")[0]);
  const Tensor* b = ctx.optional_input(8);
  if (b && b->dtype() != DataType::Int32)
    fail(ErrorKind::InvalidModel, "{}: bias must be int32", ctx.op().describe());
  const std::vector<double> bias = read_channel_param(ctx, b, s.out_channels, 0.0, "B");
  const DataType out_type = y_zp ? y_zp->dtype() : x.dtype();
  Tensor& y = ctx.allocate_output(0, out_type, output_shape(s, s.g.out_dims()));
  if (out_type == DataType::UInt8)
    requantize(acc, bias, multiplier, zp, s.g.out_size(), y.data<uint8_t>());
  else if (out_type == DataType::Int8)
    requantize(acc, bias, multiplier, zp, s.g.out_size(), y.data<int8_t>());
  else
    fail(ErrorKind::UnsupportedOp, "{}: output type {} is not supported", ctx.op().describe(),
         dtype_name(out_type));
}

}  // namespace

void register_conv_kernels(KernelRegistry& registry) {
  registry.add("", "Conv", 1, kLatestOpset, conv);
  registry.add("", "ConvTranspose", 1, kLatestOpset, conv_transpose);
  registry.add("", "ConvInteger", 10, kLatestOpset, conv_integer);
  registry.add("", "QLinearConv", 10, kLatestOpset, qlinear_conv);
  register_channels_last_conv_kernels(registry);
  register_conv_chain_kernels(registry);
}

}  // namespace qforge::kernels
