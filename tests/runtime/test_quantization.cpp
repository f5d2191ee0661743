// SPDX-License-Identifier: Apache-2.0
// Quantization kernels (src/runtime/kernels/quantization.cpp) against a naive reference of
// ONNX Runtime's formula, bit for bit: ties, saturation, NaN/inf, per axis, blocked, opset 10,
// DynamicQuantizeLinear; and, when onnxruntime-node is installed, against ONNX Runtime itself.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>

#include "qforge/onnx_io.h"
#include "qforge/tensor_io.h"
#include "support/kernel_test_util.h"
#include "support/test_support.h"

namespace qforge {
namespace {

std::vector<Tensor> run_op(const std::string& type, std::vector<std::optional<Tensor>> inputs,
                           std::vector<Attribute> attrs = {}, size_t num_outputs = 1,
                           int64_t opset = 13) {
  testing::SingleOp spec;
  spec.type = type;
  spec.inputs = std::move(inputs);
  spec.attributes = std::move(attrs);
  spec.num_outputs = num_outputs;
  spec.opset = opset;
  return testing::run_single_op(spec);
}

// The reference: float division, round half to even, then saturate (NaN to qmin, like MLAS).
int64_t ref_quantize(float x, float scale, int64_t zp, int64_t qmin, int64_t qmax) {
  const float v = x / scale;
  if (std::isnan(v)) return qmin;
  const double r = static_cast<double>(std::nearbyint(v)) + static_cast<double>(zp);
  return static_cast<int64_t>(std::min<double>(std::max<double>(r, qmin), qmax));
}

// Values that stress rounding: exact ties, ties one ulp off, saturation, specials.
std::vector<float> tricky_values(float scale, uint32_t seed, size_t random_count) {
  std::vector<float> v;
  for (int k = -300; k <= 300; ++k) {
    const float tie = (static_cast<float>(k) + 0.5f) * scale;
    v.push_back(tie);
    v.push_back(std::nextafter(tie, 1e30f));
    v.push_back(std::nextafter(tie, -1e30f));
  }
  const float inf = std::numeric_limits<float>::infinity();
  for (float s : {0.0f, -0.0f, inf, -inf, std::numeric_limits<float>::quiet_NaN(), 1e30f, -1e30f})
    v.push_back(s);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-200.0f * scale, 200.0f * scale);
  for (size_t i = 0; i < random_count; ++i) v.push_back(dist(rng));
  return v;
}

Tensor quantize(const Tensor& x, const Tensor& scale, std::optional<Tensor> zp, int64_t opset = 13,
                std::vector<Attribute> attrs = {}) {
  return run_op("QuantizeLinear", {x, scale, zp}, std::move(attrs), 1, opset)[0];
}

TEST(QuantizeLinear, PerTensorMatchesReferenceBitExact) {
  for (float scale : {0.1f, 0.0375f, 1.0f, 3.3f}) {
    const std::vector<float> values = tricky_values(scale, 7, 2000);
    const Tensor x = Tensor::from_vector<float>({static_cast<int64_t>(values.size())}, values);
    const Tensor y8 = quantize(x, Tensor::scalar<float>(scale), Tensor::scalar<uint8_t>(128));
    const Tensor s8 = quantize(x, Tensor::scalar<float>(scale), Tensor::scalar<int8_t>(-3));
    ASSERT_EQ(y8.dtype(), DataType::UInt8);
    ASSERT_EQ(s8.dtype(), DataType::Int8);
    for (size_t i = 0; i < values.size(); ++i) {
      EXPECT_EQ(y8.data<uint8_t>()[i], ref_quantize(values[i], scale, 128, 0, 255)) << values[i];
      EXPECT_EQ(s8.data<int8_t>()[i], ref_quantize(values[i], scale, -3, -128, 127)) << values[i];
    }
  }
}

TEST(QuantizeLinear, DividesRatherThanMultipliesByReciprocal) {
  // The reference divides; make sure the data contains values where x * (1/s) would round
  // differently, so that agreeing with the reference proves the kernel divides too.
  const float scale = 0.1f;
  const std::vector<float> values = tricky_values(scale, 11, 20000);
  int differing = 0;
  for (float x : values)
    if (std::isfinite(x) && std::nearbyint(x / scale) != std::nearbyint(x * (1.0f / scale)))
      ++differing;
  ASSERT_GT(differing, 0);
  const Tensor x = Tensor::from_vector<float>({static_cast<int64_t>(values.size())}, values);
  const Tensor y = quantize(x, Tensor::scalar<float>(scale), Tensor::scalar<int8_t>(0));
  for (size_t i = 0; i < values.size(); ++i)
    ASSERT_EQ(y.data<int8_t>()[i], ref_quantize(values[i], scale, 0, -128, 127)) << values[i];
}

TEST(QuantizeLinear, TiesSaturationAndSpecials) {
  const Tensor x = Tensor::from_vector<float>(
      {9}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 1000.0f, -1000.0f, std::nanf(""), INFINITY});
  const Tensor y = quantize(x, Tensor::scalar<float>(1.0f), Tensor::scalar<int8_t>(0));
  EXPECT_EQ(y.to_int64_vector(), (std::vector<int64_t>{0, 2, 2, 0, -2, 127, -128, -128, 127}));
  // No zero point: uint8 with zero point 0.
  const Tensor u = quantize(x, Tensor::scalar<float>(1.0f), std::nullopt);
  EXPECT_EQ(u.dtype(), DataType::UInt8);
  EXPECT_EQ(u.to_int64_vector(), (std::vector<int64_t>{0, 2, 2, 0, 0, 255, 0, 0, 255}));
}

