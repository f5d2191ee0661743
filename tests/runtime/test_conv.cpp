// SPDX-License-Identifier: Apache-2.0
// Conv family kernels (src/runtime/kernels/conv.cpp) against naive direct loops written here:
// Conv (1-3 D, groups, depthwise, dilations, strides, pads, auto_pad, 1x1 paths, stride >
// kernel, pads > kernel, batch > 1, double and float16), ConvTranspose (output_padding,
// output_shape, auto_pad, groups), ConvInteger and QLinearConv, plus error cases; the 3x3
// depthwise vector path's borders, and Conv + Relu/Clip fused by the executor on every path.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>
#include <random>

#include "qforge/executor.h"
#include "support/kernel_test_util.h"
#include "support/test_support.h"

namespace qforge {
namespace {

using testing::run_single_op;
using testing::SingleOp;

struct ConvParams {
  std::vector<int64_t> strides, dilations, pads;  // empty: defaults
  int64_t group = 1;
};

// Pads a spatial vector to three slots (depth, height, width) with `fill` in front.
std::array<int64_t, 3> slots(const std::vector<int64_t>& v, size_t spatial, int64_t fill,
                             size_t offset = 0) {
  std::array<int64_t, 3> out{fill, fill, fill};
  for (size_t i = 0; i < spatial; ++i)
    if (offset + i < v.size()) out[3 - spatial + i] = v[offset + i];
  return out;
}

// Direct convolution in double: y[n, m, o] = b[m] + sum over c, k of x[n, c, o*s - p + k*d] w[m, c,
// k].
Tensor ref_conv(const Tensor& x, const Tensor& w, const Tensor* b, const ConvParams& p) {
  const size_t sp = x.shape().size() - 2;
  const Shape ws(w.shape().begin() + 2, w.shape().end()),
      xs(x.shape().begin() + 2, x.shape().end());
  const auto in = slots(xs, sp, 1), k = slots(ws, sp, 1);
  const auto st = slots(p.strides, sp, 1), dl = slots(p.dilations, sp, 1);
  const auto pb = slots(p.pads, sp, 0), pe = slots(p.pads, sp, 0, sp);
  std::array<int64_t, 3> out;
  for (int s = 0; s < 3; ++s)
    out[s] = (in[s] + pb[s] + pe[s] - ((k[s] - 1) * dl[s] + 1)) / st[s] + 1;
  const int64_t N = x.dim(0), C = x.dim(1), M = w.dim(0), Cg = C / p.group, Mg = M / p.group;
  Shape yshape{N, M};
  for (size_t i = 0; i < sp; ++i) yshape.push_back(out[3 - sp + i]);
  Tensor y(DataType::Float, yshape);
  float* yv = y.data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t od = 0; od < out[0]; ++od)
        for (int64_t oh = 0; oh < out[1]; ++oh)
          for (int64_t ow = 0; ow < out[2]; ++ow) {
            double acc = b ? b->value_as_double(m) : 0.0;
            const int64_t g = m / Mg;
            for (int64_t c = 0; c < Cg; ++c)
              for (int64_t kd = 0; kd < k[0]; ++kd)
                for (int64_t kh = 0; kh < k[1]; ++kh)
                  for (int64_t kw = 0; kw < k[2]; ++kw) {
                    const int64_t id = od * st[0] - pb[0] + kd * dl[0];
                    const int64_t ih = oh * st[1] - pb[1] + kh * dl[1];
                    const int64_t iw = ow * st[2] - pb[2] + kw * dl[2];
                    if (id < 0 || ih < 0 || iw < 0 || id >= in[0] || ih >= in[1] || iw >= in[2])
                      continue;
                    const int64_t xi =
                        (((n * C + g * Cg + c) * in[0] + id) * in[1] + ih) * in[2] + iw;
                    const int64_t wi = (((m * Cg + c) * k[0] + kd) * k[1] + kh) * k[2] + kw;
                    acc += x.value_as_double(xi) * w.value_as_double(wi);
                  }
            yv[(((n * M + m) * out[0] + od) * out[1] + oh) * out[2] + ow] = static_cast<float>(acc);
          }
  return y;
}

std::vector<Attribute> conv_attrs(const ConvParams& p) {
  std::vector<Attribute> a;
  if (!p.strides.empty()) a.push_back(Attribute::make_ints("strides", p.strides));
  if (!p.dilations.empty()) a.push_back(Attribute::make_ints("dilations", p.dilations));
  if (!p.pads.empty()) a.push_back(Attribute::make_ints("pads", p.pads));
  if (p.group != 1) a.push_back(Attribute::make_int("group", p.group));
  return a;
}

Tensor run_conv(const Tensor& x, const Tensor& w, std::optional<Tensor> b,
                std::vector<Attribute> attrs, int threads = 1, const std::string& type = "Conv") {
  SingleOp spec;
  spec.type = type;
  spec.inputs = {x, w, b};
  spec.attributes = std::move(attrs);
  spec.opset = 17;
  spec.threads = threads;
  return run_single_op(spec).at(0);
}

void expect_close(const Tensor& actual, const Tensor& expected, double tol = 1e-4) {
  const std::string diff = testing::compare_tensors(actual, expected, tol, tol);
  EXPECT_TRUE(diff.empty()) << diff;
}

struct ConvCase {
  const char* name;
  Shape x, w;
  ConvParams p;
  bool bias;
};

TEST(ConvKernel, MatchesDirectReference) {
  const ConvCase cases[] = {
      {"3x3 pad1 batch2", {2, 3, 9, 8}, {4, 3, 3, 3}, {{}, {}, {1, 1, 1, 1}, 1}, true},
      {"1x1 pointwise", {2, 5, 6, 7}, {6, 5, 1, 1}, {}, true},
      {"1x1 stride2", {1, 4, 7, 7}, {3, 4, 1, 1}, {{2, 2}, {}, {}, 1}, false},
      {"1x1 input", {3, 2, 1, 1}, {4, 2, 1, 1}, {}, true},
      {"stride > kernel", {1, 2, 11, 10}, {3, 2, 2, 2}, {{3, 4}, {}, {}, 1}, true},
      {"pads > kernel", {1, 2, 4, 5}, {2, 2, 2, 2}, {{}, {}, {3, 2, 3, 4}, 1}, true},
      {"asymmetric pads stride2", {1, 3, 7, 5}, {2, 3, 3, 3}, {{2, 2}, {}, {1, 0, 1, 0}, 1}, false},
      {"dilation", {1, 2, 10, 9}, {3, 2, 3, 2}, {{1, 2}, {2, 3}, {2, 1, 2, 1}, 1}, true},
      {"groups", {2, 6, 6, 6}, {4, 3, 3, 3}, {{}, {}, {1, 1, 1, 1}, 2}, true},
      {"depthwise s1", {2, 4, 9, 9}, {4, 1, 3, 3}, {{}, {}, {1, 1, 1, 1}, 4}, true},
      {"depthwise s2", {1, 3, 10, 11}, {3, 1, 3, 3}, {{2, 2}, {}, {1, 1, 1, 1}, 3}, true},
      {"depthwise s3 dil2", {1, 2, 12, 13}, {2, 1, 3, 3}, {{3, 3}, {2, 2}, {2, 2, 2, 2}, 2}, false},
      {"depthwise multiplier", {1, 3, 8, 8}, {6, 1, 5, 5}, {{}, {}, {2, 2, 2, 2}, 3}, true},
      {"1d", {2, 3, 17}, {4, 3, 5}, {{2}, {}, {2, 1}, 1}, true},
      {"1d depthwise", {1, 4, 15}, {4, 1, 3}, {{1}, {}, {1, 1}, 4}, true},
      {"3d", {1, 2, 5, 6, 7}, {3, 2, 3, 2, 3}, {{1, 2, 1}, {}, {1, 0, 1, 1, 1, 0}, 1}, true},
      // Big enough for the oneDNN path (weights small next to the work).
      {"dense 3x3 onednn", {2, 8, 20, 20}, {16, 8, 3, 3}, {{}, {}, {1, 1, 1, 1}, 1}, true},
      {"dense onednn strided dilated asymmetric",
       {1, 16, 40, 40},
       {16, 16, 3, 3},
       {{2, 1}, {2, 1}, {1, 2, 3, 0}, 1},
       false},
      {"dense 7x7 s2 onednn", {1, 3, 40, 37}, {8, 3, 7, 7}, {{2, 2}, {}, {3, 3, 3, 3}, 1}, true},
      {"direct 3x3 7x7 multi-pass",
       {2, 100, 7, 7},
       {13, 100, 3, 3},
       {{}, {}, {1, 1, 1, 1}, 1},
       true},
      {"direct 5x5 dilated 8x8", {1, 9, 8, 8}, {7, 9, 5, 5}, {{}, {2, 1}, {4, 2, 4, 2}, 1}, true},
      {"3d groups dilation",
       {2, 4, 6, 6, 6},
       {4, 2, 2, 2, 2},
       {{2, 1, 1}, {1, 2, 1}, {}, 2},
       false},
  };
  uint32_t seed = 1;
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(c.name);
    const Tensor x = testing::random_tensor(DataType::Float, c.x, seed++);
    const Tensor w = testing::random_tensor(DataType::Float, c.w, seed++);
    const Tensor b = testing::random_tensor(DataType::Float, {c.w[0]}, seed++);
    const Tensor expected = ref_conv(x, w, c.bias ? &b : nullptr, c.p);
    for (int threads : {1, 2}) {
      const Tensor y = run_conv(x, w, c.bias ? std::optional<Tensor>(b) : std::nullopt,
                                conv_attrs(c.p), threads);
      expect_close(y, expected);
    }
  }
}

