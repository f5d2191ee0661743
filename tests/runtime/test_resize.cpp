// SPDX-License-Identifier: Apache-2.0
// Resize family (src/runtime/kernels/resize.cpp, grid_sample.cpp): Resize against a naive
// reference written the way the ONNX reference implementation works (1-D interpolation by
// nearest neighbours of the edge-padded line, recursing over axes), for every coordinate
// transform, nearest mode, linear/cubic, exclude_outside, tf_crop_and_resize, antialias and the
// opset 18 axes/keep_aspect_ratio_policy; Upsample and Resize-10; GridSample on identity grids
// and padding modes; errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "support/kernel_test_util.h"
#include "support/test_support.h"

namespace qforge {
namespace {

using testing::compare_tensors;
using testing::random_tensor;
using testing::run_single_op;
using testing::SingleOp;

Tensor run1(const std::string& type, std::vector<std::optional<Tensor>> inputs,
            std::vector<Attribute> attrs, int64_t opset = 13, int threads = 1) {
  SingleOp spec;
  spec.type = type;
  spec.inputs = std::move(inputs);
  spec.attributes = std::move(attrs);
  spec.opset = opset;
  spec.threads = threads;
  return run_single_op(spec)[0];
}

Tensor floats(const std::vector<float>& v) {
  return Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
}
Tensor ints(const std::vector<int64_t>& v) {
  return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
}

// ---- the reference ----

struct Ref {
  std::string mode = "linear";  // linear | cubic
  std::string transform = "half_pixel";
  double cubic_a = -0.75;
  bool exclude_outside = false;
  bool antialias = false;
  double extrapolation = 0.0;
  double roi_start = 0.0, roi_end = 1.0;
};

std::vector<double> coefficients(const Ref& r, double ratio, double scale) {
  auto cubic = [&](double x) {
    const double a = r.cubic_a;
    x = std::abs(x);
    if (x <= 1) return (a + 2) * x * x * x - (a + 3) * x * x + 1;
    if (x < 2) return a * x * x * x - 5 * a * x * x + 8 * a * x - 4 * a;
    return 0.0;
  };
  std::vector<double> c;
  if (!r.antialias) {
    if (r.mode == "linear") return {1 - ratio, ratio};
    return {cubic(ratio + 1), cubic(ratio), cubic(1 - ratio), cubic(2 - ratio)};
  }
  const double s = std::min(scale, 1.0);
  const int64_t start =
      static_cast<int64_t>(std::floor((r.mode == "linear" ? -1.0 : -2.0) / s)) + 1;
  for (int64_t i = start; i < 2 - start; ++i) {
    const double u = s * (static_cast<double>(i) - ratio);
    c.push_back(r.mode == "linear" ? std::clamp(1 - std::abs(u), 0.0, 1.0) : cubic(u));
  }
  const double sum = std::accumulate(c.begin(), c.end(), 0.0);
  for (double& v : c) v /= sum;
  return c;
}

// The n indices of [0, limit) nearest to x, ties to the smaller, in order.
std::vector<int64_t> neighbours(double x, size_t n, int64_t limit) {
  std::vector<int64_t> all(static_cast<size_t>(limit));
  std::iota(all.begin(), all.end(), 0);
  std::stable_sort(all.begin(), all.end(), [&](int64_t a, int64_t b) {
    return std::abs(x - static_cast<double>(a)) < std::abs(x - static_cast<double>(b));
  });
  all.resize(n);
  std::sort(all.begin(), all.end());
  return all;
}

double interpolate_1d(const std::vector<double>& data, double scale, int64_t x, const Ref& r) {
  const double in = static_cast<double>(data.size()), out = scale * in, xf = static_cast<double>(x);
  double o = 0;
  if (r.transform == "half_pixel") o = (xf + 0.5) / scale - 0.5;
  if (r.transform == "pytorch_half_pixel") o = out > 1 ? (xf + 0.5) / scale - 0.5 : 0.0;
  if (r.transform == "asymmetric") o = xf / scale;
  if (r.transform == "align_corners") o = out == 1 ? 0 : xf * (in - 1) / (out - 1);
  if (r.transform == "tf_crop_and_resize") {
    o = out == 1 ? (r.roi_end - r.roi_start) * (in - 1) / 2
                 : xf * (r.roi_end - r.roi_start) * (in - 1) / (out - 1);
    o += r.roi_start * (in - 1);
    if (o < 0 || o > in - 1) return r.extrapolation;
  }
  const double ratio = o == std::floor(o) ? 1.0 : o - std::floor(o);
  std::vector<double> c = coefficients(r, ratio, scale);
  const int64_t pad = static_cast<int64_t>((c.size() + 1) / 2);
  const int64_t len = static_cast<int64_t>(data.size());
  std::vector<int64_t> idx = neighbours(o + static_cast<double>(pad), c.size(), len + 2 * pad);
  double sum = 0;
  for (size_t k = 0; k < c.size(); ++k) {
    idx[k] -= pad;
    if (r.exclude_outside && (idx[k] < 0 || idx[k] >= len)) c[k] = 0;
    sum += c[k];
  }
  double v = 0;
  for (size_t k = 0; k < c.size(); ++k)
    v += (r.exclude_outside ? c[k] / sum : c[k]) *
         data[static_cast<size_t>(std::clamp<int64_t>(idx[k], 0, len - 1))];
  return v;
}

// Resize of an [H, W] plane: rows first, then columns (the reference recursion).
std::vector<double> reference_2d(const Tensor& x, int64_t h, int64_t w, double sh, double sw,
                                 int64_t oh, int64_t ow, const Ref& r) {
  std::vector<std::vector<double>> rows(static_cast<size_t>(h));
  for (int64_t i = 0; i < h; ++i) {
    std::vector<double> line(static_cast<size_t>(w));
    for (int64_t j = 0; j < w; ++j) line[static_cast<size_t>(j)] = x.data<float>()[i * w + j];
    for (int64_t j = 0; j < ow; ++j)
      rows[static_cast<size_t>(i)].push_back(interpolate_1d(line, sw, j, r));
  }
  std::vector<double> out(static_cast<size_t>(oh * ow));
  for (int64_t j = 0; j < ow; ++j) {
    std::vector<double> column(static_cast<size_t>(h));
    for (int64_t i = 0; i < h; ++i)
      column[static_cast<size_t>(i)] = rows[static_cast<size_t>(i)][static_cast<size_t>(j)];
    for (int64_t i = 0; i < oh; ++i)
      out[static_cast<size_t>(i * ow + j)] = interpolate_1d(column, sh, i, r);
  }
  return out;
}

void expect_close(const Tensor& y, const std::vector<double>& expected, const std::string& what) {
  ASSERT_EQ(y.numel(), static_cast<int64_t>(expected.size())) << what;
  for (size_t i = 0; i < expected.size(); ++i)
    ASSERT_NEAR(y.data<float>()[i], expected[i], 1e-4 + 1e-4 * std::abs(expected[i]))
        << what << " at " << i;
}

std::vector<Attribute> attrs_of(const Ref& r, int64_t opset) {
  std::vector<Attribute> a = {
      Attribute::make_string("mode", r.mode),
      Attribute::make_string("coordinate_transformation_mode", r.transform),
      Attribute::make_float("cubic_coeff_a", static_cast<float>(r.cubic_a)),
      Attribute::make_int("exclude_outside", r.exclude_outside),
      Attribute::make_float("extrapolation_value", static_cast<float>(r.extrapolation))};
  if (opset >= 18) a.push_back(Attribute::make_int("antialias", r.antialias));
  return a;
}

// ---- linear and cubic ----

TEST(ResizeKernels, LinearAndCubicMatchReference) {
  const Tensor x = random_tensor(DataType::Float, {1, 1, 5, 6}, 1);
  const std::vector<std::pair<float, float>> scale_pairs = {
      {2.0f, 1.5f}, {0.6f, 0.8f}, {1.0f, 0.5f}, {1.7f, 0.34f}};
  for (const std::string mode : {"linear", "cubic"})
    for (const std::string transform :
         {"half_pixel", "pytorch_half_pixel", "asymmetric", "align_corners"})
      for (const auto& [sh, sw] : scale_pairs)
        for (bool exclude : {false, true}) {
          Ref r;
          r.mode = mode;
          r.transform = transform;
          r.exclude_outside = exclude;
          r.cubic_a = exclude ? -0.5 : -0.75;
          const int64_t oh = static_cast<int64_t>(std::floor(5.0 * sh)),
                        ow = static_cast<int64_t>(std::floor(6.0 * sw));
          const Tensor y =
              run1("Resize", {x, std::nullopt, floats({1, 1, sh, sw})}, attrs_of(r, 13));
          ASSERT_EQ(y.shape(), (Shape{1, 1, oh, ow}));
          expect_close(y, reference_2d(x, 5, 6, sh, sw, oh, ow, r),
                       mode + " " + transform + " " + std::to_string(sh) + "x" +
                           std::to_string(sw) + (exclude ? " exclude" : ""));
        }
}

TEST(ResizeKernels, SizesAndCropAndResize) {
  const Tensor x = random_tensor(DataType::Float, {1, 1, 4, 4}, 2);
  Ref r;
  r.transform = "tf_crop_and_resize";
  r.extrapolation = 10.0;
  r.roi_start = 0.4;
  r.roi_end = 1.3;
  const Tensor roi = floats({0, 0, 0.4f, 0.4f, 1, 1, 1.3f, 1.3f});
  const Tensor y = run1("Resize", {x, roi, std::nullopt, ints({1, 1, 3, 5})}, attrs_of(r, 13));
  Ref rf = r;
  rf.roi_start = static_cast<double>(0.4f);
  rf.roi_end = static_cast<double>(1.3f);
  expect_close(y, reference_2d(x, 4, 4, 3.0 / 4.0, 5.0 / 4.0, 3, 5, rf), "tf_crop_and_resize");
  // Opset 11 form: empty scales with sizes.
  Ref plain;
  const Tensor z = run1(
      "Resize", {x, Tensor(DataType::Float, {0}), Tensor(DataType::Float, {0}), ints({1, 1, 7, 3})},
      attrs_of(plain, 11), 11);
  expect_close(z, reference_2d(x, 4, 4, 7.0 / 4.0, 3.0 / 4.0, 7, 3, plain), "sizes");
}

TEST(ResizeKernels, AntialiasMatchesReference) {
  const Tensor x = random_tensor(DataType::Float, {1, 1, 9, 10}, 3);
  for (const std::string mode : {"linear", "cubic"})
    for (const auto& [sh, sw] : std::vector<std::pair<float, float>>{{0.5f, 0.3f}, {0.75f, 2.0f}}) {
      Ref r;
      r.mode = mode;
      r.antialias = true;
      const int64_t oh = static_cast<int64_t>(std::floor(9.0 * sh)),
                    ow = static_cast<int64_t>(std::floor(10.0 * sw));
      const Tensor y =
          run1("Resize", {x, std::nullopt, floats({1, 1, sh, sw})}, attrs_of(r, 18), 18);
      expect_close(y, reference_2d(x, 9, 10, sh, sw, oh, ow, r), "antialias " + mode);
    }
}

TEST(ResizeKernels, AxesAndKeepAspectRatio) {
  const Tensor x = random_tensor(DataType::Float, {1, 2, 4, 6}, 4);
  auto with_policy = [](const std::string& policy) {
    return std::vector<Attribute>{Attribute::make_ints("axes", {-2, -1}),
                                  Attribute::make_string("keep_aspect_ratio_policy", policy)};
  };
  EXPECT_EQ(
      run1("Resize", {x, std::nullopt, std::nullopt, ints({8, 8})}, with_policy("not_larger"), 18)
          .shape(),
      (Shape{1, 2, 5, 8}));
  EXPECT_EQ(
      run1("Resize", {x, std::nullopt, std::nullopt, ints({8, 8})}, with_policy("not_smaller"), 18)
          .shape(),
      (Shape{1, 2, 8, 12}));
  EXPECT_EQ(
      run1("Resize", {x, std::nullopt, std::nullopt, ints({3, 5})}, with_policy("stretch"), 18)
          .shape(),
      (Shape{1, 2, 3, 5}));
  const Tensor y =
      run1("Resize", {x, std::nullopt, floats({2.0f})}, {Attribute::make_ints("axes", {1})}, 18);
  EXPECT_EQ(y.shape(), (Shape{1, 4, 4, 6}));
}

// ---- nearest ----

int64_t nearest_reference(double o, const std::string& mode) {
  const double f = std::floor(o);
  if (mode == "floor") return static_cast<int64_t>(f);
  if (mode == "ceil") return static_cast<int64_t>(std::ceil(o));
  if (o - f == 0.5) return static_cast<int64_t>(mode == "round_prefer_floor" ? f : f + 1);
  return static_cast<int64_t>(o - f < 0.5 ? f : f + 1);
}

TEST(ResizeKernels, NearestModesMatchReference) {
  const Tensor x = random_tensor(DataType::Float, {1, 1, 4, 5}, 5);
  for (const std::string nearest : {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"})
    for (const std::string transform : {"half_pixel", "pytorch_half_pixel", "asymmetric",
                                        "align_corners", "tf_half_pixel_for_nn"}) {
      const std::vector<Attribute> attrs = {
          Attribute::make_string("mode", "nearest"),
          Attribute::make_string("nearest_mode", nearest),
          Attribute::make_string("coordinate_transformation_mode", transform)};
      const Tensor y = run1("Resize", {x, std::nullopt, std::nullopt, ints({1, 1, 7, 3})}, attrs);
      ASSERT_EQ(y.shape(), (Shape{1, 1, 7, 3}));
      auto source = [&](int64_t o, int64_t in, int64_t out) {
        const double s = static_cast<double>(out) / static_cast<double>(in),
                     of = static_cast<double>(o);
        double c = 0;
        if (transform == "half_pixel") c = (of + 0.5) / s - 0.5;
        if (transform == "pytorch_half_pixel") c = out > 1 ? (of + 0.5) / s - 0.5 : 0;
        if (transform == "asymmetric") c = of / s;
        if (transform == "align_corners")
          c = out == 1 ? 0 : of * static_cast<double>(in - 1) / static_cast<double>(out - 1);
        if (transform == "tf_half_pixel_for_nn") c = (of + 0.5) / s;
        return std::clamp<int64_t>(nearest_reference(c, nearest), 0, in - 1);
      };
      for (int64_t i = 0; i < 7; ++i)
        for (int64_t j = 0; j < 3; ++j)
          ASSERT_EQ(y.data<float>()[i * 3 + j],
                    x.data<float>()[source(i, 4, 7) * 5 + source(j, 5, 3)])
              << nearest << " " << transform << " at " << i << "," << j;
    }
}

TEST(ResizeKernels, NearestAnyDtypeAndThreads) {
  const Tensor x = random_tensor(DataType::Float, {2, 3, 40, 50}, 6);
  const std::vector<Attribute> attrs = {Attribute::make_string("mode", "nearest")};
  const Tensor serial = run1("Resize", {x, std::nullopt, floats({1, 1, 2, 2})}, attrs);
  EXPECT_TRUE(run1("Resize", {x, std::nullopt, floats({1, 1, 2, 2})}, attrs, 13, 4).equals(serial));
  const Tensor i8 =
      run1("Resize", {x.cast(DataType::Int8), std::nullopt, floats({1, 1, 2, 2})}, attrs);
  EXPECT_TRUE(i8.equals(serial.cast(DataType::Int8)));
  Tensor s(DataType::String, {2});
  s.strings() = {"a", "b"};
  EXPECT_EQ(run1("Resize", {s, std::nullopt, floats({2})}, attrs).strings(),
            (std::vector<std::string>{"a", "a", "b", "b"}));
  // Linear on many threads matches one thread.
  const std::vector<Attribute> linear = {Attribute::make_string("mode", "linear")};
  const Tensor l1 = run1("Resize", {x, std::nullopt, floats({1, 1, 1.5f, 0.5f})}, linear);
  EXPECT_EQ(
      compare_tensors(run1("Resize", {x, std::nullopt, floats({1, 1, 1.5f, 0.5f})}, linear, 13, 4),
                      l1, 0, 0),
      "");
}

TEST(ResizeKernels, IntegerLinearRoundsAndSaturates) {
  const Tensor x = Tensor::from_vector<uint8_t>({1, 2}, {0, 255});
  const Tensor y =
      run1("Resize", {x, std::nullopt, floats({1, 3})},
           {Attribute::make_string("mode", "linear"),
            Attribute::make_string("coordinate_transformation_mode", "align_corners")});
  EXPECT_EQ(y.to_int64_vector(), (std::vector<int64_t>{0, 51, 102, 153, 204, 255}));
  // Cubic overshoot saturates instead of wrapping.
  const Tensor z = run1(
      "Resize", {Tensor::from_vector<uint8_t>({4}, {0, 0, 255, 255}), std::nullopt, floats({2})},
      {Attribute::make_string("mode", "cubic")});
  for (int64_t v : z.to_int64_vector()) EXPECT_TRUE(v >= 0 && v <= 255);
}

TEST(ResizeKernels, UpsampleAndResize10) {
  const Tensor x = Tensor::from_vector<float>({1, 1, 2, 2}, {1, 2, 3, 4});
  const Tensor up7 = run1("Upsample", {x}, {Attribute::make_floats("scales", {1, 1, 2, 2})}, 7);
  EXPECT_EQ(up7.to_float_vector(),
            (std::vector<float>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}));
  const Tensor up9 =
      run1("Upsample", {x, floats({1, 1, 1, 2})}, {Attribute::make_string("mode", "linear")}, 9);
  // Asymmetric coordinates: x / 2, clamped at the edge.
  EXPECT_EQ(up9.to_float_vector(), (std::vector<float>{1, 1.5f, 2, 2, 3, 3.5f, 4, 4}));
  const Tensor r10 = run1("Resize", {x, floats({1, 1, 1, 1.5f})}, {}, 10);
  EXPECT_EQ(r10.to_float_vector(), (std::vector<float>{1, 1, 2, 3, 3, 4}));
}

TEST(ResizeKernels, Errors) {
  const Tensor x = random_tensor(DataType::Float, {1, 1, 2, 2}, 7);
  EXPECT_THROW(run1("Resize", {x, std::nullopt, floats({1, 1, 2, 2}), ints({1, 1, 4, 4})}, {}),
               Error);
  EXPECT_THROW(run1("Resize", {x, std::nullopt, floats({2, 2})}, {}), Error);
  EXPECT_THROW(run1("Resize", {x, std::nullopt, floats({1, 1, 0, 2})}, {}), Error);
  EXPECT_THROW(run1("Resize", {x, std::nullopt, std::nullopt}, {}), Error);
  EXPECT_THROW(run1("Resize", {x, std::nullopt, floats({1, 1, 2, 2})},
                    {Attribute::make_string("mode", "area")}),
               Error);
  EXPECT_THROW(run1("Resize", {x, std::nullopt, std::nullopt, ints({1, 1, -1, 2})}, {}), Error);
}

// ---- GridSample ----

// Grid sampling every pixel centre of an H x W image (align_corners decides where they are).
Tensor identity_grid(int64_t h, int64_t w, bool align) {
  Tensor g(DataType::Float, {1, h, w, 2});
  for (int64_t i = 0; i < h; ++i)
    for (int64_t j = 0; j < w; ++j) {
      auto norm = [&](int64_t p, int64_t n) {
        return align ? 2.0f * static_cast<float>(p) / static_cast<float>(n - 1) - 1.0f
                     : (2.0f * static_cast<float>(p) + 1.0f) / static_cast<float>(n) - 1.0f;
      };
      g.data<float>()[(i * w + j) * 2] = norm(j, w);
      g.data<float>()[(i * w + j) * 2 + 1] = norm(i, h);
    }
  return g;
}

TEST(ResizeKernels, GridSampleIdentityGrid) {
  const Tensor x = random_tensor(DataType::Float, {1, 2, 4, 5}, 8);
  for (const std::string mode : {"bilinear", "nearest", "bicubic"})
    for (int align : {0, 1}) {
      const Tensor y = run1(
          "GridSample", {x, identity_grid(4, 5, align)},
          {Attribute::make_string("mode", mode), Attribute::make_int("align_corners", align)}, 16);
      EXPECT_EQ(compare_tensors(y, x, 1e-5, 1e-5), "") << mode << " align " << align;
    }
}

TEST(ResizeKernels, GridSamplePadding) {
  const Tensor x = Tensor::from_vector<float>({1, 1, 1, 2}, {1, 3});
  // Points left of, at 1/4 of, and right of the image (align_corners: -1 and 1 are the pixel
  // centres).
  const Tensor grid = Tensor::from_vector<float>({1, 1, 3, 2}, {-3, 0, -0.5f, 0, 2, 0});
  auto sample = [&](const std::string& padding) {
    return run1("GridSample", {x, grid},
                {Attribute::make_string("padding_mode", padding),
                 Attribute::make_int("align_corners", 1)},
                16)
        .to_float_vector();
  };
  // Zeros: past the right pixel the missing neighbour reads 0.
  EXPECT_EQ(sample("zeros"), (std::vector<float>{0, 1.5f, 1.5f}));
  EXPECT_EQ(sample("border"), (std::vector<float>{1, 1.5f, 3}));
  // Reflection: -3 folds to 1 (right edge), 2 folds to 0 (between the pixels).
  EXPECT_EQ(sample("reflection"), (std::vector<float>{3, 1.5f, 2}));
  EXPECT_THROW(run1("GridSample", {x, Tensor(DataType::Float, {1, 1, 3})}, {}, 16), Error);
}

}  // namespace
}  // namespace qforge
