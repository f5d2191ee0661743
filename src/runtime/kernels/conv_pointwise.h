// SPDX-License-Identifier: Apache-2.0
// The 1x1 path of the conv family (conv_pointwise.cpp), used by conv.cpp for float 1x1 convs
// with stride 1 when built with AVX-512. Tested in tests/runtime/test_conv.cpp.
#pragma once

#include <cstdint>

#include "conv_depthwise.h"

namespace qforge::kernels {

// y (M x N) = w (M x K) * x (K x N) + bias, clamped; rows of x and y are N apart. Returns false
// (and writes nothing) when this build has no AVX-512: the caller then runs a GEMM.
bool pointwise_conv(const float* x, const float* w, const float* bias, float* y, int64_t K,
                    int64_t M, int64_t N, const OutputClamp& clamp, int threads);

}  // namespace qforge::kernels
