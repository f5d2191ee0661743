// SPDX-License-Identifier: Apache-2.0
// Each quantization pass of src/quant/passes/ run alone (after the passes it needs) on a small
// hand-built graph, with expected scales computed here from the inputs by DESIGN.md's formulas;
// and each pass switched off through QuantizationSetting in the Quantizer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "qforge/quantizer.h"
#include "quant/passes/quant_passes.h"
#include "support/memory_dataset.h"

namespace qforge {
namespace {

using QS = QuantizationState;

// A graph whose ops are all dispatched to one platform (set by hand: no dispatcher involved).
struct Net {
  std::unique_ptr<Graph> g = std::make_unique<Graph>();

  Net() { g->model.opset_imports = {{"", 13}}; }
  Variable* input(const std::string& name) {
    Variable* v = g->create_variable(name);
    v->dtype = DataType::Float;
    g->add_graph_input(v);
    return v;
  }
  Variable* param(const std::string& name, const Shape& shape, const std::vector<float>& values) {
    return g->create_variable(name, Tensor::from_vector<float>(shape, values));
  }
  Variable* op(const std::string& type, const std::string& name, const std::vector<Variable*>& in,
               std::vector<Attribute> attrs = {}) {
    Variable* out = g->create_variable(name + "_out");
    g->create_operation(type, name, in, {out}, std::move(attrs));
    return out;
  }
  void output(Variable* v) { g->add_graph_output(v); }
  void dispatch(const Platform& p) {
    for (const auto& o : g->operations()) o->platform = p.name;
  }
  TensorQuantizationConfig& in(const std::string& op, size_t i) const {
    return *g->find_operation(op)->quant_config->input_configs.at(i);
  }
  TensorQuantizationConfig& out(const std::string& op, size_t o = 0) const {
    return *g->find_operation(op)->quant_config->output_configs.at(o);
  }
};

QuantizationSetting quiet_setting() {
  QuantizationSetting s = default_setting();
  s.progress = false;
  s.threads = 1;
  s.activation_observer = "minmax";
  return s;
}

// DESIGN.md: symmetric s = 2 max(|min|, |max|) / (qmax - qmin); asymmetric s = (max - min) /
// (qmax - qmin), o = round(-min / s) + qmin; the range always includes 0.
float symmetric_scale(float lo, float hi, int64_t qmin, int64_t qmax) {
  return static_cast<float>(2.0 * std::max(std::abs(std::min(lo, 0.0f)), std::max(hi, 0.0f)) /
                            static_cast<double>(qmax - qmin));
}
float asymmetric_scale(float lo, float hi, int64_t qmin, int64_t qmax) {
  return static_cast<float>((static_cast<double>(std::max(hi, 0.0f)) - std::min(lo, 0.0f)) /
                            static_cast<double>(qmax - qmin));
}

float scalar(const Tensor& t) {
  EXPECT_EQ(t.numel(), 1);
  return t.to_float_vector().at(0);
}

// Sets a config as runtime calibration would have left it (per tensor).
void calibrate_by_hand(TensorQuantizationConfig& c, float scale, float offset) {
  c.scale = Tensor::scalar<float>(scale);
  c.offset = Tensor::scalar<float>(offset);
  c.state = QS::Activated;
}

// ---------------------------------------------------------------------------------------------
// Fusion

// x -> <computing>(w) -> <activation> -> y
Net computing_then_activation(const std::string& computing, const std::string& activation) {
  Net n;
  Variable* x = n.input("x");
  Variable* w = n.param("w", {2, 2, 1, 1}, {0.5f, -1, 2, 0.25f});
  if (computing == "Gemm" || computing == "MatMul") w = n.param("w", {2, 2}, {0.5f, -1, 2, 0.25f});
  Variable* c = n.op(computing, "comp", {x, w});
  std::vector<Variable*> act_in{c};
  if (activation == "Clip") act_in = {c, n.param("lo", {}, {0.0f}), n.param("hi", {}, {6.0f})};
  n.output(n.op(activation, "act", act_in));
  return n;
}

TEST(QuantPassFusion, ComputingOpFollowedByActivationKeepsTheEdgeInFloat) {
  const Platform ort = load_platform("ORT_INT8");
  const QuantizationSetting s = quiet_setting();
  for (const char* computing : {"Conv", "ConvTranspose", "Gemm", "MatMul"})
    for (const char* act : {"Relu", "Clip", "Sigmoid", "LeakyRelu", "HardSwish", "HardSigmoid"}) {
      SCOPED_TRACE(std::string(computing) + " + " + act);
      Net n = computing_then_activation(computing, act);
      n.dispatch(ort);
      const PassContext ctx{ort, s};
      init_quantization_configs(*n.g, ctx);
      ASSERT_EQ(n.out("comp").state, QS::Initial);
      quantize_fusion(*n.g, ctx);
      EXPECT_EQ(n.out("comp").state, QS::FP32);
      EXPECT_EQ(n.in("act", 0).state, QS::FP32);
      // The fused pair is quantized at its ends only.
      EXPECT_EQ(n.in("comp", 0).state, QS::Initial);
      EXPECT_EQ(n.in("comp", 1).state, QS::Initial);
      EXPECT_EQ(n.out("act").state, QS::Initial);
      EXPECT_EQ(n.out("act").dominator(), &n.out("act"));
    }
}

TEST(QuantPassFusion, OnlyThePlatformsActivationsFuse) {
  // PPL_DSP_INT8 fuses Relu and Clip only: Conv -> Sigmoid keeps a quantized edge.
  const Platform dsp = load_platform("PPL_DSP_INT8");
  ASSERT_EQ(std::count(dsp.fusible_activations.begin(), dsp.fusible_activations.end(), "Sigmoid"),
            0);
  Net n = computing_then_activation("Conv", "Sigmoid");
  n.dispatch(dsp);
  const PassContext ctx{dsp, quiet_setting()};
  init_quantization_configs(*n.g, ctx);
  quantize_fusion(*n.g, ctx);
  EXPECT_EQ(n.out("comp").state, QS::Initial);
  EXPECT_EQ(n.in("act", 0).state, QS::Initial);
}

TEST(QuantPassFusion, ConvWithTwoConsumersOrAGraphOutputIsNotFused) {
  const Platform ort = load_platform("ORT_INT8");
  const PassContext ctx{ort, quiet_setting()};
  {
    // c feeds Relu and Add: engines cannot fuse, both read the quantized c.
    Net n;
    Variable* x = n.input("x");
    Variable* c = n.op("Conv", "conv", {x, n.param("w", {1, 1, 1, 1}, {1.0f})});
    Variable* r = n.op("Relu", "relu", {c});
    n.output(n.op("Add", "add", {c, r}));
    n.dispatch(ort);
    init_quantization_configs(*n.g, ctx);
    quantize_fusion(*n.g, ctx);
    EXPECT_EQ(n.out("conv").state, QS::Initial);
    EXPECT_EQ(n.in("relu", 0).state, QS::Initial);
  }
  {
    // c is also a model output: it must stay visible, quantized.
    Net n;
    Variable* x = n.input("x");
    Variable* c = n.op("Conv", "conv", {x, n.param("w", {1, 1, 1, 1}, {1.0f})});
    n.output(n.op("Relu", "relu", {c}));
    n.output(c);
    n.dispatch(ort);
    init_quantization_configs(*n.g, ctx);
    quantize_fusion(*n.g, ctx);
    EXPECT_EQ(n.out("conv").state, QS::Initial);
    EXPECT_EQ(n.in("relu", 0).state, QS::Initial);
  }
}

TEST(QuantPassFusion, SwishStaysInFloatUpToTheMul) {
  // c -> Sigmoid -> s, Mul(c, s): engines fuse Conv + Swish and quantize after the Mul.
  for (const bool gate_first : {false, true}) {
    SCOPED_TRACE(gate_first ? "Mul(s, c)" : "Mul(c, s)");
    for (const char* name : {"TRT_INT8", "PPL_DSP_INT8"}) {
      SCOPED_TRACE(name);
      const Platform platform = load_platform(name);
      const bool fuses = std::count(platform.fusible_activations.begin(),
                                    platform.fusible_activations.end(), "Swish") == 1;
      Net n;
      Variable* x = n.input("x");
      Variable* c = n.op("Conv", "conv", {x, n.param("w", {1, 1, 1, 1}, {1.0f})});
      Variable* gate = n.op("Sigmoid", "sigmoid", {c});
      n.output(
          n.op("Mul", "mul",
               gate_first ? std::vector<Variable*>{gate, c} : std::vector<Variable*>{c, gate}));
      n.dispatch(platform);
      const PassContext ctx{platform, quiet_setting()};
      init_quantization_configs(*n.g, ctx);
      if (!n.g->find_operation("mul")->quant_config) continue;  // Mul not quantized there
      quantize_fusion(*n.g, ctx);
      const QS inner = fuses ? QS::FP32 : QS::Initial;
      EXPECT_EQ(n.out("conv").state, inner);
      EXPECT_EQ(n.in("sigmoid", 0).state, inner);
      EXPECT_EQ(n.out("sigmoid").state, inner);
      EXPECT_EQ(n.in("mul", 0).state, inner);
      EXPECT_EQ(n.in("mul", 1).state, inner);
      EXPECT_EQ(n.out("mul").state, QS::Initial);
      EXPECT_EQ(n.in("conv", 0).state, QS::Initial);
    }
  }
  // A Sigmoid output that also leaves the pattern is no Swish: nothing fuses.
  const Platform trt = load_platform("TRT_INT8");
  Net n;
  Variable* x = n.input("x");
  Variable* c = n.op("Conv", "conv", {x, n.param("w", {1, 1, 1, 1}, {1.0f})});
  Variable* gate = n.op("Sigmoid", "sigmoid", {c});
  n.output(n.op("Mul", "mul", {c, gate}));
  n.output(gate);
  n.dispatch(trt);
  const PassContext ctx{trt, quiet_setting()};
  init_quantization_configs(*n.g, ctx);
  quantize_fusion(*n.g, ctx);
  EXPECT_EQ(n.out("conv").state, QS::Initial);
  EXPECT_EQ(n.out("sigmoid").state, QS::Initial);
}

TEST(QuantPassFusion, PassiveOpsShareTheirInputConfig) {
  const Platform trt = load_platform("TRT_INT8");
  const PassContext ctx{trt, quiet_setting()};
  struct Case {
    const char* type;
    std::vector<Attribute> attrs;
    std::vector<Tensor> extra;  // parameter inputs after the data input
  };
  auto i64 = [](const Shape& shape, const std::vector<int64_t>& v) {
    return Tensor::from_vector<int64_t>(shape, v);
  };
  const std::vector<Case> cases = {
      {"MaxPool", {Attribute::make_ints("kernel_shape", {2, 2})}, {}},
      {"Reshape", {}, {i64({2}, {1, -1})}},
      {"Transpose", {Attribute::make_ints("perm", {0, 2, 3, 1})}, {}},
      {"Slice", {}, {i64({1}, {0}), i64({1}, {1}), i64({1}, {1})}},
      {"Pad", {}, {i64({8}, {0, 0, 1, 1, 0, 0, 1, 1})}},
      {"Flatten", {}, {}},
      {"Squeeze", {}, {i64({1}, {0})}},
      {"Unsqueeze", {}, {i64({1}, {0})}},
      {"Relu", {}, {}},  // passive on TRT when not fused
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.type);
    ASSERT_TRUE(trt.is_passive(c.type));
    Net n;
    Variable* x = n.input("x");
    Variable* s = n.op("Sigmoid", "sig", {x});  // quantized producer, not fusible into
    std::vector<Variable*> in{s};
    for (size_t k = 0; k < c.extra.size(); ++k)
      in.push_back(n.g->create_variable(fmt::format("p{}", k), c.extra[k]));
    n.output(n.op(c.type, "passive", in, c.attrs));
    n.dispatch(trt);
    init_quantization_configs(*n.g, ctx);
    ASSERT_EQ(n.out("passive").state, QS::Initial);
    quantize_fusion(*n.g, ctx);
    EXPECT_EQ(n.out("passive").state, QS::Overlapped);
    EXPECT_EQ(n.out("passive").dominator(), &n.in("passive", 0));
    EXPECT_EQ(&n.out("passive").effective(), &n.in("passive", 0).effective());
    EXPECT_EQ(n.in("passive", 0).state, QS::Initial);
    for (size_t k = 1; k < in.size(); ++k) EXPECT_EQ(n.in("passive", k).state, QS::FP32) << k;
    // A calibrated input scale is what the passive output reads.
    calibrate_by_hand(n.in("passive", 0), 0.125f, 0.0f);
    EXPECT_TRUE(n.out("passive").is_active());
    EXPECT_FLOAT_EQ(scalar(n.out("passive").effective_scale()), 0.125f);
  }
}

// ---------------------------------------------------------------------------------------------
// Simplify

TEST(QuantPassSimplify, ConsumersOfOneEdgeShareOneConfig) {
  const Platform ort = load_platform("ORT_INT8");
  const PassContext ctx{ort, quiet_setting()};
  // x (no producer) feeds Sigmoid and Add; s = Sigmoid(x) feeds MatMul and Add.
  Net n;
  Variable* x = n.input("x");
  Variable* s = n.op("Sigmoid", "sig", {x});
  Variable* m = n.op("MatMul", "mm", {s, n.param("w", {2, 2}, {1, 2, 3, 4})});
  n.output(m);
  n.output(n.op("Add", "add", {s, x}));
  n.dispatch(ort);
  init_quantization_configs(*n.g, ctx);
  // Before: every port has its own config.
  EXPECT_NE(&n.in("mm", 0).effective(), &n.out("sig").effective());
  quantize_simplify(*n.g, ctx);
  // The producer's output config is the one the consumers merge into.
  EXPECT_EQ(n.out("sig").state, QS::Initial);
  EXPECT_EQ(n.in("mm", 0).state, QS::Overlapped);
  EXPECT_EQ(n.in("add", 0).state, QS::Overlapped);
  EXPECT_EQ(&n.in("mm", 0).effective(), &n.out("sig"));
  EXPECT_EQ(&n.in("add", 0).effective(), &n.out("sig"));
  // Without a producer, the first consumer's config is the anchor.
  EXPECT_EQ(n.in("sig", 0).state, QS::Initial);
  EXPECT_EQ(n.in("add", 1).state, QS::Overlapped);
  EXPECT_EQ(&n.in("add", 1).effective(), &n.in("sig", 0));
  // Parameters and other edges are untouched.
  EXPECT_EQ(n.in("mm", 1).state, QS::Initial);
  EXPECT_EQ(n.out("mm").state, QS::Initial);
  EXPECT_EQ(n.out("add").state, QS::Initial);
}

TEST(QuantPassSimplify, FusedFloatEdgeStaysFloat) {
  const Platform ort = load_platform("ORT_INT8");
  const PassContext ctx{ort, quiet_setting()};
  Net n = computing_then_activation("Conv", "Relu");
  n.dispatch(ort);
  init_quantization_configs(*n.g, ctx);
  quantize_fusion(*n.g, ctx);
  quantize_simplify(*n.g, ctx);
  EXPECT_EQ(n.out("comp").state, QS::FP32);
  EXPECT_EQ(n.in("act", 0).state, QS::FP32);
  EXPECT_NE(&n.out("comp").effective(), &n.in("act", 0).effective());
}

// ---------------------------------------------------------------------------------------------
// Parameter quantization

// Per-channel symmetric scales of `w` along `axis`, by hand.
std::vector<float> channel_scales(const Tensor& w, int axis, const Platform& p) {
  const std::vector<float> v = w.to_float_vector();
  const int64_t channels = w.dim(axis);
  int64_t inner = 1;
  for (int d = axis + 1; d < w.rank(); ++d) inner *= w.dim(d);
  std::vector<float> max_abs(channels, 0.0f);
  for (int64_t i = 0; i < w.numel(); ++i) {
    const int64_t c = (i / inner) % channels;
    max_abs[c] = std::max(max_abs[c], std::abs(v[i]));
  }
  std::vector<float> scales;
  for (float m : max_abs)
    scales.push_back(
        std::max(symmetric_scale(-m, m, p.weight.quant_min, p.weight.quant_max), 1e-8f));
  return scales;
}

void expect_weight_scales(const TensorQuantizationConfig& c, const Tensor& w, int axis,
                          const Platform& p) {
  EXPECT_EQ(c.state, QS::Activated);
  EXPECT_EQ(c.channel_axis, axis);
  const std::vector<float> expected = channel_scales(w, axis, p);
  ASSERT_EQ(c.scale.numel(), static_cast<int64_t>(expected.size()));
  for (size_t k = 0; k < expected.size(); ++k) {
    EXPECT_FLOAT_EQ(c.scale.data<float>()[k], expected[k]) << "channel " << k;
    EXPECT_EQ(c.offset.data<float>()[k], 0.0f);
  }
}

TEST(QuantPassParameters, PerChannelMinMaxOnTheOutputChannelAxis) {
  const Platform ort = load_platform("ORT_INT8");
  const PassContext ctx{ort, quiet_setting()};
  // Distinct magnitudes per channel and per axis, one channel all zero (scale floor 1e-8).
  const std::vector<float> v = {0.5f, -1.0f, 2.0f, 0.25f, -3.0f,  0.0f,
                                0.0f, 0.0f,  0.0f, 1.5f,  -0.75f, 0.1f};
  struct Case {
    const char* type;
    Shape shape;
    std::vector<Attribute> attrs;
    int axis;
  };
  const std::vector<Case> cases = {
      {"Conv", {3, 4, 1, 1}, {}, 0},                            // [Cout, Cin, kh, kw]
      {"ConvTranspose", {4, 3, 1, 1}, {}, 1},                   // [Cin, Cout, kh, kw]
      {"Gemm", {3, 4}, {Attribute::make_int("transB", 1)}, 0},  // B^T: [N, K]
      {"Gemm", {4, 3}, {}, 1},                                  // B: [K, N]
      {"MatMul", {4, 3}, {}, 1},                                // [K, N]
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.type) + " " + shape_to_string(c.shape));
    Net n;
    Variable* x = n.input("x");
    Variable* w = n.param("w", c.shape, v);
    std::vector<Variable*> in{x, w};
    if (std::string(c.type) != "MatMul") in.push_back(n.param("b", {3}, {0.1f, 0.2f, 0.3f}));
    n.output(n.op(c.type, "op", in, c.attrs));
    n.dispatch(ort);
    init_quantization_configs(*n.g, ctx);
    parameter_quantization(*n.g, ctx);
    expect_weight_scales(n.in("op", 1), w->value, c.axis, ort);
    // Only weights: activations wait for calibration, the bias for the passive pass.
    EXPECT_EQ(n.in("op", 0).state, QS::Initial);
    EXPECT_EQ(n.out("op").state, QS::Initial);
    if (in.size() == 3) {
      EXPECT_EQ(n.in("op", 2).state, QS::PassiveInit);
    }
  }
}

