// SPDX-License-Identifier: Apache-2.0
// The pass pipeline on the tiny CNN: states after quantization, fusion, shared scales,
// passive bias, baking, NaN samples skipped and counted, settings parsing (every key, errors,
// the docs table, isotone_axis reaching the observer).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iterator>

#include "qforge/onnx_io.h"
#include "qforge/quantizer.h"
#include "support/memory_dataset.h"
#include "support/test_support.h"
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

TEST(Quantizer, QuantizeOnnxModelWithPpqArguments) {
  testing::TempDir dir;
  const std::string model = dir.file("tiny.onnx");
  save_onnx_graph(*testing::make_tiny_cnn(), model);
  const Platform platform = load_platform("TRT_INT8");
  auto data = testing::MemoryDataset::random("x", {1, 3, 16, 16}, 8, 3);

  // calib_steps, collate_fn (called once per sample read), input_shapes for tracing.
  QuantizeOnnxOptions options;
  options.setting = quiet_setting();
  options.calib_steps = 3;
  int collated = 0;
  options.collate_fn = [&](const Batch& sample) {
    ++collated;
    Batch out = sample;
    for (auto& [name, t] : out) t = t.clone();  // e.g. a copy onto the device the model runs on
    return out;
  };
  options.input_shapes = {{"x", {2, 3, 16, 16}}};
  auto graph = quantize_onnx_model(model, data, platform, options);
  EXPECT_GT(collated, 0);
  EXPECT_LE(collated,
            3 * 2);  // 3 steps, at most two passes over them (percentile: range + histogram)
  EXPECT_TRUE(out_cfg(*graph, "relu1", 0).is_active());
  EXPECT_EQ(in_cfg(*graph, "conv2", 1).state, QuantizationState::Baked);
  // Traced with the shapes given, batch 2.
  const Variable* traced = graph->find_operation("relu1")->output(0);
  ASSERT_TRUE(traced->shape.has_value());
  EXPECT_EQ(traced->shape->at(0).value, 2);

  // do_quantize = false: dispatched, configs built, nothing calibrated or baked.
  options.do_quantize = false;
  collated = 0;
  auto initial = quantize_onnx_model(model, data, platform, options);
  EXPECT_EQ(collated, 0);
  EXPECT_EQ(out_cfg(*initial, "relu1", 0).state, QuantizationState::Initial);
  EXPECT_EQ(in_cfg(*initial, "conv2", 1).state, QuantizationState::Initial);

  // A shape for an input the model does not have is an error naming it.
  options.input_shapes = {{"image", {1, 3, 16, 16}}};
  try {
    quantize_onnx_model(model, data, platform, options);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'image'"), std::string::npos) << e.what();
  }
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

// calib_batch stacks samples into one executor run; the scales match one sample at a time
// (minmax is order-free), and a NaN in a stack skips only its own sample.
TEST(Quantizer, CalibrationBatchStacksSamples) {
  auto run = [](int batch, bool with_nan) {
    auto g = testing::make_tiny_cnn();
    const Platform platform = load_platform("ORT_INT8");
    dispatch_graph(*g, platform);
    auto data = testing::MemoryDataset::random("x", {1, 3, 16, 16}, 8, 4);
    if (with_nan) data.samples()[5]["x"].data<float>()[3] = NAN;
    QuantizationSetting s = quiet_setting();
    s.calib_batch = batch;
    s.calib_steps = 8 / batch;
    Quantizer quantizer(platform, *g);
    quantizer.quantize(data, s);
    const float scale = g->find_operation("fc")
                            ->quant_config->output_configs[0]
                            ->effective_scale()
                            .data<float>()[0];
    return std::make_pair(quantizer.calibration(), scale);
  };
  const auto [one, one_scale] = run(1, false);
  const auto [four, four_scale] = run(4, false);
  EXPECT_EQ(one.runs, 8);
  EXPECT_EQ(four.batch, 4);
  EXPECT_EQ(four.runs, 2);
  EXPECT_EQ(four.samples, 8);
  EXPECT_TRUE(four.note.empty()) << four.note;
  EXPECT_FLOAT_EQ(four_scale, one_scale);
  const auto [nan, nan_scale] = run(4, true);
  EXPECT_EQ(nan.samples, 7);
  EXPECT_EQ(nan.skipped_samples, 1);
  EXPECT_EQ(nan.runs, 1 + 3);  // the clean stack, then the other one sample by sample
}

// A model whose input has a fixed batch of 1 cannot take stacked samples: one per run, and the
// report says why.
TEST(Quantizer, FixedBatchModelCalibratesOneSampleAtATime) {
  auto g = testing::make_tiny_cnn();
  g->find_variable("x")->shape = std::vector<Dim>{{1, ""}, {3, ""}, {16, ""}, {16, ""}};
  const Platform platform = load_platform("ORT_INT8");
  dispatch_graph(*g, platform);
  auto data = testing::MemoryDataset::random("x", {1, 3, 16, 16}, 8, 4);
  QuantizationSetting s = quiet_setting();
  s.calib_batch = 4;
  s.calib_steps = 2;
  Quantizer quantizer(platform, *g);
  quantizer.quantize(data, s);
  EXPECT_EQ(quantizer.calibration().batch, 1);
  EXPECT_EQ(quantizer.calibration().runs, 8);
  EXPECT_EQ(quantizer.calibration().samples, 8);
  EXPECT_NE(quantizer.calibration().note.find("'x' has a fixed first dimension"), std::string::npos)
      << quantizer.calibration().note;
  EXPECT_NE(quantizer.report().find("note: calib_batch 4 not used"), std::string::npos);
}

// A model that assumes one sample inside (Reshape to [1, -1]) although its input looks free:
// the first stacked run fails, and calibration starts again one sample at a time.
TEST(Quantizer, StackedBatchFailureFallsBackToOneSample) {
  Graph g;
  g.model.opset_imports = {{"", 13}};
  Variable* x = g.create_variable("x");
  x->dtype = DataType::Float;
  x->shape = std::vector<Dim>{{-1, "N"}, {4, ""}};
  g.add_graph_input(x);
  Variable* flat = g.create_variable("flat");
  g.create_operation("Reshape", "reshape",
                     {x, g.create_variable("shape", Tensor::from_vector<int64_t>({2}, {1, -1}))},
                     {flat});
  Variable* y = g.create_variable("y");
  g.create_operation("MatMul", "mm",
                     {flat, g.create_variable("w", testing::random_weights({4, 3}, 2, 1.0f))}, {y});
  g.add_graph_output(y);
  const Platform platform = load_platform("ORT_INT8");
  dispatch_graph(g, platform);
  auto data = testing::MemoryDataset::random("x", {1, 4}, 6, 4);
  QuantizationSetting s = quiet_setting();
  s.calib_batch = 3;
  s.calib_steps = 2;
  Quantizer quantizer(platform, g);
  quantizer.quantize(data, s);
  EXPECT_EQ(quantizer.calibration().batch, 1);
  EXPECT_EQ(quantizer.calibration().runs, 6);
  EXPECT_EQ(quantizer.calibration().samples, 6);
  EXPECT_NE(quantizer.calibration().note.find("a stacked batch failed"), std::string::npos)
      << quantizer.calibration().note;
  EXPECT_EQ(g.find_operation("mm")->quant_config->output_configs[0]->state,
            QuantizationState::Activated);
}

TEST(QuantizationSetting, JsonParsing) {
  const QuantizationSetting s = parse_setting(
      R"({"calib_steps": 4, "fusion": false, "activation_observer": "kl"})", "s.json");
  EXPECT_EQ(s.calib_steps, 4);
  EXPECT_FALSE(s.fusion);
  EXPECT_EQ(s.activation_observer, "kl");
  EXPECT_THROW(parse_setting(R"({"calib_step": 4})", "s.json"), Error);
  EXPECT_THROW(parse_setting(R"({"fusion": 1})", "s.json"), Error);
  const QuantizationSetting d = default_setting();
  EXPECT_EQ(d.dispatcher, "conservative");
  EXPECT_TRUE(d.fusion && d.quantize_parameter && d.quantize_activation && d.alignment &&
              d.passive_parameters && d.baking);
  EXPECT_FALSE(d.bias_correction);
}

// Every field of QuantizationSetting and ObserverOptions is settable from JSON: each key set to a
// value other than its default lands in its field.
TEST(QuantizationSetting, EveryFieldHasAKey) {
  // A new field needs a key in kKeys (src/quant/quantization_setting.cpp), a row in
  // docs/quantization.md and a line here; then update this count.
  static_assert(sizeof(ObserverOptions) == 5 * 4, "ObserverOptions changed: give the field a key");
  const QuantizationSetting s = parse_setting(R"({
      "dispatcher": "aggressive", "dispatching_table": {"conv1": "FP32"}, "fusion": false,
      "quantize_parameter": false, "quantize_activation": false, "activation_observer": "isotone",
      "percentile": 0.99, "histogram_bins": 1024, "kl_target_bins": 64, "ema_decay": 0.5,
      "isotone_axis": 1, "alignment": false, "passive_parameters": false, "baking": false,
      "keep_fp32_parameters": false, "calib_steps": 3, "calib_batch": 2, "threads": 2, "progress": false})",
                                              "s.json");
  EXPECT_EQ(s.dispatcher, "aggressive");
  EXPECT_EQ(s.dispatching_table.at("conv1"), "FP32");
  EXPECT_FALSE(s.fusion || s.quantize_parameter || s.quantize_activation || s.alignment ||
               s.passive_parameters || s.baking || s.keep_fp32_parameters || s.progress);
  EXPECT_EQ(s.activation_observer, "isotone");
  EXPECT_FLOAT_EQ(s.observer.percentile, 0.99f);
  EXPECT_EQ(s.observer.histogram_bins, 1024);
  EXPECT_EQ(s.observer.kl_target_bins, 64);
  EXPECT_FLOAT_EQ(s.observer.ema_decay, 0.5f);
  EXPECT_EQ(s.observer.isotone_axis, 1);
  EXPECT_EQ(s.calib_steps, 3);
  EXPECT_EQ(s.calib_batch, 2);
  EXPECT_EQ(s.threads, 2);
  // bias_correction has a key but is refused until the pass exists.
  EXPECT_THROW(parse_setting(R"({"bias_correction": true})", "s.json"), Error);
  EXPECT_EQ(setting_keys().size(), 20u);
}