TEST(QuantizeLinear, PerAxisAndNegativeAxis) {
  const Shape shape{2, 3, 4};
  const Tensor x = testing::random_tensor(DataType::Float, shape, 3, -5.0f, 5.0f);
  const std::vector<float> scales{0.02f, 0.05f, 0.1f};
  const std::vector<int8_t> zps{-2, 0, 7};
  const Tensor y =
      quantize(x, Tensor::from_vector<float>({3}, scales), Tensor::from_vector<int8_t>({3}, zps));
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t c = (i / 4) % 3;
    EXPECT_EQ(y.data<int8_t>()[i], ref_quantize(x.data<float>()[i], scales[c], zps[c], -128, 127));
  }
  const std::vector<float> last{0.1f, 0.2f, 0.3f, 0.4f};
  const Tensor z = quantize(x, Tensor::from_vector<float>({4}, last),
                            Tensor::from_vector<uint8_t>({4}, {1, 2, 3, 4}), 13,
                            {Attribute::make_int("axis", -1)});
  for (int64_t i = 0; i < x.numel(); ++i)
    EXPECT_EQ(z.data<uint8_t>()[i],
              ref_quantize(x.data<float>()[i], last[i % 4], i % 4 + 1, 0, 255));
  // A scale that does not match the axis is a shape error.
  EXPECT_THROW(quantize(x, Tensor::from_vector<float>({2}, {1, 1}), std::nullopt), Error);
}

TEST(QuantizeLinear, BlockedScales) {
  const Tensor x = testing::random_tensor(DataType::Float, {2, 5}, 5, -3.0f, 3.0f);
  const std::vector<float> scales{0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};  // [2, 3]: blocks of 2
  const Tensor y = quantize(x, Tensor::from_vector<float>({2, 3}, scales), std::nullopt, 21,
                            {Attribute::make_int("axis", 1), Attribute::make_int("block_size", 2),
                             Attribute::make_int("output_dtype", 3)});
  ASSERT_EQ(y.dtype(), DataType::Int8);
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t c = 0; c < 5; ++c)
      EXPECT_EQ(y.data<int8_t>()[r * 5 + c],
                ref_quantize(x.data<float>()[r * 5 + c], scales[r * 3 + c / 2], 0, -128, 127));
}

TEST(QuantizeLinear, Opset10Int32AndFloat16Inputs) {
  const Tensor xi = Tensor::from_vector<int32_t>({4}, {-7, 0, 5, 300});
  const Tensor yi = quantize(xi, Tensor::scalar<float>(2.0f), Tensor::scalar<uint8_t>(10), 10);
  EXPECT_EQ(yi.to_int64_vector(), (std::vector<int64_t>{6, 10, 12, 160}));
  const Tensor xh = Tensor::from_vector<float>({3}, {0.25f, -1.75f, 3.0f}).cast(DataType::Float16);
  const Tensor yh = quantize(xh, Tensor::scalar<float>(0.5f), Tensor::scalar<int8_t>(0), 19);
  EXPECT_EQ(yh.to_int64_vector(), (std::vector<int64_t>{0, -4, 6}));
}

