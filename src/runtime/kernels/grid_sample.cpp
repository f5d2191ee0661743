// SPDX-License-Identifier: Apache-2.0
// Kernel family: resize, part 2: GridSample (opset 16 names bilinear/bicubic and opset 20
// names linear/cubic, 4-D input), with PyTorch's grid_sampler_2d semantics, which produced the
// ONNX test data. Registered from register_resize_kernels (resize.cpp); tested in
// tests/runtime/test_resize.cpp.
#include <algorithm>
#include <array>
#include <cmath>

#include "kernel_families.h"
#include "kernel_util.h"

namespace qforge::kernels {

void register_grid_sample_kernels(KernelRegistry& registry);

namespace {

enum class Sampling { Linear, Nearest, Cubic };
enum class Padding { Zeros, Border, Reflection };

struct GridParams {
  Sampling mode = Sampling::Linear;
  Padding padding = Padding::Zeros;
  bool align_corners = false;
};

// Grid value in [-1, 1] to a pixel coordinate.
double unnormalize(double g, int64_t size, bool align) {
  const double s = static_cast<double>(size);
  return align ? (g + 1.0) / 2.0 * (s - 1.0) : ((g + 1.0) * s - 1.0) / 2.0;
}

double reflect(double x, double twice_low, double twice_high) {
  if (twice_low == twice_high) return 0.0;
  const double low = twice_low / 2.0, span = (twice_high - twice_low) / 2.0;
  x = std::abs(x - low);
  const double extra = std::fmod(x, span);
  const int64_t flips = static_cast<int64_t>(std::floor(x / span));
  return flips % 2 == 0 ? extra + low : span - extra + low;
}

// Applies the padding mode to a coordinate (border clamps, reflection folds then clamps).
double pad_coordinate(double x, int64_t size, const GridParams& p) {
  const double high = static_cast<double>(size - 1);
  if (p.padding == Padding::Border) return std::clamp(x, 0.0, high);
  if (p.padding == Padding::Reflection) {
    const double s = static_cast<double>(size);
    x = p.align_corners ? reflect(x, 0.0, 2.0 * high) : reflect(x, -1.0, 2.0 * s - 1.0);
    return std::clamp(x, 0.0, high);
  }
  return x;
}

double cubic(double x) {
  constexpr double a = -0.75;
  x = std::abs(x);
  if (x <= 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
  return 0.0;
}

// Taps along one axis: positions (negative: outside, reads 0) and weights.
struct Taps1d {
  std::array<int64_t, 4> index{};
  std::array<double, 4> weight{};
  int count = 0;
};

Taps1d axis_taps(double g, int64_t size, const GridParams& p) {
  Taps1d t;
  const double x = unnormalize(g, size, p.align_corners);
  auto inside = [&](int64_t i) { return i >= 0 && i < size ? i : -1; };
  if (p.mode == Sampling::Cubic) {
    const double base = std::floor(x), r = x - base;
    t.count = 4;
    for (int k = 0; k < 4; ++k) {
      const double tap = pad_coordinate(base - 1.0 + k, size, p);
      t.index[k] = inside(static_cast<int64_t>(tap));
      t.weight[k] = cubic(r + 1.0 - k);
    }
    return t;
  }
  const double c = pad_coordinate(x, size, p);
  if (p.mode == Sampling::Nearest) {
    t.count = 1;
    t.index[0] = inside(static_cast<int64_t>(std::nearbyint(c)));
    t.weight[0] = 1.0;
    return t;
  }
  const double base = std::floor(c);
  t.count = 2;
  t.index = {inside(static_cast<int64_t>(base)), inside(static_cast<int64_t>(base) + 1), 0, 0};
  t.weight = {1.0 - (c - base), c - base, 0.0, 0.0};
  return t;
}

GridParams read_params(KernelContext& ctx) {
  GridParams p;
  const std::string mode = ctx.attr_string("mode", "bilinear");
  const std::string padding = ctx.attr_string("padding_mode", "zeros");
  if (mode == "bilinear" || mode == "linear")
    p.mode = Sampling::Linear;
  else if (mode == "nearest")
    p.mode = Sampling::Nearest;
  else if (mode == "bicubic" || mode == "cubic")
    p.mode = Sampling::Cubic;
  else
    fail(ErrorKind::InvalidModel, "{}: unknown mode '{}'", ctx.op().describe(), mode);
  if (padding == "zeros")
    p.padding = Padding::Zeros;
  else if (padding == "border")
    p.padding = Padding::Border;
  else if (padding == "reflection")
    p.padding = Padding::Reflection;
  else
    fail(ErrorKind::InvalidModel, "{}: unknown padding_mode '{}'", ctx.op().describe(), padding);
  p.align_corners = ctx.attr_int("align_corners", 0) != 0;
  return p;
}

void grid_sample(KernelContext& ctx) {
  const Tensor &x = ctx.input(0), &grid = ctx.input(1);
  if (x.rank() != 4 || grid.rank() != 4 || grid.dim(3) != 2 || grid.dim(0) != x.dim(0))
    fail(ErrorKind::Shape, "{}: needs X [N, C, H, W] and grid [N, H_out, W_out, 2], got {} and {}",
         ctx.op().describe(), shape_to_string(x.shape()), shape_to_string(grid.shape()));
  const GridParams p = read_params(ctx);
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  const int64_t ho = grid.dim(1), wo = grid.dim(2);
  const std::vector<float> g = grid.to_float_vector();
  Tensor& out = ctx.allocate_output(0, x.dtype(), {n, c, ho, wo});
  visit_float_dtype(x.dtype(), ctx.op(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    T* y = out.data<T>();
    parallel_for(ctx.num_threads(), n * ho * wo, 256, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t b = r / (ho * wo), pixel = r % (ho * wo);
        const Taps1d tx = axis_taps(g[static_cast<size_t>(2 * r)], w, p);
        const Taps1d ty = axis_taps(g[static_cast<size_t>(2 * r + 1)], h, p);
        for (int64_t ch = 0; ch < c; ++ch) {
          const T* plane = in + (b * c + ch) * h * w;
          double sum = 0.0;
          for (int i = 0; i < ty.count; ++i) {
            if (ty.index[i] < 0) continue;
            for (int j = 0; j < tx.count; ++j)
              if (tx.index[j] >= 0)
                sum += ty.weight[i] * tx.weight[j] *
                       static_cast<double>(
                           static_cast<compute_t<T>>(plane[ty.index[i] * w + tx.index[j]]));
          }
          y[(b * c + ch) * ho * wo + pixel] = T(static_cast<compute_t<T>>(sum));
        }
      }
    });
  });
}

}  // namespace

void register_grid_sample_kernels(KernelRegistry& registry) {
  registry.add("", "GridSample", 16, kLatestOpset, grid_sample);
}

}  // namespace qforge::kernels