TEST(ConvKernel, AutoPadMatchesExplicitPads) {
  const Tensor x = testing::random_tensor(DataType::Float, {1, 2, 7, 6}, 11);
  const Tensor w = testing::random_tensor(DataType::Float, {3, 2, 3, 4}, 12);
  const std::vector<Attribute> strides{Attribute::make_ints("strides", {2, 2})};
  // out = ceil(in / s) = (4, 3); total pads = (1*... ) H: (4-1)*2+3-7 = 2, W: (3-1)*2+4-6 = 2.
  auto with = [&](const char* mode) {
    std::vector<Attribute> a = strides;
    a.push_back(Attribute::make_string("auto_pad", mode));
    return run_conv(x, w, std::nullopt, a);
  };
  expect_close(with("SAME_UPPER"), ref_conv(x, w, nullptr, {{2, 2}, {}, {1, 1, 1, 1}, 1}));
  expect_close(with("SAME_LOWER"), ref_conv(x, w, nullptr, {{2, 2}, {}, {1, 1, 1, 1}, 1}));
  expect_close(with("VALID"), ref_conv(x, w, nullptr, {{2, 2}, {}, {}, 1}));
  // Odd total padding: SAME_UPPER pads the end, SAME_LOWER the beginning.
  const Tensor w3 = testing::random_tensor(DataType::Float, {3, 2, 2, 2}, 13);
  std::vector<Attribute> upper{Attribute::make_string("auto_pad", "SAME_UPPER")};
  std::vector<Attribute> lower{Attribute::make_string("auto_pad", "SAME_LOWER")};
  expect_close(run_conv(x, w3, std::nullopt, upper),
               ref_conv(x, w3, nullptr, {{}, {}, {0, 0, 1, 1}, 1}));
  expect_close(run_conv(x, w3, std::nullopt, lower),
               ref_conv(x, w3, nullptr, {{}, {}, {1, 1, 0, 0}, 1}));
}

