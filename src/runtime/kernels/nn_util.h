// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the conv, gemm, pooling and normalization families: sliding-window
// geometry (kernel, strides, dilations, pads, auto_pad, ceil_mode), GEMM entry points and a
// wrapper that runs 16-bit float kernels in float. Implemented in nn_util.cpp; tested through
// tests/runtime/test_conv.cpp, test_gemm.cpp, test_pooling.cpp and test_normalization.cpp.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "qforge/kernel.h"

namespace qforge::kernels {

// Spatial window geometry, right-aligned into three slots (depth, height, width): a 2-D
// op uses slots 1 and 2, a 1-D op slot 2, and unused slots hold size 1, kernel 1, stride 1,
// no padding, so one 3-D loop nest serves every rank.
struct WindowGeometry {
  static constexpr int kSlots = 3;
  int spatial = 0;  // number of spatial dims of the op (1..3)
  std::array<int64_t, kSlots> in{1, 1, 1};
  std::array<int64_t, kSlots> kernel{1, 1, 1};
  std::array<int64_t, kSlots> stride{1, 1, 1};
  std::array<int64_t, kSlots> dilation{1, 1, 1};
  std::array<int64_t, kSlots> pad_begin{0, 0, 0};
  std::array<int64_t, kSlots> pad_end{0, 0, 0};
  std::array<int64_t, kSlots> out{1, 1, 1};

  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
  int64_t kernel_size() const { return kernel[0] * kernel[1] * kernel[2]; }
  int64_t extent(int s) const { return (kernel[s] - 1) * dilation[s] + 1; }
  // The op's spatial output dims (without the padding slots).
  std::vector<int64_t> out_dims() const;
  // True when the window is 1x1 with stride 1 and no padding (output == input).
  bool is_pointwise() const;
};

// Reads strides, dilations, pads and auto_pad of ctx's op for an input of shape `x_shape`
// (N, C, spatial...) and the given kernel dims; `ceil_mode` rounds output dims up (pooling).
// Errors name the node.
WindowGeometry window_geometry(const KernelContext& ctx, const Shape& x_shape,
                               const std::vector<int64_t>& kernel, bool ceil_mode = false);
// The geometry's spatial values placed in the three slots (right-aligned); `fill` for the rest.
std::array<int64_t, 3> to_slots(const std::vector<int64_t>& values, int64_t fill);

// C = alpha * op(A) * op(B) + beta * C, row-major, on up to `threads` OpenMP threads (float:
// oneDNN's sgemm, double: OpenBLAS). Safe for k == 0, empty matrices and calls from inside
// parallel_for (then serial).
void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
              int64_t ldc, int threads);
void gemm_f64(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
              const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
              int64_t ldc, int threads);
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc, int threads) {
  if constexpr (std::is_same_v<T, float>)
    gemm_f32(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads);
  else
    gemm_f64(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads);
}

// Runs `kernel` with Float16/BFloat16 inputs widened to float and casts its floating outputs
// back to the 16-bit type of input 0: kernels only implement float and double.
void run_widened(KernelContext& ctx, KernelFn kernel);
// True when input 0 is a 16-bit float type (then the kernel should call run_widened).
bool needs_widening(const KernelContext& ctx);

// Elements of a tensor of any numeric dtype as double: integer ops (ConvInteger, QLinearConv,
// MatMulInteger, QLinearMatMul) accumulate in double, exact for 8-bit products.
std::vector<double> to_double_vector(const Tensor& tensor);

// Per-channel or scalar parameter (scale, zero point) of length 1 or `count`, as doubles; an
// error naming the node otherwise. An absent tensor gives `fallback`.
std::vector<double> read_channel_param(const KernelContext& ctx, const Tensor* tensor,
                                       int64_t count, double fallback, const char* what);

}  // namespace qforge::kernels
