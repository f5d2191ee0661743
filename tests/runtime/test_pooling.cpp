// SPDX-License-Identifier: Apache-2.0
// Pooling kernels (src/runtime/kernels/pooling.cpp, roi_pool.cpp) against naive loops written
// here: MaxPool (Indices in both storage orders, uint8), AveragePool (count_include_pad,
// ceil_mode with PyTorch's last-window rule, dilations, pads >= kernel, stride > kernel), LpPool,
// Global pools, MaxUnpool, MaxRoiPool and RoiAlign, in 1-3 D with batch > 1.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "support/kernel_test_util.h"
#include "support/test_support.h"

namespace qforge {
namespace {

using testing::run_single_op;
using testing::SingleOp;

enum class Kind { Max, Avg, Lp };

struct PoolParams {
  std::vector<int64_t> kernel, strides, pads, dilations;
  bool ceil = false;
  bool include_pad = false;
};

struct RefPool {
  Tensor y;
  std::vector<int64_t> indices;  // row-major flat input index of each max (MaxPool)
};

// Window taps per dim; positions outside the input are skipped (max, valid count) or counted
// when inside the padded input (count_include_pad).
RefPool ref_pool(const Tensor& x, const PoolParams& p, Kind kind, double lp = 2.0) {
  const size_t sp = p.kernel.size();
  std::vector<int64_t> in(3, 1), k(3, 1), s(3, 1), d(3, 1), pb(3, 0), pe(3, 0), out(3, 1);
  for (size_t i = 0; i < sp; ++i) {
    const size_t j = 3 - sp + i;
    in[j] = x.dim(static_cast<int>(2 + i));
    k[j] = p.kernel[i];
    if (!p.strides.empty()) s[j] = p.strides[i];
    if (!p.dilations.empty()) d[j] = p.dilations[i];
    if (!p.pads.empty()) pb[j] = p.pads[i], pe[j] = p.pads[sp + i];
  }
  Shape yshape{x.dim(0), x.dim(1)};
  for (size_t j = 3 - sp; j < 3; ++j) {
    const int64_t span = in[j] + pb[j] + pe[j] - ((k[j] - 1) * d[j] + 1);
    out[j] = (p.ceil ? (span + s[j] - 1) / s[j] : span / s[j]) + 1;
    if (p.ceil && (out[j] - 1) * s[j] >= in[j] + pb[j]) --out[j];
    yshape.push_back(out[j]);
  }
  RefPool r{Tensor(DataType::Float, yshape), {}};
  const int64_t planes = x.dim(0) * x.dim(1), in_plane = in[0] * in[1] * in[2];
  for (int64_t c = 0; c < planes; ++c)
    for (int64_t o0 = 0; o0 < out[0]; ++o0)
      for (int64_t o1 = 0; o1 < out[1]; ++o1)
        for (int64_t o2 = 0; o2 < out[2]; ++o2) {
          double best = -std::numeric_limits<double>::infinity(), sum = 0;
          int64_t best_index = -1, valid = 0, padded = 0;
          for (int64_t k0 = 0; k0 < k[0]; ++k0)
            for (int64_t k1 = 0; k1 < k[1]; ++k1)
              for (int64_t k2 = 0; k2 < k[2]; ++k2) {
                const int64_t pos[3] = {o0 * s[0] - pb[0] + k0 * d[0],
                                        o1 * s[1] - pb[1] + k1 * d[1],
                                        o2 * s[2] - pb[2] + k2 * d[2]};
                bool inside = true, in_padded = true;
                for (int j = 0; j < 3; ++j) {
                  inside = inside && pos[j] >= 0 && pos[j] < in[j];
                  in_padded = in_padded && pos[j] >= -pb[j] && pos[j] < in[j] + pe[j];
                }
                padded += in_padded;
                if (!inside) continue;
                ++valid;
                const int64_t index = c * in_plane + (pos[0] * in[1] + pos[1]) * in[2] + pos[2];
                const double v = x.value_as_double(index);
                sum += kind == Kind::Lp ? std::pow(std::abs(v), lp) : v;
                if (v > best) best = v, best_index = index;
              }
          double value = best;
          if (kind == Kind::Avg) {
            const int64_t count = p.include_pad ? padded : valid;
            value = count > 0 ? sum / static_cast<double>(count) : 0.0;
          } else if (kind == Kind::Lp) {
            value = std::pow(sum, 1.0 / lp);
          }
          r.y.data<float>()[r.indices.size()] = static_cast<float>(value);
          r.indices.push_back(best_index);
        }
  return r;
}

std::vector<Attribute> pool_attrs(const PoolParams& p) {
  std::vector<Attribute> a{Attribute::make_ints("kernel_shape", p.kernel)};
  if (!p.strides.empty()) a.push_back(Attribute::make_ints("strides", p.strides));
  if (!p.pads.empty()) a.push_back(Attribute::make_ints("pads", p.pads));
  if (!p.dilations.empty()) a.push_back(Attribute::make_ints("dilations", p.dilations));
  if (p.ceil) a.push_back(Attribute::make_int("ceil_mode", 1));
  if (p.include_pad) a.push_back(Attribute::make_int("count_include_pad", 1));
  return a;
}

std::vector<Tensor> run(const std::string& type, std::vector<std::optional<Tensor>> inputs,
                        std::vector<Attribute> attrs, size_t outputs = 1, int64_t opset = 19,
                        int threads = 1) {
  SingleOp spec;
  spec.type = type;
  spec.inputs = std::move(inputs);
  spec.attributes = std::move(attrs);
  spec.num_outputs = outputs;
  spec.opset = opset;
  spec.threads = threads;
  return run_single_op(spec);
}

void expect_close(const Tensor& actual, const Tensor& expected, double tol = 1e-5) {
  const std::string diff = testing::compare_tensors(actual, expected, tol, tol);
  EXPECT_TRUE(diff.empty()) << diff;
}

struct PoolCase {
  const char* name;
  Shape x;
  PoolParams p;
};

const PoolCase kCases[] = {
    {"3x3 s2 p1 batch2", {2, 3, 9, 8}, {{3, 3}, {2, 2}, {1, 1, 1, 1}, {}}},
    {"stride > kernel", {1, 2, 10, 11}, {{2, 2}, {3, 4}, {}, {}}},
    {"pads >= kernel", {1, 2, 5, 5}, {{2, 2}, {1, 1}, {2, 2, 2, 2}, {}}},
    {"dilation", {1, 1, 9, 9}, {{2, 3}, {1, 2}, {1, 0, 1, 2}, {2, 2}}},
    {"ceil drops last window", {1, 2, 5, 5}, {{2, 2}, {2, 2}, {1, 1, 1, 1}, {}, true}},
    {"ceil keeps partial window", {1, 1, 4, 7}, {{3, 3}, {2, 2}, {}, {}, true}},
    {"1x1 window", {2, 2, 3, 3}, {{1, 1}, {}, {}, {}}},
    {"1d", {2, 3, 12}, {{3}, {2}, {1, 2}, {}}},
    {"3d", {1, 2, 5, 6, 4}, {{2, 3, 2}, {2, 1, 2}, {0, 1, 1, 1, 1, 0}, {}}},
};

TEST(PoolingKernel, MaxPoolWithIndices) {
  uint32_t seed = 1;
  for (const PoolCase& c : kCases) {
    SCOPED_TRACE(c.name);
    const Tensor x = testing::random_tensor(DataType::Float, c.x, seed++);
    const RefPool ref = ref_pool(x, c.p, Kind::Max);
    for (int threads : {1, 2}) {
      const auto out = run("MaxPool", {x}, pool_attrs(c.p), 2, 12, threads);
      if (c.p.pads == std::vector<int64_t>{2, 2, 2, 2}) continue;  // all-padding windows: no max
      expect_close(out[0], ref.y);
      ASSERT_EQ(out[1].dtype(), DataType::Int64);
      for (size_t i = 0; i < ref.indices.size(); ++i)
        ASSERT_EQ(out[1].data<int64_t>()[i], ref.indices[i]) << i;
    }
  }
}

TEST(PoolingKernel, MaxPoolWithoutIndicesMatchesWithIndices) {
  // Without Indices, 2-D MaxPool runs separably (rows' max, then columns'); with them, window by
  // window. Both must agree bit for bit (all-padding windows too).
  uint32_t seed = 50;
  for (const PoolCase& c : kCases) {
    SCOPED_TRACE(c.name);
    const Tensor x = testing::random_tensor(DataType::Float, c.x, seed++);
    for (int threads : {1, 2}) {
      const auto separable = run("MaxPool", {x}, pool_attrs(c.p), 1, 12, threads);
      const auto windowed = run("MaxPool", {x}, pool_attrs(c.p), 2, 12, threads);
      EXPECT_TRUE(separable[0].equals(windowed[0]));
    }
  }
  // NaN is skipped (the max of the window's other values), as without Indices before.
  const PoolCase& c = kCases[0];
  Tensor x = testing::random_tensor(DataType::Float, c.x, 99);
  for (int64_t i = 0; i < x.numel(); i += 7) x.data<float>()[i] = std::nanf("");
  expect_close(run("MaxPool", {x}, pool_attrs(c.p), 1, 12, 2)[0], ref_pool(x, c.p, Kind::Max).y);
}

TEST(PoolingKernel, MaxPoolColumnMajorIndicesAndUint8) {
  const Tensor x = testing::random_tensor(DataType::Float, {2, 2, 5, 4}, 3);
  const PoolParams p{{2, 2}, {2, 1}, {}, {}};
  std::vector<Attribute> attrs = pool_attrs(p);
  attrs.push_back(Attribute::make_int("storage_order", 1));
  const auto out = run("MaxPool", {x}, attrs, 2, 12);
  const RefPool ref = ref_pool(x, p, Kind::Max);
  for (size_t i = 0; i < ref.indices.size(); ++i) {
    // Row-major (c, h, w) -> column-major c * HW + w * H + h.
    const int64_t r = ref.indices[i], c = r / 20, h = (r % 20) / 4, w = r % 4;
    ASSERT_EQ(out[1].data<int64_t>()[i], c * 20 + w * 5 + h) << i;
  }
  const Tensor xu =
      x.cast(DataType::Float16).cast(DataType::Float);  // unchanged shape, exact values
  std::vector<uint8_t> bytes(static_cast<size_t>(x.numel()));
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 37 % 251);
  const Tensor x8 = Tensor::from_vector<uint8_t>(x.shape(), bytes);
  const Tensor y8 = run("MaxPool", {x8}, pool_attrs(p), 1, 12)[0];
  ASSERT_EQ(y8.dtype(), DataType::UInt8);
  expect_close(y8.cast(DataType::Float), ref_pool(x8.cast(DataType::Float), p, Kind::Max).y);
  const Tensor yh = run("MaxPool", {xu.cast(DataType::Float16)}, pool_attrs(p), 1, 12)[0];
  expect_close(yh.cast(DataType::Float), ref_pool(xu, p, Kind::Max).y);
}

TEST(PoolingKernel, AveragePoolBothPadCounts) {
  uint32_t seed = 50;
  for (const PoolCase& c : kCases)
    for (bool include : {false, true}) {
      SCOPED_TRACE(fmt::format("{} count_include_pad={}", c.name, include));
      PoolParams p = c.p;
      p.include_pad = include;
      const Tensor x = testing::random_tensor(DataType::Float, c.x, seed++);
      for (int threads : {1, 2})
        expect_close(run("AveragePool", {x}, pool_attrs(p), 1, 19, threads)[0],
                     ref_pool(x, p, Kind::Avg).y);
    }
}

TEST(PoolingKernel, AutoPadSame) {
  const Tensor x = testing::random_tensor(DataType::Float, {1, 2, 7, 6}, 9);
  // out = ceil(7/2), ceil(6/2) = 4, 3; total pads 2 and 1: SAME_UPPER puts the odd one at the end.
  std::vector<Attribute> upper{Attribute::make_ints("kernel_shape", {3, 2}),
                               Attribute::make_ints("strides", {2, 2}),
                               Attribute::make_string("auto_pad", "SAME_UPPER")};
  expect_close(run("MaxPool", {x}, upper, 1, 12)[0],
               ref_pool(x, {{3, 2}, {2, 2}, {1, 0, 1, 0}, {}}, Kind::Max).y);
  std::vector<Attribute> lower = upper;
  lower[2] = Attribute::make_string("auto_pad", "SAME_LOWER");
  expect_close(run("AveragePool", {x}, lower, 1, 11)[0],
               ref_pool(x, {{3, 2}, {2, 2}, {1, 0, 1, 0}, {}}, Kind::Avg).y);
}

TEST(PoolingKernel, LpPoolAndGlobalPools) {
  const Tensor x = testing::random_tensor(DataType::Float, {2, 3, 6, 5}, 17);
  const PoolParams p{{3, 2}, {2, 1}, {1, 0, 0, 1}, {}};
  expect_close(run("LpPool", {x}, pool_attrs(p), 1, 18)[0], ref_pool(x, p, Kind::Lp, 2.0).y);
  std::vector<Attribute> p3 = pool_attrs(p);
  p3.push_back(Attribute::make_int("p", 3));
  expect_close(run("LpPool", {x}, p3, 1, 18)[0], ref_pool(x, p, Kind::Lp, 3.0).y);
  const PoolParams whole{{6, 5}, {}, {}, {}};
  expect_close(run("GlobalAveragePool", {x}, {})[0], ref_pool(x, whole, Kind::Avg).y);
  expect_close(run("GlobalMaxPool", {x}, {})[0], ref_pool(x, whole, Kind::Max).y);
  expect_close(run("GlobalLpPool", {x}, {Attribute::make_int("p", 3)})[0],
               ref_pool(x, whole, Kind::Lp, 3.0).y);
  const Tensor x3 = testing::random_tensor(DataType::Float, {1, 2, 3, 4, 2}, 18);
  expect_close(run("GlobalAveragePool", {x3}, {})[0],
               ref_pool(x3, {{3, 4, 2}, {}, {}, {}}, Kind::Avg).y);
  EXPECT_THROW(run("MaxPool", {x}, {}), Error);  // kernel_shape is required
  EXPECT_THROW(run("MaxPool", {x}, {Attribute::make_ints("kernel_shape", {7, 2})}), Error);
}

TEST(PoolingKernel, MaxUnpoolInvertsMaxPool) {
  const Tensor x = testing::random_tensor(DataType::Float, {2, 2, 4, 6}, 23);
  const PoolParams p{{2, 2}, {2, 2}, {}, {}};
  const auto pooled = run("MaxPool", {x}, pool_attrs(p), 2, 12);
  const std::vector<Attribute> attrs{Attribute::make_ints("kernel_shape", {2, 2}),
                                     Attribute::make_ints("strides", {2, 2})};
  const Tensor y = run("MaxUnpool", {pooled[0], pooled[1]}, attrs, 1, 11)[0];
  ASSERT_EQ(y.shape(), x.shape());
  std::vector<float> expected(static_cast<size_t>(x.numel()), 0.0f);
  for (int64_t i = 0; i < pooled[1].numel(); ++i)
    expected[pooled[1].data<int64_t>()[i]] = pooled[0].data<float>()[i];
  expect_close(y, Tensor::from_vector<float>(x.shape(), expected));
  // An explicit larger output_shape pads each dim at the end.
  const Tensor y2 =
      run("MaxUnpool", {pooled[0], pooled[1], Tensor::from_vector<int64_t>({4}, {2, 2, 5, 7})},
          attrs, 1, 11)[0];
  ASSERT_EQ(y2.shape(), (Shape{2, 2, 5, 7}));
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t c = i / 24, h = (i % 24) / 6, w = i % 6;
    ASSERT_EQ(y2.data<float>()[c * 35 + h * 7 + w], expected[i]) << i;
  }
  EXPECT_THROW(run("MaxUnpool",
                   {pooled[0],
                    Tensor::from_vector<int64_t>(pooled[1].shape(), std::vector<int64_t>(12, 99))},
                   attrs, 1, 11),
               Error);
}

