// SPDX-License-Identifier: Apache-2.0
// Activation kernels (src/runtime/kernels/activation.cpp, softmax.cpp) against naive double
// references computed here: pointwise activations with NaN/inf inputs, PRelu broadcasting,
// Softmax/LogSoftmax/Hardmax in both the opset <13 (coerce to 2-D) and >=13 (one axis) forms.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "runtime/single_op_ort.h"
#include "support/kernel_test_util.h"
#include "support/test_support.h"

namespace qforge {
namespace {

using testing::run_single_op;
using testing::SingleOp;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

Tensor run1(const std::string& type, std::vector<std::optional<Tensor>> inputs,
            std::vector<Attribute> attributes = {}, int64_t opset = 18, int threads = 1) {
  SingleOp spec;
  spec.type = type;
  spec.inputs = std::move(inputs);
  spec.attributes = std::move(attributes);
  spec.opset = opset;
  spec.threads = threads;
  return run_single_op(spec).at(0);
}

void expect_close(const Tensor& actual, const Tensor& expected, double rtol = 1e-5,
                  double atol = 1e-6) {
  const std::string diff = testing::compare_tensors(actual, expected, rtol, atol);
  EXPECT_TRUE(diff.empty()) << diff;
}

Tensor map_reference(const Tensor& x, const std::function<double(double)>& fn) {
  Tensor out(DataType::Float, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i)
    out.data<float>()[i] = static_cast<float>(fn(x.value_as_double(i)));
  return out;
}

// Random values plus the special ones every activation must get right.
Tensor activation_input() {
  Tensor x = testing::random_tensor(DataType::Float, {4, 40}, 5, -6.0f, 6.0f);
  const float special[] = {kNaN, kInf, -kInf, 0.0f, -0.0f, 80.0f, -80.0f, 1e-7f};
  for (size_t i = 0; i < std::size(special); ++i) x.data<float>()[i * 3] = special[i];
  return x;
}

double softplus(double v) {
  return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
}

TEST(Activation, PointwiseMatchReference) {
  struct Case {
    std::string type;
    std::vector<Attribute> attributes;
    std::function<double(double)> fn;
  };
  const double selu_a = 1.67326319217681884765625, selu_g = 1.05070102214813232421875;
  const std::vector<Case> cases = {
      {"Relu", {}, [](double v) { return v < 0 ? 0 : v; }},
      {"LeakyRelu", {}, [](double v) { return v < 0 ? 0.01f * v : v; }},
      {"LeakyRelu",
       {Attribute::make_float("alpha", 0.2f)},
       [](double v) { return v < 0 ? 0.2f * v : v; }},
      {"Sigmoid", {}, [](double v) { return 1 / (1 + std::exp(-v)); }},
      {"HardSigmoid", {}, [](double v) { return std::clamp(0.2 * v + 0.5, 0.0, 1.0); }},
      {"HardSigmoid",
       {Attribute::make_float("alpha", 0.5f), Attribute::make_float("beta", 0.6f)},
       [](double v) { return std::clamp(0.5 * v + 0.6f, 0.0, 1.0); }},
      {"HardSwish", {}, [](double v) { return v * std::clamp(v / 6 + 0.5, 0.0, 1.0); }},
      {"Tanh", {}, [](double v) { return std::tanh(v); }},
      {"Elu", {}, [](double v) { return v < 0 ? std::exp(v) - 1 : v; }},
      {"Elu",
       {Attribute::make_float("alpha", 2.0f)},
       [](double v) { return v < 0 ? 2 * (std::exp(v) - 1) : v; }},
      {"Selu",
       {},
       [=](double v) { return v <= 0 ? selu_g * selu_a * (std::exp(v) - 1) : selu_g * v; }},
      {"Celu",
       {Attribute::make_float("alpha", 2.0f)},
       [](double v) {
         return std::isnan(v) ? v : std::max(0.0, v) + std::min(0.0, 2 * (std::exp(v / 2) - 1));
       }},
      {"ThresholdedRelu",
       {Attribute::make_float("alpha", 0.5f)},
       [](double v) { return v > 0.5 || std::isnan(v) ? v : 0; }},
      {"Softplus", {}, softplus},
      {"Softsign", {}, [](double v) { return v / (1 + std::abs(v)); }},
      {"Mish", {}, [](double v) { return v * std::tanh(softplus(v)); }},
      {"Gelu", {}, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }},
      {"Gelu",
       {Attribute::make_string("approximate", "tanh")},
       [](double v) {
         return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
       }},
      {"Shrink", {}, [](double v) { return v < -0.5 || v > 0.5 || std::isnan(v) ? v : 0; }},
      {"Shrink",
       {Attribute::make_float("bias", 1.5f), Attribute::make_float("lambd", 1.0f)},
       [](double v) { return v < -1 ? v + 1.5 : (v > 1 || std::isnan(v) ? v - 1.5 : 0); }},
  };
  const Tensor x = activation_input();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.type);
    const Tensor expected = map_reference(x, c.fn);
    expect_close(run1(c.type, {x}, c.attributes, c.type == "Gelu" ? 20 : 18), expected);
    const Tensor xd = x.cast(DataType::Double);
    expect_close(run1(c.type, {xd}, c.attributes, c.type == "Gelu" ? 20 : 18),
                 expected.cast(DataType::Double));
  }
}

