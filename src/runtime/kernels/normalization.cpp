// SPDX-License-Identifier: Apache-2.0
// Kernel family: normalization. BatchNormalization (inference and training_mode),
// InstanceNormalization, GroupNormalization and LayerNormalization share one "normalize rows,
// then scale and shift" core; LRN, LpNormalization and MeanVarianceNormalization are in
// normalization_misc.cpp. Statistics accumulate in double. Registered in
// register_normalization_kernels (listed in src/runtime/kernel_registry.cpp); tested in
// tests/runtime/test_normalization.cpp.
#include <cmath>

#include "kernel_families.h"
#include "kernel_util.h"
#include "nn_util.h"

namespace qforge::kernels {

void register_normalization_misc_kernels(KernelRegistry& registry);  // normalization_misc.cpp

namespace {

// Mean and biased variance of n values at x[i * stride].
template <typename T>
void moments(const T* x, int64_t n, double* mean, double* var) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]);
  const double m = n > 0 ? sum / static_cast<double>(n) : 0.0;
  double sq = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - m;
    sq += d * d;
  }
  *mean = m;
  *var = n > 0 ? sq / static_cast<double>(n) : 0.0;
}

// y = x * a + b over `count` values.
template <typename T>
void affine(const T* x, T a, T b, int64_t count, T* y) {
  for (int64_t i = 0; i < count; ++i) y[i] = x[i] * a + b;
}

std::vector<double> param(const KernelContext& ctx, size_t index, int64_t count, const char* what) {
  const Tensor& t = ctx.input(index);
  if (t.numel() != count)
    fail(ErrorKind::Shape, "{}: {} needs {} values, got shape {}", ctx.op().describe(), what, count,
         shape_to_string(t.shape()));
  return to_double_vector(t);
}

// ---- BatchNormalization ----

// Per-channel statistics over N and the spatial dims (training mode).
template <typename T>
void batch_moments(const T* x, int64_t n, int64_t c, int64_t plane, std::vector<double>& mean,
                   std::vector<double>& var, int threads) {
  mean.assign(c, 0.0);
  var.assign(c, 0.0);
  parallel_for(threads, c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t ch = begin; ch < end; ++ch) {
      double sum = 0, sq = 0;
      for (int64_t b = 0; b < n; ++b) {
        const T* p = x + (b * c + ch) * plane;
        for (int64_t i = 0; i < plane; ++i) sum += static_cast<double>(p[i]);
      }
      const double count = static_cast<double>(std::max<int64_t>(n * plane, 1));
      const double m = sum / count;
      for (int64_t b = 0; b < n; ++b) {
        const T* p = x + (b * c + ch) * plane;
        for (int64_t i = 0; i < plane; ++i)
          sq += (static_cast<double>(p[i]) - m) * (static_cast<double>(p[i]) - m);
      }
      mean[ch] = m;
      var[ch] = sq / count;
    }
  });
}

void write_vector(KernelContext& ctx, size_t index, DataType dtype, const Shape& shape,
                  const std::vector<double>& v) {
  if (!ctx.output_wanted(index)) return;
  Tensor out = Tensor::from_vector<double>(shape, v);
  ctx.set_output(index, dtype == DataType::Double ? out : out.cast(dtype));
}

template <typename T>
void batch_norm(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2) fail(ErrorKind::Shape, "{}: input needs rank >= 2", ctx.op().describe());
  const int64_t n = x.dim(0), c = x.dim(1), plane = dims_product(x.shape(), 2, x.rank());
  // spatial=0 (opset < 9): one parameter per element of a sample instead of per channel.
  const bool per_element =
      ctx.op().opset < 9 && ctx.attr_int("spatial", 1) == 0 && ctx.input(1).numel() != c;
  const int64_t groups = per_element ? c * plane : c, inner = per_element ? 1 : plane;
  const std::vector<double> scale = param(ctx, 1, groups, "scale"),
                            bias = param(ctx, 2, groups, "B");
  std::vector<double> mean = param(ctx, 3, groups, "input_mean"),
                      var = param(ctx, 4, groups, "input_var");
  const double eps = ctx.attr_float("epsilon", 1e-5f);
  const bool training = ctx.op().opset >= 14
                            ? ctx.attr_int("training_mode", 0) != 0
                            : (ctx.output_wanted(1) || ctx.output_wanted(2)) && !per_element;
  if (training) {
    std::vector<double> batch_mean, batch_var;
    batch_moments(x.data<T>(), n, c, plane, batch_mean, batch_var, ctx.num_threads());
    const double momentum = ctx.attr_float("momentum", 0.9f);
    std::vector<double> run_mean(c), run_var(c);
    for (int64_t i = 0; i < c; ++i) {
      run_mean[i] = mean[i] * momentum + batch_mean[i] * (1 - momentum);
      run_var[i] = var[i] * momentum + batch_var[i] * (1 - momentum);
    }
    const Shape pshape = ctx.input(3).shape();
    write_vector(ctx, 1, ctx.input(3).dtype(), pshape, run_mean);
    write_vector(ctx, 2, ctx.input(4).dtype(), pshape, run_var);
    write_vector(ctx, 3, ctx.input(3).dtype(), pshape, batch_mean);  // opset < 14 saved_mean
    write_vector(ctx, 4, ctx.input(4).dtype(), pshape, batch_var);   // opset < 14 saved_var
    mean = batch_mean;
    var = batch_var;
  }
  std::vector<T> a(groups), b(groups);
  for (int64_t i = 0; i < groups; ++i) {
    const double s = scale[i] / std::sqrt(var[i] + eps);
    a[i] = static_cast<T>(s);
    b[i] = static_cast<T>(bias[i] - mean[i] * s);
  }
  Tensor& y =
      ctx.allocate_output(0, x.dtype(), x.shape(), KernelContext::OutputInit::Uninitialized);
  const T* xv = x.data<T>();
  T* yv = y.data<T>();
  parallel_for(ctx.num_threads(), n * groups,
               std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)),
               [&](int64_t begin, int64_t end) {
                 for (int64_t r = begin; r < end; ++r)
                   affine(xv + r * inner, a[r % groups], b[r % groups], inner, yv + r * inner);
               });
}