// Strided convs on 1-4 channels with "same" padding and outputs that do not fill 16-channel
// blocks run on phase planes (conv_direct.h): kernels smaller and larger than the stride, odd
// and even sizes, either way of splitting odd padding, strides per axis, batch 2.
TEST(ConvKernel, StridedFewChannelsOnPhasePlanes) {
  uint32_t seed = 900;
  struct Geometry {
    int64_t C, kh, kw, sy, sx;
  };
  const Geometry geometries[] = {{3, 5, 5, 2, 2}, {3, 3, 3, 2, 2}, {3, 7, 7, 2, 2},
                                 {4, 1, 1, 2, 2}, {2, 2, 2, 2, 2}, {1, 3, 3, 3, 3},
                                 {2, 3, 5, 2, 1}, {3, 4, 3, 1, 2}, {1, 6, 2, 4, 3}};
  for (const Geometry& geo : geometries)
    for (const Shape& plane : {Shape{16, 16}, Shape{17, 13}, Shape{9, 30}})
      for (bool upper : {true, false})
        for (int64_t M : {5, 24}) {
          SCOPED_TRACE(fmt::format("C {} kernel {}x{} stride {}x{} in {}x{} {} M {}", geo.C, geo.kh,
                                   geo.kw, geo.sy, geo.sx, plane[0], plane[1],
                                   upper ? "upper" : "lower", M));
          // "Same" padding: out = ceil(in / stride), odd totals split as auto_pad does.
          std::vector<int64_t> pads(4);
          const int64_t kernel[] = {geo.kh, geo.kw}, stride[] = {geo.sy, geo.sx};
          for (int d = 0; d < 2; ++d) {
            const int64_t out = (plane[static_cast<size_t>(d)] + stride[d] - 1) / stride[d];
            const int64_t total = std::max<int64_t>(
                (out - 1) * stride[d] + kernel[d] - plane[static_cast<size_t>(d)], 0);
            pads[static_cast<size_t>(d)] = upper ? total / 2 : total - total / 2;
            pads[static_cast<size_t>(d) + 2] = total - pads[static_cast<size_t>(d)];
          }
          const ConvParams p{{geo.sy, geo.sx}, {}, pads, 1};
          const Tensor x =
              testing::random_tensor(DataType::Float, {2, geo.C, plane[0], plane[1]}, seed++);
          const Tensor w =
              testing::random_tensor(DataType::Float, {M, geo.C, geo.kh, geo.kw}, seed++);
          const Tensor b = testing::random_tensor(DataType::Float, {M}, seed++);
          const Tensor expected = ref_conv(x, w, &b, p);
          for (int threads : {1, 2})
            expect_close(run_conv(x, w, b, conv_attrs(p), threads), expected);
        }
}

// An Inf or NaN input stays where the conv puts it: the phase window's extra taps (zero weights)
// must not turn it into NaN elsewhere.
TEST(ConvKernel, StridedFewChannelsKeepInfAndNan) {
  const ConvParams p{{2, 2}, {}, {1, 1, 2, 2}, 1};  // BlazeFace's first conv: 5x5, stride 2
  Tensor x = testing::random_tensor(DataType::Float, {1, 3, 16, 16}, 950);
  const Tensor w = testing::random_tensor(DataType::Float, {24, 3, 5, 5}, 951);
  const Tensor b = testing::random_tensor(DataType::Float, {24}, 952);
  x.data<float>()[5 * 16 + 6] = std::numeric_limits<float>::infinity();
  x.data<float>()[256 + 10 * 16 + 3] = std::numeric_limits<float>::quiet_NaN();
  const Tensor expected = ref_conv(x, w, &b, p);
  int finite = 0;
  for (int64_t i = 0; i < expected.numel(); ++i) finite += std::isfinite(expected.data<float>()[i]);
  ASSERT_GT(finite, expected.numel() / 2);  // most outputs never see the bad inputs
  for (int threads : {1, 2}) expect_close(run_conv(x, w, b, conv_attrs(p), threads), expected);
}

