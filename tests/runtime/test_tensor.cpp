// SPDX-License-Identifier: Apache-2.0
// Tensor family (src/runtime/kernels/tensor.cpp, tensor_create.cpp, axis_copy.cpp): every op
// against a naive reference written from the spec (index by index), views that must share the
// input buffer, all-dtype moves (int8, strings), edge cases (empty tensors, negative axes,
// clamped slices) and the errors user input can trigger.
#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <random>

#include "support/kernel_test_util.h"
#include "support/test_support.h"

namespace qforge {
namespace {

using testing::random_tensor;
using testing::run_single_op;
using testing::SingleOp;
using Index = std::vector<int64_t>;

std::vector<Tensor> run(const std::string& type, std::vector<std::optional<Tensor>> inputs,
                        std::vector<Attribute> attrs = {}, int64_t opset = 17, size_t outputs = 1,
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
Tensor run1(const std::string& type, std::vector<std::optional<Tensor>> inputs,
            std::vector<Attribute> attrs = {}, int64_t opset = 17, int threads = 1) {
  return run(type, std::move(inputs), std::move(attrs), opset, 1, threads)[0];
}

Tensor ints(const std::vector<int64_t>& values) {
  return Tensor::from_vector<int64_t>({static_cast<int64_t>(values.size())}, values);
}
Tensor iota(Shape shape) {
  Tensor t(DataType::Float, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i);
  return t;
}
Tensor strings(Shape shape) {
  Tensor t(DataType::String, std::move(shape));
  for (size_t i = 0; i < t.strings().size(); ++i) t.strings()[i] = fmt::format("s{}", i);
  return t;
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

// Naive gather: out[o] = in[source(o)], or `fill` when source returns false.
using SourceFn = std::function<bool(const Index& out, Index& in)>;
Tensor naive(const Tensor& in, const Shape& out_shape, const SourceFn& source, float fill = 0) {
  Tensor out(DataType::Float, out_shape);
  Index from;
  for (int64_t i = 0; i < out.numel(); ++i)
    out.data<float>()[i] =
        source(unravel(i, out_shape), from) ? in.data<float>()[ravel(from, in.shape())] : fill;
  return out;
}

void expect_same(const Tensor& actual, const Tensor& expected) {
  EXPECT_TRUE(actual.equals(expected))
      << shape_to_string(actual.shape()) << " vs " << shape_to_string(expected.shape()) << ": "
      << testing::compare_tensors(actual, expected, 0, 0);
}

// ---- views ----

TEST(TensorKernels, ReshapeZeroAndInferredShareTheBuffer) {
  const Tensor x = iota({2, 3, 4});
  const Tensor y = run1("Reshape", {x, ints({0, -1})});
  EXPECT_EQ(y.shape(), (Shape{2, 12}));
  EXPECT_EQ(y.raw(), x.raw());
  EXPECT_EQ(run1("Reshape", {x, ints({-1})}).shape(), (Shape{24}));
  EXPECT_EQ(run1("Reshape", {x, ints({4, 0, 2})}).shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(run1("Reshape", {x}, {Attribute::make_ints("shape", {6, -1})}, 4).shape(),
            (Shape{6, 4}));
}

TEST(TensorKernels, ReshapeAllowZeroAndErrors) {
  const Tensor empty(DataType::Float, {0, 3});
  EXPECT_EQ(
      run1("Reshape", {empty, ints({3, 0})}, {Attribute::make_int("allowzero", 1)}, 14).shape(),
      (Shape{3, 0}));
  // Without allowzero a 0 copies the input dimension.
  EXPECT_EQ(run1("Reshape", {empty, ints({0, 3})}, {}, 14).shape(), (Shape{0, 3}));
  const Tensor x = iota({2, 3});
  EXPECT_THROW(run1("Reshape", {x, ints({-1, -1})}), Error);
  EXPECT_THROW(run1("Reshape", {x, ints({4, 2})}), Error);
  EXPECT_THROW(run1("Reshape", {x, ints({0, 0, 0})}), Error);
}

TEST(TensorKernels, FlattenSqueezeUnsqueezeAreViews) {
  const Tensor x = iota({2, 1, 3, 1});
  const Tensor f = run1("Flatten", {x}, {Attribute::make_int("axis", -2)});
  EXPECT_EQ(f.shape(), (Shape{2, 3}));
  EXPECT_EQ(f.raw(), x.raw());
  EXPECT_EQ(run1("Flatten", {x}, {Attribute::make_int("axis", 0)}).shape(), (Shape{1, 6}));
  EXPECT_EQ(run1("Flatten", {x}, {Attribute::make_int("axis", 4)}).shape(), (Shape{6, 1}));
  EXPECT_THROW(run1("Flatten", {x}, {Attribute::make_int("axis", 5)}), Error);

  EXPECT_EQ(run1("Squeeze", {x}, {}, 13).shape(), (Shape{2, 3}));
  EXPECT_EQ(run1("Squeeze", {x, ints({-1})}, {}, 13).shape(), (Shape{2, 1, 3}));
  EXPECT_EQ(run1("Squeeze", {x}, {Attribute::make_ints("axes", {1})}, 11).shape(),
            (Shape{2, 3, 1}));
  EXPECT_THROW(run1("Squeeze", {x, ints({0})}, {}, 13), Error);
  EXPECT_EQ(run1("Squeeze", {x}, {}, 13).raw(), x.raw());

  const Tensor u = run1("Unsqueeze", {iota({2, 3}), ints({-1, 0})}, {}, 13);
  EXPECT_EQ(u.shape(), (Shape{1, 2, 3, 1}));
  EXPECT_EQ(run1("Unsqueeze", {iota({2, 3})}, {Attribute::make_ints("axes", {3, 1})}, 11).shape(),
            (Shape{2, 1, 3, 1}));
  EXPECT_EQ(run1("Unsqueeze", {Tensor::scalar(1.0f), ints({0})}, {}, 13).shape(), (Shape{1}));
  EXPECT_THROW(run1("Unsqueeze", {iota({2, 3}), ints({1, 1})}, {}, 13), Error);
  EXPECT_THROW(run1("Unsqueeze", {iota({2, 3}), ints({3})}, {}, 13), Error);
}

TEST(TensorKernels, IdentityAndDropoutInference) {
  const Tensor x = iota({3, 4});
  EXPECT_EQ(run1("Identity", {x}).raw(), x.raw());
  auto out = run("Dropout", {x, Tensor::scalar(0.5f)}, {}, 13, 2);
  EXPECT_EQ(out[0].raw(), x.raw());
  ASSERT_EQ(out[1].dtype(), DataType::Bool);
  for (int64_t i = 0; i < 12; ++i) EXPECT_TRUE(out[1].data<bool>()[i]);
  // Opset 7-9: the mask has the data's type.
  out = run("Dropout", {x}, {Attribute::make_float("ratio", 0.3f)}, 7, 2);
  EXPECT_EQ(out[1].dtype(), DataType::Float);
  EXPECT_EQ(out[1].data<float>()[5], 1.0f);
}

TEST(TensorKernels, DropoutTrainingIsSeededAndScaled) {
  const Tensor x = random_tensor(DataType::Float, {1000}, 3, 1.0f, 2.0f);
  const auto attrs = std::vector<Attribute>{Attribute::make_int("seed", 7)};
  const auto a = run("Dropout", {x, Tensor::scalar(0.25f), Tensor::scalar(true)}, attrs, 13, 2);
  const auto b = run("Dropout", {x, Tensor::scalar(0.25f), Tensor::scalar(true)}, attrs, 13, 2);
  EXPECT_TRUE(a[0].equals(b[0]));
  int kept = 0;
  for (int64_t i = 0; i < 1000; ++i) {
    const bool keep = a[1].data<bool>()[i];
    kept += keep;
    EXPECT_FLOAT_EQ(a[0].data<float>()[i], keep ? x.data<float>()[i] / 0.75f : 0.0f);
  }
  EXPECT_NEAR(kept, 750, 60);
  EXPECT_THROW(run("Dropout", {x, Tensor::scalar(1.0f), Tensor::scalar(true)}, {}, 13, 2), Error);
}

// ---- Transpose, Concat, Split ----

void expect_transposes_match_naive(const Tensor& x) {
  const std::vector<Index> perms = {
      {0, 1, 2, 3}, {3, 2, 1, 0}, {0, 2, 3, 1}, {0, 3, 1, 2}, {1, 0, 3, 2}};
  for (const Index& perm : perms) {
    Shape shape(4);
    for (size_t d = 0; d < 4; ++d) shape[d] = x.shape()[static_cast<size_t>(perm[d])];
    const Tensor expected = naive(x, shape, [&](const Index& o, Index& i) {
      i.assign(4, 0);
      for (size_t d = 0; d < 4; ++d) i[static_cast<size_t>(perm[d])] = o[d];
      return true;
    });
    for (int threads : {1, 3})
      expect_same(run1("Transpose", {x}, {Attribute::make_ints("perm", perm)}, 17, threads),
                  expected);
  }
}

TEST(TensorKernels, TransposeMatchesNaive) {
  // [0, 2, 3, 1] and [0, 3, 1, 2] are batches of matrix transposes: of 3 rows (interleaved in
  // registers), of other short matrices (scattered) and of 16 rows or more (tiles), with
  // columns left over past the last full vector; the other permutations take the general path.
  for (const Shape& x_shape :
       std::vector<Shape>{{3, 4, 5, 6}, {2, 3, 7, 5}, {1, 5, 4, 9}, {2, 20, 3, 3}, {1, 3, 4, 4}}) {
    SCOPED_TRACE(shape_to_string(x_shape));
    expect_transposes_match_naive(random_tensor(DataType::Float, x_shape, 1));
  }
  const Tensor x = random_tensor(DataType::Float, {3, 4, 5, 6}, 1);
  EXPECT_EQ(run1("Transpose", {x}).shape(), (Shape{6, 5, 4, 3}));
  EXPECT_THROW(run1("Transpose", {x}, {Attribute::make_ints("perm", {0, 0, 1, 2})}), Error);
}

TEST(TensorKernels, TransposeLargeParallelAndOtherDtypes) {
  const Tensor x = random_tensor(DataType::Float, {2, 64, 48, 40}, 2);
  for (const Index& perm : std::vector<Index>{{0, 2, 3, 1}, {0, 3, 1, 2}, {2, 1, 0, 3}}) {
    Shape shape(4);
    for (size_t d = 0; d < 4; ++d) shape[d] = x.shape()[static_cast<size_t>(perm[d])];
    const Tensor expected = naive(x, shape, [&](const Index& o, Index& i) {
      i.assign(4, 0);
      for (size_t d = 0; d < 4; ++d) i[static_cast<size_t>(perm[d])] = o[d];
      return true;
    });
    expect_same(run1("Transpose", {x}, {Attribute::make_ints("perm", perm)}, 17, 4), expected);
  }
  const Tensor serial = run1("Transpose", {x}, {Attribute::make_ints("perm", {0, 2, 3, 1})});
  const Tensor i8 = x.cast(DataType::Int8);
  const Tensor t8 = run1("Transpose", {i8}, {Attribute::make_ints("perm", {0, 2, 3, 1})});
  expect_same(t8, serial.cast(DataType::Int8));
  const Tensor s = strings({2, 3});
  const Tensor ts = run1("Transpose", {s});
  EXPECT_EQ(ts.strings(), (std::vector<std::string>{"s0", "s3", "s1", "s4", "s2", "s5"}));
}

TEST(TensorKernels, ConcatMatchesNaive) {
  const Tensor a = random_tensor(DataType::Float, {2, 3, 4}, 1);
  const Tensor b = random_tensor(DataType::Float, {2, 0, 4}, 2);
  const Tensor c = random_tensor(DataType::Float, {2, 5, 4}, 3);
  const Tensor y = run1("Concat", {a, b, c}, {Attribute::make_int("axis", -2)});
  ASSERT_EQ(y.shape(), (Shape{2, 8, 4}));
  for (int64_t i = 0; i < y.numel(); ++i) {
    const Index o = unravel(i, y.shape());
    const float want = o[1] < 3 ? a.data<float>()[ravel(o, a.shape())]
                                : c.data<float>()[ravel({o[0], o[1] - 3, o[2]}, c.shape())];
    EXPECT_EQ(y.data<float>()[i], want);
  }
  const Tensor s =
      run1("Concat", {strings({2, 1}), strings({2, 2})}, {Attribute::make_int("axis", 1)});
  EXPECT_EQ(s.strings(), (std::vector<std::string>{"s0", "s0", "s1", "s1", "s2", "s3"}));
  EXPECT_THROW(run1("Concat", {a, iota({2, 3, 5})}, {Attribute::make_int("axis", 1)}), Error);
  EXPECT_THROW(run1("Concat", {a, a}, {Attribute::make_int("axis", 3)}), Error);
}

TEST(TensorKernels, SplitForms) {
  const Tensor x = iota({2, 5});
  auto parts = run("Split", {x, ints({2, 0, 3})}, {Attribute::make_int("axis", -1)}, 13, 3);
  EXPECT_EQ(parts[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(parts[1].shape(), (Shape{2, 0}));
  EXPECT_EQ(parts[2].to_float_vector(), (std::vector<float>{2, 3, 4, 7, 8, 9}));
  parts = run("Split", {x}, {Attribute::make_int("axis", 1), Attribute::make_ints("split", {4, 1})},
              11, 2);
  EXPECT_EQ(parts[1].to_float_vector(), (std::vector<float>{4, 9}));
  // Opset 18: num_outputs with a smaller last chunk.
  parts = run("Split", {x}, {Attribute::make_int("axis", 1), Attribute::make_int("num_outputs", 3)},
              18, 3);
  EXPECT_EQ(parts[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(parts[2].to_float_vector(), (std::vector<float>{4, 9}));
  parts = run("Split", {x}, {}, 13, 2);
  EXPECT_EQ(parts[1].to_float_vector(), (std::vector<float>{5, 6, 7, 8, 9}));
  EXPECT_THROW(run("Split", {x}, {Attribute::make_int("axis", 1)}, 13, 2), Error);
  EXPECT_THROW(run("Split", {x, ints({2, 2})}, {Attribute::make_int("axis", 1)}, 13, 2), Error);
}

// ---- Slice ----

// Python's slice semantics, written the way CPython adjusts indices, except for one corner
// where the ONNX spec (and ONNX Runtime) differ from numpy: a start below -dim with a negative
// step clamps to 0 (the first element), where Python gives an empty slice.
std::vector<int64_t> python_slice(int64_t dim, int64_t start, int64_t stop, int64_t step) {
  auto adjust = [&](int64_t v, bool is_start) {
    if (v < 0) {
      v = v < -dim ? (step < 0 && !is_start ? -1 : 0) : v + dim;
    } else if (v >= dim) {
      v = step < 0 ? dim - 1 : dim;
    }
    return v;
  };
  start = adjust(start, true);
  stop = adjust(stop, false);
  std::vector<int64_t> out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    out.push_back(i);
    if ((step > 0 && i > std::numeric_limits<int64_t>::max() - step) ||
        (step < 0 && i < std::numeric_limits<int64_t>::min() - step))
      break;
  }
  return out;
}

TEST(TensorKernels, SliceRandomAgainstPythonSemantics) {
  const Tensor x = random_tensor(DataType::Float, {4, 5, 6}, 4);
  std::mt19937 rng(11);
  const int64_t big = std::numeric_limits<int64_t>::max(),
                small = std::numeric_limits<int64_t>::min();
  const std::vector<int64_t> bounds = {-8, -6, -5, -3, -1, 0, 1, 2, 4, 5, 7, big, small};
  const std::vector<int64_t> steps = {1, 2, 3, -1, -2, -4, big, small + 1};
  auto pick = [&](const std::vector<int64_t>& v) { return v[rng() % v.size()]; };
  for (int trial = 0; trial < 300; ++trial) {
    const int64_t axis = static_cast<int64_t>(rng() % 3) - (trial % 2 ? 3 : 0);
    const int64_t start = pick(bounds), end = pick(bounds), step = pick(steps);
    const size_t a = static_cast<size_t>(axis < 0 ? axis + 3 : axis);
    const std::vector<int64_t> keep = python_slice(x.shape()[a], start, end, step);
    Shape shape = x.shape();
    shape[a] = static_cast<int64_t>(keep.size());
    const Tensor expected = naive(x, shape, [&](const Index& o, Index& i) {
      i = o;
      i[a] = keep[static_cast<size_t>(o[a])];
      return true;
    });
    const Tensor y =
        run1("Slice", {x, ints({start}), ints({end}), ints({axis}), ints({step})}, {}, 13);
    expect_same(y, expected);
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "axis " << axis << " start " << start << " end " << end << " step " << step;
      return;
    }
  }
}

TEST(TensorKernels, SliceFormsAndErrors) {
  const Tensor x = iota({3, 4});
  // Default axes and steps; the opset 1-9 attribute form.
  EXPECT_EQ(run1("Slice", {x, ints({1, 1}), ints({3, 3})}, {}, 13).to_float_vector(),
            (std::vector<float>{5, 6, 9, 10}));
  EXPECT_EQ(run1("Slice", {x},
                 {Attribute::make_ints("starts", {1}), Attribute::make_ints("ends", {1000}),
                  Attribute::make_ints("axes", {1})},
                 9)
                .to_float_vector(),
            (std::vector<float>{1, 2, 3, 5, 6, 7, 9, 10, 11}));
  EXPECT_EQ(run1("Slice", {x, ints({0}), ints({0}), ints({0})}, {}, 13).shape(), (Shape{0, 4}));
  EXPECT_THROW(run1("Slice", {x, ints({0}), ints({2}), ints({0}), ints({0})}, {}, 13), Error);
  EXPECT_THROW(run1("Slice", {x, ints({0, 0}), ints({2, 2}), ints({1, -1})}, {}, 13), Error);
  EXPECT_THROW(run1("Slice", {x, ints({0}), ints({2}), ints({2})}, {}, 13), Error);
  const Tensor s =
      run1("Slice", {strings({5}), ints({-1}), ints({-6}), ints({0}), ints({-2})}, {}, 13);
  EXPECT_EQ(s.strings(), (std::vector<std::string>{"s4", "s2", "s0"}));
}

// ---- Pad, CenterCropPad ----

// numpy.pad semantics for one axis, by repeated reflection (not the kernel's closed form).
int64_t numpy_pad_index(int64_t p, int64_t n, const std::string& mode) {
  if (p >= 0 && p < n) return p;
  if (mode == "constant") return -1;
  if (mode == "edge") return p < 0 ? 0 : n - 1;
  if (mode == "wrap") return ((p % n) + n) % n;
  if (n == 1) return 0;
  while (p < 0 || p >= n) p = p < 0 ? -p : 2 * (n - 1) - p;
  return p;
}

TEST(TensorKernels, PadModesMatchNaive) {
  const Tensor x = random_tensor(DataType::Float, {3, 4, 5}, 5);
  const Index pads = {1, 0, 7, 2, 3, 4};  // begins then ends; reflect wraps several times on axis 2
  for (const std::string mode : {"constant", "reflect", "edge", "wrap"}) {
    Shape shape(3);
    for (size_t d = 0; d < 3; ++d) shape[d] = x.shape()[d] + pads[d] + pads[d + 3];
    const Tensor expected = naive(
        x, shape,
        [&](const Index& o, Index& i) {
          i.resize(3);
          for (size_t d = 0; d < 3; ++d) {
            i[d] = numpy_pad_index(o[d] - pads[d], x.shape()[d], mode);
            if (i[d] < 0) return false;
          }
          return true;
        },
        2.5f);
    const Tensor y = run1("Pad", {x, ints(pads), Tensor::scalar(2.5f)},
                          {Attribute::make_string("mode", mode)}, 13, 2);
    expect_same(y, expected);
  }
}

TEST(TensorKernels, PadNegativeAxesAndOldForms) {
  const Tensor x = iota({2, 4});
  // Negative pads crop; reflection then works on the cropped extent.
  EXPECT_EQ(run1("Pad", {x, ints({0, -1, 0, 2})}, {Attribute::make_string("mode", "reflect")}, 13)
                .to_float_vector(),
            (std::vector<float>{1, 2, 3, 2, 1, 5, 6, 7, 6, 5}));
  // Opset 18 axes input (negative axis).
  EXPECT_EQ(run1("Pad", {x, ints({1, 0}), std::nullopt, ints({-1})}, {}, 18).to_float_vector(),
            (std::vector<float>{0, 0, 1, 2, 3, 0, 4, 5, 6, 7}));
  // Opset 2 attributes and opset 1 "paddings".
  const auto attrs = std::vector<Attribute>{Attribute::make_ints("pads", {1, 0, 0, 0}),
                                            Attribute::make_float("value", -1.0f)};
  EXPECT_EQ(run1("Pad", {x}, attrs, 2).to_float_vector(),
            (std::vector<float>{-1, -1, -1, -1, 0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(run1("Pad", {x}, {Attribute::make_ints("paddings", {0, 0, 0, 1})}, 1).shape(),
            (Shape{2, 5}));
  const Tensor i = Tensor::from_vector<int32_t>({2}, {3, 4});
  EXPECT_EQ(run1("Pad", {i, ints({1, 1}), Tensor::scalar<int32_t>(9)}, {}, 13).to_int64_vector(),
            (std::vector<int64_t>{9, 3, 4, 9}));
  EXPECT_THROW(run1("Pad", {x, ints({0, 0, 0})}, {}, 13), Error);
  EXPECT_THROW(run1("Pad", {x, ints({0, -3, 0, -2})}, {}, 13), Error);
  EXPECT_THROW(run1("Pad", {Tensor(DataType::Float, {0}), ints({1, 1})},
                    {Attribute::make_string("mode", "edge")}, 13),
               Error);
  EXPECT_EQ(run1("Pad", {Tensor(DataType::Float, {0}), ints({1, 1})}, {}, 13).to_float_vector(),
            (std::vector<float>{0, 0}));
}

TEST(TensorKernels, CenterCropPad) {
  const Tensor x = iota({3, 5});
  const Tensor y = run1("CenterCropPad", {x, ints({6, 2})}, {}, 18);
  // Rows: pad 1 before (floor of 3/2), 2 after; columns: crop from floor(3/2) = 1.
  EXPECT_EQ(y.to_float_vector(), (std::vector<float>{0, 0, 1, 2, 6, 7, 11, 12, 0, 0, 0, 0}));
  const Tensor z = run1("CenterCropPad", {x, ints({4})}, {Attribute::make_ints("axes", {-1})}, 18);
  EXPECT_EQ(z.shape(), (Shape{3, 4}));
  EXPECT_EQ(z.data<float>()[0], 0.0f);
}

// ---- Tile, Expand ----

TEST(TensorKernels, TileAndExpandMatchNaive) {
  const Tensor x = random_tensor(DataType::Float, {2, 1, 3}, 6);
  const Tensor tiled = run1("Tile", {x, ints({2, 3, 1})}, {}, 13);
  expect_same(tiled, naive(x, {4, 3, 3}, [&](const Index& o, Index& i) {
                i = {o[0] % 2, 0, o[2]};
                return true;
              }));
  const Tensor expanded = run1("Expand", {x, ints({4, 1, 5, 1})}, {}, 13);
  expect_same(expanded, naive(x, {4, 2, 5, 3}, [&](const Index& o, Index& i) {
                i = {o[1], 0, o[3]};
                return true;
              }));
  EXPECT_EQ(run1("Expand", {x, ints({3})}, {}, 13).shape(), (Shape{2, 1, 3}));
  EXPECT_EQ(run1("Tile", {x, ints({0, 1, 1})}, {}, 13).shape(), (Shape{0, 1, 3}));
  EXPECT_THROW(run1("Expand", {x, ints({2, 2, 2})}, {}, 13), Error);
  EXPECT_THROW(run1("Tile", {x, ints({2})}, {}, 13), Error);
}

// ---- Shape, Size, Constant, ConstantOfShape ----

TEST(TensorKernels, ShapeAndSize) {
  const Tensor x(DataType::Float, {2, 3, 4, 5});
  EXPECT_EQ(run1("Shape", {x}, {}, 13).to_int64_vector(), (std::vector<int64_t>{2, 3, 4, 5}));
  EXPECT_EQ(
      run1("Shape", {x}, {Attribute::make_int("start", -3), Attribute::make_int("end", -1)}, 15)
          .to_int64_vector(),
      (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(run1("Shape", {x}, {Attribute::make_int("start", 10)}, 15).shape(), (Shape{0}));
  EXPECT_EQ(
      run1("Shape", {x}, {Attribute::make_int("start", -10), Attribute::make_int("end", 1)}, 15)
          .to_int64_vector(),
      (std::vector<int64_t>{2}));
  const Tensor size = run1("Size", {x}, {}, 13);
  EXPECT_EQ(size.shape(), Shape{});
  EXPECT_EQ(size.to_int64_vector()[0], 120);
}

TEST(TensorKernels, ConstantForms) {
  EXPECT_EQ(run1("Constant", {}, {Attribute::make_tensor("value", iota({2}))}).to_float_vector(),
            (std::vector<float>{0, 1}));
  EXPECT_EQ(run1("Constant", {}, {Attribute::make_float("value_float", 1.5f)}).shape(), Shape{});
  EXPECT_EQ(run1("Constant", {}, {Attribute::make_floats("value_floats", {1, 2, 3})}).shape(),
            Shape{3});
  const Tensor i = run1("Constant", {}, {Attribute::make_int("value_int", 7)});
  EXPECT_EQ(i.dtype(), DataType::Int64);
  EXPECT_EQ(run1("Constant", {}, {Attribute::make_ints("value_ints", {4, 5})}).to_int64_vector(),
            (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(run1("Constant", {}, {Attribute::make_string("value_string", "hi")}).strings(),
            (std::vector<std::string>{"hi"}));
  Attribute many;
  many.name = "value_strings";
  many.type = AttributeType::Strings;
  many.strings = {"a", "b"};
  EXPECT_EQ(run1("Constant", {}, {many}).shape(), Shape{2});
  EXPECT_THROW(run1("Constant", {}, {}), Error);
}

TEST(TensorKernels, ConstantOfShape) {
  const Tensor zeros = run1("ConstantOfShape", {ints({2, 3})}, {}, 9);
  EXPECT_EQ(zeros.dtype(), DataType::Float);
  EXPECT_EQ(zeros.to_float_vector(), std::vector<float>(6, 0.0f));
  const Tensor sevens =
      run1("ConstantOfShape", {ints({2})},
           {Attribute::make_tensor("value", Tensor::from_vector<int32_t>({1}, {7}))}, 9);
  EXPECT_EQ(sevens.to_int64_vector(), (std::vector<int64_t>{7, 7}));
  EXPECT_EQ(run1("ConstantOfShape", {ints({})}, {}, 9).shape(), Shape{});
  EXPECT_EQ(run1("ConstantOfShape", {ints({0, 4})}, {}, 9).numel(), 0);
  EXPECT_THROW(run1("ConstantOfShape", {ints({-1})}, {}, 9), Error);
}

// ---- Range, EyeLike, Trilu ----

TEST(TensorKernels, Range) {
  EXPECT_EQ(
      run1("Range", {Tensor::scalar(1.0f), Tensor::scalar(2.0f), Tensor::scalar(0.25f)}, {}, 11)
          .to_float_vector(),
      (std::vector<float>{1, 1.25f, 1.5f, 1.75f}));
  EXPECT_EQ(
      run1("Range",
           {Tensor::scalar<int32_t>(10), Tensor::scalar<int32_t>(3), Tensor::scalar<int32_t>(-3)},
           {}, 11)
          .to_int64_vector(),
      (std::vector<int64_t>{10, 7, 4}));
  EXPECT_EQ(
      run1("Range",
           {Tensor::scalar<int64_t>(5), Tensor::scalar<int64_t>(1), Tensor::scalar<int64_t>(2)}, {},
           11)
          .numel(),
      0);
  EXPECT_THROW(
      run1("Range",
           {Tensor::scalar<int64_t>(0), Tensor::scalar<int64_t>(1), Tensor::scalar<int64_t>(0)}, {},
           11),
      Error);
}

TEST(TensorKernels, EyeLike) {
  const Tensor y = run1("EyeLike", {Tensor(DataType::Float, {3, 4})},
                        {Attribute::make_int("k", 1), Attribute::make_int("dtype", 6)}, 9);
  EXPECT_EQ(y.dtype(), DataType::Int32);
  EXPECT_EQ(y.to_int64_vector(), (std::vector<int64_t>{0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}));
  EXPECT_EQ(run1("EyeLike", {Tensor(DataType::Int64, {2, 2})}, {Attribute::make_int("k", -5)}, 9)
                .to_int64_vector(),
            (std::vector<int64_t>{0, 0, 0, 0}));
  EXPECT_THROW(run1("EyeLike", {Tensor(DataType::Float, {3})}, {}, 9), Error);
}

TEST(TensorKernels, TriluMatchesNaive) {
  const Tensor x = random_tensor(DataType::Float, {2, 4, 5}, 7);
  for (int upper : {0, 1})
    for (int64_t k : {-7, -2, 0, 1, 3, 9}) {
      const Tensor y =
          run1("Trilu", {x, Tensor::scalar<int64_t>(k)}, {Attribute::make_int("upper", upper)}, 14);
      expect_same(y, naive(x, x.shape(), [&](const Index& o, Index& i) {
                    i = o;
                    return upper ? o[2] - o[1] >= k : o[2] - o[1] <= k;
                  }));
    }
}

// ---- DepthToSpace, SpaceToDepth ----

TEST(TensorKernels, DepthToSpaceAndBack) {
  const int64_t b = 2;
  const Tensor x = random_tensor(DataType::Float, {2, 8, 3, 4}, 8);
  const Tensor dcr = run1("DepthToSpace", {x}, {Attribute::make_int("blocksize", b)}, 13);
  expect_same(dcr, naive(x, {2, 2, 6, 8}, [&](const Index& o, Index& i) {
                const int64_t bh = o[2] % b, bw = o[3] % b;
                i = {o[0], (bh * b + bw) * 2 + o[1], o[2] / b, o[3] / b};
                return true;
              }));
  const Tensor crd =
      run1("DepthToSpace", {x},
           {Attribute::make_int("blocksize", b), Attribute::make_string("mode", "CRD")}, 13);
  expect_same(crd, naive(x, {2, 2, 6, 8}, [&](const Index& o, Index& i) {
                i = {o[0], o[1] * b * b + (o[2] % b) * b + o[3] % b, o[2] / b, o[3] / b};
                return true;
              }));
  // SpaceToDepth inverts DCR DepthToSpace.
  expect_same(run1("SpaceToDepth", {dcr}, {Attribute::make_int("blocksize", b)}, 13), x);
  EXPECT_THROW(
      run1("DepthToSpace", {iota({1, 3, 2, 2})}, {Attribute::make_int("blocksize", 2)}, 13), Error);
  EXPECT_THROW(
      run1("SpaceToDepth", {iota({1, 1, 3, 2})}, {Attribute::make_int("blocksize", 2)}, 13), Error);
}

// ---- OneHot, NonZero, Compress, ReverseSequence ----

TEST(TensorKernels, OneHot) {
  const Tensor indices = Tensor::from_vector<int64_t>({3}, {0, -1, 5});
  const Tensor values = Tensor::from_vector<float>({2}, {-1, 3});
  const Tensor y = run1("OneHot", {indices, Tensor::scalar(4.0f), values}, {}, 11);
  EXPECT_EQ(y.shape(), (Shape{3, 4}));
  EXPECT_EQ(y.to_float_vector(),
            (std::vector<float>{3, -1, -1, -1, -1, -1, -1, 3, -1, -1, -1, -1}));
  const Tensor z = run1("OneHot", {indices, Tensor::scalar<int64_t>(2), values},
                        {Attribute::make_int("axis", 0)}, 11);
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.to_float_vector(), (std::vector<float>{3, -1, -1, -1, 3, -1}));
  EXPECT_THROW(run1("OneHot", {indices, Tensor::scalar(0.0f), values}, {}, 11), Error);
}

TEST(TensorKernels, NonZero) {
  const Tensor x = Tensor::from_vector<float>({2, 3}, {0, 1, 0, -2, 0, -0.0f});
  EXPECT_EQ(run1("NonZero", {x}, {}, 13).to_int64_vector(), (std::vector<int64_t>{0, 1, 1, 0}));
  const Tensor none = run1("NonZero", {Tensor(DataType::Int32, {2, 2})}, {}, 13);
  EXPECT_EQ(none.shape(), (Shape{2, 0}));
  EXPECT_EQ(run1("NonZero", {Tensor::scalar(true)}, {}, 13).shape(), (Shape{1, 1}));
  EXPECT_EQ(run1("NonZero", {x.cast(DataType::Float16)}, {}, 13).shape(), (Shape{2, 2}));
}

TEST(TensorKernels, Compress) {
  const Tensor x = iota({3, 2});
  const Tensor cond = Tensor::from_vector<bool>({2}, {false, true});
  EXPECT_EQ(run1("Compress", {x, cond}, {Attribute::make_int("axis", 0)}, 11).to_float_vector(),
            (std::vector<float>{2, 3}));
  EXPECT_EQ(run1("Compress", {x, cond}, {Attribute::make_int("axis", -1)}, 11).to_float_vector(),
            (std::vector<float>{1, 3, 5}));
  EXPECT_EQ(run1("Compress", {x, cond}, {}, 11).to_float_vector(), (std::vector<float>{1}));
  const Tensor long_cond = Tensor::from_vector<bool>({3}, {true, false, true});
  EXPECT_THROW(run1("Compress", {x, long_cond}, {Attribute::make_int("axis", 1)}, 11), Error);
}

TEST(TensorKernels, ReverseSequence) {
  const Tensor x = iota({4, 2, 2});  // [time, batch, feature]
  const Tensor y = run1("ReverseSequence", {x, ints({3, 0})}, {}, 10);
  EXPECT_EQ(y.to_float_vector(),
            (std::vector<float>{8, 9, 2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15}));
  const Tensor b = iota({2, 3});  // [batch, time]
  const auto attrs = std::vector<Attribute>{Attribute::make_int("batch_axis", 0),
                                            Attribute::make_int("time_axis", 1)};
  EXPECT_EQ(run1("ReverseSequence", {b, ints({2, 3})}, attrs, 10).to_float_vector(),
            (std::vector<float>{1, 0, 2, 5, 4, 3}));
  EXPECT_THROW(run1("ReverseSequence", {b, ints({4, 1})}, attrs, 10), Error);
}

}  // namespace
}  // namespace qforge
