// SPDX-License-Identifier: Apache-2.0
// Reduce kernels (src/runtime/kernels/reduce.cpp, reduce_axis.cpp) against naive double
// references computed here: every Reduce* over many axis sets (contiguous or not, negative,
// all, none), axes as attribute and as input, keepdims, noop_with_empty_axes, empty tensors,
// NaN; ArgMax/ArgMin with ties and select_last_index; CumSum in all four modes.
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

Tensor run1(const std::string& type, std::vector<std::optional<Tensor>> inputs,
            std::vector<Attribute> attributes = {}, int64_t opset = 13, int threads = 1) {
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

struct Reduction {
  std::string type;
  double init;
  std::function<double(double, double)> step;     // acc, x -> acc
  std::function<double(double, int64_t)> finish;  // acc, count -> y
};

const std::vector<Reduction>& reductions() {
  static const std::vector<Reduction> all = {
      {"ReduceSum", 0, [](double a, double x) { return a + x; },
       [](double a, int64_t) { return a; }},
      {"ReduceMean", 0, [](double a, double x) { return a + x; },
       [](double a, int64_t n) { return a / static_cast<double>(n); }},
      {"ReduceMax", -INFINITY, [](double a, double x) { return std::max(a, x); },
       [](double a, int64_t) { return a; }},
      {"ReduceMin", INFINITY, [](double a, double x) { return std::min(a, x); },
       [](double a, int64_t) { return a; }},
      {"ReduceProd", 1, [](double a, double x) { return a * x; },
       [](double a, int64_t) { return a; }},
      {"ReduceL1", 0, [](double a, double x) { return a + std::abs(x); },
       [](double a, int64_t) { return a; }},
      {"ReduceL2", 0, [](double a, double x) { return a + x * x; },
       [](double a, int64_t) { return std::sqrt(a); }},
      {"ReduceLogSum", 0, [](double a, double x) { return a + x; },
       [](double a, int64_t) { return std::log(a); }},
      {"ReduceLogSumExp", 0, [](double a, double x) { return a + std::exp(x); },
       [](double a, int64_t) { return std::log(a); }},
      {"ReduceSumSquare", 0, [](double a, double x) { return a + x * x; },
       [](double a, int64_t) { return a; }},
  };
  return all;
}

// Naive reduction of x over `axes` (already non-negative; empty = none reduced).
Tensor reduce_reference(const Tensor& x, const std::vector<int>& axes, bool keepdims,
                        const Reduction& r) {
  const Shape& shape = x.shape();
  std::vector<bool> reduced(shape.size(), false);
  for (int a : axes) reduced[static_cast<size_t>(a)] = true;
  Shape out_shape, kept_shape;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (!reduced[d])
      out_shape.push_back(shape[d]), kept_shape.push_back(shape[d]);
    else if (keepdims)
      out_shape.push_back(1);
  }
  const int64_t out_count = shape_numel(kept_shape);
  std::vector<double> acc(static_cast<size_t>(out_count), r.init);
  std::vector<int64_t> count(static_cast<size_t>(out_count), 0);
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t rest = i, out = 0, stride = 1;
    for (size_t d = shape.size(); d-- > 0;) {
      const int64_t coord = rest % shape[d];
      rest /= shape[d];
      if (!reduced[d]) out += coord * stride, stride *= shape[d];
    }
    acc[static_cast<size_t>(out)] = r.step(acc[static_cast<size_t>(out)], x.value_as_double(i));
    ++count[static_cast<size_t>(out)];
  }
  Tensor y(DataType::Float, out_shape);
  for (int64_t i = 0; i < out_count; ++i)
    y.data<float>()[i] =
        static_cast<float>(r.finish(acc[static_cast<size_t>(i)], count[static_cast<size_t>(i)]));
  return y;
}

Tensor axes_tensor(const std::vector<int64_t>& axes) {
  return Tensor::from_vector<int64_t>({static_cast<int64_t>(axes.size())}, axes);
}