TEST(QuantPassParameters, PerTensorAsymmetricWeightsOnDsp) {
  const Platform dsp = load_platform("PPL_DSP_INT8");
  const PassContext ctx{dsp, quiet_setting()};
  Net n;
  const std::vector<float> v = {0.5f, -1.0f, 2.0f, 0.25f, -0.5f, 1.5f};
  Variable* w = n.param("w", {3, 2, 1, 1}, v);
  n.output(n.op("Conv", "conv", {n.input("x"), w}));
  n.dispatch(dsp);
  init_quantization_configs(*n.g, ctx);
  parameter_quantization(*n.g, ctx);
  const TensorQuantizationConfig& c = n.in("conv", 1);
  EXPECT_EQ(c.state, QS::Activated);
  const float s = asymmetric_scale(-1.0f, 2.0f, 0, 255);  // 3 / 255
  EXPECT_FLOAT_EQ(scalar(c.scale), s);
  EXPECT_EQ(scalar(c.offset), std::nearbyint(1.0f / s));  // 85
}

// ---------------------------------------------------------------------------------------------
// Runtime calibration

// x -> Conv(w = 2, 1x1) -> c; y = Add(c, x): with weights not quantized, c = 2x and y = 3x.
Net doubling_net() {
  Net n;
  Variable* x = n.input("x");
  Variable* c = n.op("Conv", "conv", {x, n.param("w", {1, 1, 1, 1}, {2.0f})});
  n.output(n.op("Add", "add", {c, x}));
  return n;
}