TEST(Activation, NaNPropagatesAndHalvesWork) {
  const Tensor x = Tensor::from_vector<float>({1}, {kNaN});
  for (const char* type :
       {"Relu", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu", "Selu", "Celu",
        "ThresholdedRelu", "Softplus", "Softsign", "Mish", "Shrink"})
    EXPECT_TRUE(std::isnan(run1(type, {x}).data<float>()[0])) << type;
  const Tensor h = testing::random_tensor(DataType::Float16, {3, 5}, 3, -3, 3);
  const Tensor out = run1("Sigmoid", {h});
  ASSERT_EQ(out.dtype(), DataType::Float16);
  expect_close(out.cast(DataType::Float),
               map_reference(h, [](double v) { return 1 / (1 + std::exp(-v)); }), 1e-3, 1e-3);
  EXPECT_THROW(run1("Sigmoid", {Tensor::scalar<int32_t>(1)}), Error);
}

TEST(Activation, ReluOnIntegers) {
  const Tensor x = Tensor::from_vector<int8_t>({4}, {-128, -1, 0, 127});
  EXPECT_EQ(run1("Relu", {x}, {}, 14).to_int64_vector(), (std::vector<int64_t>{0, 0, 0, 127}));
  const Tensor y = Tensor::from_vector<int64_t>({2}, {-5, 5});
  EXPECT_EQ(run1("Relu", {y}, {}, 14).to_int64_vector(), (std::vector<int64_t>{0, 5}));
}

TEST(Activation, PReluBroadcastsSlope) {
  const Tensor x = testing::random_tensor(DataType::Float, {2, 3, 2, 2}, 17, -1, 1);
  const Tensor slope = Tensor::from_vector<float>({3, 1, 1}, {0.1f, 0.2f, 0.3f});
  Tensor expected = x.clone();
  for (int64_t i = 0; i < x.numel(); ++i) {
    float& v = expected.data<float>()[i];
    if (v < 0) v *= 0.1f * static_cast<float>((i / 4) % 3 + 1);
  }
  expect_close(run1("PRelu", {x, slope}, {}, 16), expected);
  // Before opset 7 a 1-D slope is per channel.
  expect_close(run1("PRelu", {x, Tensor::from_vector<float>({3}, {0.1f, 0.2f, 0.3f})}, {}, 6),
               expected);
  expect_close(run1("PRelu", {x, Tensor::scalar<float>(0.5f)}, {}, 16),
               map_reference(x, [](double v) { return v < 0 ? 0.5 * v : v; }));
  EXPECT_THROW(run1("PRelu", {x, Tensor(DataType::Float, {2, 3, 2, 2, 2})}, {}, 16), Error);
}

// Softmax-family reference: x viewed as (outer, n, inner), normalized along n.
Tensor softmax_reference(const Tensor& x, int64_t outer, int64_t n, int64_t inner,
                         const std::string& type) {
  Tensor out(DataType::Float, x.shape());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      auto at = [&](int64_t r) { return (o * n + r) * inner + j; };
      double max = -INFINITY;
      int64_t arg = 0;
      for (int64_t r = 0; r < n; ++r)
        if (x.value_as_double(at(r)) > max) max = x.value_as_double(at(r)), arg = r;
      double sum = 0;
      for (int64_t r = 0; r < n; ++r) sum += std::exp(x.value_as_double(at(r)) - max);
      for (int64_t r = 0; r < n; ++r) {
        const double v = x.value_as_double(at(r));
        double y = type == "Softmax"      ? std::exp(v - max) / sum
                   : type == "LogSoftmax" ? v - max - std::log(sum)
                                          : (r == arg ? 1.0 : 0.0);
        out.data<float>()[at(r)] = static_cast<float>(y);
      }
    }
  return out;
}