TEST(ConvKernel, DoubleAndFloat16) {
  const Tensor x = testing::random_tensor(DataType::Float, {2, 4, 6, 6}, 21);
  const Tensor w = testing::random_tensor(DataType::Float, {4, 2, 3, 3}, 22);
  const Tensor b = testing::random_tensor(DataType::Float, {4}, 23);
  const ConvParams p{{1, 1}, {}, {1, 1, 1, 1}, 2};
  const Tensor expected = ref_conv(x, w, &b, p);
  const Tensor yd = run_conv(x.cast(DataType::Double), w.cast(DataType::Double),
                             b.cast(DataType::Double), conv_attrs(p));
  EXPECT_EQ(yd.dtype(), DataType::Double);
  expect_close(yd.cast(DataType::Float), expected);
  const Tensor yh = run_conv(x.cast(DataType::Float16), w.cast(DataType::Float16),
                             b.cast(DataType::Float16), conv_attrs(p));
  EXPECT_EQ(yh.dtype(), DataType::Float16);
  const Tensor bh = b.cast(DataType::Float16).cast(DataType::Float);
  const Tensor expected_h = ref_conv(x.cast(DataType::Float16).cast(DataType::Float),
                                     w.cast(DataType::Float16).cast(DataType::Float), &bh, p);
  expect_close(yh.cast(DataType::Float), expected_h, 1e-2);
}

TEST(ConvKernel, RejectsBadShapes) {
  const Tensor x = testing::random_tensor(DataType::Float, {1, 3, 5, 5}, 1);
  EXPECT_THROW(
      run_conv(x, testing::random_tensor(DataType::Float, {2, 2, 3, 3}, 2), std::nullopt, {}),
      Error);
  EXPECT_THROW(
      run_conv(x, testing::random_tensor(DataType::Float, {2, 3, 7, 7}, 2), std::nullopt, {}),
      Error);
  EXPECT_THROW(run_conv(x, testing::random_tensor(DataType::Float, {2, 3, 3, 3}, 2),
                        testing::random_tensor(DataType::Float, {3}, 3), {}),
               Error);
  EXPECT_THROW(run_conv(x, testing::random_tensor(DataType::Float, {2, 3, 3, 3}, 2), std::nullopt,
                        {Attribute::make_ints("strides", {0, 1})}),
               Error);
}

// The 3x3 depthwise path (16-wide vectors with masked border vectors under AVX-512): widths
// around the vector size, every pad up to beyond the kernel, strides 1 and 2.
TEST(ConvKernel, Depthwise3x3BordersAndWidths) {
  uint32_t seed = 300;
  for (int64_t width : {1, 2, 5, 15, 16, 17, 18, 31, 34, 35, 50, 67})
    for (int64_t stride : {1, 2})
      for (const std::vector<int64_t>& pads : std::vector<std::vector<int64_t>>{
               {1, 1, 1, 1}, {0, 0, 0, 0}, {0, 2, 1, 0}, {2, 1, 0, 2}, {4, 5, 3, 6}}) {
        const int64_t height = 3 + width % 4;
        if (width + pads[1] + pads[3] < 3) continue;
        SCOPED_TRACE(fmt::format("W {} stride {} pads {}", width, stride, fmt::join(pads, ",")));
        const Tensor x = testing::random_tensor(DataType::Float, {2, 3, height, width}, seed++);
        const Tensor w = testing::random_tensor(DataType::Float, {3, 1, 3, 3}, seed++);
        const Tensor b = testing::random_tensor(DataType::Float, {3}, seed++);
        const ConvParams p{{stride, stride}, {}, pads, 3};
        const Tensor expected = ref_conv(x, w, &b, p);
        for (int threads : {1, 2})
          expect_close(run_conv(x, w, b, conv_attrs(p), threads), expected);
      }
}

TEST(ConvKernel, PointwiseTilesOfEveryShape) {
  // The 1x1 path's tiles: 6 channels x 64 pixels, with partial channel and pixel tiles, one
  // pixel tile or many (which decides whether threads also split the channels).
  uint32_t seed = 700;
  for (int64_t channels_out : {1, 5, 6, 7, 13, 40})
    for (int64_t pixels : {1, 15, 16, 17, 49, 64, 65, 130, 300})
      for (int64_t channels_in : {1, 3, 32, 200}) {  // 200: several passes over the channels
        SCOPED_TRACE(fmt::format("M {} N {} K {}", channels_out, pixels, channels_in));
        const Tensor x =
            testing::random_tensor(DataType::Float, {2, channels_in, 1, pixels}, seed++);
        const Tensor w =
            testing::random_tensor(DataType::Float, {channels_out, channels_in, 1, 1}, seed++);
        const Tensor b = testing::random_tensor(DataType::Float, {channels_out}, seed++);
        const Tensor expected = ref_conv(x, w, &b, {});
        for (int threads : {1, 2})
          expect_close(run_conv(x, w, b, conv_attrs({}), threads), expected);
      }
}

// Conv followed by Relu or Clip, run through the executor: fused (no hooks), the result is
// the unfused one (a hook forces that) within float rounding, with NaN where it has NaN.
struct FusedCase {
  const char* name;
  Shape x, w;
  ConvParams p;
};