TEST(Reduce, AllKindsMatchReferenceOverAxisSets) {
  const Shape shape = {3, 4, 5, 2};
  const Tensor x = testing::random_tensor(DataType::Float, shape, 3, 0.2f, 1.5f);
  const std::vector<std::vector<int64_t>> axis_sets = {
      {0}, {1}, {3}, {-1}, {1, 2}, {0, 2}, {0, 3}, {-3, -1}, {0, 1, 2, 3}, {2, 0}};
  for (const Reduction& r : reductions()) {
    for (const auto& axes : axis_sets) {
      std::vector<int> positive;
      for (int64_t a : axes) positive.push_back(static_cast<int>(a < 0 ? a + 4 : a));
      for (bool keep : {true, false}) {
        SCOPED_TRACE(r.type + " axes " + shape_to_string(axes) + (keep ? " keep" : ""));
        const Tensor expected = reduce_reference(x, positive, keep, r);
        const Attribute keepdims = Attribute::make_int("keepdims", keep);
        // Axes as attribute (opset 13 except ReduceSum, whose axes became an input there)...
        if (r.type != "ReduceSum")
          expect_close(run1(r.type, {x}, {Attribute::make_ints("axes", axes), keepdims}, 13),
                       expected);
        else
          expect_close(run1(r.type, {x}, {Attribute::make_ints("axes", axes), keepdims}, 11),
                       expected);
        // ...and as an input (opset 18).
        expect_close(run1(r.type, {x, axes_tensor(axes)}, {keepdims}, 18), expected);
      }
    }
    // No axes: everything reduced.
    expect_close(run1(r.type, {x}, {}, 18), reduce_reference(x, {0, 1, 2, 3}, true, r));
  }
}

TEST(Reduce, EmptyAxesAndNoop) {
  const Tensor x = Tensor::from_vector<float>({2, 2}, {1, -2, 3, -4});
  const Tensor empty_axes(DataType::Int64, {0});
  const Attribute noop = Attribute::make_int("noop_with_empty_axes", 1);
  EXPECT_EQ(run1("ReduceSum", {x, empty_axes}, {}, 13).to_float_vector(), (std::vector<float>{-2}));
  EXPECT_TRUE(run1("ReduceSum", {x, empty_axes}, {noop}, 13).equals(x));
  EXPECT_TRUE(run1("ReduceSum", {x, std::nullopt}, {noop}, 13).equals(x));
  // "No reduction" still applies the per-element part, like the ONNX reference.
  EXPECT_EQ(run1("ReduceSumSquare", {x, empty_axes}, {noop}, 18).to_float_vector(),
            (std::vector<float>{1, 4, 9, 16}));
  EXPECT_EQ(run1("ReduceL1", {x, empty_axes}, {noop}, 18).to_float_vector(),
            (std::vector<float>{1, 2, 3, 4}));
}

TEST(Reduce, EmptyInputsAndScalars) {
  const Tensor empty(DataType::Float, {2, 0, 3});
  const Tensor axis1 = axes_tensor({1});
  EXPECT_EQ(run1("ReduceSum", {empty, axis1}, {}, 13).to_float_vector(), std::vector<float>(6, 0));
  EXPECT_EQ(run1("ReduceProd", {empty, axis1}, {}, 18).to_float_vector(), std::vector<float>(6, 1));
  EXPECT_EQ(run1("ReduceMax", {empty, axis1}, {}, 18).to_float_vector()[0], -INFINITY);
  EXPECT_TRUE(std::isnan(run1("ReduceMean", {empty, axis1}, {}, 18).to_float_vector()[0]));
  EXPECT_EQ(run1("ReduceSum", {empty, axes_tensor({2})}, {}, 13).shape(), (Shape{2, 0, 1}));
  const Tensor scalar = Tensor::scalar<float>(3);
  EXPECT_EQ(run1("ReduceSumSquare", {scalar}, {}, 13).to_float_vector(), (std::vector<float>{9}));
  EXPECT_EQ(run1("ReduceSumSquare", {scalar}, {}, 13).shape(), Shape{});
}

