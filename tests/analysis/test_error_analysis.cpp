// SPDX-License-Identifier: Apache-2.0
// Error analysis (qforge/error_analysis.h): hand-computed metrics on one-op graphs with
// hand-made configs, FP32 ops at zero error, baked weights compared against their FP32 values,
// layerwise ranking of a coarser op, fixed-size state whatever the sample count, NaN samples,
// bad input, and the table/JSON output.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <type_traits>

#include "qforge/error_analysis.h"
#include "qforge/quantizer.h"
#include "support/memory_dataset.h"
#include "support/tiny_models.h"

namespace qforge {
namespace {

std::unique_ptr<TensorQuantizationConfig> fp32_config() {
  auto c = std::make_unique<TensorQuantizationConfig>();
  c->state = QuantizationState::FP32;
  return c;
}

// Per-tensor symmetric signed `bits`-bit config with a fixed scale.
std::unique_ptr<TensorQuantizationConfig> linear_config(
    float scale, int bits, QuantizationState state = QuantizationState::Activated) {
  auto c = std::make_unique<TensorQuantizationConfig>();
  c->num_bits = bits;
  c->quant_min = -(int64_t{1} << (bits - 1));
  c->quant_max = (int64_t{1} << (bits - 1)) - 1;
  c->scale = Tensor::scalar<float>(scale);
  c->offset = Tensor::scalar<float>(0.0f);
  c->state = state;
  return c;
}

void set_configs(Operation* op, std::unique_ptr<TensorQuantizationConfig> in0,
                 std::unique_ptr<TensorQuantizationConfig> in1,
                 std::unique_ptr<TensorQuantizationConfig> out0) {
  auto config = std::make_shared<OperationQuantizationConfig>();
  config->input_configs.push_back(std::move(in0));
  config->input_configs.push_back(std::move(in1));
  config->output_configs.push_back(std::move(out0));
  op->quant_config = std::move(config);
}

// x [N, 4] -> MatMul(x, w) -> y; ops are created by the caller.
struct MatMulGraph {
  std::unique_ptr<Graph> graph = std::make_unique<Graph>();
  MatMulGraph() { graph->model.opset_imports = {{"", 13}}; }
  Variable* input(const std::string& name) {
    Variable* x = graph->create_variable(name);
    x->dtype = DataType::Float;
    x->shape = std::vector<Dim>{{-1, "N"}, {4, ""}};
    graph->add_graph_input(x);
    return x;
  }
  Operation* matmul(const std::string& name, Variable* in, Variable* out, Tensor weight) {
    return graph->create_operation(
        "MatMul", name, {in, graph->create_variable(name + ".w", std::move(weight))}, {out});
  }
};

Tensor identity4() {
  Tensor t(DataType::Float, {4, 4});
  for (int i = 0; i < 4; ++i) t.data<float>()[i * 5] = 1.0f;
  return t;
}

ErrorAnalysisOptions quiet(int steps, int batch = 1, AnalysedOps ops = AnalysedOps::Computing) {
  ErrorAnalysisOptions o;
  o.steps = steps;
  o.batch = batch;
  o.threads = 1;
  o.progress = false;
  o.ops = ops;
  return o;
}

// The expected sums of one fake-quantized tensor against its float value, by the formula.
struct Expected {
  double noise = 0, signal = 0, qq = 0, qf = 0, max_abs = 0;
  void add(float x, float q) {
    noise += (double(q) - x) * (double(q) - x);
    signal += double(x) * x;
    qq += double(q) * q;
    qf += double(q) * x;
    max_abs = std::max(max_abs, std::abs(double(q) - x));
  }
};

void expect_stats(const ErrorStats& s, const Expected& e) {
  EXPECT_NEAR(s.noise_signal_ratio(), e.noise / e.signal, 1e-6 * e.noise / e.signal);
  EXPECT_NEAR(s.snr_db(), 10 * std::log10(e.signal / e.noise), 1e-5);
  EXPECT_NEAR(s.cosine(), e.qf / std::sqrt(e.qq * e.signal), 1e-9);
  EXPECT_NEAR(s.max_abs_error, e.max_abs, 1e-6);
}

TEST(ErrorAnalysis, GraphwiseOneOpMatchesTheFormula) {
  MatMulGraph m;
  Variable* y = m.graph->create_variable("y");
  Operation* op = m.matmul("mm", m.input("x"), y, identity4());
  m.graph->add_graph_output(y);
  const float s = 0.05f;  // 8-bit: [-6.4, 6.35], so inputs in [-8, 8) also clamp
  set_configs(op, linear_config(s, 8), fp32_config(), fp32_config());
  auto data = testing::MemoryDataset::random("x", {1, 4}, 16, 11, -8.0f, 8.0f);

  const ErrorAnalysis a = graphwise_error_analyse(*m.graph, data, quiet(4, 4));
  Expected e;  // y = fq(x) @ I = fq(x) against x @ I = x
  for (auto& sample : data.samples())
    for (float x : sample["x"].to_float_vector())
      e.add(x, std::clamp(std::nearbyint(x / s), -128.0f, 127.0f) * s);
  EXPECT_EQ(a.method, "graphwise");
  EXPECT_EQ(a.samples, 16);
  EXPECT_EQ(a.skipped_samples, 0);
  ASSERT_EQ(a.ops.size(), 1u);
  EXPECT_EQ(a.ops[0].name, "mm");
  EXPECT_EQ(a.ops[0].type, "MatMul");
  EXPECT_EQ(a.ops[0].stats.elements, 64);
  expect_stats(a.ops[0].stats, e);
  ASSERT_EQ(a.outputs.size(), 1u);
  EXPECT_EQ(a.outputs[0].name, "y");
  expect_stats(a.outputs[0].stats, e);
  // Layerwise on one op: the same error, measured at the graph output.
  const ErrorAnalysis l = layerwise_error_analyse(*m.graph, data, quiet(16));
  ASSERT_EQ(l.ops.size(), 1u);
  expect_stats(l.ops[0].stats, e);
}

// pre (Relu, FP32) -> mm (quantized input) -> post (Relu, FP32) -> y
TEST(ErrorAnalysis, Fp32OpUpstreamHasZeroErrorDownstreamInheritsIt) {
  MatMulGraph m;
  Variable* a = m.graph->create_variable("a");
  Variable* b = m.graph->create_variable("b");
  Variable* y = m.graph->create_variable("y");
  m.graph->create_operation("Relu", "pre", {m.input("x")}, {a});
  set_configs(m.matmul("mm", a, b, identity4()), linear_config(0.1f, 8), fp32_config(),
              fp32_config());
  m.graph->create_operation("Relu", "post", {b}, {y});
  m.graph->add_graph_output(y);
  auto data = testing::MemoryDataset::random("x", {1, 4}, 8, 5, -2.0f, 2.0f);

  const ErrorAnalysis all = graphwise_error_analyse(*m.graph, data, quiet(8, 1, AnalysedOps::All));
  ASSERT_EQ(all.ops.size(), 3u);
  EXPECT_EQ(all.ops[0].name, "pre");
  EXPECT_EQ(all.ops[0].stats.noise, 0.0);
  EXPECT_GT(all.ops[0].stats.elements, 0);
  EXPECT_TRUE(std::isinf(all.ops[0].stats.snr_db()));
  EXPECT_EQ(all.ops[0].stats.cosine(), 1.0);
  EXPECT_EQ(all.ops[0].stats.noise_signal_ratio(), 0.0);
  EXPECT_GT(all.ops[1].stats.noise, 0.0);
  EXPECT_GT(all.ops[2].stats.noise, 0.0);  // FP32, but downstream of quantization
  EXPECT_GT(all.outputs[0].stats.noise, 0.0);
  // Layerwise: quantizing only an FP32 op changes nothing.
  const ErrorAnalysis layer =
      layerwise_error_analyse(*m.graph, data, quiet(8, 1, AnalysedOps::All));
  ASSERT_EQ(layer.ops.size(), 3u);
  EXPECT_EQ(layer.ops[0].stats.noise, 0.0);
  EXPECT_EQ(layer.ops[2].stats.noise, 0.0);
  EXPECT_GT(layer.ops[1].stats.noise, 0.0);
  // The default (PPQ's computing ops) and the quantized ops both keep only mm.
  EXPECT_EQ(graphwise_error_analyse(*m.graph, data, quiet(2)).ops.size(), 1u);
  EXPECT_EQ(graphwise_error_analyse(*m.graph, data, quiet(2, 1, AnalysedOps::Quantized)).ops.size(),
            1u);
}

// The Quantizer bakes weights; the FP32 reference must read their values from before baking.
TEST(ErrorAnalysis, BakedWeightsAreComparedWithTheirFp32Values) {
  MatMulGraph m;
  Variable* y = m.graph->create_variable("y");
  m.matmul("mm", m.input("x"), y, testing::random_weights({4, 4}, 3, 1.0f));
  m.graph->add_graph_output(y);
  const Tensor w = m.graph->find_variable("mm.w")->value;
  const Platform platform = load_platform("TRT_INT8");
  dispatch_graph(*m.graph, platform);
  auto data = testing::MemoryDataset::random("x", {1, 4}, 8, 9);
  QuantizationSetting setting = default_setting();
  setting.quantize_activation = false;  // only the weight is quantized
  setting.progress = false;
  setting.threads = 1;
  Quantizer(platform, *m.graph).quantize(data, setting);
  const Variable* wv = m.graph->find_variable("mm.w");
  ASSERT_TRUE(wv->fp32_value().defined());
  EXPECT_TRUE(wv->fp32_value().equals(w));
  EXPECT_FALSE(wv->value.equals(w));

  const ErrorAnalysis a = graphwise_error_analyse(*m.graph, data, quiet(8));
  EXPECT_EQ(a.baked_without_fp32_value, 0);
  double noise = 0, signal = 0;
  const float* wq = wv->value.data<float>();
  for (auto& sample : data.samples()) {
    const std::vector<float> x = sample["x"].to_float_vector();
    for (int j = 0; j < 4; ++j) {
      double f = 0, q = 0;
      for (int k = 0; k < 4; ++k) {
        f += double(x[k]) * w.data<float>()[k * 4 + j];
        q += double(x[k]) * wq[k * 4 + j];
      }
      noise += (q - f) * (q - f);
      signal += f * f;
    }
  }
  ASSERT_EQ(a.ops.size(), 1u);
  EXPECT_GT(noise, 0.0);
  EXPECT_NEAR(a.ops[0].stats.noise_signal_ratio(), noise / signal, 1e-3 * noise / signal);
}

// x -> first (3-bit weight) -> second (8-bit weight) -> y; ops created in reverse order.
TEST(ErrorAnalysis, LayerwiseRanksTheCoarserOpWorseInTopologicalOrder) {
  MatMulGraph m;
  Variable* x = m.input("x");
  Variable* mid = m.graph->create_variable("mid");
  Variable* y = m.graph->create_variable("y");
  const Tensor w1 = testing::random_weights({4, 4}, 21, 0.5f),
               w2 = testing::random_weights({4, 4}, 22, 0.5f);
  auto max_abs = [](const Tensor& t) {
    float v = 0;
    for (float e : t.to_float_vector()) v = std::max(v, std::abs(e));
    return v;
  };
  Operation* second = m.matmul("second", mid, y, w2);
  Operation* first = m.matmul("first", x, mid, w1);
  m.graph->add_graph_output(y);
  set_configs(first, fp32_config(), linear_config(max_abs(w1) / 3, 3), fp32_config());
  set_configs(second, fp32_config(), linear_config(max_abs(w2) / 127, 8), fp32_config());
  auto data = testing::MemoryDataset::random("x", {1, 4}, 12, 8);

  const ErrorAnalysis l = layerwise_error_analyse(*m.graph, data, quiet(12));
  ASSERT_EQ(l.ops.size(), 2u);
  EXPECT_EQ(l.ops[0].name, "first");
  EXPECT_EQ(l.ops[1].name, "second");
  EXPECT_GT(l.ops[0].stats.noise_signal_ratio(), 10 * l.ops[1].stats.noise_signal_ratio());
  EXPECT_LT(l.ops[0].stats.snr_db(), l.ops[1].stats.snr_db());
  EXPECT_LT(l.ops[0].stats.cosine(), l.ops[1].stats.cosine());
  const std::string table = format_error_table(l, {.sort_by_error = false, .mark_worst = 1});
  EXPECT_NE(table.find("layerwise"), std::string::npos);
  const size_t first_row = table.find("first");
  EXPECT_NE(first_row, std::string::npos);
  EXPECT_NE(table.substr(first_row, table.find('\n', first_row) - first_row).find('*'),
            std::string::npos);
  // Graphwise: the error at `second` includes the error inherited from `first`.
  const ErrorAnalysis g = graphwise_error_analyse(*m.graph, data, quiet(12));
  EXPECT_GT(g.ops[1].stats.noise_signal_ratio(), l.ops[1].stats.noise_signal_ratio());
}

QuantizationSetting quiet_setting() {
  QuantizationSetting s = default_setting();
  s.progress = false;
  s.threads = 1;
  s.activation_observer = "minmax";
  s.calib_steps = 4;
  return s;
}

std::unique_ptr<Graph> quantized_tiny_cnn(testing::MemoryDataset& data) {
  auto g = testing::make_tiny_cnn();
  const Platform platform = load_platform("TRT_INT8");
  dispatch_graph(*g, platform);
  Quantizer(platform, *g).quantize(data, quiet_setting());
  return g;
}

TEST(ErrorAnalysis, StateDoesNotGrowWithSamples) {
  static_assert(std::is_trivially_copyable_v<ErrorStats>, "running sums only");
  auto data = testing::MemoryDataset::random("x", {1, 3, 16, 16}, 32, 3);
  auto g = quantized_tiny_cnn(data);
  const ErrorAnalysis few = graphwise_error_analyse(*g, data, quiet(4));
  const ErrorAnalysis many = graphwise_error_analyse(*g, data, quiet(32));
  EXPECT_EQ(many.samples, 32);
  ASSERT_EQ(few.ops.size(), 4u);  // PPQ's computing ops: conv1, conv2, conv3, fc
  ASSERT_EQ(many.ops.size(), few.ops.size());
  ASSERT_EQ(many.outputs.size(), 1u);
  EXPECT_EQ(many.ops.front().name, "conv1");
  EXPECT_EQ(many.ops.back().name, "fc");
  for (size_t r = 0; r < few.ops.size(); ++r) {
    EXPECT_EQ(many.ops[r].name, few.ops[r].name);
    EXPECT_EQ(many.ops[r].stats.elements, 8 * few.ops[r].stats.elements);
    EXPECT_GT(many.ops[r].stats.noise, 0.0) << many.ops[r].name;
    EXPECT_GT(many.ops[r].stats.cosine(), 0.99) << many.ops[r].name;
  }
  EXPECT_EQ(many.outputs[0].name, "y");
  EXPECT_EQ(many.outputs[0].stats.elements, 32 * 10);
  // Quantized ops (conv, relu, pool, add, concat, gap, fc...) are more rows, same fixed state.
  EXPECT_GT(graphwise_error_analyse(*g, data, quiet(2, 1, AnalysedOps::Quantized)).ops.size(), 4u);
  const ErrorAnalysis layer = layerwise_error_analyse(*g, data, quiet(2, 2));
  EXPECT_EQ(layer.samples, 4);
  ASSERT_EQ(layer.ops.size(), 4u);
  for (const LayerError& row : layer.ops) EXPECT_GT(row.stats.noise, 0.0) << row.name;
}

TEST(ErrorAnalysis, NanSamplesAreSkippedAndCounted) {
  auto data = testing::MemoryDataset::random("x", {1, 3, 16, 16}, 6, 4);
  auto g = quantized_tiny_cnn(data);
  data.samples()[1]["x"].data<float>()[7] = NAN;
  data.samples()[3]["x"].data<float>()[0] = -INFINITY;
  const ErrorAnalysis a = graphwise_error_analyse(*g, data, quiet(6));
  EXPECT_EQ(a.samples, 4);
  EXPECT_EQ(a.skipped_samples, 2);
  for (const LayerError& row : a.ops) EXPECT_TRUE(std::isfinite(row.stats.snr_db())) << row.name;
  EXPECT_NE(format_error_table(a).find("2 skipped"), std::string::npos);
  for (auto& s : data.samples()) s["x"].data<float>()[0] = NAN;
  EXPECT_THROW(layerwise_error_analyse(*g, data, quiet(6)), Error);
}

TEST(ErrorAnalysis, UnquantizedGraphIsAnError) {
  auto g = testing::make_tiny_cnn();
  auto data = testing::MemoryDataset::random("x", {1, 3, 16, 16}, 2, 4);
  try {
    graphwise_error_analyse(*g, data, quiet(2));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Argument);
    EXPECT_NE(std::string(e.what()).find("quantized graph"), std::string::npos) << e.what();
  }
  EXPECT_THROW(layerwise_error_analyse(*g, data, quiet(2)), Error);
  testing::MemoryDataset empty(std::vector<Batch>{});
  auto q = quantized_tiny_cnn(data);
  EXPECT_THROW(graphwise_error_analyse(*q, empty, quiet(2)), Error);
  EXPECT_THROW(analysed_ops_from_name("conv"), Error);
  // Quantized, but no computing op: the default rows are empty, which is an error too.
  MatMulGraph m;
  Variable* y = m.graph->create_variable("y");
  Operation* relu = m.graph->create_operation("Relu", "relu", {m.input("x")}, {y});
  m.graph->add_graph_output(y);
  auto config = std::make_shared<OperationQuantizationConfig>();
  config->input_configs.push_back(linear_config(0.1f, 8));
  config->output_configs.push_back(fp32_config());
  relu->quant_config = config;
  auto small = testing::MemoryDataset::random("x", {1, 4}, 2, 4);
  EXPECT_THROW(graphwise_error_analyse(*m.graph, small, quiet(2)), Error);
  EXPECT_EQ(
      layerwise_error_analyse(*m.graph, small, quiet(2, 1, AnalysedOps::Quantized)).ops.size(), 1u);
}

TEST(ErrorAnalysis, TableAndJson) {
  MatMulGraph m;
  Variable* a = m.graph->create_variable("a");
  Variable* y = m.graph->create_variable("y");
  m.graph->create_operation("Relu", "pre", {m.input("x")}, {a});
  set_configs(m.matmul("mm", a, y, identity4()), linear_config(0.1f, 8), fp32_config(),
              fp32_config());
  m.graph->add_graph_output(y);
  auto data = testing::MemoryDataset::random("x", {1, 4}, 4, 5, -2.0f, 2.0f);
  const ErrorAnalysis g = graphwise_error_analyse(*m.graph, data, quiet(4, 1, AnalysedOps::All));
  const std::string table = format_error_table(g, {.sort_by_error = true, .mark_worst = 3});
  for (const char* text :
       {"noise/signal", "SNR dB", "cosine", "max abs", "graph outputs", "inf", "Relu", "MatMul"})
    EXPECT_NE(table.find(text), std::string::npos) << text << "\n" << table;
  EXPECT_LT(table.find("mm "), table.find("pre "));  // sorted: worst first
  const auto doc = nlohmann::json::parse(error_analysis_to_json(g));
  EXPECT_EQ(doc["method"], "graphwise");
  EXPECT_EQ(doc["samples"], 4);
  ASSERT_EQ(doc["ops"].size(), 2u);
  EXPECT_EQ(doc["ops"][0]["name"], "pre");
  EXPECT_TRUE(doc["ops"][0]["snr_db"].is_null());  // no noise: +inf
  EXPECT_EQ(doc["ops"][0]["cosine"], 1.0);
  EXPECT_NEAR(doc["ops"][1]["noise_signal_ratio"].get<double>(),
              g.ops[1].stats.noise_signal_ratio(), 1e-12);
  EXPECT_EQ(doc["outputs"][0]["name"], "y");
  const ErrorAnalysis l = layerwise_error_analyse(*m.graph, data, quiet(4));
  const auto both = nlohmann::json::parse(error_analysis_to_json(std::vector<ErrorAnalysis>{g, l}));
  EXPECT_EQ(both["graphwise"]["ops"].size(), 2u);
  EXPECT_EQ(both["layerwise"]["ops"].size(), 1u);
}

}  // namespace
}  // namespace qforge