const FusedCase kFusedCases[] = {
    {"depthwise 3x3 s1", {1, 4, 9, 21}, {4, 1, 3, 3}, {{}, {}, {1, 1, 1, 1}, 4}},
    {"depthwise 3x3 s2", {2, 3, 12, 37}, {3, 1, 3, 3}, {{2, 2}, {}, {1, 1, 1, 1}, 3}},
    {"depthwise 5x5", {1, 3, 10, 9}, {3, 1, 5, 5}, {{}, {}, {2, 2, 2, 2}, 3}},
    // Output plane beyond one column block of the 1x1 path (512 KiB / 8 rows).
    {"1x1 blocked", {1, 5, 130, 131}, {8, 5, 1, 1}, {}},
    {"1x1 groups", {1, 4, 6, 6}, {6, 2, 1, 1}, {{}, {}, {}, 2}},
    {"1x1 partial tiles", {1, 3, 7, 9}, {13, 3, 1, 1}, {}},
    // The direct path on a 7x7 plane, its input channels in several passes (clamp on the last).
    {"direct 3x3 7x7 multi-pass", {1, 100, 7, 7}, {8, 100, 3, 3}, {{}, {}, {1, 1, 1, 1}, 1}},
    {"im2col 3x3", {1, 2, 9, 8}, {3, 2, 3, 3}, {{}, {}, {1, 1, 1, 1}, 1}},
    {"onednn 3x3", {1, 8, 20, 20}, {16, 8, 3, 3}, {{}, {}, {1, 1, 1, 1}, 1}},
};

// x -> Conv(w, b) -> c -> activation -> y
struct ConvActivationModel {
  Graph g;
  Operation *conv, *act;
  ConvActivationModel(const FusedCase& c, const std::string& act_type, int64_t act_opset,
                      const std::vector<std::optional<float>>& bounds, uint32_t seed) {
    g.model.opset_imports = {{"", 17}};
    Variable* x = g.create_variable("x");
    x->dtype = DataType::Float;
    Variable* w = g.create_variable("w", testing::random_tensor(DataType::Float, c.w, seed));
    Variable* b = g.create_variable(
        "b", testing::random_tensor(DataType::Float, {c.w[0]}, seed + 1, -0.5f, 0.5f));
    Variable* conv_out = g.create_variable("c");
    Variable* y = g.create_variable("y");
    conv = g.create_operation("Conv", "conv", {x, w, b}, {conv_out});
    conv->attributes = conv_attrs(c.p);
    std::vector<Variable*> act_inputs{conv_out};
    for (size_t i = 0; i < bounds.size(); ++i)
      act_inputs.push_back(bounds[i] ? g.create_variable(fmt::format("bound{}", i),
                                                         Tensor::scalar<float>(*bounds[i]))
                                     : nullptr);
    act = g.create_operation(act_type, "act", act_inputs, {y});
    act->opset = act_opset;
    g.add_graph_input(x);
    g.add_graph_output(y);
  }
};

void expect_fused_matches_unfused(ConvActivationModel& m, const Tensor& x) {
  for (int threads : {1, 2}) {
    Executor fused(m.g, ExecutorOptions{threads});
    const Tensor y = fused.run({{"x", x}}).at(0);
    Executor unfused(m.g, ExecutorOptions{threads});
    bool conv_output_seen = false;
    unfused.add_after_hook(m.conv, [&](const Operation&, const std::vector<const Tensor*>& out) {
      conv_output_seen = out.at(0) != nullptr && out[0]->defined();
    });
    const Tensor expected = unfused.run({{"x", x}}).at(0);
    EXPECT_TRUE(conv_output_seen);
    expect_close(y, expected);
  }
}

TEST(ConvKernel, FusedReluAndClipMatchUnfused) {
  uint32_t seed = 500;
  for (const FusedCase& c : kFusedCases) {
    SCOPED_TRACE(c.name);
    Tensor x = testing::random_tensor(DataType::Float, c.x, seed++);
    struct Act {
      const char* type;
      int64_t opset;
      std::vector<std::optional<float>> bounds;
    };
    const Act acts[] = {{"Relu", 14, {}},
                        {"Clip", 13, {0.0f, 6.0f}},
                        {"Clip", 13, {std::nullopt, 0.25f}},
                        {"Clip", 13, {-0.5f}},
                        {"Clip", 13, {}}};
    for (const Act& a : acts) {
      ConvActivationModel m(c, a.type, a.opset, a.bounds, seed++);
      expect_fused_matches_unfused(m, x);
    }
    // Clip before opset 11 takes its bounds from attributes.
    ConvActivationModel old_clip(c, "Clip", 6, {}, seed++);
    old_clip.act->attributes = {Attribute::make_float("min", -0.1f),
                                Attribute::make_float("max", 0.2f)};
    expect_fused_matches_unfused(old_clip, x);
    // NaN and infinities reach the clamp as they would reach the activation.
    float* v = x.data<float>();
    v[x.numel() / 2] = std::numeric_limits<float>::quiet_NaN();
    v[x.numel() / 3] = std::numeric_limits<float>::infinity();
    v[x.numel() - 1] = -std::numeric_limits<float>::infinity();
    ConvActivationModel poisoned(c, "Clip", 13, {0.0f, 6.0f}, seed++);
    expect_fused_matches_unfused(poisoned, x);
    ConvActivationModel poisoned_relu(c, "Relu", 14, {}, seed++);
    expect_fused_matches_unfused(poisoned_relu, x);
  }
}