TEST(DequantizeLinear, PerTensorPerAxisInt32) {
  const Tensor q = Tensor::from_vector<uint8_t>({2, 3}, {0, 128, 255, 3, 4, 5});
  auto run = [](std::vector<std::optional<Tensor>> in, std::vector<Attribute> attrs = {}) {
    return run_op("DequantizeLinear", std::move(in), std::move(attrs))[0];
  };
  const Tensor y = run({q, Tensor::scalar<float>(0.1f), Tensor::scalar<uint8_t>(128)});
  ASSERT_EQ(y.dtype(), DataType::Float);
  for (int64_t i = 0; i < 6; ++i)
    EXPECT_EQ(y.data<float>()[i], static_cast<float>(q.data<uint8_t>()[i] - 128) * 0.1f);
  const Tensor a = run(
      {q, Tensor::from_vector<float>({2}, {0.5f, 2.0f}), Tensor::from_vector<uint8_t>({2}, {1, 2})},
      {Attribute::make_int("axis", 0)});
  EXPECT_EQ(a.to_float_vector(), (std::vector<float>{-0.5f, 63.5f, 127.0f, 2.0f, 4.0f, 6.0f}));
  const Tensor i32 = run({Tensor::from_vector<int32_t>({3}, {-1000, 0, 77}),
                          Tensor::scalar<float>(0.25f), std::nullopt});
  EXPECT_EQ(i32.to_float_vector(), (std::vector<float>{-250.0f, 0.0f, 19.25f}));
  const Tensor s8 = run({Tensor::from_vector<int8_t>({2}, {-128, 127}), Tensor::scalar<float>(1.0f),
                         Tensor::scalar<int8_t>(-1)});
  EXPECT_EQ(s8.to_float_vector(), (std::vector<float>{-127.0f, 128.0f}));
  EXPECT_THROW(run({q, Tensor::scalar<float>(1.0f), Tensor::scalar<int8_t>(0)}), Error);  // dtypes
}

TEST(DequantizeLinear, RoundTripIsWithinHalfStep) {
  const Tensor x = testing::random_tensor(DataType::Float, {64}, 9, -2.0f, 2.0f);
  const float scale = 4.0f / 255.0f;
  const Tensor q = quantize(x, Tensor::scalar<float>(scale), Tensor::scalar<uint8_t>(128));
  const Tensor y = run_op("DequantizeLinear",
                          {q, Tensor::scalar<float>(scale), Tensor::scalar<uint8_t>(128)})[0];
  for (int64_t i = 0; i < 64; ++i)
    EXPECT_LE(std::abs(y.data<float>()[i] - x.data<float>()[i]), scale * 0.5f + 1e-6f);
}

TEST(DynamicQuantizeLinear, MatchesOrtParameters) {
  const Tensor x = testing::random_tensor(DataType::Float, {50}, 13, -1.3f, 2.9f);
  auto out = run_op("DynamicQuantizeLinear", {x}, {}, 3, 11);
  const float* p = x.data<float>();
  float lo = 0, hi = 0;
  for (int i = 0; i < 50; ++i) lo = std::min(lo, p[i]), hi = std::max(hi, p[i]);
  const float scale = (hi - lo) / 255.0f;
  const float zp = std::nearbyint(std::clamp(0.0f - lo / scale, 0.0f, 255.0f));
  EXPECT_EQ(out[1].data<float>()[0], scale);
  EXPECT_EQ(out[2].data<uint8_t>()[0], static_cast<uint8_t>(zp));
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(out[0].data<uint8_t>()[i],
              ref_quantize(p[i], scale, static_cast<int64_t>(zp), 0, 255));
  // All zeros: ONNX Runtime uses scale 1 rather than dividing by zero.
  out = run_op("DynamicQuantizeLinear", {Tensor(DataType::Float, {4})}, {}, 3, 11);
  EXPECT_EQ(out[1].data<float>()[0], 1.0f);
  EXPECT_EQ(out[2].data<uint8_t>()[0], 0);
  EXPECT_EQ(out[0].to_int64_vector(), (std::vector<int64_t>{0, 0, 0, 0}));
}