TEST(Reduce, NaNAndIntegersAndThreads) {
  const Tensor x = Tensor::from_vector<float>({2, 3}, {1, kNaN, 3, 4, 5, 6});
  const std::vector<float> max =
      run1("ReduceMax", {x}, {Attribute::make_ints("axes", {1})}).to_float_vector();
  EXPECT_TRUE(std::isnan(max[0]));
  EXPECT_EQ(max[1], 6);
  EXPECT_TRUE(
      std::isnan(run1("ReduceMin", {x}, {Attribute::make_ints("axes", {0})}).to_float_vector()[1]));
  const Tensor i = Tensor::from_vector<int32_t>({2, 3}, {1, -2, 3, 4, 5, 6});
  EXPECT_EQ(run1("ReduceSum", {i, axes_tensor({1})}, {Attribute::make_int("keepdims", 0)})
                .to_int64_vector(),
            (std::vector<int64_t>{2, 15}));
  EXPECT_EQ(run1("ReduceMin", {i}, {Attribute::make_ints("axes", {0})}).to_int64_vector(),
            (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(run1("ReduceProd", {i}, {Attribute::make_ints("axes", {1})}).to_int64_vector(),
            (std::vector<int64_t>{-6, 120}));
  const Tensor big = testing::random_tensor(DataType::Float, {16, 64, 96}, 8);
  for (const std::vector<int64_t>& axes :
       std::vector<std::vector<int64_t>>{{0}, {1}, {2}, {0, 2}, {0, 1, 2}})
    for (const char* type : {"ReduceSum", "ReduceMax", "ReduceLogSumExp"})
      EXPECT_TRUE(run1(type, {big}, {Attribute::make_ints("axes", axes)}, 13, 1)
                      .equals(run1(type, {big}, {Attribute::make_ints("axes", axes)}, 13, 4)))
          << type;
  double sum = 0;  // the full reduction runs in chunks
  for (int64_t k = 0; k < big.numel(); ++k) sum += big.value_as_double(k);
  EXPECT_NEAR(run1("ReduceSum", {big}, {}, 13, 2).to_float_vector()[0], sum, 1e-5 * big.numel());
  EXPECT_THROW(run1("ReduceMean", {x}, {Attribute::make_ints("axes", {2})}), Error);
  EXPECT_THROW(run1("ReduceMean", {x}, {Attribute::make_ints("axes", {1, -1})}), Error);
}

TEST(Reduce, LogSumExpIsStable) {
  const Tensor x = Tensor::from_vector<float>({3}, {1000, 1000, -INFINITY});
  EXPECT_NEAR(run1("ReduceLogSumExp", {x}).to_float_vector()[0], 1000 + std::log(2.0), 1e-3);
  const Tensor all_neg_inf = Tensor::from_vector<float>({2}, {-INFINITY, -INFINITY});
  EXPECT_EQ(run1("ReduceLogSumExp", {all_neg_inf}).to_float_vector()[0], -INFINITY);
}

TEST(ArgReduce, MaxMinKeepdimsTiesAndLastIndex) {
  const Tensor x = Tensor::from_vector<float>({2, 4}, {1, 3, 3, 0, 2, 2, 5, 2});
  auto arg = [&](const char* type, int64_t axis, int keep, int last) {
    const Tensor out =
        run1(type, {x},
             {Attribute::make_int("axis", axis), Attribute::make_int("keepdims", keep),
              Attribute::make_int("select_last_index", last)});
    return std::make_pair(out.shape(), out.to_int64_vector());
  };
  EXPECT_EQ(arg("ArgMax", 1, 1, 0), std::make_pair(Shape{2, 1}, std::vector<int64_t>{1, 2}));
  EXPECT_EQ(arg("ArgMax", -1, 0, 1), std::make_pair(Shape{2}, std::vector<int64_t>{2, 2}));
  EXPECT_EQ(arg("ArgMin", 1, 0, 0), std::make_pair(Shape{2}, std::vector<int64_t>{3, 0}));
  EXPECT_EQ(arg("ArgMin", 1, 0, 1), std::make_pair(Shape{2}, std::vector<int64_t>{3, 3}));
  EXPECT_EQ(arg("ArgMax", 0, 1, 0), std::make_pair(Shape{1, 4}, std::vector<int64_t>{1, 0, 1, 1}));
  EXPECT_EQ(arg("ArgMin", 0, 0, 1), std::make_pair(Shape{4}, std::vector<int64_t>{0, 1, 0, 0}));
  // NaN wins, as in numpy.
  const Tensor n = Tensor::from_vector<float>({4}, {1, kNaN, 5, kNaN});
  EXPECT_EQ(run1("ArgMax", {n}, {Attribute::make_int("keepdims", 0)}).to_int64_vector()[0], 1);
  EXPECT_EQ(run1("ArgMin", {n},
                 {Attribute::make_int("keepdims", 0), Attribute::make_int("select_last_index", 1)})
                .to_int64_vector()[0],
            3);
  const Tensor ints = Tensor::from_vector<int64_t>({3}, {4, -9, 4});
  EXPECT_EQ(run1("ArgMin", {ints}).to_int64_vector(), (std::vector<int64_t>{1}));
  EXPECT_THROW(run1("ArgMax", {Tensor(DataType::Float, {0, 2})}), Error);
}

TEST(ArgReduce, MatchesReferenceOnRandomData) {
  const Shape shape = {3, 5, 7};
  const Tensor x = testing::random_tensor(DataType::Float, shape, 12);
  for (int axis = 0; axis < 3; ++axis) {
    const Tensor out = run1(
        "ArgMax", {x}, {Attribute::make_int("axis", axis), Attribute::make_int("keepdims", 0)});
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d) outer *= shape[d];
    for (int d = axis + 1; d < 3; ++d) inner *= shape[d];
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < inner; ++j) {
        int64_t best = 0;
        for (int64_t r = 1; r < shape[axis]; ++r)
          if (x.value_as_double((o * shape[axis] + r) * inner + j) >
              x.value_as_double((o * shape[axis] + best) * inner + j))
            best = r;
        EXPECT_EQ(out.to_int64_vector()[static_cast<size_t>(o * inner + j)], best);
      }
  }
}