// The fused result against the direct reference, clamped here.
TEST(ConvKernel, FusedClipMatchesReference) {
  const FusedCase& c = kFusedCases[1];
  ConvActivationModel m(c, "Clip", 13, {-0.3f, 0.4f}, 700);
  const Tensor x = testing::random_tensor(DataType::Float, c.x, 701);
  Tensor expected = ref_conv(x, m.g.find_variable("w")->value, &m.g.find_variable("b")->value, c.p);
  for (int64_t i = 0; i < expected.numel(); ++i)
    expected.data<float>()[i] = std::min(std::max(expected.data<float>()[i], -0.3f), 0.4f);
  for (int threads : {1, 2}) {
    Executor ex(m.g, ExecutorOptions{threads});
    expect_close(ex.run({{"x", x}}).at(0), expected);
  }
}

// The oneDNN path keeps its primitive (and with keep_prepared_weights the reordered weights)
// per op between runs: new shapes and new weight tensors must be picked up.
TEST(ConvKernel, KeptOneDnnStateFollowsShapesAndWeights) {
  const ConvParams p{{}, {}, {1, 1, 1, 1}, 1};
  for (const Shape& wshape : {Shape{16, 8, 3, 3}, Shape{4, 8, 3, 3}})
    for (bool keep : {false, true})
      for (int threads : {1, 2}) {
        SCOPED_TRACE(
            fmt::format("w {} keep {} threads {}", shape_to_string(wshape), keep, threads));
        Graph g;
        g.model.opset_imports = {{"", 17}};
        Variable* x = g.create_variable("x");
        Variable* w = g.create_variable("w", testing::random_tensor(DataType::Float, wshape, 800));
        Variable* b =
            g.create_variable("b", testing::random_tensor(DataType::Float, {wshape[0]}, 801));
        Variable* y = g.create_variable("y");
        g.create_operation("Conv", "conv", {x, w, b}, {y}, conv_attrs(p));
        g.add_graph_input(x);
        g.add_graph_output(y);
        Executor ex(g, ExecutorOptions{threads, keep});
        const Tensor x1 = testing::random_tensor(DataType::Float, {1, 8, 20, 20}, 802);
        const Tensor x2 = testing::random_tensor(DataType::Float, {2, 8, 13, 17}, 803);
        for (int repeat = 0; repeat < 2; ++repeat)
          expect_close(ex.run({{"x", x1}}).at(0), ref_conv(x1, w->value, &b->value, p));
        expect_close(ex.run({{"x", x2}}).at(0), ref_conv(x2, w->value, &b->value, p));
        w->value = testing::random_tensor(DataType::Float, wshape, 804);
        expect_close(ex.run({{"x", x2}}).at(0), ref_conv(x2, w->value, &b->value, p));
        // A delegate may hand the kernel a new weight tensor every run: no state is used then.
        ex.set_input_delegate(g.operations()[0].get(), 1, [](const Tensor& t) {
          Tensor doubled = t.clone();
          for (int64_t i = 0; i < doubled.numel(); ++i) doubled.data<float>()[i] *= 2;
          return doubled;
        });
        Tensor w2 = w->value.clone();
        for (int64_t i = 0; i < w2.numel(); ++i) w2.data<float>()[i] *= 2;
        expect_close(ex.run({{"x", x1}}).at(0), ref_conv(x1, w2, &b->value, p));
      }
}

// ---- ConvTranspose ----

struct TransposeParams {
  std::vector<int64_t> strides, dilations, pads, output_padding;
  int64_t group = 1;
};

// Scatter form: y[n, g*Mg + m, i*s - p + k*d] += x[n, g*Cg + c, i] * w[g*Cg + c, m, k], in a
// buffer of the natural size (grown to `out` when given: positions past it stay zero).
Tensor ref_conv_transpose(const Tensor& x, const Tensor& w, const Tensor* b,
                          const TransposeParams& p, std::vector<int64_t> out_spatial = {}) {
  const size_t sp = x.shape().size() - 2;
  const Shape xs(x.shape().begin() + 2, x.shape().end()),
      ws(w.shape().begin() + 2, w.shape().end());
  const auto in = slots(xs, sp, 1), k = slots(ws, sp, 1);
  const auto st = slots(p.strides, sp, 1), dl = slots(p.dilations, sp, 1);
  const auto pb = slots(p.pads, sp, 0), pe = slots(p.pads, sp, 0, sp),
             op = slots(p.output_padding, sp, 0);
  std::array<int64_t, 3> out;
  for (int s = 0; s < 3; ++s)
    out[s] = st[s] * (in[s] - 1) + op[s] + (k[s] - 1) * dl[s] + 1 - (pb[s] + pe[s]);
  if (!out_spatial.empty()) out = slots(out_spatial, sp, 1);
  const int64_t N = x.dim(0), C = x.dim(1), Cg = C / p.group, Mg = w.dim(1), M = Mg * p.group;
  Shape yshape{N, M};
  for (size_t i = 0; i < sp; ++i) yshape.push_back(out[3 - sp + i]);
  std::vector<double> acc(static_cast<size_t>(shape_numel(yshape)), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t m = 0; m < Mg; ++m)
        for (int64_t id = 0; id < in[0]; ++id)
          for (int64_t ih = 0; ih < in[1]; ++ih)
            for (int64_t iw = 0; iw < in[2]; ++iw)
              for (int64_t kd = 0; kd < k[0]; ++kd)
                for (int64_t kh = 0; kh < k[1]; ++kh)
                  for (int64_t kw = 0; kw < k[2]; ++kw) {
                    const int64_t od = id * st[0] - pb[0] + kd * dl[0];
                    const int64_t oh = ih * st[1] - pb[1] + kh * dl[1];
                    const int64_t ow = iw * st[2] - pb[2] + kw * dl[2];
                    if (od < 0 || oh < 0 || ow < 0 || od >= out[0] || oh >= out[1] || ow >= out[2])
                      continue;
                    const int64_t oc = (c / Cg) * Mg + m;
                    const double xv =
                        x.value_as_double((((n * C + c) * in[0] + id) * in[1] + ih) * in[2] + iw);
                    const double wv =
                        w.value_as_double((((c * Mg + m) * k[0] + kd) * k[1] + kh) * k[2] + kw);
                    acc[(((n * M + oc) * out[0] + od) * out[1] + oh) * out[2] + ow] += xv * wv;
                  }
  Tensor y(DataType::Float, yshape);
  const int64_t plane = out[0] * out[1] * out[2];
  for (size_t i = 0; i < acc.size(); ++i)
    y.data<float>()[i] =
        static_cast<float>(acc[i] + (b ? b->value_as_double((i / plane) % M) : 0.0));
  return y;
}