void batch_norm_op(KernelContext& ctx) {
  if (needs_widening(ctx)) return run_widened(ctx, batch_norm_op);
  visit_float_dtype(ctx.input(0).dtype(), ctx.op(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) batch_norm<T>(ctx);
  });
}

// ---- Instance / Group / Layer normalization: normalize rows of `row` values ----

// Normalizes x as `rows` rows of `row_len` values each; element j of row r then gets
// scale[channel] and bias[channel] with channel = (r * row_len + j) / channel_len % channels.
// Mean and inverse std-dev per row go to `stats` when not null.
template <typename T>
void normalize_rows(const T* x, T* y, int64_t rows, int64_t row_len, double eps,
                    const std::vector<double>& scale, const std::vector<double>& bias,
                    int64_t channel_len, std::vector<double>* mean_out,
                    std::vector<double>* inv_std_out, int threads) {
  const int64_t channels = static_cast<int64_t>(scale.size());
  const std::vector<T> scale_t(scale.begin(), scale.end()), bias_t(bias.begin(), bias.end());
  parallel_for(threads, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(row_len, 1)),
               [&](int64_t begin, int64_t end) {
                 for (int64_t r = begin; r < end; ++r) {
                   const T* xr = x + r * row_len;
                   T* yr = y + r * row_len;
                   double mean = 0, var = 0;
                   moments(xr, row_len, &mean, &var);
                   const double inv_std = 1.0 / std::sqrt(var + eps);
                   if (mean_out) (*mean_out)[r] = mean;
                   if (inv_std_out) (*inv_std_out)[r] = inv_std;
                   if (channel_len == 1 && channels == row_len) {
                     // One scale per element (LayerNormalization).
                     const T m = static_cast<T>(mean), is = static_cast<T>(inv_std);
                     for (int64_t j = 0; j < row_len; ++j)
                       yr[j] = (xr[j] - m) * is * scale_t[j] + bias_t[j];
                     continue;
                   }
                   for (int64_t j = 0; j < row_len;) {
                     const int64_t flat = r * row_len + j;
                     const int64_t ch = (flat / channel_len) % channels;
                     const int64_t run = std::min(row_len - j, channel_len - flat % channel_len);
                     const double a = scale[ch] * inv_std;
                     affine(xr + j, static_cast<T>(a), static_cast<T>(bias[ch] - mean * a), run,
                            yr + j);
                     j += run;
                   }
                 }
               });
}

template <typename T>
void instance_norm(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() < 3) fail(ErrorKind::Shape, "{}: input needs rank >= 3", ctx.op().describe());
  const int64_t c = x.dim(1), plane = dims_product(x.shape(), 2, x.rank());
  const std::vector<double> scale = param(ctx, 1, c, "scale"), bias = param(ctx, 2, c, "B");
  Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
  normalize_rows(x.data<T>(), y.data<T>(), x.dim(0) * c, plane, ctx.attr_float("epsilon", 1e-5f),
                 scale, bias, plane, nullptr, nullptr, ctx.num_threads());
}

void instance_norm_op(KernelContext& ctx) {
  if (needs_widening(ctx)) return run_widened(ctx, instance_norm_op);
  visit_float_dtype(ctx.input(0).dtype(), ctx.op(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) instance_norm<T>(ctx);
  });
}