// Sample k holds the values of `samples[k]` as a [1, 1, 2, 2] tensor.
testing::MemoryDataset ramp_data(const std::vector<std::vector<float>>& samples) {
  std::vector<Batch> batches;
  for (const auto& s : samples)
    batches.push_back({{"x", Tensor::from_vector<float>({1, 1, 2, 2}, s)}});
  return testing::MemoryDataset(std::move(batches));
}

TEST(QuantPassCalibration, MinMaxScalesFromKnownRanges) {
  const Platform ort = load_platform("ORT_INT8");
  QuantizationSetting s = quiet_setting();
  s.calib_steps = 2;  // the third sample is never seen
  auto data =
      ramp_data({{-1.0f, 0.5f, 0.0f, 2.0f}, {-3.0f, 1.0f, 2.5f, 0.25f}, {-50.0f, 50.0f, 0, 0}});
  CalibrationReport report;
  Net n = doubling_net();
  n.dispatch(ort);
  const PassContext ctx{ort, s, &data, &report};
  init_quantization_configs(*n.g, ctx);
  quantize_simplify(*n.g, ctx);
  runtime_calibration(*n.g, ctx);
  EXPECT_EQ(report.samples, 2);
  // x in [-3, 2.5], c = 2x in [-6, 5], y = 3x in [-9, 7.5].
  const int64_t qmin = ort.activation.quant_min, qmax = ort.activation.quant_max;
  for (const auto& [config, lo, hi] :
       {std::tuple{&n.in("conv", 0), -3.0f, 2.5f}, std::tuple{&n.out("conv"), -6.0f, 5.0f},
        std::tuple{&n.out("add"), -9.0f, 7.5f}}) {
    SCOPED_TRACE(hi);
    EXPECT_EQ(config->state, QS::Activated);
    EXPECT_FLOAT_EQ(scalar(config->scale), symmetric_scale(lo, hi, qmin, qmax));
    EXPECT_EQ(scalar(config->offset), 0.0f);
  }
  // Overlapped consumers read their anchor's scale; the weight is not an activation.
  EXPECT_EQ(&n.in("add", 0).effective(), &n.out("conv"));
  EXPECT_EQ(&n.in("add", 1).effective(), &n.in("conv", 0));
  EXPECT_EQ(n.in("conv", 1).state, QS::Initial);
}

