// SPDX-License-Identifier: Apache-2.0
// Kernel family: normalization (this file: LRN, LpNormalization, MeanVarianceNormalization).
// Registered through register_normalization_kernels (normalization.cpp); tested in
// tests/runtime/test_normalization.cpp.
#include <cmath>

#include "kernel_families.h"
#include "kernel_util.h"
#include "nn_util.h"

namespace qforge::kernels {

namespace {

// ---- LRN: x / (bias + alpha / size * sum of squares over neighbouring channels) ^ beta ----

template <typename T>
void lrn(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() < 3) fail(ErrorKind::Shape, "{}: input needs rank >= 3", ctx.op().describe());
  const int64_t size = ctx.attr_int("size", 0);
  if (size < 1) fail(ErrorKind::InvalidModel, "{}: size must be positive", ctx.op().describe());
  const double alpha = ctx.attr_float("alpha", 1e-4f), beta = ctx.attr_float("beta", 0.75f);
  const double bias = ctx.attr_float("bias", 1.0f);
  const int64_t n = x.dim(0), c = x.dim(1), plane = dims_product(x.shape(), 2, x.rank());
  // The window is floor((size-1)/2) channels before and ceil((size-1)/2) after.
  const int64_t before = (size - 1) / 2, after = size - 1 - before;
  Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
  const T* xv = x.data<T>();
  T* yv = y.data<T>();
  parallel_for(ctx.num_threads(), n * c, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> sq(static_cast<size_t>(plane));
    for (int64_t r = begin; r < end; ++r) {
      const int64_t b = r / c, ch = r % c;
      std::fill(sq.begin(), sq.end(), 0.0);
      for (int64_t k = std::max<int64_t>(0, ch - before); k <= std::min(c - 1, ch + after); ++k) {
        const T* p = xv + (b * c + k) * plane;
        for (int64_t i = 0; i < plane; ++i)
          sq[i] += static_cast<double>(p[i]) * static_cast<double>(p[i]);
      }
      const T* p = xv + r * plane;
      for (int64_t i = 0; i < plane; ++i)
        yv[r * plane + i] =
            static_cast<T>(static_cast<double>(p[i]) /
                           std::pow(bias + alpha / static_cast<double>(size) * sq[i], beta));
    }
  });
}

void lrn_op(KernelContext& ctx) {
  if (needs_widening(ctx)) return run_widened(ctx, lrn_op);
  visit_float_dtype(ctx.input(0).dtype(), ctx.op(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) lrn<T>(ctx);
  });
}

// ---- LpNormalization: x / ||x||_p along one axis ----

template <typename T>
void lp_norm(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t p = ctx.attr_int("p", 2);
  if (p != 1 && p != 2)
    fail(ErrorKind::InvalidModel, "{}: p must be 1 or 2, got {}", ctx.op().describe(), p);
  const int axis = normalize_axis(ctx.attr_int("axis", -1), std::max(x.rank(), 1), ctx.op());
  const int64_t outer = dims_product(x.shape(), 0, axis), len = x.rank() == 0 ? 1 : x.dim(axis);
  const int64_t inner = dims_product(x.shape(), axis + 1, x.rank());
  Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
  const T* xv = x.data<T>();
  T* yv = y.data<T>();
  parallel_for(ctx.num_threads(), outer * inner, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t base = (r / inner) * len * inner + r % inner;
      double norm = 0;
      for (int64_t k = 0; k < len; ++k) {
        const double v = static_cast<double>(xv[base + k * inner]);
        norm += p == 1 ? std::abs(v) : v * v;
      }
      if (p == 2) norm = std::sqrt(norm);
      // A zero vector stays zero rather than becoming NaN.
      for (int64_t k = 0; k < len; ++k)
        yv[base + k * inner] =
            norm == 0 ? T(0) : static_cast<T>(static_cast<double>(xv[base + k * inner]) / norm);
    }
  });
}

void lp_norm_op(KernelContext& ctx) {
  if (needs_widening(ctx)) return run_widened(ctx, lp_norm_op);
  visit_float_dtype(ctx.input(0).dtype(), ctx.op(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) lp_norm<T>(ctx);
  });
}

// ---- MeanVarianceNormalization: (x - mean) / (std + 1e-9) over `axes` ----

template <typename T>
void mvn(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const std::vector<int> axes =
      normalize_axes(ctx.attr_ints("axes", {0, 2, 3}), x.rank(), ctx.op());
  // Each element belongs to the group given by its coordinates on the kept axes.
  Shape kept = x.shape();
  for (int a : axes) kept[a] = 1;
  const std::vector<int64_t> gstride = broadcast_strides(kept, x.shape());
  const int64_t total = x.numel(), groups = shape_numel(kept);
  const int64_t count = groups > 0 ? total / groups : 0;
  std::vector<int64_t> group_of(static_cast<size_t>(total));
  std::vector<int64_t> coord(x.shape().size(), 0);
  for (int64_t i = 0; i < total; ++i) {
    int64_t g = 0;
    for (size_t d = 0; d < coord.size(); ++d) g += coord[d] * gstride[d];
    group_of[i] = g;
    for (size_t d = coord.size(); d-- > 0;) {
      if (++coord[d] < x.shape()[d]) break;
      coord[d] = 0;
    }
  }
  const T* xv = x.data<T>();
  std::vector<double> mean(groups, 0.0), var(groups, 0.0);
  for (int64_t i = 0; i < total; ++i) mean[group_of[i]] += static_cast<double>(xv[i]);
  for (double& m : mean) m /= static_cast<double>(std::max<int64_t>(count, 1));
  for (int64_t i = 0; i < total; ++i) {
    const double d = static_cast<double>(xv[i]) - mean[group_of[i]];
    var[group_of[i]] += d * d;
  }
  std::vector<double> inv(groups);
  for (int64_t g = 0; g < groups; ++g)
    inv[g] = 1.0 / (std::sqrt(var[g] / static_cast<double>(std::max<int64_t>(count, 1))) + 1e-9);
  Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
  T* yv = y.data<T>();
  for (int64_t i = 0; i < total; ++i)
    yv[i] = static_cast<T>((static_cast<double>(xv[i]) - mean[group_of[i]]) * inv[group_of[i]]);
}

void mvn_op(KernelContext& ctx) {
  if (needs_widening(ctx)) return run_widened(ctx, mvn_op);
  visit_float_dtype(ctx.input(0).dtype(), ctx.op(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) mvn<T>(ctx);
  });
}

}  // namespace

void register_normalization_misc_kernels(KernelRegistry& registry) {
  registry.add("", "LRN", 1, kLatestOpset, lrn_op);
  registry.add("", "LpNormalization", 1, kLatestOpset, lp_norm_op);
  registry.add("", "MeanVarianceNormalization", 9, kLatestOpset, mvn_op);
}

}  // namespace qforge::kernels
