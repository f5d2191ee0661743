// SPDX-License-Identifier: Apache-2.0
// Random kernels of the misc family: RandomUniform(Like), RandomNormal(Like), Bernoulli,
// Multinomial. A `seed` attribute makes a node repeat its values on every run; without it each
// run draws fresh values. Registered from register_misc_kernels (misc.cpp); tested in
// tests/runtime/test_misc.cpp.
#include <cmath>
#include <cstring>
#include <random>

#include "kernel_families.h"
#include "kernel_util.h"

namespace qforge::kernels {

namespace {

std::mt19937_64 make_engine(const KernelContext& ctx) {
  if (!ctx.op().has_attr("seed")) return std::mt19937_64(std::random_device{}());
  const float seed = ctx.attr_float("seed", 0.0f);
  uint32_t bits = 0;
  std::memcpy(&bits, &seed, sizeof bits);
  return std::mt19937_64(bits);
}

// Writes values produced by `next()` (doubles) into a new output of dtype `dtype`.
template <typename Next>
void fill_output(KernelContext& ctx, DataType dtype, const Shape& shape, Next&& next) {
  Tensor& out = ctx.allocate_output(0, dtype, shape);
  visit_numeric_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = static_cast<T*>(out.raw());
    for (int64_t i = 0; i < out.numel(); ++i) p[i] = T(static_cast<compute_t<T>>(next(i)));
  });
}

DataType float_dtype_attr(const KernelContext& ctx, DataType fallback) {
  const DataType dtype =
      static_cast<DataType>(ctx.attr_int("dtype", static_cast<int64_t>(fallback)));
  if (!dtype_is_floating(dtype))
    fail(ErrorKind::InvalidModel, "{}: dtype {} is not a floating type", ctx.op().describe(),
         dtype_name(dtype));
  return dtype;
}

void random_values(KernelContext& ctx, bool normal, bool like) {
  const DataType dtype = float_dtype_attr(ctx, like ? ctx.input(0).dtype() : DataType::Float);
  const Shape shape = like ? ctx.input(0).shape() : ctx.attr_ints("shape");
  if (!like && !ctx.op().has_attr("shape"))
    fail(ErrorKind::InvalidModel, "{}: attribute 'shape' is required", ctx.op().describe());
  std::mt19937_64 engine = make_engine(ctx);
  if (normal) {
    std::normal_distribution<double> dist(ctx.attr_float("mean", 0.0f),
                                          ctx.attr_float("scale", 1.0f));
    fill_output(ctx, dtype, shape, [&](int64_t) { return dist(engine); });
  } else {
    std::uniform_real_distribution<double> dist(ctx.attr_float("low", 0.0f),
                                                ctx.attr_float("high", 1.0f));
    fill_output(ctx, dtype, shape, [&](int64_t) { return dist(engine); });
  }
}

void random_uniform(KernelContext& ctx) {
  random_values(ctx, false, false);
}
void random_normal(KernelContext& ctx) {
  random_values(ctx, true, false);
}
void random_uniform_like(KernelContext& ctx) {
  random_values(ctx, false, true);
}
void random_normal_like(KernelContext& ctx) {
  random_values(ctx, true, true);
}

// 1 with probability p (the input element), else 0.
void bernoulli(KernelContext& ctx) {
  const Tensor& p = ctx.input(0);
  const std::vector<float> probs = p.to_float_vector();
  const DataType dtype =
      static_cast<DataType>(ctx.attr_int("dtype", static_cast<int64_t>(p.dtype())));
  std::mt19937_64 engine = make_engine(ctx);
  std::uniform_real_distribution<double> dist(0.0, 1.0);
  fill_output(ctx, dtype, p.shape(),
              [&](int64_t i) { return dist(engine) < probs[i] ? 1.0 : 0.0; });
}

// Input: [batch, classes] unnormalized log-probabilities; output: [batch, sample_size] class ids.
void multinomial(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() != 2)
    fail(ErrorKind::Shape, "{}: input must be [batch, classes], got {}", ctx.op().describe(),
         shape_to_string(x.shape()));
  const int64_t samples = ctx.attr_int("sample_size", 1);
  const DataType dtype =
      static_cast<DataType>(ctx.attr_int("dtype", static_cast<int64_t>(DataType::Int32)));
  if (dtype != DataType::Int32 && dtype != DataType::Int64)
    fail(ErrorKind::InvalidModel, "{}: dtype must be int32 or int64", ctx.op().describe());
  const std::vector<float> logits = x.to_float_vector();
  const int64_t classes = x.dim(1);
  std::mt19937_64 engine = make_engine(ctx);
  std::vector<double> cumulative(static_cast<size_t>(classes));
  std::vector<int64_t> drawn;
  for (int64_t b = 0; b < x.dim(0); ++b) {
    const float* row = logits.data() + b * classes;
    double peak = -INFINITY;
    for (int64_t c = 0; c < classes; ++c) peak = std::max<double>(peak, row[c]);
    double total = 0;
    for (int64_t c = 0; c < classes; ++c) cumulative[c] = total += std::exp(row[c] - peak);
    std::uniform_real_distribution<double> dist(0.0, total);
    for (int64_t s = 0; s < samples; ++s) {
      const double u = dist(engine);
      const auto it = std::upper_bound(cumulative.begin(), cumulative.end(), u);
      drawn.push_back(std::min<int64_t>(it - cumulative.begin(), classes - 1));
    }
  }
  fill_output(ctx, dtype, {x.dim(0), samples},
              [&](int64_t i) { return static_cast<double>(drawn[i]); });
}

}  // namespace

void register_random_kernels(KernelRegistry& registry) {
  registry.add("", "RandomUniform", 1, kLatestOpset, random_uniform);
  registry.add("", "RandomNormal", 1, kLatestOpset, random_normal);
  registry.add("", "RandomUniformLike", 1, kLatestOpset, random_uniform_like);
  registry.add("", "RandomNormalLike", 1, kLatestOpset, random_normal_like);
  registry.add("", "Bernoulli", 15, kLatestOpset, bernoulli);
  registry.add("", "Multinomial", 7, kLatestOpset, multinomial);
}

}  // namespace qforge::kernels