// Errors name the file and the key; observer options are checked when the setting is read.
TEST(QuantizationSetting, ErrorsNameTheKey) {
  auto message = [](const std::string& json) {
    try {
      parse_setting(json, "s.json");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(R"({"isotone_axes": 1})").find("'isotone_axes'"), std::string::npos);
  EXPECT_NE(message(R"({"isotone_axis": "last"})").find("'isotone_axis'"), std::string::npos);
  EXPECT_NE(message(R"({"ema_decay": 1.5})").find("ema_decay"), std::string::npos);
  EXPECT_NE(message(R"({"kl_target_bins": 1})").find("kl_target_bins"), std::string::npos);
  EXPECT_NE(message(R"({"activation_observer": "median"})").find("median"), std::string::npos);
  EXPECT_NE(message(R"({"dispatcher": "greedy"})").find("greedy"), std::string::npos);
  EXPECT_NE(message(R"({"ema_decay": 1.5})").find("s.json"), std::string::npos);
}

// The setting table in docs/quantization.md lists every key.
TEST(QuantizationSetting, EveryKeyIsDocumented) {
  std::ifstream in(std::string(QFORGE_SOURCE_DIR) + "/docs/quantization.md");
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(doc.empty());
  for (const std::string& key : setting_keys())
    EXPECT_NE(doc.find("| `" + key + "` |"), std::string::npos) << key;
}

// isotone_axis reaches the isotone observer: rows along axis 1 or axis 0 of a Softmax output
// keep different orders, so the calibrated scale differs.
TEST(QuantizationSetting, IsotoneAxisReachesTheObserver) {
  auto calibrate = [](int axis) {
    Graph g;
    g.model.opset_imports = {{"", 13}};
    Variable* x = g.create_variable("x");
    x->dtype = DataType::Float;
    x->shape = std::vector<Dim>{{4, ""}, {8, ""}};
    g.add_graph_input(x);
    Variable* h = g.create_variable("h");
    g.create_operation("Gemm", "fc",
                       {x, g.create_variable("w", testing::random_weights({8, 8}, 3, 1.0f))}, {h});
    Variable* y = g.create_variable("y");
    g.create_operation("Softmax", "softmax", {h}, {y}, {Attribute::make_int("axis", 1)});
    g.add_graph_output(y);
    const Platform platform = load_platform("PPL_DSP_INT8");  // quantizes Softmax
    dispatch_graph(g, platform);
    auto data = testing::MemoryDataset::random("x", {4, 8}, 4, 9, -3.0f, 3.0f);
    QuantizationSetting s = parse_setting(
        fmt::format(R"({{"activation_observer": "isotone", "isotone_axis": {}}})", axis), "s.json");
    s.progress = false;
    s.threads = 1;
    s.calib_steps = 4;
    Quantizer quantizer(platform, g);
    quantizer.quantize(data, s);
    const auto& out = *g.find_operation("softmax")->quant_config->output_configs.at(0);
    EXPECT_EQ(out.state, QuantizationState::Activated);
    return out.effective_scale().data<float>()[0];
  };
  EXPECT_NE(calibrate(-1), calibrate(0));
}
}  // namespace
}  // namespace qforge
