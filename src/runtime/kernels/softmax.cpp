// SPDX-License-Identifier: Apache-2.0
// Kernel family: activation, Softmax / LogSoftmax / Hardmax. Before opset 13 the input is
// coerced to 2-D at `axis` (default 1) and normalized over the flattened inner part; from
// opset 13 only the single `axis` (default -1) is. Registered through register_softmax_kernels
// (called by register_activation_kernels); tested in tests/runtime/test_activation.cpp.

// GCC does not if-convert floating-point arithmetic that may trap, so `x < 0 ? a * x : x`
// stays a branch and the loop does not vectorize; these kernels never read FP exception
// flags (clang's default is the same). Before the includes so that templates get it too.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <cmath>
#include <limits>

#include "fast_math.h"
#include "kernel_families.h"
#include "kernel_util.h"

namespace qforge::kernels {

namespace {

enum class Mode { Softmax, LogSoftmax, Hardmax };

// Sum and maximum with 8 independent lanes: a single accumulator would serialize the loop.
template <typename C>
C lane_sum(const C* v, int64_t n) {
  C lanes[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) lanes[l] += v[i + l];
  for (; i < n; ++i) lanes[0] += v[i];
  return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
         ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}
template <typename C>
C lane_max(const C* v, int64_t n) {
  C lanes[8];
  for (C& l : lanes) l = -std::numeric_limits<C>::infinity();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) lanes[l] = std::max(lanes[l], v[i + l]);
  for (; i < n; ++i) lanes[0] = std::max(lanes[0], v[i]);
  for (int l = 1; l < 8; ++l) lanes[0] = std::max(lanes[0], lanes[l]);
  return lanes[0];
}

// One contiguous row of n values. The max ignores NaN, but a NaN input still makes its row NaN
// through exp(NaN - max) in the sum (Softmax, LogSoftmax).
template <typename C>
void normalize_row(const C* x, C* y, int64_t n, Mode mode) {
  if (mode == Mode::Hardmax) {
    int64_t best = 0;  // first maximum; a NaN counts as the maximum like numpy's argmax
    for (int64_t i = 1; i < n; ++i)
      if (x[best] == x[best] && (x[i] > x[best] || x[i] != x[i])) best = i;
    for (int64_t i = 0; i < n; ++i) y[i] = C{0};
    if (n > 0) y[best] = C{1};
    return;
  }
  const C max = lane_max(x, n);
  for (int64_t i = 0; i < n; ++i) y[i] = exp_fast(x[i] - max);
  const C sum = lane_sum(y, n);
  if (mode == Mode::Softmax) {
    const C scale = C{1} / sum;
    for (int64_t i = 0; i < n; ++i) y[i] *= scale;
  } else {
    // (x - max) - log(sum): subtracting max + log(sum) at once loses digits for large x.
    const C log_sum = std::log(sum);
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - max) - log_sum;
  }
}

// Columns [0, width) of an (n, stride) block normalized along n: the loops run along the
// contiguous inner dimension so they vectorize. `work` holds 2 * width values.
template <typename C>
void normalize_columns(const C* x, C* y, int64_t n, int64_t stride, int64_t width, Mode mode,
                       C* work) {
  C* max = work;
  C* sum = work + width;
  for (int64_t j = 0; j < width; ++j) {
    max[j] = n > 0 ? x[j] : C{0};
    sum[j] = 0;
  }
  if (mode == Mode::Hardmax) {  // `sum` holds the index of the first maximum
    for (int64_t r = 1; r < n; ++r)
      for (int64_t j = 0; j < width; ++j) {
        const C v = x[r * stride + j];
        if (max[j] == max[j] && (v > max[j] || v != v)) {
          max[j] = v;
          sum[j] = static_cast<C>(r);
        }
      }
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < width; ++j) y[r * stride + j] = sum[j] == r ? C{1} : C{0};
    return;
  }
  for (int64_t r = 1; r < n; ++r)
    for (int64_t j = 0; j < width; ++j) max[j] = std::max(max[j], x[r * stride + j]);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < width; ++j) {
      const C e = exp_fast(x[r * stride + j] - max[j]);
      sum[j] += e;
      y[r * stride + j] = e;  // unconditional so the loop vectorizes; LogSoftmax overwrites it
    }
  for (int64_t j = 0; j < width; ++j)
    sum[j] = mode == Mode::Softmax ? C{1} / sum[j] : std::log(sum[j]);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < width; ++j) {
      C& out = y[r * stride + j];
      out = mode == Mode::Softmax ? out * sum[j] : (x[r * stride + j] - max[j]) - sum[j];
    }
}

// x viewed as (outer, n, inner), normalized along n.
template <typename C>
void normalize(const C* x, C* y, int64_t outer, int64_t n, int64_t inner, Mode mode, int threads) {
  if (inner == 1) {
    const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(n, 1) / 8);
    parallel_for(threads, outer, grain, [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) normalize_row(x + o * n, y + o * n, n, mode);
    });
    return;
  }
  constexpr int64_t kBlock = 256;
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  parallel_for(threads, outer * blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<C> work(2 * kBlock);
    for (int64_t t = begin; t < end; ++t) {
      const int64_t o = t / blocks, j0 = (t % blocks) * kBlock;
      const int64_t offset = o * n * inner + j0;
      normalize_columns(x + offset, y + offset, n, inner, std::min(kBlock, inner - j0), mode,
                        work.data());
    }
  });
}

template <Mode mode>
void softmax_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const bool coerce_2d = ctx.op().opset < 13;
  const int rank = x.rank();
  const int axis =
      normalize_axis(ctx.attr_int("axis", coerce_2d ? 1 : -1), std::max(rank, 1), ctx.op());
  const Shape& shape = x.shape();
  const int64_t outer = rank == 0 ? 1 : dims_product(shape, 0, axis);
  const int64_t n = rank == 0 ? 1 : (coerce_2d ? dims_product(shape, axis, rank) : shape[axis]);
  const int64_t inner = rank == 0 || coerce_2d ? 1 : dims_product(shape, axis + 1, rank);
  visit_float_dtype(x.dtype(), ctx.op(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      Tensor& out =
          ctx.allocate_output(0, x.dtype(), shape, KernelContext::OutputInit::Uninitialized);
      normalize(x.data<T>(), out.data<T>(), outer, n, inner, mode, ctx.num_threads());
    } else {  // 16-bit floats: compute in float
      const Tensor xf = x.cast(DataType::Float);
      Tensor yf(DataType::Float, shape);
      normalize(xf.data<float>(), yf.data<float>(), outer, n, inner, mode, ctx.num_threads());
      ctx.set_output(0, yf.cast(x.dtype()));
    }
  });
}

}  // namespace

void register_softmax_kernels(KernelRegistry& registry) {
  registry.add("", "Softmax", 1, kLatestOpset, softmax_kernel<Mode::Softmax>);
  registry.add("", "LogSoftmax", 1, kLatestOpset, softmax_kernel<Mode::LogSoftmax>);
  registry.add("", "Hardmax", 1, kLatestOpset, softmax_kernel<Mode::Hardmax>);
}

}  // namespace qforge::kernels
