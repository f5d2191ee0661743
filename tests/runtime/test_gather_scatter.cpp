// SPDX-License-Identifier: Apache-2.0
// Gather/scatter family (src/runtime/kernels/gather_scatter.cpp): Gather, GatherElements,
// GatherND, ScatterElements, ScatterND, Scatter against naive references written from the
// spec, with negative indices, batch_dims, reductions, strings, empty indices, and the
// out-of-range errors (never a crash).
#include <gtest/gtest.h>

#include <random>

#include "support/kernel_test_util.h"
#include "support/test_support.h"

namespace qforge {
namespace {

using testing::random_tensor;
using testing::run_single_op;
using testing::SingleOp;
using Index = std::vector<int64_t>;

Tensor run1(const std::string& type, std::vector<std::optional<Tensor>> inputs,
            std::vector<Attribute> attrs = {}, int64_t opset = 18, int threads = 1) {
  SingleOp spec;
  spec.type = type;
  spec.inputs = std::move(inputs);
  spec.attributes = std::move(attrs);
  spec.opset = opset;
  spec.threads = threads;
  return run_single_op(spec)[0];
}

Tensor ints(Shape shape, const std::vector<int64_t>& values) {
  return Tensor::from_vector<int64_t>(std::move(shape), values);
}

Index unravel(int64_t flat, const Shape& shape) {
  Index index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return index;
}
int64_t ravel(const Index& index, const Shape& shape) {
  int64_t flat = 0;
  for (size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + index[d];
  return flat;
}

Tensor random_indices(Shape shape, int64_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  Tensor t(DataType::Int64, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<int64_t>()[i] = static_cast<int64_t>(rng() % static_cast<uint32_t>(2 * dim)) - dim;
  return t;
}

TEST(GatherScatterKernels, GatherMatchesNaive) {
  const Tensor data = random_tensor(DataType::Float, {3, 4, 5}, 1);
  for (int64_t axis : {0, 1, -1}) {
    const size_t a = static_cast<size_t>(axis < 0 ? axis + 3 : axis);
    const Tensor idx = random_indices({2, 3}, data.shape()[a], 2);
    for (int threads : {1, 3}) {
      const Tensor y =
          run1("Gather", {data, idx}, {Attribute::make_int("axis", axis)}, 13, threads);
      Shape shape(data.shape().begin(), data.shape().begin() + static_cast<int64_t>(a));
      shape.insert(shape.end(), {2, 3});
      shape.insert(shape.end(), data.shape().begin() + static_cast<int64_t>(a) + 1,
                   data.shape().end());
      ASSERT_EQ(y.shape(), shape);
      for (int64_t i = 0; i < y.numel(); ++i) {
        const Index o = unravel(i, shape);
        Index in(o.begin(), o.begin() + static_cast<int64_t>(a));
        int64_t k = idx.data<int64_t>()[o[a] * 3 + o[a + 1]];
        in.push_back(k < 0 ? k + data.shape()[a] : k);
        in.insert(in.end(), o.begin() + static_cast<int64_t>(a) + 2, o.end());
        EXPECT_EQ(y.data<float>()[i], data.data<float>()[ravel(in, data.shape())]);
      }
    }
  }
}

TEST(GatherScatterKernels, GatherEdgeCases) {
  const Tensor data = Tensor::from_vector<float>({3, 2}, {0, 1, 2, 3, 4, 5});
  // A scalar index drops the axis; int32 indices work; empty indices give an empty result.
  EXPECT_EQ(run1("Gather", {data, Tensor::scalar<int64_t>(-1)}, {}, 13).to_float_vector(),
            (std::vector<float>{4, 5}));
  EXPECT_EQ(run1("Gather", {data, Tensor::from_vector<int32_t>({1}, {1})},
                 {Attribute::make_int("axis", 1)}, 13)
                .to_float_vector(),
            (std::vector<float>{1, 3, 5}));
  EXPECT_EQ(run1("Gather", {data, Tensor(DataType::Int64, {0})}, {}, 13).shape(), (Shape{0, 2}));
  Tensor s(DataType::String, {3});
  s.strings() = {"a", "b", "c"};
  EXPECT_EQ(run1("Gather", {s, ints({2}, {2, 0})}, {}, 13).strings(),
            (std::vector<std::string>{"c", "a"}));
  EXPECT_THROW(run1("Gather", {data, ints({1}, {3})}, {}, 13), Error);
  EXPECT_THROW(run1("Gather", {data, ints({1}, {-4})}, {}, 13), Error);
  EXPECT_THROW(run1("Gather", {data, ints({1}, {0})}, {Attribute::make_int("axis", 2)}, 13), Error);
  EXPECT_THROW(run1("Gather", {data, Tensor::from_vector<float>({1}, {0})}, {}, 13), Error);
  try {
    run1("Gather", {data, ints({1}, {9})}, {}, 13);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Gather"), std::string::npos) << e.what();
  }
}

TEST(GatherScatterKernels, GatherElementsMatchesNaive) {
  const Tensor data = random_tensor(DataType::Float, {3, 4}, 3);
  for (int64_t axis : {0, -1}) {
    const size_t a = static_cast<size_t>(axis < 0 ? axis + 2 : axis);
    const Tensor idx = random_indices({2, 3}, data.shape()[a], 4);
    const Tensor y = run1("GatherElements", {data, idx}, {Attribute::make_int("axis", axis)}, 13);
    ASSERT_EQ(y.shape(), idx.shape());
    for (int64_t i = 0; i < y.numel(); ++i) {
      Index o = unravel(i, idx.shape());
      const int64_t k = idx.data<int64_t>()[i];
      o[a] = k < 0 ? k + data.shape()[a] : k;
      EXPECT_EQ(y.data<float>()[i], data.data<float>()[ravel(o, data.shape())]);
    }
  }
  EXPECT_THROW(
      run1("GatherElements", {data, ints({1, 1}, {4})}, {Attribute::make_int("axis", 1)}, 13),
      Error);
  EXPECT_THROW(run1("GatherElements", {data, ints({1}, {0})}, {}, 13), Error);
}

TEST(GatherScatterKernels, GatherNDWithBatchDims) {
  const Tensor data = Tensor::from_vector<float>({2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  EXPECT_EQ(run1("GatherND", {data, ints({2, 2}, {0, 1, 1, 0})}, {}, 13).to_float_vector(),
            (std::vector<float>{2, 3, 4, 5}));
  EXPECT_EQ(run1("GatherND", {data, ints({2, 3}, {0, 1, 1, -1, -1, -2})}, {}, 13).to_float_vector(),
            (std::vector<float>{3, 6}));
  // batch_dims = 1: each batch picks its own row.
  const Tensor y =
      run1("GatherND", {data, ints({2, 1}, {1, 0})}, {Attribute::make_int("batch_dims", 1)}, 13);
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_EQ(y.to_float_vector(), (std::vector<float>{2, 3, 4, 5}));
  EXPECT_THROW(run1("GatherND", {data, ints({1, 2}, {2, 0})}, {}, 13), Error);
  EXPECT_THROW(run1("GatherND", {data, ints({1, 4}, {0, 0, 0, 0})}, {}, 13), Error);
  EXPECT_THROW(
      run1("GatherND", {data, ints({3, 1}, {0, 0, 0})}, {Attribute::make_int("batch_dims", 1)}, 13),
      Error);
}

// Naive ScatterElements with a reduction as a function.
Tensor naive_scatter_elements(const Tensor& data, const Tensor& idx, const Tensor& upd, size_t axis,
                              const std::function<float(float, float)>& combine) {
  Tensor out = data.clone();
  for (int64_t i = 0; i < idx.numel(); ++i) {
    Index o = unravel(i, idx.shape());
    const int64_t k = idx.data<int64_t>()[i];
    o[axis] = k < 0 ? k + data.shape()[axis] : k;
    float& target = out.data<float>()[ravel(o, data.shape())];
    target = combine(target, upd.data<float>()[i]);
  }
  return out;
}

TEST(GatherScatterKernels, ScatterElementsReductions) {
  const Tensor data = random_tensor(DataType::Float, {4, 5}, 5);
  const Tensor idx = random_indices({3, 5}, 4, 6);  // duplicates on purpose
  const Tensor upd = random_tensor(DataType::Float, {3, 5}, 7);
  const std::vector<std::pair<std::string, std::function<float(float, float)>>> cases = {
      {"none", [](float, float u) { return u; }},
      {"add", [](float a, float u) { return a + u; }},
      {"mul", [](float a, float u) { return a * u; }},
      {"max", [](float a, float u) { return std::max(a, u); }},
      {"min", [](float a, float u) { return std::min(a, u); }}};
  for (const auto& [name, fn] : cases) {
    const Tensor y =
        run1("ScatterElements", {data, idx, upd}, {Attribute::make_string("reduction", name)}, 18);
    EXPECT_EQ(
        testing::compare_tensors(y, naive_scatter_elements(data, idx, upd, 0, fn), 1e-6, 1e-6), "")
        << name;
  }
  EXPECT_THROW(
      run1("ScatterElements", {data, idx, upd}, {Attribute::make_string("reduction", "max")}, 16),
      Error);
  // The deprecated Scatter is ScatterElements without reduction.
  const Tensor small_idx = ints({1, 2}, {1, 3});
  const Tensor small_upd = Tensor::from_vector<float>({1, 2}, {10, 20});
  const Tensor s = run1("Scatter", {Tensor(DataType::Float, {1, 5}), small_idx, small_upd},
                        {Attribute::make_int("axis", 1)}, 10);
  EXPECT_EQ(s.to_float_vector(), (std::vector<float>{0, 10, 0, 20, 0}));
  EXPECT_THROW(run1("ScatterElements",
                    {data, ints({1, 1}, {4}), Tensor::from_vector<float>({1, 1}, {1})}, {}, 13),
               Error);
  EXPECT_THROW(
      run1("ScatterElements", {data, idx, random_tensor(DataType::Float, {3, 4}, 1)}, {}, 13),
      Error);
}

TEST(GatherScatterKernels, ScatterNDReductionsAndStrings) {
  const Tensor data = Tensor::from_vector<float>({4}, {1, 2, 3, 4});
  const Tensor idx = ints({3, 1}, {1, -1, 1});
  const Tensor upd = Tensor::from_vector<float>({3}, {5, 6, 7});
  EXPECT_EQ(run1("ScatterND", {data, idx, upd}, {}, 13).to_float_vector(),
            (std::vector<float>{1, 7, 3, 6}));
  EXPECT_EQ(run1("ScatterND", {data, idx, upd}, {Attribute::make_string("reduction", "add")}, 16)
                .to_float_vector(),
            (std::vector<float>{1, 14, 3, 10}));
  EXPECT_EQ(run1("ScatterND", {data, idx, upd}, {Attribute::make_string("reduction", "mul")}, 16)
                .to_float_vector(),
            (std::vector<float>{1, 70, 3, 24}));
  EXPECT_EQ(run1("ScatterND", {data, idx, upd}, {Attribute::make_string("reduction", "min")}, 18)
                .to_float_vector(),
            (std::vector<float>{1, 2, 3, 4}));
  // Slices: index tuples shorter than the rank replace whole rows.
  const Tensor m = Tensor::from_vector<int32_t>({2, 2}, {1, 2, 3, 4});
  const Tensor rows = run1(
      "ScatterND", {m, ints({1, 1}, {1}), Tensor::from_vector<int32_t>({1, 2}, {8, 9})}, {}, 13);
  EXPECT_EQ(rows.to_int64_vector(), (std::vector<int64_t>{1, 2, 8, 9}));
  Tensor s(DataType::String, {2});
  s.strings() = {"a", "b"};
  Tensor su(DataType::String, {1});
  su.strings() = {"z"};
  EXPECT_EQ(run1("ScatterND", {s, ints({1, 1}, {0}), su}, {}, 13).strings(),
            (std::vector<std::string>{"z", "b"}));
  EXPECT_THROW(
      run1("ScatterND", {data, ints({1, 1}, {4}), Tensor::from_vector<float>({1}, {0})}, {}, 13),
      Error);
  EXPECT_THROW(run1("ScatterND", {data, idx, Tensor::from_vector<float>({2}, {0, 0})}, {}, 13),
               Error);
}

}  // namespace
}  // namespace qforge