template <typename T>
void group_norm(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t groups = ctx.attr_int("num_groups", 0);
  if (x.rank() < 2 || groups < 1 || x.dim(1) % groups != 0)
    fail(ErrorKind::Shape, "{}: {} channels do not split into {} groups", ctx.op().describe(),
         x.rank() < 2 ? 0 : x.dim(1), groups);
  const int64_t c = x.dim(1), plane = dims_product(x.shape(), 2, x.rank());
  // Opset 18 had one scale per group; opset 21 one per channel.
  const bool per_group = ctx.input(1).numel() == groups && (ctx.op().opset < 21 || groups == c);
  const int64_t count = per_group ? groups : c;
  const std::vector<double> scale = param(ctx, 1, count, "scale"),
                            bias = param(ctx, 2, count, "bias");
  Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
  normalize_rows(x.data<T>(), y.data<T>(), x.dim(0) * groups, c / groups * plane,
                 ctx.attr_float("epsilon", 1e-5f), scale, bias,
                 per_group ? c / groups * plane : plane, nullptr, nullptr, ctx.num_threads());
}

void group_norm_op(KernelContext& ctx) {
  if (needs_widening(ctx)) return run_widened(ctx, group_norm_op);
  visit_float_dtype(ctx.input(0).dtype(), ctx.op(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) group_norm<T>(ctx);
  });
}

// LayerNormalization: rows are x.shape[axis:], Scale and B broadcast to that shape.
template <typename T>
void layer_norm(KernelContext& ctx, const Tensor& x, const Tensor& scale_t, const Tensor* bias_t,
                Tensor& y) {
  const int axis = normalize_axis(ctx.attr_int("axis", -1), x.rank(), ctx.op());
  const int64_t rows = dims_product(x.shape(), 0, axis),
                row_len = dims_product(x.shape(), axis, x.rank());
  const Shape norm_shape(x.shape().begin() + axis, x.shape().end());
  const auto expand = [&](const Tensor* t, double fallback, const char* what) {
    if (!t) return std::vector<double>(static_cast<size_t>(row_len), fallback);
    if (t->numel() == row_len) return to_double_vector(*t);
    const Shape b = broadcast_shapes({t->shape(), norm_shape}, ctx.op());
    if (b != norm_shape)
      fail(ErrorKind::Shape, "{}: {} {} does not broadcast to {}", ctx.op().describe(), what,
           shape_to_string(t->shape()), shape_to_string(norm_shape));
    const std::vector<double> v = to_double_vector(*t);
    const std::vector<int64_t> st = broadcast_strides(t->shape(), norm_shape);
    std::vector<double> out(static_cast<size_t>(row_len));
    for (int64_t i = 0; i < row_len; ++i) {
      int64_t rest = i, off = 0;
      for (size_t d = norm_shape.size(); d-- > 0;) {
        off += (rest % norm_shape[d]) * st[d];
        rest /= norm_shape[d];
      }
      out[i] = v[off];
    }
    return out;
  };
  const std::vector<double> scale = expand(&scale_t, 1.0, "Scale"), bias = expand(bias_t, 0.0, "B");
  std::vector<double> mean(rows), inv_std(rows);
  normalize_rows(x.data<T>(), y.data<T>(), rows, row_len, ctx.attr_float("epsilon", 1e-5f), scale,
                 bias, 1, &mean, &inv_std, ctx.num_threads());
  Shape stat_shape(x.shape().begin(), x.shape().begin() + axis);
  stat_shape.resize(x.shape().size(), 1);
  const int64_t stash = ctx.attr_int("stash_type", 1);
  const DataType stat_type = stash == 1 ? DataType::Float : static_cast<DataType>(stash);
  write_vector(ctx, 1, stat_type, stat_shape, mean);
  write_vector(ctx, 2, stat_type, stat_shape, inv_std);
}

void layer_norm_op(KernelContext& ctx) {
  const Tensor& x0 = ctx.input(0);
  // 16-bit inputs are normalized in float; Mean and InvStdDev keep the stash type.
  const bool narrow = x0.dtype() == DataType::Float16 || x0.dtype() == DataType::BFloat16;
  const Tensor x = narrow ? x0.cast(DataType::Float) : x0;
  const Tensor scale = ctx.input(1).dtype() == x0.dtype() && narrow
                           ? ctx.input(1).cast(DataType::Float)
                           : ctx.input(1);
  const Tensor* b0 = ctx.optional_input(2);
  const Tensor bias = b0 ? (narrow ? b0->cast(DataType::Float) : *b0) : Tensor();
  visit_float_dtype(x.dtype(), ctx.op(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      Tensor y(x.dtype(), x.shape());
      layer_norm<T>(ctx, x, scale, b0 ? &bias : nullptr, y);
      ctx.set_output(0, narrow ? y.cast(x0.dtype()) : y);
    }
  });
}

}  // namespace

void register_normalization_kernels(KernelRegistry& registry) {
  registry.add("", "BatchNormalization", 1, kLatestOpset, batch_norm_op);
  registry.add("", "InstanceNormalization", 1, kLatestOpset, instance_norm_op);
  registry.add("", "GroupNormalization", 18, kLatestOpset, group_norm_op);
  registry.add("", "LayerNormalization", 17, kLatestOpset, layer_norm_op);
  register_normalization_misc_kernels(registry);
}

}  // namespace qforge::kernels
