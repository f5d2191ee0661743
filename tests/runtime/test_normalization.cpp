// SPDX-License-Identifier: Apache-2.0
// Normalization kernels (src/runtime/kernels/normalization.cpp, normalization_misc.cpp)
// against naive double loops written here: BatchNormalization (inference, training_mode
// running stats, opset 7 spatial=0), InstanceNormalization, LayerNormalization (every axis,
// broadcast Scale, Mean/InvStdDev outputs), GroupNormalization (opset 18 per-group and opset 21
// per-channel scale), LRN, LpNormalization and MeanVarianceNormalization.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "support/kernel_test_util.h"
#include "support/test_support.h"

namespace qforge {
namespace {

using testing::run_single_op;
using testing::SingleOp;

std::vector<Tensor> run(const std::string& type, std::vector<std::optional<Tensor>> inputs,
                        std::vector<Attribute> attrs, int64_t opset, size_t outputs = 1,
                        int threads = 1) {
  SingleOp spec;
  spec.type = type;
  spec.inputs = std::move(inputs);
  spec.attributes = std::move(attrs);
  spec.opset = opset;
  spec.num_outputs = outputs;
  spec.threads = threads;
  return run_single_op(spec);
}

void expect_close(const Tensor& actual, const Tensor& expected, double tol = 1e-4) {
  const std::string diff = testing::compare_tensors(actual, expected, tol, tol);
  EXPECT_TRUE(diff.empty()) << diff;
}

Tensor rand(const Shape& shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  return testing::random_tensor(DataType::Float, shape, seed, lo, hi);
}

// Mean and biased variance of the elements of x whose flat index i satisfies key(i) == group.
struct Stats {
  std::vector<double> mean, var;
};
Stats group_stats(const Tensor& x, int64_t groups, const std::function<int64_t(int64_t)>& key) {
  Stats s{std::vector<double>(groups, 0.0), std::vector<double>(groups, 0.0)};
  std::vector<double> count(groups, 0.0);
  for (int64_t i = 0; i < x.numel(); ++i)
    s.mean[key(i)] += x.value_as_double(i), count[key(i)] += 1;
  for (int64_t g = 0; g < groups; ++g) s.mean[g] /= count[g];
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double d = x.value_as_double(i) - s.mean[key(i)];
    s.var[key(i)] += d * d;
  }
  for (int64_t g = 0; g < groups; ++g) s.var[g] /= count[g];
  return s;
}

Tensor map(const Tensor& x, const std::function<double(int64_t, double)>& f) {
  Tensor y(DataType::Float, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i)
    y.data<float>()[i] = static_cast<float>(f(i, x.value_as_double(i)));
  return y;
}

TEST(NormalizationKernel, BatchNormInference) {
  const Tensor x = rand({3, 4, 5, 2}, 1, -3, 3), scale = rand({4}, 2), bias = rand({4}, 3),
               mean = rand({4}, 4);
  const Tensor var = rand({4}, 5, 0.1f, 2.0f);
  const auto expected = map(x, [&](int64_t i, double v) {
    const int64_t c = (i / 10) % 4;
    return (v - mean.value_as_double(c)) / std::sqrt(var.value_as_double(c) + 1e-3) *
               scale.value_as_double(c) +
           bias.value_as_double(c);
  });
  for (int64_t opset : {6, 9, 15})
    for (int threads : {1, 2})
      expect_close(run("BatchNormalization", {x, scale, bias, mean, var},
                       {Attribute::make_float("epsilon", 1e-3f)}, opset, 1, threads)[0],
                   expected);
  // 2-D input (N, C) and float16
  const Tensor x2 = rand({5, 4}, 6);
  const auto expected2 = map(x2, [&](int64_t i, double v) {
    const int64_t c = i % 4;
    return (v - mean.value_as_double(c)) / std::sqrt(var.value_as_double(c) + 1e-5) *
               scale.value_as_double(c) +
           bias.value_as_double(c);
  });
  expect_close(run("BatchNormalization", {x2, scale, bias, mean, var}, {}, 15)[0], expected2);
  const Tensor yh =
      run("BatchNormalization",
          {x2.cast(DataType::Float16), scale.cast(DataType::Float16), bias.cast(DataType::Float16),
           mean.cast(DataType::Float16), var.cast(DataType::Float16)},
          {}, 15)[0];
  EXPECT_EQ(yh.dtype(), DataType::Float16);
  expect_close(yh.cast(DataType::Float), expected2, 2e-2);
}

TEST(NormalizationKernel, BatchNormTrainingAndSpatialZero) {
  const Tensor x = rand({2, 3, 4, 5}, 7, -2, 2), scale = rand({3}, 8), bias = rand({3}, 9),
               mean = rand({3}, 10);
  const Tensor var = rand({3}, 11, 0.5f, 1.5f);
  const Stats s = group_stats(x, 3, [](int64_t i) { return (i / 20) % 3; });
  const auto outs = run(
      "BatchNormalization", {x, scale, bias, mean, var},
      {Attribute::make_int("training_mode", 1), Attribute::make_float("momentum", 0.8f)}, 15, 3);
  expect_close(outs[0], map(x, [&](int64_t i, double v) {
                 const int64_t c = (i / 20) % 3;
                 return (v - s.mean[c]) / std::sqrt(s.var[c] + 1e-5) * scale.value_as_double(c) +
                        bias.value_as_double(c);
               }));
  expect_close(outs[1], map(mean, [&](int64_t c, double v) { return v * 0.8 + s.mean[c] * 0.2; }));
  expect_close(outs[2], map(var, [&](int64_t c, double v) { return v * 0.8 + s.var[c] * 0.2; }));
  // opset 7, spatial = 0: one parameter per (C, H, W) element.
  const Tensor xs = rand({2, 2, 3}, 12), ps = rand({2, 3}, 13), vs = rand({2, 3}, 14, 0.5f, 1.0f);
  const Tensor y =
      run("BatchNormalization", {xs, ps, ps, ps, vs}, {Attribute::make_int("spatial", 0)}, 7)[0];
  expect_close(y, map(xs, [&](int64_t i, double v) {
                 const int64_t e = i % 6;
                 const double p = ps.value_as_double(e);
                 return (v - p) / std::sqrt(vs.value_as_double(e) + 1e-5) * p + p;
               }));
}

TEST(NormalizationKernel, InstanceNorm) {
  const Tensor x = rand({2, 3, 4, 5}, 20, -4, 4), scale = rand({3}, 21), bias = rand({3}, 22);
  const Stats s = group_stats(x, 6, [](int64_t i) { return i / 20; });
  const auto expected = map(x, [&](int64_t i, double v) {
    const int64_t r = i / 20, c = r % 3;
    return (v - s.mean[r]) / std::sqrt(s.var[r] + 0.01) * scale.value_as_double(c) +
           bias.value_as_double(c);
  });
  for (int threads : {1, 2})
    expect_close(run("InstanceNormalization", {x, scale, bias},
                     {Attribute::make_float("epsilon", 0.01f)}, 6, 1, threads)[0],
                 expected);
}

TEST(NormalizationKernel, LayerNormEveryAxis) {
  const Tensor x = rand({2, 3, 4}, 30, -2, 2);
  for (int64_t axis : {-3, -2, -1, 0, 1, 2}) {
    SCOPED_TRACE(fmt::format("axis {}", axis));
    const int64_t a = axis < 0 ? axis + 3 : axis;
    const Shape norm(x.shape().begin() + a, x.shape().end());
    const int64_t row = shape_numel(norm), rows = x.numel() / row;
    const Tensor scale = rand(norm, 31), bias = rand(norm, 32);
    const Stats s = group_stats(x, rows, [row](int64_t i) { return i / row; });
    const auto outs =
        run("LayerNormalization", {x, scale, bias}, {Attribute::make_int("axis", axis)}, 17, 3);
    expect_close(outs[0], map(x, [&](int64_t i, double v) {
                   return (v - s.mean[i / row]) / std::sqrt(s.var[i / row] + 1e-5) *
                              scale.value_as_double(i % row) +
                          bias.value_as_double(i % row);
                 }));
    Shape stat_shape(x.shape().begin(), x.shape().begin() + a);
    stat_shape.resize(3, 1);
    ASSERT_EQ(outs[1].shape(), stat_shape);
    for (int64_t r = 0; r < rows; ++r) {
      EXPECT_NEAR(outs[1].value_as_double(r), s.mean[r], 1e-5);
      EXPECT_NEAR(outs[2].value_as_double(r), 1.0 / std::sqrt(s.var[r] + 1e-5), 1e-4);
    }
  }
  // Scale broadcast from [1, 4] over the normalized [3, 4], no bias.
  const Tensor scale = rand({1, 4}, 33);
  const Stats s = group_stats(x, 2, [](int64_t i) { return i / 12; });
  expect_close(
      run("LayerNormalization", {x, scale, std::nullopt}, {Attribute::make_int("axis", 1)}, 17)[0],
      map(x, [&](int64_t i, double v) {
        return (v - s.mean[i / 12]) / std::sqrt(s.var[i / 12] + 1e-5) *
               scale.value_as_double(i % 4);
      }));
}

TEST(NormalizationKernel, GroupNorm) {
  const Tensor x = rand({2, 6, 3, 2}, 40, -3, 3);
  const Stats s = group_stats(x, 4, [](int64_t i) { return i / 18; });  // 3 channels * 6 per group
  const Tensor gscale = rand({2}, 41), gbias = rand({2}, 42);
  expect_close(
      run("GroupNormalization", {x, gscale, gbias}, {Attribute::make_int("num_groups", 2)}, 18)[0],
      map(x, [&](int64_t i, double v) {
        const int64_t r = i / 18;
        return (v - s.mean[r]) / std::sqrt(s.var[r] + 1e-5) * gscale.value_as_double(r % 2) +
               gbias.value_as_double(r % 2);
      }));
  const Tensor cscale = rand({6}, 43), cbias = rand({6}, 44);
  expect_close(
      run("GroupNormalization", {x, cscale, cbias}, {Attribute::make_int("num_groups", 2)}, 21)[0],
      map(x, [&](int64_t i, double v) {
        const int64_t r = i / 18, c = (i / 6) % 6;
        return (v - s.mean[r]) / std::sqrt(s.var[r] + 1e-5) * cscale.value_as_double(c) +
               cbias.value_as_double(c);
      }));
  EXPECT_THROW(
      run("GroupNormalization", {x, gscale, gbias}, {Attribute::make_int("num_groups", 4)}, 18),
      Error);
}

TEST(NormalizationKernel, LrnLpNormAndMvn) {
  const Tensor x = rand({2, 5, 3, 2}, 50, -2, 2);
  // LRN size 4: channels c-1 .. c+2.
  expect_close(run("LRN", {x},
                   {Attribute::make_int("size", 4), Attribute::make_float("alpha", 0.01f),
                    Attribute::make_float("beta", 0.6f), Attribute::make_float("bias", 1.5f)},
                   13)[0],
               map(x, [&](int64_t i, double v) {
                 const int64_t n = i / 30, c = (i / 6) % 5, e = i % 6;
                 double sq = 0;
                 for (int64_t k = std::max<int64_t>(0, c - 1); k <= std::min<int64_t>(4, c + 2);
                      ++k) {
                   const double u = x.value_as_double(n * 30 + k * 6 + e);
                   sq += u * u;
                 }
                 return v / std::pow(1.5 + 0.01 / 4 * sq, 0.6);
               }));
  for (int64_t p : {1, 2}) {
    // axis 1: vectors of 5 with stride 6
    expect_close(run("LpNormalization", {x},
                     {Attribute::make_int("axis", 1), Attribute::make_int("p", p)}, 1)[0],
                 map(x, [&](int64_t i, double v) {
                   const int64_t base = (i / 30) * 30 + i % 6;
                   double norm = 0;
                   for (int64_t k = 0; k < 5; ++k) {
                     const double u = x.value_as_double(base + k * 6);
                     norm += p == 1 ? std::abs(u) : u * u;
                   }
                   return v / (p == 1 ? norm : std::sqrt(norm));
                 }));
  }
  // MVN over the default axes (0, 2, 3): statistics per channel.
  const Stats s = group_stats(x, 5, [](int64_t i) { return (i / 6) % 5; });
  expect_close(run("MeanVarianceNormalization", {x}, {}, 13)[0], map(x, [&](int64_t i, double v) {
                 return (v - s.mean[(i / 6) % 5]) / (std::sqrt(s.var[(i / 6) % 5]) + 1e-9);
               }));
  const Stats s2 = group_stats(x, 10, [](int64_t i) { return i / 6; });
  expect_close(run("MeanVarianceNormalization", {x}, {Attribute::make_ints("axes", {2, 3})}, 13)[0],
               map(x, [&](int64_t i, double v) {
                 return (v - s2.mean[i / 6]) / (std::sqrt(s2.var[i / 6]) + 1e-9);
               }));
}

}  // namespace
}  // namespace qforge