TEST(CumSum, AllModesAndAxes) {
  const Tensor x = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto cumsum = [&](int64_t axis, int exclusive, int reverse) {
    return run1("CumSum", {x, Tensor::scalar<int32_t>(static_cast<int32_t>(axis))},
                {Attribute::make_int("exclusive", exclusive),
                 Attribute::make_int("reverse", reverse)},
                14)
        .to_float_vector();
  };
  EXPECT_EQ(cumsum(1, 0, 0), (std::vector<float>{1, 3, 6, 4, 9, 15}));
  EXPECT_EQ(cumsum(-1, 1, 0), (std::vector<float>{0, 1, 3, 0, 4, 9}));
  EXPECT_EQ(cumsum(1, 0, 1), (std::vector<float>{6, 5, 3, 15, 11, 6}));
  EXPECT_EQ(cumsum(1, 1, 1), (std::vector<float>{5, 3, 0, 11, 6, 0}));
  EXPECT_EQ(cumsum(0, 0, 0), (std::vector<float>{1, 2, 3, 5, 7, 9}));
  EXPECT_EQ(cumsum(-2, 1, 1), (std::vector<float>{4, 5, 6, 0, 0, 0}));
  const Tensor i = Tensor::from_vector<int64_t>({4}, {1, -1, 10, 7});
  EXPECT_EQ(run1("CumSum", {i, Tensor::scalar<int64_t>(0)}, {}, 14).to_int64_vector(),
            (std::vector<int64_t>{1, 0, 10, 17}));
  EXPECT_THROW(run1("CumSum", {x, Tensor::scalar<float>(0)}, {}, 14), Error);
  EXPECT_THROW(run1("CumSum", {x, Tensor::scalar<int64_t>(2)}, {}, 14), Error);
}

TEST(ReduceOrt, AgreesWithOnnxRuntime) {
  using testing::OrtCase;
  const Tensor x = testing::random_tensor(DataType::Float, {3, 4, 5, 6}, 55, 0.1f, 2);
  std::vector<OrtCase> cases;
  for (const Reduction& r : reductions())
    for (const std::vector<int64_t>& axes :
         std::vector<std::vector<int64_t>>{{1}, {0, 2}, {-1}, {1, 2, 3}})
      for (int keep : {0, 1}) {
        const Attribute keepdims = Attribute::make_int("keepdims", keep);
        cases.push_back({r.type, {x, axes_tensor(axes)}, {keepdims}, 18});
        if (r.type != "ReduceSum")
          cases.push_back({r.type, {x}, {Attribute::make_ints("axes", axes), keepdims}, 13});
      }
  const Tensor ties = Tensor::from_vector<float>({2, 5}, {1, 3, 3, 0, 3, 2, 2, 5, 2, 5});
  for (const char* type : {"ArgMax", "ArgMin"})
    for (int last : {0, 1})
      for (int64_t axis : {0, 1, -1})
        cases.push_back(
            {type,
             {ties},
             {Attribute::make_int("axis", axis), Attribute::make_int("select_last_index", last)},
             13});
  for (int exclusive : {0, 1})
    for (int reverse : {0, 1})
      cases.push_back(
          {"CumSum",
           {x, Tensor::scalar<int64_t>(2)},
           {Attribute::make_int("exclusive", exclusive), Attribute::make_int("reverse", reverse)},
           14});
  testing::expect_agrees_with_ort(cases);
}

}  // namespace
}  // namespace qforge