TEST(QuantPassCalibration, AsymmetricMinMaxOnDsp) {
  const Platform dsp = load_platform("PPL_DSP_INT8");
  QuantizationSetting s = quiet_setting();
  auto data = ramp_data({{-1.0f, 0.0f, 0.5f, 1.0f}, {0.0f, 3.0f, 2.0f, -0.5f}});
  Net n = doubling_net();
  n.dispatch(dsp);
  const PassContext ctx{dsp, s, &data};
  init_quantization_configs(*n.g, ctx);
  quantize_simplify(*n.g, ctx);
  runtime_calibration(*n.g, ctx);
  // x in [-1, 3]; y = 3x in [-3, 9]. Asymmetric uint8: s = range / 255, o = round(-min / s).
  for (const auto& [config, lo, hi] :
       {std::tuple{&n.in("conv", 0), -1.0f, 3.0f}, std::tuple{&n.out("add"), -3.0f, 9.0f}}) {
    SCOPED_TRACE(hi);
    const float scale = asymmetric_scale(lo, hi, 0, 255);
    EXPECT_FLOAT_EQ(scalar(config->scale), scale);
    EXPECT_EQ(scalar(config->offset), std::nearbyint(-lo / scale));
  }
}

TEST(QuantPassCalibration, CalibratedConfigsAreNotObservedAgain) {
  const Platform ort = load_platform("ORT_INT8");
  QuantizationSetting s = quiet_setting();
  auto data = ramp_data({{-1.0f, 0.5f, 0.0f, 2.0f}});
  Net n = doubling_net();
  n.dispatch(ort);
  const PassContext ctx{ort, s, &data};
  init_quantization_configs(*n.g, ctx);
  quantize_simplify(*n.g, ctx);
  calibrate_by_hand(n.out("add"), 0.5f, 0.0f);
  runtime_calibration(*n.g, ctx);
  EXPECT_FLOAT_EQ(scalar(n.out("add").scale), 0.5f);
  EXPECT_FLOAT_EQ(scalar(n.out("conv").scale), symmetric_scale(-2.0f, 4.0f, -128, 127));
}