TEST(PoolingKernel, MaxRoiPool) {
  std::vector<float> v(36);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  const Tensor x = Tensor::from_vector<float>({1, 1, 6, 6}, v);
  // Roi (x1=1, y1=0, x2=4, y2=3): a 4x4 region rows 0-3, cols 1-4, pooled 2x2 -> maxima of
  // its quadrants.
  const Tensor rois = Tensor::from_vector<float>({2, 5}, {0, 1, 0, 4, 3, 0, 0, 0, 5, 5});
  const Tensor y =
      run("MaxRoiPool", {x, rois}, {Attribute::make_ints("pooled_shape", {2, 2})}, 1, 1)[0];
  ASSERT_EQ(y.shape(), (Shape{2, 1, 2, 2}));
  const std::vector<float> expected{8, 10, 20, 22, 14, 17, 32, 35};
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(y.data<float>()[i], expected[i]) << i;
}

// Bilinear value at (y, x) with the RoiAlign border rules.
double bilinear(const Tensor& x, int64_t plane, double y, double xx, int64_t H, int64_t W) {
  if (y < -1.0 || y > H || xx < -1.0 || xx > W) return 0.0;
  y = std::min(std::max(y, 0.0), static_cast<double>(H - 1));
  xx = std::min(std::max(xx, 0.0), static_cast<double>(W - 1));
  const int64_t y0 = static_cast<int64_t>(std::floor(y)), x0 = static_cast<int64_t>(std::floor(xx));
  const int64_t y1 = std::min(y0 + 1, H - 1), x1 = std::min(x0 + 1, W - 1);
  const double ly = y - y0, lx = xx - x0;
  const auto at = [&](int64_t r, int64_t c) {
    return x.value_as_double(plane * H * W + r * W + c);
  };
  return (1 - ly) * (1 - lx) * at(y0, x0) + (1 - ly) * lx * at(y0, x1) +
         ly * (1 - lx) * at(y1, x0) + ly * lx * at(y1, x1);
}