std::vector<Attribute> transpose_attrs(const TransposeParams& p) {
  std::vector<Attribute> a;
  if (!p.strides.empty()) a.push_back(Attribute::make_ints("strides", p.strides));
  if (!p.dilations.empty()) a.push_back(Attribute::make_ints("dilations", p.dilations));
  if (!p.pads.empty()) a.push_back(Attribute::make_ints("pads", p.pads));
  if (!p.output_padding.empty())
    a.push_back(Attribute::make_ints("output_padding", p.output_padding));
  if (p.group != 1) a.push_back(Attribute::make_int("group", p.group));
  return a;
}

TEST(ConvTransposeKernel, MatchesScatterReference) {
  struct Case {
    const char* name;
    Shape x, w;
    TransposeParams p;
    bool bias;
  };
  const Case cases[] = {
      {"basic", {1, 2, 4, 4}, {2, 3, 3, 3}, {}, true},
      {"stride2 pad1 outpad1 batch2",
       {2, 3, 5, 4},
       {3, 2, 3, 3},
       {{2, 2}, {}, {1, 1, 1, 1}, {1, 1}},
       true},
      {"stride > kernel", {1, 2, 3, 3}, {2, 2, 2, 2}, {{3, 4}, {}, {}, {}}, false},
      {"dilation asymmetric pads",
       {1, 1, 4, 5},
       {1, 2, 3, 2},
       {{2, 1}, {2, 2}, {1, 0, 2, 1}, {}},
       true},
      {"groups", {1, 4, 3, 3}, {4, 2, 3, 3}, {{2, 2}, {}, {}, {}, 2}, true},
      {"1x1", {2, 3, 4, 4}, {3, 5, 1, 1}, {}, true},
      {"1d", {1, 2, 6}, {2, 3, 4}, {{3}, {}, {1, 2}, {}}, true},
      {"3d", {1, 2, 3, 3, 3}, {2, 2, 2, 2, 2}, {{2, 1, 2}, {}, {}, {}}, true},
      // Big enough for the oneDNN deconvolution path (weights small next to the work).
      {"dense 2x2 s2 onednn", {1, 24, 16, 16}, {24, 16, 2, 2}, {{2, 2}, {}, {}, {}}, true},
      // Stride equal to the kernel: one tap per output pixel (the by-taps path).
      {"stride = kernel 3x2 groups batch2",
       {2, 4, 5, 3},
       {4, 3, 3, 2},
       {{3, 2}, {}, {}, {}, 2},
       true},
      {"stride = kernel to one channel", {1, 24, 9, 7}, {24, 1, 2, 2}, {{2, 2}, {}, {}, {}}, false},
      {"dense 3x3 s2 pad outpad onednn batch2",
       {2, 16, 20, 18},
       {16, 8, 3, 3},
       {{2, 2}, {}, {1, 1, 1, 1}, {1, 1}},
       false},
      {"dense dilated asymmetric onednn",
       {1, 16, 24, 24},
       {16, 8, 3, 3},
       {{1, 2}, {2, 1}, {1, 2, 0, 1}, {}},
       true},
  };
  uint32_t seed = 100;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const Tensor x = testing::random_tensor(DataType::Float, c.x, seed++);
    const Tensor w = testing::random_tensor(DataType::Float, c.w, seed++);
    const Tensor b = testing::random_tensor(DataType::Float, {c.w[1] * c.p.group}, seed++);
    const Tensor expected = ref_conv_transpose(x, w, c.bias ? &b : nullptr, c.p);
    for (int threads : {1, 2})
      expect_close(run_conv(x, w, c.bias ? std::optional<Tensor>(b) : std::nullopt,
                            transpose_attrs(c.p), threads, "ConvTranspose"),
                   expected);
  }
}