TEST(QuantPassCalibration, NeedsData) {
  const Platform ort = load_platform("ORT_INT8");
  Net n = doubling_net();
  n.dispatch(ort);
  const PassContext ctx{ort, quiet_setting()};
  init_quantization_configs(*n.g, ctx);
  EXPECT_THROW(runtime_calibration(*n.g, ctx), Error);
}

// ---------------------------------------------------------------------------------------------
// Alignment

// y = <type>(a, b) with both inputs calibrated by hand.
Net binary_net(const std::string& type, const Platform& p, std::vector<Attribute> attrs = {}) {
  Net n;
  Variable* a = n.input("a");
  Variable* b = n.input("b");
  n.output(n.op(type, "op", {a, b}, std::move(attrs)));
  n.dispatch(p);
  init_quantization_configs(*n.g, PassContext{p, quiet_setting()});
  return n;
}

TEST(QuantPassAlignment, ConcatInputsTakeTheOutputScale) {
  const Platform ort = load_platform("ORT_INT8");
  ASSERT_EQ(ort.alignment.at("Concat"), "output");
  Net n = binary_net("Concat", ort, {Attribute::make_int("axis", 1)});
  calibrate_by_hand(n.in("op", 0), 0.01f, 0);
  calibrate_by_hand(n.in("op", 1), 0.03f, 0);
  calibrate_by_hand(n.out("op"), 0.02f, 0);
  quantize_alignment(*n.g, PassContext{ort, quiet_setting()});
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(n.in("op", i).state, QS::Overlapped) << i;
    EXPECT_EQ(&n.in("op", i).effective(), &n.out("op")) << i;
    EXPECT_FLOAT_EQ(scalar(n.in("op", i).effective_scale()), 0.02f) << i;
  }
  EXPECT_EQ(n.out("op").state, QS::Activated);
}

TEST(QuantPassAlignment, ConcatWithAConstantInputLeavesTheConstantAlone) {
  const Platform ort = load_platform("ORT_INT8");
  Net n;
  Variable* a = n.input("a");
  Variable* k = n.param("k", {1, 2}, {4.0f, -4.0f});
  n.output(n.op("Concat", "op", {a, k}, {Attribute::make_int("axis", 0)}));
  n.dispatch(ort);
  const PassContext ctx{ort, quiet_setting()};
  init_quantization_configs(*n.g, ctx);
  calibrate_by_hand(n.in("op", 0), 0.01f, 0);
  calibrate_by_hand(n.out("op"), 0.02f, 0);
  const QS constant_state = n.in("op", 1).state;
  quantize_alignment(*n.g, ctx);
  EXPECT_EQ(&n.in("op", 0).effective(), &n.out("op"));
  EXPECT_EQ(n.in("op", 1).state, constant_state);
  EXPECT_NE(&n.in("op", 1).effective(), &n.out("op"));
}

TEST(QuantPassAlignment, AddIsNotAlignedWhereThePlatformSaysNothing) {
  const Platform ort = load_platform("ORT_INT8");
  ASSERT_EQ(ort.alignment.count("Add"), 0u);
  Net n = binary_net("Add", ort);
  calibrate_by_hand(n.in("op", 0), 0.01f, 0);
  calibrate_by_hand(n.in("op", 1), 0.03f, 0);
  quantize_alignment(*n.g, PassContext{ort, quiet_setting()});
  EXPECT_FLOAT_EQ(scalar(n.in("op", 0).effective_scale()), 0.01f);
  EXPECT_FLOAT_EQ(scalar(n.in("op", 1).effective_scale()), 0.03f);
}

TEST(QuantPassAlignment, SymmetricAddTakesTheLargerRange) {
  // A symmetric platform with Add aligned to "max": the larger scale covers both ranges as is.
  Platform p = load_platform("ORT_INT8");
  p.name = "SYM_ADD_MAX";
  p.alignment["Add"] = "max";
  Net n = binary_net("Add", p);
  calibrate_by_hand(n.in("op", 0), 0.01f, 0);
  calibrate_by_hand(n.in("op", 1), 0.03f, 0);
  calibrate_by_hand(n.out("op"), 0.05f, 0);
  quantize_alignment(*n.g, PassContext{p, quiet_setting()});
  EXPECT_EQ(&n.in("op", 0).effective(), &n.in("op", 1).effective());
  EXPECT_FLOAT_EQ(scalar(n.in("op", 0).effective_scale()), 0.03f);
  EXPECT_FLOAT_EQ(scalar(n.in("op", 1).effective_scale()), 0.03f);
  EXPECT_EQ(scalar(n.in("op", 0).effective_offset()), 0.0f);
  EXPECT_FLOAT_EQ(scalar(n.out("op").effective_scale()), 0.05f);  // the output keeps its own
}

