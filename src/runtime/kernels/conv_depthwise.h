// SPDX-License-Identifier: Apache-2.0
// The 3x3 depthwise path of the conv family (conv_depthwise.cpp), used by conv.cpp for float
// depthwise convs with stride 1 or 2, and the output clamp of a fused Relu/Clip shared by the
// family's paths. Tested in tests/runtime/test_conv.cpp.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "nn_util.h"

namespace qforge::kernels {

// The clamp of a Relu/Clip fused into a conv: v -> std::min(std::max(v, lo), hi), which keeps
// NaN (as the Relu and Clip kernels do). `on` false: no clamp.
struct OutputClamp {
  bool on = false;
  float lo = -std::numeric_limits<float>::infinity();
  float hi = std::numeric_limits<float>::infinity();
};

// Clamps y[m * stride + c] for m < rows, c in [c0, c1), after adding bias[m] when given.
template <typename T>
void finish_rows(T* y, int64_t rows, int64_t stride, int64_t c0, int64_t c1, const T* bias,
                 const OutputClamp& clamp) {
  for (int64_t m = 0; m < rows; ++m) {
    T* row = y + m * stride;
    const T b = bias ? bias[m] : T(0);
    if (bias)
      for (int64_t c = c0; c < c1; ++c) row[c] += b;
    if (!clamp.on) continue;
    const T lo = static_cast<T>(clamp.lo), hi = static_cast<T>(clamp.hi);
    for (int64_t c = c0; c < c1; ++c) row[c] = std::min(std::max(row[c], lo), hi);
  }
}

// 3x3 window, dilation 1, equal strides of 1 or 2 over one 2-D plane.
bool is_dw3x3(const WindowGeometry& g);

// Per-thread scratch for dw3x3_plane: a zero row, and for planes with rows narrower than a
// vector the taps' offsets and lane masks, made once for all planes of the geometry.
class Dw3x3Scratch {
 public:
  explicit Dw3x3Scratch(const WindowGeometry& g);
  float* data() { return buffer_.data(); }
  bool flat() const { return !offsets_.empty(); }
  const int64_t* offsets() const { return offsets_.data(); }
  const uint16_t* masks() const { return masks_.data(); }  // per 16 outputs, per tap

 private:
  std::vector<float> buffer_;
  std::vector<int64_t> offsets_;
  std::vector<uint16_t> masks_;
};

// out (one output plane) = bias + 3x3 depthwise taps `w` over `plane`, clamped.
void dw3x3_plane(const float* plane, const float* w, float bias, const WindowGeometry& g,
                 const OutputClamp& clamp, Dw3x3Scratch& scratch, float* out);

}  // namespace qforge::kernels
