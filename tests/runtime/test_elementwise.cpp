// SPDX-License-Identifier: Apache-2.0
// Elementwise kernels (src/runtime/kernels/elementwise*.cpp, cast.cpp) against naive references
// computed here, and the shared helpers of kernel_util.h: broadcasting over edge shapes
// (scalars, empty, rank changes), every dtype family, NaN propagation, opset differences.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "runtime/kernels/fast_math.h"
#include "runtime/kernels/kernel_util.h"
#include "runtime/single_op_ort.h"
#include "support/kernel_test_util.h"
#include "support/test_support.h"

namespace qforge {
namespace {

using testing::run_single_op;
using testing::SingleOp;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Index into a tensor of shape `in` of output element `linear` of shape `out` (numpy rules).
int64_t source_index(const Shape& in, const Shape& out, int64_t linear) {
  int64_t index = 0, stride = 1;
  for (size_t d = out.size(); d-- > 0;) {
    const int64_t coord = linear % out[d];
    linear /= out[d];
    const size_t shift = out.size() - in.size();
    if (d >= shift) {
      const int64_t size = in[d - shift];
      if (size != 1) index += coord * stride;
      stride *= size;
    }
  }
  return index;
}

Shape naive_broadcast(const Shape& a, const Shape& b) {
  Shape out(std::max(a.size(), b.size()), 1);
  for (size_t i = 0; i < out.size(); ++i) {
    const int64_t da = i < out.size() - a.size() ? 1 : a[i - (out.size() - a.size())];
    const int64_t db = i < out.size() - b.size() ? 1 : b[i - (out.size() - b.size())];
    out[i] = da == 1 ? db : da;
  }
  return out;
}

void expect_close(const Tensor& actual, const Tensor& expected, double rtol = 1e-6,
                  double atol = 1e-7) {
  const std::string diff = testing::compare_tensors(actual, expected, rtol, atol);
  EXPECT_TRUE(diff.empty()) << diff;
}

Tensor run1(const std::string& type, std::vector<std::optional<Tensor>> inputs,
            std::vector<Attribute> attributes = {}, int64_t opset = 17, int threads = 1) {
  SingleOp spec;
  spec.type = type;
  spec.inputs = std::move(inputs);
  spec.attributes = std::move(attributes);
  spec.opset = opset;
  spec.threads = threads;
  return run_single_op(spec).at(0);
}

const std::vector<std::pair<Shape, Shape>> kBroadcastCases = {
    {{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {}},     {{}, {2, 3, 4}},
    {{2, 3, 4}, {4}},       {{2, 3, 4}, {3, 1}}, {{1, 3, 1}, {2, 1, 4}},
    {{5, 1}, {1, 6}},       {{0, 3}, {3}},       {{}, {}},
    {{2, 1, 1, 3}, {4, 1}}, {{1}, {7, 1, 2}},    {{3, 0}, {1, 0}},
};

TEST(KernelUtil, NormalizeAxis) {
  Graph g;
  Operation* op = g.create_operation("Softmax", "sm", {}, {});
  EXPECT_EQ(kernels::normalize_axis(-1, 4, *op), 3);
  EXPECT_EQ(kernels::normalize_axis(2, 4, *op), 2);
  try {
    kernels::normalize_axis(4, 4, *op);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'sm'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(kernels::normalize_axes({1, -3}, 4, *op), Error);  // same axis twice
}

TEST(KernelUtil, BroadcastPlanVisitsEveryElementOnce) {
  Graph g;
  Operation* op = g.create_operation("Add", "add", {}, {});
  for (const auto& [a, b] : kBroadcastCases) {
    const kernels::BroadcastPlan plan({a, b}, *op);
    const Shape out = naive_broadcast(a, b);
    ASSERT_EQ(plan.out_shape(), out);
    std::vector<int> seen(static_cast<size_t>(shape_numel(out)), 0);
    plan.for_each_run(1, 1, [&](int64_t o, const int64_t* in, int64_t n) {
      for (int64_t i = 0; i < n; ++i) {
        ++seen[static_cast<size_t>(o + i)];
        EXPECT_EQ(in[0] + i * plan.inner_stride(0), source_index(a, out, o + i));
        EXPECT_EQ(in[1] + i * plan.inner_stride(1), source_index(b, out, o + i));
      }
    });
    for (int count : seen) EXPECT_EQ(count, 1);
  }
  EXPECT_THROW(kernels::BroadcastPlan({{2, 3}, {4}}, *op), Error);
}

TEST(FastMath, ExpIsAccurateEverywhere) {
  double worst = 0;
  for (float x = -103.0f; x < 88.7f; x += 0.0037f) {
    const double exact = std::exp(static_cast<double>(x));
    const double got = kernels::exp_fast(x);
    if (exact > 1.2e-38)
      worst = std::max(worst, std::abs(got - exact) / exact);
    else
      EXPECT_NEAR(got, exact, 1e-44) << x;  // subnormal results
  }
  EXPECT_LT(worst, 3e-7);
  EXPECT_EQ(kernels::exp_fast(0.0f), 1.0f);
  EXPECT_EQ(kernels::exp_fast(-kInf), 0.0f);
  EXPECT_EQ(kernels::exp_fast(kInf), kInf);
  EXPECT_EQ(kernels::exp_fast(89.0f), kInf);
  EXPECT_TRUE(std::isnan(kernels::exp_fast(kNaN)));
}

// Worst relative error of f against the double reference over [lo, hi].
double worst_error(float (*f)(float), double (*reference)(double), float lo, float hi, float step) {
  double worst = 0;
  for (float x = lo; x <= hi; x += step) {
    const double exact = reference(x);
    if (exact != 0) worst = std::max(worst, std::abs(f(x) - exact) / std::abs(exact));
  }
  return worst;
}

TEST(FastMath, TanhAndErfAreAccurate) {
  auto tanh_f = [](float x) { return kernels::tanh_fast(x); };
  auto erf_f = [](float x) { return kernels::erf_fast(x); };
  auto tanh_d = [](double x) { return std::tanh(x); };
  auto erf_d = [](double x) { return std::erf(x); };
  EXPECT_LT(worst_error(tanh_f, tanh_d, -12.0f, 12.0f, 0.00071f), 1e-6);
  EXPECT_LT(worst_error(tanh_f, tanh_d, -1e-3f, 1e-3f, 1.3e-7f), 1e-6);
  EXPECT_LT(worst_error(erf_f, erf_d, -6.0f, 6.0f, 0.00037f), 1e-6);
  EXPECT_LT(worst_error(erf_f, erf_d, -1e-3f, 1e-3f, 1.3e-7f), 1e-6);
  for (auto f : {+tanh_f, +erf_f}) {
    EXPECT_EQ(f(kInf), 1.0f);
    EXPECT_EQ(f(-kInf), -1.0f);
    EXPECT_TRUE(std::isnan(f(kNaN)));
    EXPECT_TRUE(std::signbit(f(-0.0f)));
  }
}

TEST(Elementwise, ArithmeticBroadcastMatchesReference) {
  const std::vector<std::pair<std::string, std::function<double(double, double)>>> ops = {
      {"Add", [](double x, double y) { return x + y; }},
      {"Sub", [](double x, double y) { return x - y; }},
      {"Mul", [](double x, double y) { return x * y; }},
      {"Div", [](double x, double y) { return x / y; }},
      {"Pow", [](double x, double y) { return std::pow(std::abs(x), y); }},
  };
  uint32_t seed = 1;
  for (const auto& [a_shape, b_shape] : kBroadcastCases) {
    Tensor a = testing::random_tensor(DataType::Float, a_shape, seed++, 0.1f, 2.0f);
    const Tensor b = testing::random_tensor(DataType::Float, b_shape, seed++, 0.5f, 2.0f);
    const Shape out_shape = naive_broadcast(a_shape, b_shape);
    for (const auto& [type, fn] : ops) {
      const Tensor out = run1(type, {a, b});
      Tensor expected(DataType::Float, out_shape);
      for (int64_t i = 0; i < expected.numel(); ++i)
        expected.data<float>()[i] =
            static_cast<float>(fn(a.value_as_double(source_index(a_shape, out_shape, i)),
                                  b.value_as_double(source_index(b_shape, out_shape, i))));
      SCOPED_TRACE(type + " " + shape_to_string(a_shape) + " " + shape_to_string(b_shape));
      expect_close(out, expected);
    }
  }
}

TEST(Elementwise, ThreadsGiveTheSameResult) {
  const Tensor a = testing::random_tensor(DataType::Float, {64, 33, 50}, 7);
  const Tensor b = testing::random_tensor(DataType::Float, {33, 1}, 8);
  for (const char* type : {"Add", "Mul", "Max"}) {
    const Tensor one = run1(type, {a, b}, {}, 17, 1);
    EXPECT_TRUE(one.equals(run1(type, {a, b}, {}, 17, 4))) << type;
  }
  const Tensor c = testing::random_tensor(DataType::Float, {1 << 17}, 9);
  EXPECT_TRUE(run1("Exp", {c}, {}, 17, 1).equals(run1("Exp", {c}, {}, 17, 3)));
}

TEST(Elementwise, IntegerArithmetic) {
  auto i8 = [](std::vector<int8_t> v) {
    return Tensor::from_vector<int8_t>({static_cast<int64_t>(v.size())}, v);
  };
  EXPECT_EQ(run1("Add", {i8({127, -128}), i8({1, -1})}, {}, 14).to_int64_vector(),
            (std::vector<int64_t>{-128, 127}));  // wraps
  const Tensor a =
      Tensor::from_vector<int32_t>({5}, {7, -7, 7, -7, std::numeric_limits<int32_t>::min()});
  const Tensor b = Tensor::from_vector<int32_t>({5}, {2, 2, -2, 0, -1});
  EXPECT_EQ(run1("Div", {a, b}).to_int64_vector(),
            (std::vector<int64_t>{3, -3, -3, 0, std::numeric_limits<int32_t>::min()}));
  // Mod: fmod=0 takes the divisor's sign, fmod=1 the dividend's.
  EXPECT_EQ(run1("Mod", {a, b}).to_int64_vector(), (std::vector<int64_t>{1, 1, -1, 0, 0}));
  EXPECT_EQ(run1("Mod", {a, b}, {Attribute::make_int("fmod", 1)}).to_int64_vector(),
            (std::vector<int64_t>{1, -1, 1, 0, 0}));
  const Tensor u = Tensor::from_vector<uint8_t>({3}, {200, 3, 255});
  EXPECT_EQ(run1("Sub", {u, Tensor::scalar<uint8_t>(201)}, {}, 14).to_int64_vector(),
            (std::vector<int64_t>{255, 58, 54}));
}

TEST(Elementwise, FloatModAndPowTypes) {
  const Tensor x = Tensor::from_vector<float>({4}, {5.5f, -5.5f, 5.5f, kNaN});
  const Tensor y = Tensor::from_vector<float>({4}, {2, 2, -2, 2});
  expect_close(run1("Mod", {x, y}, {Attribute::make_int("fmod", 1)}),
               Tensor::from_vector<float>({4}, {1.5f, -1.5f, 1.5f, kNaN}));
  // Pow: base and exponent dtypes may differ since opset 12; the result has the base's.
  const Tensor base = Tensor::from_vector<int64_t>({4}, {2, 3, -2, 5});
  EXPECT_EQ(run1("Pow", {base, Tensor::from_vector<int64_t>({4}, {10, 3, 3, 0})}).to_int64_vector(),
            (std::vector<int64_t>{1024, 27, -8, 1}));
  EXPECT_EQ(run1("Pow", {base, Tensor::from_vector<float>({4}, {0.5f, 2, 2, 1})}).to_int64_vector(),
            (std::vector<int64_t>{1, 9, 4, 5}));
  expect_close(
      run1("Pow", {Tensor::from_vector<float>({3}, {2, 4, kNaN}), Tensor::scalar<int32_t>(3)}),
      Tensor::from_vector<float>({3}, {8, 64, kNaN}));
  EXPECT_THROW(run1("Pow", {Tensor::scalar<float>(2), Tensor::scalar<int32_t>(3)}, {}, 7), Error);
}

TEST(Elementwise, FloatSpecialValuesPropagate) {
  const Tensor x = Tensor::from_vector<float>({4}, {kNaN, 1, kInf, -kInf});
  const Tensor y = Tensor::from_vector<float>({4}, {1, kNaN, kInf, 0});
  expect_close(run1("Add", {x, y}), Tensor::from_vector<float>({4}, {kNaN, kNaN, kInf, -kInf}));
  expect_close(run1("Div", {x, y}), Tensor::from_vector<float>({4}, {kNaN, kNaN, kNaN, -kInf}));
  expect_close(run1("Max", {x, y}), Tensor::from_vector<float>({4}, {kNaN, kNaN, kInf, 0}));
  expect_close(run1("Min", {x, y}), Tensor::from_vector<float>({4}, {kNaN, kNaN, kInf, -kInf}));
  EXPECT_EQ(run1("Equal", {x, x}).to_int64_vector(), (std::vector<int64_t>{0, 1, 1, 1}));
  EXPECT_EQ(run1("Less", {x, y}).to_int64_vector(), (std::vector<int64_t>{0, 0, 0, 1}));
}

TEST(Elementwise, Float16ComputesThroughFloat) {
  const Tensor a = testing::random_tensor(DataType::Float16, {3, 4}, 3);
  const Tensor b = testing::random_tensor(DataType::Float16, {4}, 4);
  const Tensor out = run1("Mul", {a, b});
  ASSERT_EQ(out.dtype(), DataType::Float16);
  for (int64_t i = 0; i < 12; ++i)
    EXPECT_FLOAT_EQ(static_cast<float>(out.value_as_double(i)),
                    static_cast<float>(Float16(static_cast<float>(a.value_as_double(i)) *
                                               static_cast<float>(b.value_as_double(i % 4)))));
}

TEST(Elementwise, ComparisonsAndLogic) {
  const Tensor a = Tensor::from_vector<int64_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor b = Tensor::from_vector<int64_t>({3}, {2, 2, 7});
  EXPECT_EQ(run1("Equal", {a, b}).to_int64_vector(), (std::vector<int64_t>{0, 1, 0, 0, 0, 0}));
  EXPECT_EQ(run1("Greater", {a, b}).to_int64_vector(), (std::vector<int64_t>{0, 0, 0, 1, 1, 0}));
  EXPECT_EQ(run1("GreaterOrEqual", {a, b}).to_int64_vector(),
            (std::vector<int64_t>{0, 1, 0, 1, 1, 0}));
  EXPECT_EQ(run1("LessOrEqual", {a, b}).to_int64_vector(),
            (std::vector<int64_t>{1, 1, 1, 0, 0, 1}));
  const Tensor p = Tensor::from_vector<bool>({2, 2}, {true, true, false, false});
  const Tensor q = Tensor::from_vector<bool>({2}, {true, false});
  EXPECT_EQ(run1("And", {p, q}).to_int64_vector(), (std::vector<int64_t>{1, 0, 0, 0}));
  EXPECT_EQ(run1("Or", {p, q}).to_int64_vector(), (std::vector<int64_t>{1, 1, 1, 0}));
  EXPECT_EQ(run1("Xor", {p, q}).to_int64_vector(), (std::vector<int64_t>{0, 1, 1, 0}));
  EXPECT_EQ(run1("Not", {q}).to_int64_vector(), (std::vector<int64_t>{0, 1}));
  EXPECT_THROW(run1("And", {a, b}), Error);                                             // not bool
  EXPECT_THROW(run1("Add", {a, Tensor::from_vector<int32_t>({3}, {1, 2, 3})}), Error);  // dtypes
}

TEST(Elementwise, BitOps) {
  const Tensor x = Tensor::from_vector<uint8_t>({4}, {16, 4, 1, 255});
  const Tensor s = Tensor::from_vector<uint8_t>({4}, {1, 2, 8, 7});
  EXPECT_EQ(
      run1("BitShift", {x, s}, {Attribute::make_string("direction", "LEFT")}).to_int64_vector(),
      (std::vector<int64_t>{32, 16, 0, 128}));
  EXPECT_EQ(
      run1("BitShift", {x, s}, {Attribute::make_string("direction", "RIGHT")}).to_int64_vector(),
      (std::vector<int64_t>{8, 1, 0, 1}));
  const Tensor a = Tensor::from_vector<int32_t>({3}, {12, -1, 5});
  const Tensor b = Tensor::from_vector<int32_t>({3}, {10, 3, -6});
  EXPECT_EQ(run1("BitwiseAnd", {a, b}, {}, 18).to_int64_vector(), (std::vector<int64_t>{8, 3, 0}));
  EXPECT_EQ(run1("BitwiseOr", {a, b}, {}, 18).to_int64_vector(),
            (std::vector<int64_t>{14, -1, -1}));
  EXPECT_EQ(run1("BitwiseXor", {a, b}, {}, 18).to_int64_vector(),
            (std::vector<int64_t>{6, -4, -1}));
  EXPECT_EQ(run1("BitwiseNot", {a}, {}, 18).to_int64_vector(), (std::vector<int64_t>{-13, 0, -6}));
}

TEST(Elementwise, VariadicBroadcastsAllInputs) {
  const Tensor a = Tensor::from_vector<float>({3}, {1, 5, kNaN});
  const Tensor b = Tensor::from_vector<float>({2, 1}, {2, 4});
  const Tensor c = Tensor::scalar<float>(3);
  expect_close(run1("Max", {a, b, c}),
               Tensor::from_vector<float>({2, 3}, {3, 5, kNaN, 4, 5, kNaN}));
  expect_close(run1("Min", {c, a, b}),
               Tensor::from_vector<float>({2, 3}, {1, 2, kNaN, 1, 3, kNaN}));
  expect_close(run1("Sum", {a, b, c}),
               Tensor::from_vector<float>({2, 3}, {6, 10, kNaN, 8, 12, kNaN}));
  expect_close(run1("Mean", {b, c}), Tensor::from_vector<float>({2, 1}, {2.5f, 3.5f}));
  expect_close(run1("Sum", {b}), b);
  const Tensor i = Tensor::from_vector<int32_t>({2}, {-4, 9});
  EXPECT_EQ(run1("Max", {i, Tensor::scalar<int32_t>(0)}, {}, 13).to_int64_vector(),
            (std::vector<int64_t>{0, 9}));
}

TEST(Elementwise, WhereBroadcastsAllDtypes) {
  const Tensor cond = Tensor::from_vector<bool>({2, 1}, {true, false});
  const Tensor x = Tensor::from_vector<double>({3}, {1, 2, 3});
  const Tensor y = Tensor::scalar<double>(-1);
  expect_close(run1("Where", {cond, x, y}),
               Tensor::from_vector<double>({2, 3}, {1, 2, 3, -1, -1, -1}));
  const Tensor xi = Tensor::from_vector<int8_t>({2, 2}, {1, 2, 3, 4});
  const Tensor yi = Tensor::from_vector<int8_t>({2, 2}, {5, 6, 7, 8});
  const Tensor c2 = Tensor::from_vector<bool>({2, 2}, {true, false, false, true});
  EXPECT_EQ(run1("Where", {c2, xi, yi}).to_int64_vector(), (std::vector<int64_t>{1, 6, 7, 4}));
  Tensor xs(DataType::String, {2});
  xs.strings() = {"a", "b"};
  Tensor ys(DataType::String, {});
  ys.strings() = {"z"};
  const Tensor out = run1("Where", {Tensor::from_vector<bool>({2}, {false, true}), xs, ys});
  EXPECT_EQ(out.strings(), (std::vector<std::string>{"z", "b"}));
  EXPECT_EQ(run1("Where", {Tensor(DataType::Bool, {0, 1}), x, y}).shape(), (Shape{0, 3}));
}

TEST(Elementwise, ClipAttributeAndInputForms) {
  const Tensor x = Tensor::from_vector<float>({5}, {-3, -1, 0.5f, 4, kNaN});
  // Opset 6: attributes.
  expect_close(
      run1("Clip", {x}, {Attribute::make_float("min", -2), Attribute::make_float("max", 2)}, 6),
      Tensor::from_vector<float>({5}, {-2, -1, 0.5f, 2, kNaN}));
  expect_close(run1("Clip", {x}, {Attribute::make_float("max", 0)}, 6),
               Tensor::from_vector<float>({5}, {-3, -1, 0, 0, kNaN}));
  // Opset 11+: optional inputs.
  expect_close(run1("Clip", {x, Tensor::scalar<float>(0), std::nullopt}, {}, 13),
               Tensor::from_vector<float>({5}, {0, 0, 0.5f, 4, kNaN}));
  expect_close(run1("Clip", {x, std::nullopt, Tensor::scalar<float>(1)}, {}, 13),
               Tensor::from_vector<float>({5}, {-3, -1, 0.5f, 1, kNaN}));
  expect_close(run1("Clip", {x}, {}, 13), x);
  // min > max gives max everywhere (but NaN stays).
  expect_close(run1("Clip", {x, Tensor::scalar<float>(2), Tensor::scalar<float>(1)}, {}, 13),
               Tensor::from_vector<float>({5}, {1, 1, 1, 1, kNaN}));
  const Tensor i8 = Tensor::from_vector<int8_t>({3}, {-128, 0, 127});
  EXPECT_EQ(run1("Clip", {i8, Tensor::scalar<int8_t>(-5), Tensor::scalar<int8_t>(5)}, {}, 13)
                .to_int64_vector(),
            (std::vector<int64_t>{-5, 0, 5}));
  EXPECT_THROW(run1("Clip", {x, Tensor::scalar<double>(0)}, {}, 13), Error);
}

TEST(Elementwise, LegacyBroadcastBeforeOpset7) {
  const Tensor a = testing::random_tensor(DataType::Float, {2, 3, 4}, 11);
  const Tensor b = Tensor::from_vector<float>({3}, {1, 2, 3});
  const Tensor out =
      run1("Add", {a, b}, {Attribute::make_int("broadcast", 1), Attribute::make_int("axis", 1)}, 6);
  for (int64_t i = 0; i < 24; ++i)
    EXPECT_FLOAT_EQ(out.data<float>()[i], a.data<float>()[i] + static_cast<float>((i / 4) % 3 + 1));
}

TEST(Elementwise, UnaryMathMatchesReference) {
  const std::vector<std::pair<std::string, double (*)(double)>> ops = {
      {"Sqrt", [](double v) { return std::sqrt(v); }},
      {"Exp", [](double v) { return std::exp(v); }},
      {"Log", [](double v) { return std::log(v); }},
      {"Reciprocal", [](double v) { return 1 / v; }},
      {"Abs", [](double v) { return std::abs(v); }},
      {"Neg", [](double v) { return -v; }},
      {"Ceil", [](double v) { return std::ceil(v); }},
      {"Floor", [](double v) { return std::floor(v); }},
      {"Erf", [](double v) { return std::erf(v); }},
      {"Sin", [](double v) { return std::sin(v); }},
      {"Cos", [](double v) { return std::cos(v); }},
      {"Tan", [](double v) { return std::tan(v); }},
      {"Asin", [](double v) { return std::asin(v); }},
      {"Acos", [](double v) { return std::acos(v); }},
      {"Atan", [](double v) { return std::atan(v); }},
      {"Sinh", [](double v) { return std::sinh(v); }},
      {"Cosh", [](double v) { return std::cosh(v); }},
      {"Asinh", [](double v) { return std::asinh(v); }},
      {"Acosh", [](double v) { return std::acosh(v + 2); }},
      {"Atanh", [](double v) { return std::atanh(v); }},
      {"Sign", [](double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : v); }},
  };
  Tensor x = testing::random_tensor(DataType::Float, {3, 50}, 21, -0.99f, 0.99f);
  x.data<float>()[7] = kNaN;
  for (const auto& [type, fn] : ops) {
    Tensor input = x.clone();
    if (type == "Acosh")  // domain [1, inf)
      for (int64_t i = 0; i < input.numel(); ++i) input.data<float>()[i] += 2;
    Tensor expected(DataType::Float, x.shape());
    for (int64_t i = 0; i < x.numel(); ++i)
      expected.data<float>()[i] = static_cast<float>(fn(x.value_as_double(i)));
    SCOPED_TRACE(type);
    expect_close(run1(type, {input}), expected, 1e-5, 1e-6);
    expect_close(run1(type, {input.cast(DataType::Double)}), expected.cast(DataType::Double), 1e-5,
                 1e-6);
  }
  EXPECT_EQ(run1("Sqrt", {Tensor(DataType::Float, {0, 4})}).shape(), (Shape{0, 4}));
  EXPECT_THROW(run1("Exp", {Tensor::scalar<int32_t>(1)}), Error);
}

TEST(Elementwise, RoundHalfToEvenAndIntegerUnary) {
  const Tensor x = Tensor::from_vector<float>({7}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.3f, kNaN});
  expect_close(run1("Round", {x}), Tensor::from_vector<float>({7}, {0, 2, 2, -0.0f, -2, 2, kNaN}));
  const Tensor i = Tensor::from_vector<int32_t>({3}, {-5, 0, 7});
  EXPECT_EQ(run1("Abs", {i}).to_int64_vector(), (std::vector<int64_t>{5, 0, 7}));
  EXPECT_EQ(run1("Neg", {i}).to_int64_vector(), (std::vector<int64_t>{5, 0, -7}));
  EXPECT_EQ(run1("Sign", {i}).to_int64_vector(), (std::vector<int64_t>{-1, 0, 1}));
}

TEST(Elementwise, IsNaNAndIsInf) {
  const Tensor x = Tensor::from_vector<float>({4}, {kNaN, kInf, -kInf, 1});
  EXPECT_EQ(run1("IsNaN", {x}).to_int64_vector(), (std::vector<int64_t>{1, 0, 0, 0}));
  EXPECT_EQ(run1("IsInf", {x}).to_int64_vector(), (std::vector<int64_t>{0, 1, 1, 0}));
  EXPECT_EQ(run1("IsInf", {x}, {Attribute::make_int("detect_negative", 0)}).to_int64_vector(),
            (std::vector<int64_t>{0, 1, 0, 0}));
  EXPECT_EQ(run1("IsInf", {x}, {Attribute::make_int("detect_positive", 0)}).to_int64_vector(),
            (std::vector<int64_t>{0, 0, 1, 0}));
}

Attribute to(DataType type) {
  return Attribute::make_int("to", static_cast<int64_t>(type));
}

TEST(Cast, NumericConversions) {
  const Tensor x = Tensor::from_vector<float>({6}, {1.9f, -1.9f, kNaN, 300.0f, 0.0f, 1e20f});
  const Tensor i32 = run1("Cast", {x}, {to(DataType::Int32)});
  EXPECT_EQ(i32.dtype(), DataType::Int32);
  EXPECT_EQ(i32.data<int32_t>()[0], 1);
  EXPECT_EQ(i32.data<int32_t>()[1], -1);
  EXPECT_EQ(i32.data<int32_t>()[2], 0);  // NaN
  EXPECT_EQ(i32.data<int32_t>()[3], 300);
  EXPECT_EQ(run1("Cast", {x}, {to(DataType::Bool)}).to_int64_vector(),
            (std::vector<int64_t>{1, 1, 1, 1, 0, 1}));
  const Tensor i64 = Tensor::from_vector<int64_t>({2}, {(1LL << 40) + 1, -3});
  EXPECT_EQ(run1("Cast", {i64}, {to(DataType::Double)}).to_float_vector(),
            (std::vector<float>{static_cast<float>((1LL << 40) + 1), -3}));
  const Tensor h = run1("Cast", {x}, {to(DataType::Float16)});
  EXPECT_EQ(h.dtype(), DataType::Float16);
  EXPECT_FLOAT_EQ(static_cast<float>(h.value_as_double(0)), static_cast<float>(Float16(1.9f)));
  EXPECT_TRUE(std::isinf(h.value_as_double(5)));
  // bfloat16 rounds to nearest even: 0x3ef5eeb0 -> 0x3ef6.
  float v;
  const uint32_t bits = 0x3ef5eeb0;
  std::memcpy(&v, &bits, 4);
  const Tensor bf = run1("Cast", {Tensor::scalar<float>(v)}, {to(DataType::BFloat16)});
  EXPECT_EQ(bf.data<BFloat16>()[0].bits, 0x3ef6);
  // Same dtype: unchanged.
  EXPECT_TRUE(run1("Cast", {x}, {to(DataType::Float)}).equals(x));
}

TEST(Cast, StringsBothWays) {
  const Tensor x = Tensor::from_vector<float>({5}, {0.039187793f, 1.5f, kNaN, -kInf, 1e-5f});
  const Tensor s = run1("Cast", {x}, {to(DataType::String)});
  EXPECT_EQ(s.strings(), (std::vector<std::string>{"0.039187793", "1.5", "NaN", "-INF", "1e-05"}));
  Tensor text(DataType::String, {5});
  text.strings() = {"0.47892547", "NaN", "INF", "+INF", "-INF"};
  const Tensor f = run1("Cast", {text}, {to(DataType::Float)});
  EXPECT_FLOAT_EQ(f.data<float>()[0], 0.47892547f);
  EXPECT_TRUE(std::isnan(f.data<float>()[1]));
  EXPECT_EQ(f.data<float>()[2], kInf);
  EXPECT_EQ(f.data<float>()[3], kInf);
  EXPECT_EQ(f.data<float>()[4], -kInf);
  Tensor ints(DataType::String, {2});
  ints.strings() = {"-42", "7"};
  EXPECT_EQ(run1("Cast", {ints}, {to(DataType::Int64)}).to_int64_vector(),
            (std::vector<int64_t>{-42, 7}));
  ints.strings()[1] = "seven";
  EXPECT_THROW(run1("Cast", {ints}, {to(DataType::Int64)}), Error);
}

TEST(Cast, CastLikeAndOpset1StringTarget) {
  const Tensor x = Tensor::from_vector<double>({2}, {1.25, -2.75});
  const Tensor out = run1("CastLike", {x, Tensor::scalar<float>(0)}, {}, 15);
  EXPECT_EQ(out.dtype(), DataType::Float);
  EXPECT_EQ(out.to_float_vector(), (std::vector<float>{1.25f, -2.75f}));
  const Tensor old = run1("Cast", {x}, {Attribute::make_string("to", "INT32")}, 1);
  EXPECT_EQ(old.dtype(), DataType::Int32);
  EXPECT_EQ(old.to_int64_vector(), (std::vector<int64_t>{1, -2}));
  EXPECT_THROW(run1("Cast", {x}, {Attribute::make_int("to", 99)}), Error);
}

TEST(Elementwise, ErrorsNameTheNode) {
  try {
    run1("Add", {Tensor(DataType::Float, {2, 3}), Tensor(DataType::Float, {4})});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Shape);
    EXPECT_NE(std::string(e.what()).find("node 'op' (Add)"), std::string::npos) << e.what();
  }
}

// Random floats with the special values every op must handle the way ONNX Runtime does.
Tensor with_specials(Tensor x) {
  const float special[] = {kNaN, kInf, -kInf, 0.0f, -0.0f, 0.5f, -2.5f, 1e-20f};
  for (size_t i = 0; i < std::size(special) && i * 5 < static_cast<size_t>(x.numel()); ++i)
    x.data<float>()[i * 5] = special[i];
  return x;
}

TEST(ElementwiseOrt, AgreesWithOnnxRuntime) {
  using testing::OrtCase;
  const Tensor x = with_specials(testing::random_tensor(DataType::Float, {3, 4, 5}, 101, -3, 3));
  const Tensor plain = testing::random_tensor(DataType::Float, {3, 4, 5}, 102, -3, 3);
  const Tensor positive = testing::random_tensor(DataType::Float, {3, 4, 5}, 103, 0.1f, 4);
  const Tensor b = testing::random_tensor(DataType::Float, {4, 1}, 104, 0.5f, 2);
  std::vector<OrtCase> cases;
  for (const char* type : {"Add", "Sub", "Mul", "Div", "Equal", "Less", "Greater", "LessOrEqual"})
    cases.push_back({type, {x, b}});
  for (const char* type : {"Max", "Min", "Sum", "Mean"})
    cases.push_back({type, {plain, b, positive}});
  cases.push_back({"Pow", {positive, b}});
  cases.push_back({"Pow", {positive, Tensor::scalar<int64_t>(3)}});
  cases.push_back({"Mod", {plain, b}, {Attribute::make_int("fmod", 1)}});
  for (const char* type :
       {"Abs",   "Neg",  "Sqrt", "Reciprocal", "Exp",   "Log",   "Ceil",  "Floor",
        "Round", "Sign", "Erf",  "Sin",        "Cos",   "Tan",   "Asin",  "Acos",
        "Atan",  "Sinh", "Cosh", "Asinh",      "Acosh", "Atanh", "IsNaN", "IsInf"})
    cases.push_back({type, {x}});
  cases.push_back({"Clip", {x, Tensor::scalar<float>(-1), Tensor::scalar<float>(2)}});
  cases.push_back({"Where", {run1("Greater", {plain, b}), x, positive}});
  for (DataType to : {DataType::Int32, DataType::Float16, DataType::Double, DataType::Bool})
    cases.push_back({"Cast", {plain}, {Attribute::make_int("to", static_cast<int64_t>(to))}});
  // Integers.
  const Tensor i = Tensor::from_vector<int32_t>({6}, {7, -7, 7, -7, 100, -3});
  const Tensor j = Tensor::from_vector<int32_t>({6}, {2, 2, -2, -2, 7, 5});
  for (const char* type : {"Div", "Add", "Mul", "Max"}) cases.push_back({type, {i, j}});
  cases.push_back({"Mod", {i, j}});
  cases.push_back({"Mod", {i, j}, {Attribute::make_int("fmod", 1)}});
  cases.push_back({"BitwiseXor", {i, j}});
  cases.push_back({"Pow",
                   {Tensor::from_vector<int64_t>({3}, {2, -3, 5}),
                    Tensor::from_vector<int64_t>({3}, {10, 3, 2})}});
  cases.push_back({"Cast",
                   {Tensor::from_vector<int64_t>({3}, {-5, 0, 1LL << 40})},
                   {Attribute::make_int("to", static_cast<int64_t>(DataType::Float))}});
  const Tensor u = Tensor::from_vector<uint32_t>({3}, {1, 256, 0xffffffffu});
  cases.push_back({"BitShift",
                   {u, Tensor::from_vector<uint32_t>({3}, {3, 4, 1})},
                   {Attribute::make_string("direction", "RIGHT")}});
  testing::expect_agrees_with_ort(cases);
}

}  // namespace
}  // namespace qforge