TEST(QuantPassAlignment, AsymmetricAddCoversBothInputRanges) {
  // PPL_DSP_INT8 (uint8, asymmetric) aligns Add and Sub to the larger range. a in [0, 10] (a
  // Relu output), b in [-9, 0]: neither range holds the other, so the shared range is [-9, 10].
  const Platform dsp = load_platform("PPL_DSP_INT8");
  for (const char* type : {"Add", "Sub"}) {
    SCOPED_TRACE(type);
    ASSERT_EQ(dsp.alignment.at(type), "max");
    Net n = binary_net(type, dsp);
    const float sa = asymmetric_scale(0.0f, 10.0f, 0, 255),
                sb = asymmetric_scale(-9.0f, 0.0f, 0, 255);
    calibrate_by_hand(n.in("op", 0), sa, 0.0f);
    calibrate_by_hand(n.in("op", 1), sb, std::nearbyint(9.0f / sb));  // 255
    quantize_alignment(*n.g, PassContext{dsp, quiet_setting()});
    EXPECT_EQ(&n.in("op", 0).effective(), &n.in("op", 1).effective());
    const float s = scalar(n.in("op", 0).effective_scale());
    const float o = scalar(n.in("op", 0).effective_offset());
    EXPECT_FLOAT_EQ(s, asymmetric_scale(-9.0f, 10.0f, 0, 255));
    EXPECT_EQ(o, std::nearbyint(9.0f / s));
    // Both inputs' extremes survive fake quantization to within half a step.
    const Tensor probe = Tensor::from_vector<float>({4}, {-9.0f, -4.5f, 5.0f, 10.0f});
    const Tensor q = fake_quantize(probe, n.in("op", 0));
    for (int64_t i = 0; i < 4; ++i)
      EXPECT_NEAR(q.data<float>()[i], probe.data<float>()[i], s / 2 + 1e-6f) << i;
  }
}

TEST(QuantPassAlignment, AsymmetricAddKeepsARangeThatAlreadyCoversTheOther) {
  const Platform dsp = load_platform("PPL_DSP_INT8");
  Net n = binary_net("Add", dsp);
  const float sa = asymmetric_scale(-2.0f, 6.0f, 0, 255),
              sb = asymmetric_scale(-1.0f, 1.0f, 0, 255);
  const float oa = std::nearbyint(2.0f / sa);
  calibrate_by_hand(n.in("op", 0), sa, oa);
  calibrate_by_hand(n.in("op", 1), sb, std::nearbyint(1.0f / sb));
  quantize_alignment(*n.g, PassContext{dsp, quiet_setting()});
  EXPECT_EQ(&n.in("op", 1).effective(), &n.in("op", 0).effective());
  EXPECT_FLOAT_EQ(scalar(n.in("op", 1).effective_scale()), sa);
  EXPECT_EQ(scalar(n.in("op", 1).effective_offset()), oa);
}

// ---------------------------------------------------------------------------------------------
// Passive parameters and baking

// x -> Conv(w [2,1,1,1], b [2]) -> y, input scale set by hand, weights quantized by the pass.
Net conv_with_bias(const Platform& p, float s_in) {
  Net n;
  Variable* x = n.input("x");
  n.output(
      n.op("Conv", "conv",
           {x, n.param("w", {2, 1, 1, 1}, {0.8f, -0.3f}), n.param("b", {2}, {0.37f, -1.234f})}));
  n.dispatch(p);
  const PassContext ctx{p, quiet_setting()};
  init_quantization_configs(*n.g, ctx);
  parameter_quantization(*n.g, ctx);
  if (s_in > 0) calibrate_by_hand(n.in("conv", 0), s_in, 0.0f);
  return n;
}

TEST(QuantPassPassive, BiasScaleIsInputTimesWeightScalePerChannel) {
  const Platform ort = load_platform("ORT_INT8");
  ASSERT_EQ(ort.bias, BiasMode::Int32Passive);
  const float s_in = 0.05f;
  Net n = conv_with_bias(ort, s_in);
  passive_parameter_quantization(*n.g, PassContext{ort, quiet_setting()});
  const TensorQuantizationConfig& b = n.in("conv", 2);
  EXPECT_EQ(b.state, QS::Passive);
  EXPECT_EQ(b.num_bits, 32);
  EXPECT_EQ(b.channel_axis, 0);
  const float s_w[2] = {symmetric_scale(-0.8f, 0.8f, -128, 127),
                        symmetric_scale(-0.3f, 0.3f, -128, 127)};
  ASSERT_EQ(b.scale.numel(), 2);
  for (int c = 0; c < 2; ++c) {
    EXPECT_FLOAT_EQ(b.scale.data<float>()[c], s_in * s_w[c]) << c;
    EXPECT_EQ(b.offset.data<float>()[c], 0.0f) << c;
  }
}

TEST(QuantPassPassive, PerTensorWeightScaleIsBroadcast) {
  const Platform dsp = load_platform("PPL_DSP_INT8");
  const float s_in = 0.02f;
  Net n = conv_with_bias(dsp, s_in);
  passive_parameter_quantization(*n.g, PassContext{dsp, quiet_setting()});
  const TensorQuantizationConfig& b = n.in("conv", 2);
  EXPECT_EQ(b.state, QS::Passive);
  const float s_w = asymmetric_scale(-0.3f, 0.8f, 0, 255);
  ASSERT_EQ(b.scale.numel(), 2);
  for (int c = 0; c < 2; ++c) EXPECT_FLOAT_EQ(b.scale.data<float>()[c], s_in * s_w) << c;
}