TEST(ConvTransposeKernel, OutputShapeAndAutoPad) {
  const Tensor x = testing::random_tensor(DataType::Float, {1, 1, 3, 3}, 7);
  const Tensor w = testing::random_tensor(DataType::Float, {1, 2, 3, 3}, 8);
  // output_shape larger than natural (3*2+3=9 > ... ): no padding, zeros past the natural end.
  std::vector<Attribute> a{Attribute::make_ints("strides", {3, 2}),
                           Attribute::make_ints("output_shape", {10, 8})};
  expect_close(run_conv(x, w, std::nullopt, a, 1, "ConvTranspose"),
               ref_conv_transpose(x, w, nullptr, {{3, 2}, {}, {}, {}}, {10, 8}));
  // output_shape smaller than natural: total padding split with the extra pixel at the start.
  std::vector<Attribute> s{Attribute::make_ints("strides", {2, 2}),
                           Attribute::make_ints("output_shape", {6, 5})};
  expect_close(run_conv(x, w, std::nullopt, s, 1, "ConvTranspose"),
               ref_conv_transpose(x, w, nullptr, {{2, 2}, {}, {1, 1, 0, 1}, {}}));
  // SAME_UPPER: output = input * stride, the odd padding pixel at the end.
  std::vector<Attribute> u{Attribute::make_ints("strides", {2, 2}),
                           Attribute::make_string("auto_pad", "SAME_UPPER")};
  expect_close(run_conv(x, w, std::nullopt, u, 1, "ConvTranspose"),
               ref_conv_transpose(x, w, nullptr, {{2, 2}, {}, {0, 0, 1, 1}, {}}));
}

// ---- ConvInteger / QLinearConv ----

// (x - xz) and (w - wz[m]) as float tensors for ref_conv (exact for these small values).
Tensor shifted(const Tensor& t, const std::vector<double>& zp, int64_t per_channel) {
  Tensor out(DataType::Float, t.shape());
  for (int64_t i = 0; i < t.numel(); ++i)
    out.data<float>()[i] =
        static_cast<float>(t.value_as_double(i) - zp[zp.size() == 1 ? 0 : i / per_channel]);
  return out;
}

template <typename T>
Tensor random_int(const Shape& shape, uint32_t seed, int lo, int hi) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<T> v(static_cast<size_t>(shape_numel(shape)));
  for (T& e : v) e = static_cast<T>(dist(rng));
  return Tensor::from_vector<T>(shape, v);
}

TEST(ConvIntegerKernel, MatchesShiftedFloatConv) {
  const Tensor x = random_int<uint8_t>({2, 4, 7, 6}, 1, 0, 255);
  const Tensor w = random_int<int8_t>({6, 2, 3, 3}, 2, -128, 127);
  const ConvParams p{{2, 1}, {}, {1, 2, 1, 0}, 2};
  SingleOp spec;
  spec.type = "ConvInteger";
  spec.inputs = {x, w, Tensor::scalar<uint8_t>(131), Tensor::scalar<int8_t>(-3)};
  spec.attributes = conv_attrs(p);
  spec.opset = 10;
  const Tensor y = run_single_op(spec).at(0);
  ASSERT_EQ(y.dtype(), DataType::Int32);
  const Tensor expected = ref_conv(shifted(x, {131}, 1), shifted(w, {-3}, 1), nullptr, p);
  EXPECT_EQ(testing::compare_tensors(y.cast(DataType::Float), expected, 0, 0), "");
}

TEST(QLinearConvKernel, MatchesRequantizedReference) {
  const Tensor x = random_int<uint8_t>({1, 3, 6, 6}, 3, 0, 255);
  const Tensor w = random_int<int8_t>({4, 3, 3, 3}, 4, -127, 127);
  const Tensor bias = Tensor::from_vector<int32_t>({4}, {100, -2000, 0, 37});
  const std::vector<float> w_scale{0.01f, 0.02f, 0.005f, 0.03f};
  const float x_scale = 0.05f, y_scale = 0.7f;
  const ConvParams p{{}, {}, {1, 1, 1, 1}, 1};
  SingleOp spec;
  spec.type = "QLinearConv";
  spec.inputs = {x,
                 Tensor::scalar<float>(x_scale),
                 Tensor::scalar<uint8_t>(128),
                 w,
                 Tensor::from_vector<float>({4}, w_scale),
                 Tensor::from_vector<int8_t>({4}, {0, 0, 0, 0}),
                 Tensor::scalar<float>(y_scale),
                 Tensor::scalar<uint8_t>(120),
                 bias};
  spec.attributes = conv_attrs(p);
  spec.opset = 10;
  const Tensor y = run_single_op(spec).at(0);
  ASSERT_EQ(y.dtype(), DataType::UInt8);
  const Tensor acc = ref_conv(shifted(x, {128}, 1), shifted(w, {0}, 1), nullptr, p);
  const int64_t plane = 36;
  for (int64_t i = 0; i < acc.numel(); ++i) {
    const int64_t m = i / plane;
    const float mult = x_scale * w_scale[m] / y_scale;
    const float v = static_cast<float>(acc.value_as_double(i) + bias.value_as_double(m)) * mult;
    const double expected = std::clamp(std::nearbyint(v) + 120.0, 0.0, 255.0);
    ASSERT_EQ(y.value_as_double(i), expected) << "element " << i;
  }
}

}  // namespace
}  // namespace qforge
