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

// Whether phase_direct_conv takes a conv of this geometry with C input channels: 2-D, strided,
// dilation 1, C x stride_h x stride_w <= 16, and output rows as wide as the input's divided by
// the stride, rounded up (as "same" padding and resnet's / mobilenet's first convs give).
bool phase_conv_fits(const WindowGeometry& g, int64_t C);
// Floats of scratch phase_direct_conv needs: the phase planes and their weights.
int64_t phase_conv_scratch_floats(const WindowGeometry& g, int64_t C, int64_t M);

// A strided conv with few input channels (the RGB first layer of most CNNs): x's pixels are
// split by their position modulo the stride into C x sy x sx phase planes the output's width,
// on which the conv is a stride-1 conv with a ceil(k / s)-wide window: direct_conv runs it.
// y, x, w, bias, clamp as for direct_conv; `scratch` holds phase_conv_scratch_floats. Returns
// false (and writes nothing to y) without AVX-512, and when x holds NaN or Inf (the phase
// window multiplies some inputs by zeros the conv does not have, which would spread them).
bool phase_direct_conv(const float* x, const float* w, const float* bias, float* y, int64_t C,
                       int64_t M, const WindowGeometry& g, const OutputClamp& clamp, int threads,
                       float* scratch);

// y (M x N, rows ldy apart) = w (M x K) * x (K x N, rows ldx apart) + bias, clamped: the 1x1
// case with any row strides (blocks of an im2col matrix). False without AVX-512.
bool direct_gemm(const float* x, int64_t ldx, const float* w, const float* bias, float* y,
                 int64_t ldy, int64_t K, int64_t M, int64_t N, const OutputClamp& clamp,
                 int threads);

}  // namespace qforge::kernels