TEST(QuantPassPassive, BiasStaysFloatWithoutAnInputScaleOrOnFloatBiasPlatforms) {
  const Platform ort = load_platform("ORT_INT8");
  Net n = conv_with_bias(ort, 0.0f);  // input never calibrated
  passive_parameter_quantization(*n.g, PassContext{ort, quiet_setting()});
  EXPECT_EQ(n.in("conv", 2).state, QS::FP32);
  const Platform trt = load_platform("TRT_INT8");
  ASSERT_EQ(trt.bias, BiasMode::FP32);
  Net t = conv_with_bias(trt, 0.05f);
  passive_parameter_quantization(*t.g, PassContext{trt, quiet_setting()});
  EXPECT_EQ(t.in("conv", 2).state, QS::FP32);
}

TEST(QuantPassPassive, ClipBoundsAndPadValueTakeTheInputScale) {
  // Engines clamp and pad in the input's integer domain: the bounds and the pad value become
  // values of the input's grid (PPQ's passive parameters) and are baked as such.
  for (const char* name : {"ORT_INT8", "PPL_DSP_INT8"}) {
    SCOPED_TRACE(name);
    const Platform platform = load_platform(name);
    const bool asymmetric = !platform.activation.policy.symmetric;
    const float scale = 0.1f, offset = asymmetric ? 10.0f : 0.0f;
    Net n;
    Variable* s = n.op("Sigmoid", "sig", {n.input("x")});
    Variable* c = n.op("Clip", "act", {s, n.param("lo", {}, {0.0f}), n.param("hi", {}, {0.3337f})});
    Variable* pads =
        n.g->create_variable("pads", Tensor::from_vector<int64_t>({8}, {0, 0, 1, 1, 0, 0, 1, 1}));
    n.output(n.op("Pad", "pad", {c, pads, n.param("value", {}, {0.26f})}));
    n.dispatch(platform);
    const PassContext ctx{platform, quiet_setting()};
    init_quantization_configs(*n.g, ctx);
    quantize_fusion(*n.g, ctx);
    if (!n.g->find_operation("act")->quant_config || !n.g->find_operation("pad")->quant_config)
      continue;  // not quantized on this platform
    calibrate_by_hand(n.in("act", 0), scale, offset);
    calibrate_by_hand(n.in("pad", 0), scale, offset);
    passive_parameter_quantization(*n.g, ctx);
    for (auto [op, port] : {std::pair{"act", 1}, {"act", 2}, {"pad", 2}}) {
      EXPECT_EQ(n.in(op, port).state, QS::Passive) << op << port;
      EXPECT_EQ(scalar(n.in(op, port).scale), scale);
      EXPECT_EQ(scalar(n.in(op, port).offset), offset);
    }
    parameter_baking(*n.g, ctx);
    EXPECT_EQ(n.in("act", 2).state, QS::PassiveBaked);
    // 0.3337 / 0.1 = 3.337 -> 3 steps; 0.26 -> 3 steps; 0 stays 0 (the offset is an integer).
    EXPECT_FLOAT_EQ(scalar(n.g->find_variable("hi")->value), 0.3f);
    EXPECT_FLOAT_EQ(scalar(n.g->find_variable("value")->value), 0.3f);
    EXPECT_EQ(scalar(n.g->find_variable("lo")->value), 0.0f);
    EXPECT_FLOAT_EQ(scalar(n.g->find_variable("hi")->fp32_value()), 0.3337f);
  }
}

TEST(QuantPassPassive, BoundsOfAClipFusedIntoItsConvStayFloat) {
  const Platform ort = load_platform("ORT_INT8");
  Net n;
  Variable* c = n.op("Conv", "conv", {n.input("x"), n.param("w", {1, 1, 1, 1}, {1.0f})});
  n.output(n.op("Clip", "act", {c, n.param("lo", {}, {0.0f}), n.param("hi", {}, {6.0f})}));
  n.dispatch(ort);
  const PassContext ctx{ort, quiet_setting()};
  init_quantization_configs(*n.g, ctx);
  quantize_fusion(*n.g, ctx);
  ASSERT_EQ(n.in("act", 0).state, QS::FP32);
  passive_parameter_quantization(*n.g, ctx);
  parameter_baking(*n.g, ctx);
  EXPECT_EQ(n.in("act", 1).state, QS::FP32);
  EXPECT_EQ(n.in("act", 2).state, QS::FP32);
  EXPECT_EQ(scalar(n.g->find_variable("hi")->value), 6.0f);
}

TEST(QuantPassBaking, ParametersBecomeExactMultiplesOfTheirScale) {
  const Platform ort = load_platform("ORT_INT8");
  const float s_in = 0.05f;
  Net n = conv_with_bias(ort, s_in);
  const PassContext ctx{ort, quiet_setting()};
  passive_parameter_quantization(*n.g, ctx);
  parameter_baking(*n.g, ctx);
  const Variable* w = n.g->find_variable("w");
  const Variable* b = n.g->find_variable("b");
  EXPECT_EQ(n.in("conv", 1).state, QS::Baked);
  EXPECT_EQ(n.in("conv", 2).state, QS::PassiveBaked);
  // The float values are kept for error analysis.
  EXPECT_EQ(w->fp32_value().to_float_vector(), (std::vector<float>{0.8f, -0.3f}));
  EXPECT_EQ(b->fp32_value().to_float_vector(), (std::vector<float>{0.37f, -1.234f}));
  // Each channel's max |w| lands on 127.5 steps of 2 max / 255: rounds to even 128, saturates
  // to 127.
  const float s_w[2] = {symmetric_scale(-0.8f, 0.8f, -128, 127),
                        symmetric_scale(-0.3f, 0.3f, -128, 127)};
  EXPECT_FLOAT_EQ(w->value.data<float>()[0], 127 * s_w[0]);
  EXPECT_FLOAT_EQ(w->value.data<float>()[1], -128 * s_w[1]);
  // Bias in int32 steps of s_in * s_w[c].
  const float bias[2] = {0.37f, -1.234f};
  for (int c = 0; c < 2; ++c) {
    const float step = s_in * s_w[c];
    const float q = b->value.data<float>()[c] / step;
    EXPECT_NEAR(q, std::nearbyint(bias[c] / step), 1e-3f) << c;
  }
  // Activations are not parameters: untouched.
  EXPECT_EQ(n.in("conv", 0).state, QS::Activated);
  EXPECT_FALSE(n.g->find_variable("x")->fp32_value().defined());
}