// QuantizeLinear -> DequantizeLinear model run by ONNX Runtime: the kernels must agree bit for
// bit on the quantized and the dequantized values.
TEST(QuantizeLinear, AgreesBitExactWithOnnxRuntime) {
  if (!testing::ort_available()) GTEST_SKIP() << "onnxruntime-node is not installed";
  testing::TempDir dir;
  struct Case {
    DataType qtype;
    std::vector<float> scales;
    std::vector<int64_t> zps;
  };
  const std::vector<Case> cases{{DataType::UInt8, {0.0375f}, {131}},
                                {DataType::Int8, {0.1f}, {-5}},
                                {DataType::Int8, {0.01f, 0.3f, 7.0f}, {0, 3, -9}}};
  std::vector<testing::OrtJob> jobs;
  std::vector<Tensor> xs, qs, ys;
  for (size_t k = 0; k < cases.size(); ++k) {
    const Case& c = cases[k];
    const int64_t channels = static_cast<int64_t>(c.scales.size());
    std::vector<float> values = tricky_values(c.scales[0], 17 + k, 3000);
    values.resize(values.size() / 3 * 3);
    const int64_t rows = static_cast<int64_t>(values.size()) / 3;
    const Shape shape = channels == 1 ? Shape{3 * rows} : Shape{rows, 3};
    Tensor scale = channels == 1 ? Tensor::scalar<float>(c.scales[0])
                                 : Tensor::from_vector<float>({channels}, c.scales);
    Tensor zp = Tensor::from_vector<int64_t>(channels == 1 ? Shape{} : Shape{channels}, c.zps)
                    .cast(c.qtype);
    Graph g;
    g.model.opset_imports = {{"", 13}};
    Variable* x = g.create_variable("x");
    x->dtype = DataType::Float;
    x->shape = std::vector<Dim>{};
    for (int64_t d : shape) x->shape->push_back(Dim{d, ""});
    Variable* s = g.create_variable("s", scale);
    Variable* z = g.create_variable("z", zp);
    Variable* q = g.create_variable("q");
    Variable* y = g.create_variable("y");
    q->dtype = c.qtype;
    y->dtype = DataType::Float;
    g.create_operation("QuantizeLinear", "quant", {x, s, z}, {q}, {Attribute::make_int("axis", 1)});
    g.create_operation("DequantizeLinear", "dequant", {q, s, z}, {y},
                       {Attribute::make_int("axis", 1)});
    g.add_graph_input(x);
    g.add_graph_output(q);
    g.add_graph_output(y);
    const std::string model = dir.file(fmt::format("m{}.onnx", k));
    save_onnx_graph(g, model);
    const Tensor xt = Tensor::from_vector<float>(shape, values);
    write_npy(dir.file(fmt::format("x{}.npy", k)), xt);
    jobs.push_back(
        {model, {{"x", dir.file(fmt::format("x{}.npy", k))}}, dir.file(fmt::format("o{}", k))});
    std::filesystem::create_directories(jobs.back().output_dir);
    xs.push_back(xt);
    const std::vector<Attribute> axis{Attribute::make_int("axis", 1)};
    qs.push_back(quantize(xt, scale, zp, 13, axis));
    ys.push_back(run_op("DequantizeLinear", {qs.back(), scale, zp}, axis)[0]);
  }
  const auto results = testing::run_ort(jobs);
  for (size_t k = 0; k < cases.size(); ++k) {
    ASSERT_TRUE(results[k].ok) << results[k].error;
    ASSERT_EQ(results[k].outputs.size(), 2u);
    EXPECT_TRUE(results[k].outputs[0].equals(qs[k])) << "case " << k << " quantized values differ";
    const Tensor& ort_y = results[k].outputs[1];
    ASSERT_EQ(ort_y.shape(), ys[k].shape());
    for (int64_t i = 0; i < ort_y.numel(); ++i)
      ASSERT_EQ(std::memcmp(&ort_y.data<float>()[i], &ys[k].data<float>()[i], 4), 0)
          << "case " << k << " element " << i;
  }
}

}  // namespace
}  // namespace qforge
