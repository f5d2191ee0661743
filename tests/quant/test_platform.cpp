// SPDX-License-Identifier: Apache-2.0
// Platform tables: every built-in table parses, golden facts from PPQ hold, and user files
// with invalid schemes fail naming the field.
#include <gtest/gtest.h>

#include "qforge/file_io.h"
#include "qforge/platform.h"
#include "support/test_support.h"

namespace qforge {
namespace {

TEST(Platform, BuiltinTablesParse) {
  const auto names = builtin_platforms();
  EXPECT_GE(names.size(), 8u);
  for (const std::string& name : names) EXPECT_NO_THROW(load_platform(name)) << name;
}

TEST(Platform, GoldenSchemes) {
  const Platform trt = load_platform("trt_int8");
  EXPECT_TRUE(trt.activation.policy.symmetric);
  EXPECT_FALSE(trt.activation.policy.per_channel);
  EXPECT_EQ(trt.activation.quant_min, -128);
  EXPECT_EQ(trt.activation.observer, "percentile");
  EXPECT_TRUE(trt.weight.policy.per_channel);
  EXPECT_EQ(trt.weight_channel_axis.at("ConvTranspose"), 1);
  EXPECT_EQ(trt.bias, BiasMode::FP32);
  const Platform dsp = load_platform("PPL_DSP_INT8");
  EXPECT_FALSE(dsp.activation.policy.symmetric);
  EXPECT_EQ(dsp.activation.quant_min, 0);
  EXPECT_EQ(dsp.activation.quant_max, 255);
  EXPECT_FALSE(dsp.weight.policy.per_channel);
  EXPECT_EQ(dsp.bias, BiasMode::Int32Passive);
  const Platform ncnn = load_platform("ncnn_int8");
  EXPECT_EQ(ncnn.activation.quant_min, -127);
  EXPECT_FALSE(ncnn.quantize_outputs);
}

TEST(Platform, UserFileErrorsNameTheField) {
  testing::TempDir dir;
  const std::string good = R"({"name": "MY_CHIP",
    "activation": {"symmetric": true, "num_bits": 8, "quant_min": -128, "quant_max": 127},
    "weight": {"symmetric": true, "per_channel": true, "num_bits": 8, "quant_min": -128, "quant_max": 127},
    "quantized_ops": ["Conv"]})";
  write_file_atomic(dir.file("chip.json"), good);
  EXPECT_EQ(load_platform(dir.file("chip.json")).name, "MY_CHIP");
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"name": "X", "activation": {"symmetric": "yes", "num_bits": 8, "quant_min": -128, "quant_max": 127}})",
       "symmetric"},
      {R"({"name": "X", "activation": {"symmetric": true, "num_bits": 4, "quant_min": -128, "quant_max": 127}})",
       "activation"},
      {R"({"name": "X", "activation": {"symmetric": true, "num_bits": 8, "quant_min": -128, "quant_max": 127,
          "rounding": "nearest"}})", "rounding"},
      {R"({"name": "X", "colour": 1})", "colour"},
      {"{not json", "JSON"},
  };
  for (const auto& [text, field] : bad) {
    write_file_atomic(dir.file("bad.json"), text);
    try {
      load_platform(dir.file("bad.json"));
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(load_platform("no_such_platform"), Error);
}

}  // namespace
}  // namespace qforge