TEST(QuantPassBaking, FloatValuesDroppedWhenNotKept) {
  const Platform ort = load_platform("ORT_INT8");
  Net n = conv_with_bias(ort, 0.05f);
  QuantizationSetting setting = quiet_setting();
  setting.keep_fp32_parameters = false;
  const PassContext ctx{ort, setting};
  passive_parameter_quantization(*n.g, ctx);
  parameter_baking(*n.g, ctx);
  EXPECT_EQ(n.in("conv", 1).state, QS::Baked);
  EXPECT_FALSE(n.g->find_variable("w")->fp32_value().defined());
  EXPECT_FALSE(n.g->find_variable("b")->fp32_value().defined());
  // The baked value itself is the same as when the float one is kept.
  const float s_w = symmetric_scale(-0.8f, 0.8f, -128, 127);
  EXPECT_FLOAT_EQ(n.g->find_variable("w")->value.data<float>()[0], 127 * s_w);
}

TEST(QuantPassBaking, UncalibratedParametersAreNotBaked) {
  const Platform ort = load_platform("ORT_INT8");
  Net n = conv_with_bias(ort, 0.0f);
  const PassContext ctx{ort, quiet_setting()};
  n.in("conv", 1).state = QS::Initial;  // as if parameter quantization were off
  parameter_baking(*n.g, ctx);
  EXPECT_EQ(n.in("conv", 1).state, QS::Initial);
  EXPECT_EQ(n.g->find_variable("w")->value.to_float_vector(), (std::vector<float>{0.8f, -0.3f}));
  EXPECT_FALSE(n.g->find_variable("w")->fp32_value().defined());
}

// ---------------------------------------------------------------------------------------------
// Switching passes off in the setting (the whole Quantizer)

// x [1,1,2,2] -> Conv 1x1 (w, b) -> Relu -> Concat(relu, x) -> y
Net switch_net(const Platform& p) {
  Net n;
  Variable* x = n.input("x");
  Variable* c =
      n.op("Conv", "conv", {x, n.param("w", {1, 1, 1, 1}, {0.7f}), n.param("b", {1}, {0.1f})});
  Variable* r = n.op("Relu", "relu", {c});
  n.output(n.op("Concat", "cat", {r, x}, {Attribute::make_int("axis", 1)}));
  n.dispatch(p);
  return n;
}

TEST(QuantPassSetting, EachPassCanBeSwitchedOff) {
  const Platform ort = load_platform("ORT_INT8");
  auto run = [&](void (*change)(QuantizationSetting&)) {
    Net n = switch_net(ort);
    auto data = ramp_data({{-1.0f, 0.5f, 0.0f, 2.0f}, {1.0f, -2.0f, 0.25f, 0.75f}});
    QuantizationSetting s = quiet_setting();
    s.calib_steps = 2;
    change(s);
    Quantizer(ort, *n.g).quantize(data, s);
    return n;
  };
  {
    Net n = run([](QuantizationSetting&) {});
    EXPECT_EQ(n.out("conv").state, QS::FP32);
    EXPECT_EQ(n.in("conv", 1).state, QS::Baked);
    EXPECT_EQ(n.in("conv", 2).state, QS::PassiveBaked);
    EXPECT_EQ(&n.in("cat", 1).effective(), &n.out("cat").effective());
  }
  {
    Net n = run([](QuantizationSetting& s) { s.fusion = false; });
    EXPECT_EQ(n.out("conv").state, QS::Activated);
    EXPECT_TRUE(n.in("relu", 0).is_active());
  }
  {
    Net n = run([](QuantizationSetting& s) { s.quantize_parameter = false; });
    EXPECT_EQ(n.in("conv", 1).state, QS::FP32);
    EXPECT_EQ(n.in("conv", 2).state, QS::FP32);  // no weight scale, no integer bias
    EXPECT_EQ(scalar(n.g->find_variable("w")->value), 0.7f);
    EXPECT_TRUE(n.in("conv", 0).is_active());
  }
  {
    Net n = run([](QuantizationSetting& s) { s.quantize_activation = false; });
    // Activation configs run in float (Concat alignment may still have merged them).
    for (TensorQuantizationConfig* c : {&n.in("conv", 0), &n.out("relu"), &n.out("cat")}) {
      EXPECT_FALSE(c->is_active());
      EXPECT_EQ(c->dominator()->state, QS::FP32);
    }
    EXPECT_EQ(n.in("conv", 1).state, QS::Baked);
  }
  {
    Net n = run([](QuantizationSetting& s) { s.alignment = false; });
    EXPECT_NE(&n.in("cat", 1).effective(), &n.out("cat").effective());
    EXPECT_NE(&n.in("cat", 0).effective(), &n.out("cat").effective());
  }
  {
    Net n = run([](QuantizationSetting& s) { s.passive_parameters = false; });
    EXPECT_EQ(n.in("conv", 2).state, QS::FP32);
    EXPECT_EQ(scalar(n.g->find_variable("b")->value), 0.1f);
    EXPECT_EQ(n.in("conv", 1).state, QS::Baked);
  }
  {
    Net n = run([](QuantizationSetting& s) { s.baking = false; });
    EXPECT_EQ(n.in("conv", 1).state, QS::Activated);
    EXPECT_EQ(n.in("conv", 2).state, QS::Passive);
    EXPECT_EQ(scalar(n.g->find_variable("w")->value), 0.7f);
    EXPECT_FALSE(n.g->find_variable("w")->fp32_value().defined());
  }
}

}  // namespace
}  // namespace qforge