TEST(Activation, SoftmaxFamilyBothOpsetForms) {
  const Shape shape = {2, 3, 4, 5};
  const Tensor x = testing::random_tensor(DataType::Float, shape, 31, -5, 5);
  for (const char* type : {"Softmax", "LogSoftmax", "Hardmax"}) {
    for (int axis = -4; axis < 4; ++axis) {
      const int a = axis < 0 ? axis + 4 : axis;
      int64_t outer = 1, inner = 1;
      for (int d = 0; d < a; ++d) outer *= shape[d];
      for (int d = a + 1; d < 4; ++d) inner *= shape[d];
      SCOPED_TRACE(std::string(type) + " axis " + std::to_string(axis));
      // Opset 13+: the single axis.
      expect_close(run1(type, {x}, {Attribute::make_int("axis", axis)}, 13),
                   softmax_reference(x, outer, shape[a], inner, type));
      // Opset 11: everything from the axis on is one row.
      expect_close(run1(type, {x}, {Attribute::make_int("axis", axis)}, 11),
                   softmax_reference(x, outer, shape[a] * inner, 1, type));
    }
    // Defaults: axis -1 from opset 13, axis 1 (coerced) before.
    expect_close(run1(type, {x}, {}, 13), softmax_reference(x, 24, 5, 1, type));
    expect_close(run1(type, {x}, {}, 12), softmax_reference(x, 2, 60, 1, type));
  }
}

TEST(Activation, SoftmaxEdgeCases) {
  // Large inputs stay finite; LogSoftmax keeps its digits.
  const Tensor big = Tensor::from_vector<float>({2, 4}, {0, 1, 2, 3, 10000, 10001, 10002, 10003});
  expect_close(run1("Softmax", {big}, {}, 13), softmax_reference(big, 2, 4, 1, "Softmax"));
  expect_close(run1("LogSoftmax", {big}, {}, 13), softmax_reference(big, 2, 4, 1, "LogSoftmax"));
  // A NaN poisons its row only.
  const Tensor nan = Tensor::from_vector<float>({2, 2}, {kNaN, 1, 1, 1});
  const Tensor out = run1("Softmax", {nan}, {}, 13);
  EXPECT_TRUE(std::isnan(out.data<float>()[0]) && std::isnan(out.data<float>()[1]));
  EXPECT_FLOAT_EQ(out.data<float>()[2], 0.5f);
  // Hardmax ties pick the first maximum.
  EXPECT_EQ(
      run1("Hardmax", {Tensor::from_vector<float>({4}, {1, 3, 3, 0})}, {}, 13).to_float_vector(),
      (std::vector<float>{0, 1, 0, 0}));
  EXPECT_EQ(run1("Softmax", {Tensor(DataType::Float, {0, 3})}, {}, 13).shape(), (Shape{0, 3}));
  const Tensor h = testing::random_tensor(DataType::Float16, {3, 7}, 4, -2, 2);
  expect_close(run1("Softmax", {h}, {}, 13).cast(DataType::Float),
               softmax_reference(h, 3, 7, 1, "Softmax"), 2e-3, 1e-3);
  EXPECT_THROW(run1("Softmax", {big}, {Attribute::make_int("axis", 2)}, 13), Error);
}

TEST(Activation, SoftmaxThreadsGiveTheSameResult) {
  const Tensor x = testing::random_tensor(DataType::Float, {8, 300, 70}, 41, -3, 3);
  for (int axis : {1, 2})
    EXPECT_TRUE(run1("Softmax", {x}, {Attribute::make_int("axis", axis)}, 13, 1)
                    .equals(run1("Softmax", {x}, {Attribute::make_int("axis", axis)}, 13, 4)));
}

TEST(ActivationOrt, AgreesWithOnnxRuntime) {
  using testing::OrtCase;
  const Tensor x = activation_input();
  std::vector<OrtCase> cases;
  for (const char* type : {"Relu", "LeakyRelu", "Sigmoid", "HardSigmoid", "Tanh", "Elu", "Selu",
                           "Softplus", "Softsign", "Mish"})
    cases.push_back({type, {x}});
  // ONNX Runtime maps NaN to 0 in these two (the "otherwise" branch of the spec); qforge keeps
  // NaN visible, so compare them without NaN.
  Tensor no_nan = x.clone();
  no_nan.data<float>()[0] = 0;
  for (const char* type : {"ThresholdedRelu", "Shrink"}) cases.push_back({type, {no_nan}});
  cases.push_back({"HardSwish", {x}, {}, 14});
  cases.push_back({"Celu", {x}, {Attribute::make_float("alpha", 2.0f)}, 12});
  cases.push_back({"LeakyRelu", {x}, {Attribute::make_float("alpha", 0.3f)}});
  cases.push_back({"Gelu", {x}, {}, 20});
  cases.push_back({"Gelu", {x}, {Attribute::make_string("approximate", "tanh")}, 20});
  cases.push_back(
      {"PRelu", {x.reshaped({4, 5, 8}), testing::random_tensor(DataType::Float, {5, 1}, 9)}});
  const Tensor y = testing::random_tensor(DataType::Float, {2, 3, 4, 5}, 77, -4, 4);
  for (const char* type : {"Softmax", "LogSoftmax", "Hardmax"})
    for (int64_t axis : {-1, 1, 0, 2})
      for (int64_t opset : {11, 13})
        cases.push_back({type, {y}, {Attribute::make_int("axis", axis)}, opset});
  testing::expect_agrees_with_ort(cases);
}

}  // namespace
}  // namespace qforge
