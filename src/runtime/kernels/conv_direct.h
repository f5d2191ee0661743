// SPDX-License-Identifier: Apache-2.0
// The direct path of the conv family (conv_direct.cpp): float convs with stride 1 whose output
// rows are as wide as the input's (1x1 convs, "same"-padded 3x3 ...), straight from NCHW to
// NCHW, when built with AVX-512. Used by conv.cpp; tested in tests/runtime/test_conv.cpp.
#pragma once

#include <cstdint>

#include "conv_depthwise.h"
#include "nn_util.h"

namespace qforge::kernels {

// Whether direct_conv takes a conv of this geometry: 1x1 with stride 1 and no pads (any rank),
// or 2-D with stride 1 and output width == input width.
bool direct_conv_fits(const WindowGeometry& g);

// y (M x out plane) = conv(x (C x in plane), w (M x C x taps)) + bias, clamped, for one sample
// and group. Returns false (and writes nothing) without AVX-512: the caller then runs a GEMM.
bool direct_conv(const float* x, const float* w, const float* bias, float* y, int64_t C, int64_t M,
                 const WindowGeometry& g, const OutputClamp& clamp, int threads);

// y (M x N, rows ldy apart) = w (M x K) * x (K x N, rows ldx apart) + bias, clamped: the 1x1
// case with any row strides (blocks of an im2col matrix). False without AVX-512.
bool direct_gemm(const float* x, int64_t ldx, const float* w, const float* bias, float* y,
                 int64_t ldy, int64_t K, int64_t M, int64_t N, const OutputClamp& clamp,
                 int threads);

}  // namespace qforge::kernels