TEST(PoolingKernel, RoiAlignAverage) {
  const Tensor x = testing::random_tensor(DataType::Float, {2, 3, 8, 9}, 31);
  const Tensor rois = Tensor::from_vector<float>(
      {3, 4}, {0.5f, 1.0f, 6.5f, 5.0f, 2.0f, 2.0f, 3.0f, 7.5f, -1.0f, 0.0f, 9.5f, 8.5f});
  const Tensor batch = Tensor::from_vector<int64_t>({3}, {1, 0, 1});
  for (bool half_pixel : {false, true})
    for (int64_t ratio : {0, 2}) {
      SCOPED_TRACE(fmt::format("half_pixel={} sampling_ratio={}", half_pixel, ratio));
      const double scale = 0.5, off = half_pixel ? 0.5 : 0.0;
      const int64_t oh = 3, ow = 2;
      const Tensor y =
          run("RoiAlign", {x, rois, batch},
              {Attribute::make_int("output_height", oh), Attribute::make_int("output_width", ow),
               Attribute::make_int("sampling_ratio", ratio),
               Attribute::make_float("spatial_scale", 0.5f),
               Attribute::make_string("coordinate_transformation_mode",
                                      half_pixel ? "half_pixel" : "output_half_pixel")},
              1, 16)[0];
      ASSERT_EQ(y.shape(), (Shape{3, 3, oh, ow}));
      for (int64_t r = 0; r < 3; ++r) {
        const double x1 = rois.value_as_double(r * 4) * scale - off,
                     y1 = rois.value_as_double(r * 4 + 1) * scale - off;
        double rw = rois.value_as_double(r * 4 + 2) * scale - off - x1,
               rh = rois.value_as_double(r * 4 + 3) * scale - off - y1;
        if (!half_pixel) rw = std::max(rw, 1.0), rh = std::max(rh, 1.0);
        const int64_t gh = ratio ? ratio : static_cast<int64_t>(std::ceil(rh / oh));
        const int64_t gw = ratio ? ratio : static_cast<int64_t>(std::ceil(rw / ow));
        for (int64_t c = 0; c < 3; ++c)
          for (int64_t i = 0; i < oh; ++i)
            for (int64_t j = 0; j < ow; ++j) {
              double sum = 0;
              for (int64_t a = 0; a < gh; ++a)
                for (int64_t b = 0; b < gw; ++b)
                  sum += bilinear(x, batch.data<int64_t>()[r] * 3 + c,
                                  y1 + (i + (a + 0.5) / gh) * rh / oh,
                                  x1 + (j + (b + 0.5) / gw) * rw / ow, 8, 9);
              EXPECT_NEAR(y.value_as_double(((r * 3 + c) * oh + i) * ow + j),
                          sum / std::max<int64_t>(gh * gw, 1), 1e-5);
            }
      }
    }
}

}  // namespace
}  // namespace qforge
