// SPDX-License-Identifier: Apache-2.0
// The pass pipeline on the tiny CNN: states after quantization, fusion, shared scales,
// passive bias, baking, NaN samples skipped and counted, settings parsing.
#include <gtest/gtest.h>

#include <cmath>

#include "qforge/quantizer.h"
#include "support/memory_dataset.h"
#include "support/tiny_models.h"

namespace qforge {
namespace {

QuantizationSetting quiet_setting() {
  QuantizationSetting s = default_setting();
  s.progress = false;
  s.threads = 1;
  s.activation_observer = "minmax";
  s.calib_steps = 8;
  return s;
}

const TensorQuantizationConfig& in_cfg(const Graph& g, const std::string& op, size_t i) {
  return *g.find_operation(op)->quant_config->input_configs.at(i);
}
const TensorQuantizationConfig& out_cfg(const Graph& g, const std::string& op, size_t o) {
  return *g.find_operation(op)->quant_config->output_configs.at(o);
}

TEST(Quantizer, PipelineStatesOnTinyCnn) {
  auto g = testing::make_tiny_cnn();
  const Platform platform = load_platform("ORT_INT8");
  dispatch_graph(*g, platform);
  auto data = testing::MemoryDataset::random("x", {1, 3, 16, 16}, 8, 3);
  Quantizer quantizer(platform, *g);
  quantizer.quantize(data, quiet_setting());
  // Fusion: conv1 -> relu1 edge stays float.
  EXPECT_EQ(out_cfg(*g, "conv1", 0).state, QuantizationState::FP32);
  EXPECT_EQ(in_cfg(*g, "relu1", 0).state, QuantizationState::FP32);
  EXPECT_TRUE(out_cfg(*g, "relu1", 0).is_active());
  // Weights baked per channel, bias passive int32 with s_in * s_w.
  const auto& w = in_cfg(*g, "conv2", 1);
  EXPECT_EQ(w.state, QuantizationState::Baked);
  EXPECT_EQ(w.scale.numel(), 8);
  const auto& b = in_cfg(*g, "conv2", 2);
  EXPECT_EQ(b.state, QuantizationState::PassiveBaked);
  const float s_in = in_cfg(*g, "conv2", 0).effective_scale().data<float>()[0];
  EXPECT_FLOAT_EQ(b.scale.data<float>()[3], s_in * w.scale.data<float>()[3]);
  // Passive MaxPool shares its input's scale; consumers of one edge share one config.
  EXPECT_EQ(&out_cfg(*g, "pool", 0).effective(), &in_cfg(*g, "pool", 0).effective());
  EXPECT_EQ(&in_cfg(*g, "conv2", 0).effective(), &in_cfg(*g, "conv3", 0).effective());
  // Concat aligned to its output.
  EXPECT_EQ(&in_cfg(*g, "concat", 0).effective(), &out_cfg(*g, "concat", 0).effective());
  EXPECT_EQ(&in_cfg(*g, "concat", 1).effective(), &out_cfg(*g, "concat", 0).effective());
  // Baked weight values are exact multiples of their channel's scale.
  const Tensor& weight = g->find_variable("conv2.w")->value;
  const int64_t per_channel = weight.numel() / 8;
  for (int64_t i = 0; i < weight.numel(); ++i) {
    const float q = weight.data<float>()[i] / w.scale.data<float>()[i / per_channel];
    EXPECT_NEAR(q, std::nearbyint(q), 1e-3) << i;
  }
  EXPECT_NE(quantizer.report().find("BAKED"), std::string::npos);
  EXPECT_EQ(quantizer.calibration().samples, 8);
}

TEST(Quantizer, NanSamplesAreSkippedAndCounted) {
  auto g = testing::make_tiny_cnn();
  const Platform platform = load_platform("TRT_INT8");
  dispatch_graph(*g, platform);
  auto data = testing::MemoryDataset::random("x", {1, 3, 16, 16}, 6, 4);
  data.samples()[2]["x"].data<float>()[5] = NAN;
  data.samples()[4]["x"].data<float>()[0] = INFINITY;
  Quantizer quantizer(platform, *g);
  quantizer.quantize(data, quiet_setting());
  EXPECT_EQ(quantizer.calibration().samples, 4);
  EXPECT_EQ(quantizer.calibration().skipped_samples, 2);
  EXPECT_NE(quantizer.report().find("2 skipped"), std::string::npos);
  for (const auto& op : g->operations())
    for (const auto& c : op->quant_config->output_configs)
      if (c->is_active()) {
        EXPECT_TRUE(std::isfinite(c->effective_scale().data<float>()[0]));
      }
}

TEST(Quantizer, AllNanDataIsAnError) {
  auto g = testing::make_tiny_cnn();
  const Platform platform = load_platform("TRT_INT8");
  dispatch_graph(*g, platform);
  auto data = testing::MemoryDataset::random("x", {1, 3, 16, 16}, 2, 4);
  for (auto& s : data.samples()) s["x"].data<float>()[0] = NAN;
  Quantizer quantizer(platform, *g);
  EXPECT_THROW(quantizer.quantize(data, quiet_setting()), Error);
}

TEST(QuantizationSetting, JsonParsing) {
  const QuantizationSetting s = parse_setting(R"({"calib_steps": 4, "fusion": false, "activation_observer": "kl"})", "s.json");
  EXPECT_EQ(s.calib_steps, 4);
  EXPECT_FALSE(s.fusion);
  EXPECT_EQ(s.activation_observer, "kl");
  EXPECT_THROW(parse_setting(R"({"calib_step": 4})", "s.json"), Error);
  EXPECT_THROW(parse_setting(R"({"fusion": 1})", "s.json"), Error);
  const QuantizationSetting d = default_setting();
  EXPECT_EQ(d.dispatcher, "conservative");
  EXPECT_TRUE(d.fusion && d.quantize_parameter && d.quantize_activation && d.alignment && d.passive_parameters && d.baking);
  EXPECT_FALSE(d.bias_correction);
}

}  // namespace
}  // namespace qforge
