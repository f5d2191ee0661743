// SPDX-License-Identifier: Apache-2.0
// TQC: scale math, fake quantization (rounding policies, per channel, saturation), agreement
// with qforge's QuantizeLinear/DequantizeLinear kernels, union-find and states, validation.
#include <gtest/gtest.h>

#include <cmath>

#include "qforge/quantization_config.h"
#include "support/kernel_test_util.h"
#include "support/test_support.h"

namespace qforge {
namespace {

TensorQuantizationConfig int8_symmetric() {
  TensorQuantizationConfig c;
  c.policy.symmetric = true;
  c.quant_min = -128;
  c.quant_max = 127;
  return c;
}

TEST(ScaleMath, SymmetricAsymmetricPowerOfTwo) {
  TensorQuantizationConfig c = int8_symmetric();
  float s, o;
  compute_scale_offset(-1.0f, 2.0f, c, &s, &o);
  EXPECT_FLOAT_EQ(s, 4.0f / 255.0f);
  EXPECT_EQ(o, 0.0f);
  c.policy.symmetric = false;
  c.quant_min = 0;
  c.quant_max = 255;
  compute_scale_offset(-1.0f, 2.0f, c, &s, &o);
  EXPECT_FLOAT_EQ(s, 3.0f / 255.0f);
  EXPECT_EQ(o, 85.0f);  // round(1 / (3/255))
  compute_scale_offset(0.5f, 2.0f, c, &s, &o);  // range widened to include 0
  EXPECT_EQ(o, 0.0f);
  compute_scale_offset(0.0f, 0.0f, c, &s, &o);
  EXPECT_FLOAT_EQ(s, 1e-8f);
  c = int8_symmetric();
  c.policy.power_of_2 = true;
  compute_scale_offset(-1.0f, 1.0f, c, &s, &o);
  EXPECT_EQ(s, 1.0f / 64.0f);  // 2/255 rounded up to a power of two
  EXPECT_THROW(compute_scale_offset(-INFINITY, 1.0f, c, &s, &o), Error);
}

TEST(FakeQuantize, RoundingPoliciesAndSaturation) {
  TensorQuantizationConfig c = int8_symmetric();
  c.scale = Tensor::scalar<float>(1.0f);
  c.offset = Tensor::scalar<float>(0.0f);
  c.state = QuantizationState::Activated;
  const Tensor x = Tensor::from_vector<float>({7}, {0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 300.0f, -300.0f});
  auto run = [&](RoundingPolicy p) {
    c.rounding = p;
    return fake_quantize(x, c).to_float_vector();
  };
  EXPECT_EQ(run(RoundingPolicy::HalfEven), (std::vector<float>{0, 2, 2, -0, -2, 127, -128}));
  EXPECT_EQ(run(RoundingPolicy::HalfUp), (std::vector<float>{1, 2, 3, 0, -2, 127, -128}));
  EXPECT_EQ(run(RoundingPolicy::HalfDown), (std::vector<float>{0, 1, 2, -1, -3, 127, -128}));
  EXPECT_EQ(run(RoundingPolicy::HalfTowardsZero), (std::vector<float>{0, 1, 2, 0, -2, 127, -128}));
  EXPECT_EQ(run(RoundingPolicy::HalfAwayFromZero), (std::vector<float>{1, 2, 3, -1, -3, 127, -128}));
  EXPECT_EQ(run(RoundingPolicy::Up), (std::vector<float>{1, 2, 3, 0, -2, 127, -128}));
  const Tensor nan = Tensor::from_vector<float>({1}, {NAN});
  EXPECT_TRUE(std::isnan(fake_quantize(nan, c).data<float>()[0]));
}

TEST(FakeQuantize, PerChannelAxis) {
  TensorQuantizationConfig c = int8_symmetric();
  c.policy.per_channel = true;
  c.channel_axis = 1;
  c.scale = Tensor::from_vector<float>({2}, {0.5f, 2.0f});
  c.offset = Tensor::from_vector<float>({2}, {0, 0});
  c.state = QuantizationState::Activated;
  const Tensor x = Tensor::from_vector<float>({2, 2, 1}, {0.7f, 0.7f, 3.1f, 3.1f});
  EXPECT_EQ(fake_quantize(x, c).to_float_vector(), (std::vector<float>{0.5f, 0.0f, 3.0f, 4.0f}));
  c.scale = Tensor::from_vector<float>({3}, {1, 1, 1});
  EXPECT_THROW(fake_quantize(x, c), Error);
}

TEST(FakeQuantize, MatchesQuantizeDequantizeKernelsBitForBit) {
  if (!kernel_registry().find("", "QuantizeLinear", 13)) GTEST_SKIP() << "quantization kernels not registered";
  for (bool symmetric : {true, false}) {
    TensorQuantizationConfig c = int8_symmetric();
    if (!symmetric) {
      c.policy.symmetric = false;
      c.quant_min = 0;
      c.quant_max = 255;
    }
    const Tensor x = testing::random_tensor(DataType::Float, {4096}, symmetric ? 3u : 4u, -3.0f, 5.0f);
    float s, o;
    compute_scale_offset(-2.5f, 4.0f, c, &s, &o);
    c.scale = Tensor::scalar<float>(s);
    c.offset = Tensor::scalar<float>(o);
    c.state = QuantizationState::Activated;
    const Tensor zp = symmetric ? Tensor::scalar<int8_t>(static_cast<int8_t>(o)) : Tensor::scalar<uint8_t>(static_cast<uint8_t>(o));
    const auto q = testing::run_single_op({"QuantizeLinear", {x, c.scale, zp}, {}, 1, 13, "", 1});
    const auto dq = testing::run_single_op({"DequantizeLinear", {q[0], c.scale, zp}, {}, 1, 13, "", 1});
    EXPECT_TRUE(fake_quantize(x, c).equals(dq[0])) << "symmetric=" << symmetric;
  }
}

TEST(UnionFind, DominatedByAndMasterBy) {
  TensorQuantizationConfig a = int8_symmetric(), b = int8_symmetric(), c = int8_symmetric(), bias;
  a.scale = Tensor::scalar<float>(0.5f);
  a.offset = Tensor::scalar<float>(0.0f);
  a.state = QuantizationState::Activated;
  b.dominated_by(&a);
  EXPECT_EQ(b.state, QuantizationState::Overlapped);
  EXPECT_EQ(b.dominator(), &a);
  EXPECT_EQ(b.effective_scale().data<float>()[0], 0.5f);
  EXPECT_TRUE(b.is_active());
  c.dominated_by(&b);  // joins the same set through b
  EXPECT_EQ(c.dominator(), &a);
  a.scale = Tensor::scalar<float>(0.25f);
  EXPECT_EQ(c.effective_scale().data<float>()[0], 0.25f);
  bias.state = QuantizationState::Passive;
  bias.master_by(&a);
  EXPECT_EQ(bias.state, QuantizationState::Passive);
  EXPECT_EQ(&bias.effective(), &a);
}

TEST(Validation, RejectsInvalidCombinations) {
  TensorQuantizationConfig c = int8_symmetric();
  EXPECT_NO_THROW(c.validate("ok"));
  c.num_bits = 4;
  EXPECT_THROW(c.validate("range too wide for 4 bits"), Error);
  c.num_bits = 1;
  EXPECT_THROW(c.validate("bits"), Error);
  c = int8_symmetric();
  c.quant_min = 5;
  c.quant_max = 5;
  EXPECT_THROW(c.validate("empty range"), Error);
  c = int8_symmetric();
  c.policy.per_channel = true;
  c.channel_axis = -1;
  EXPECT_THROW(c.validate("axis"), Error);
  EXPECT_EQ(rounding_policy_from_name("half_even"), RoundingPolicy::HalfEven);
  EXPECT_THROW(rounding_policy_from_name("nearest"), Error);
}

}  // namespace
}  // namespace qforge
