// SPDX-License-Identifier: Apache-2.0
// Quantize -> export QDQ -> run in ONNX Runtime: ORT's outputs on the exported model agree with
// qforge's simulation within one quantization step of each output, on every platform whose
// rounding ONNX Runtime implements (half to even). Also checks the structure of the export
// (int8 weights behind DequantizeLinear only, int32 bias, no Q/DQ inside fused Conv+Relu).
#include <gtest/gtest.h>

#include <cmath>

#include "qforge/executor.h"
#include "qforge/export.h"
#include "qforge/file_io.h"
#include "qforge/onnx_io.h"
#include "qforge/quantizer.h"
#include "qforge/tensor_io.h"
#include "support/memory_dataset.h"
#include "support/test_support.h"
#include "support/tiny_models.h"

namespace qforge {
namespace {

struct Quantized {
  std::unique_ptr<Graph> graph;
  float output_step = 0;
};

Quantized quantize_tiny_cnn(const std::string& platform_name, const std::string& observer) {
  Quantized q;
  q.graph = testing::make_tiny_cnn();
  const Platform platform = load_platform(platform_name);
  auto data = testing::MemoryDataset::random("x", {1, 3, 16, 16}, 16, 11);
  dispatch_graph(*q.graph, platform);
  QuantizationSetting setting = default_setting();
  setting.activation_observer = observer;
  setting.calib_steps = 16;
  setting.progress = false;
  setting.threads = 1;
  Quantizer quantizer(platform, *q.graph);
  quantizer.quantize(data, setting);
  const Operation* fc = q.graph->find_operation("fc");
  const auto& out = fc->quant_config->output_configs[0];
  q.output_step = out->is_active() ? out->effective_scale().data<float>()[0] : 0.0f;
  return q;
}

Tensor simulate(const Graph& graph, const Tensor& x) {
  Executor executor(graph, ExecutorOptions{1});
  attach_fake_quantization(executor, graph);
  return executor.run({{"x", x}})[0];
}

float max_abs_diff(const Tensor& a, const Tensor& b) {
  float worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    worst = std::max(worst, std::abs(a.data<float>()[i] - b.data<float>()[i]));
  return worst;
}

class QdqFidelity : public ::testing::TestWithParam<const char*> {};

TEST_P(QdqFidelity, OrtMatchesSimulationWithinOneStep) {
  if (!testing::ort_available()) GTEST_SKIP() << "onnxruntime-node not installed";
  Quantized q = quantize_tiny_cnn(GetParam(), "minmax");
  testing::TempDir dir;
  const std::string model = dir.file("q.onnx");
  export_graph(*q.graph, load_platform(GetParam()), model, dir.file("q.json"));
  const Tensor x = testing::random_tensor(DataType::Float, {2, 3, 16, 16}, 99);
  write_npy(dir.file("x.npy"), x);
  const Tensor simulated = simulate(*q.graph, x);
  auto results = testing::run_ort({{model, {{"x", dir.file("x.npy")}}, dir.file("ref"), false},
                                   {model, {{"x", dir.file("x.npy")}}, dir.file("opt"), true}});
  ASSERT_TRUE(results[0].ok) << results[0].error;
  ASSERT_TRUE(results[1].ok) << results[1].error;
  const float step = q.output_step > 0 ? q.output_step : 1e-4f;
  const float reference_diff = max_abs_diff(simulated, results[0].outputs[0]);
  const float optimized_diff = max_abs_diff(simulated, results[1].outputs[0]);
  std::cout << GetParam() << ": max |sim - ORT| = " << reference_diff << " (reference), "
            << optimized_diff << " (ORT int8 kernels); output step " << step << "\n";
  EXPECT_LE(reference_diff, step * 1.001f);
  EXPECT_LE(optimized_diff, step * 1.001f);
}

INSTANTIATE_TEST_SUITE_P(Platforms, QdqFidelity,
                         ::testing::Values("TRT_INT8", "ORT_INT8", "ORT_UINT8_ASYM",
                                           "OPENVINO_INT8", "PPL_CUDA_INT8", "PPL_DSP_INT8",
                                           "SNPE_INT8", "ACADEMIC"));

TEST(QdqExport, StructureOfTheExportedModel) {
  Quantized q = quantize_tiny_cnn("ORT_INT8", "minmax");
  testing::TempDir dir;
  export_graph(*q.graph, load_platform("ORT_INT8"), dir.file("q.onnx"));
  auto exported = load_onnx_graph(dir.file("q.onnx"));
  EXPECT_GE(exported->model.opset_of(""), 13);
  int quantize = 0, dequantize = 0;
  for (const auto& op : exported->operations()) {
    quantize += op->type == "QuantizeLinear";
    dequantize += op->type == "DequantizeLinear";
    if (op->type == "Conv") {
      const Operation* w = op->input(1)->producer();
      ASSERT_NE(w, nullptr);
      EXPECT_EQ(w->type, "DequantizeLinear");
      EXPECT_EQ(w->input(0)->value.dtype(), DataType::Int8);
      EXPECT_EQ(w->attr_int("axis", -1), 0);
      const Operation* b = op->input(2)->producer();
      ASSERT_NE(b, nullptr);
      EXPECT_EQ(b->input(0)->value.dtype(), DataType::Int32);
      // Fused Conv+Relu: the conv's output goes straight into Relu, no Q/DQ in between.
      if (op->name == "conv1") {
        EXPECT_EQ(op->output(0)->consumers()[0]->type, "Relu");
      }
    }
  }
  EXPECT_GT(quantize, 0);
  EXPECT_GT(dequantize, quantize);  // weights have a DequantizeLinear only
  EXPECT_EQ(exported->outputs()[0]->name, "y");
  EXPECT_THROW(export_graph(*q.graph, load_platform("ORT_INT8"), dir.file("q.onnx"), "", "tflite"),
               Error);
}

// The ONNX checker gate: a graph libonnx rejects (an op the standard domain does not define) is
// not written, and the error names the file and says why.
// x [1, 4] -> one op of `type` in `domain` -> y, float.
Operation* add_single_op(Graph& g, const std::string& type, const std::string& domain) {
  g.model.ir_version = 8;
  Variable* x = g.create_variable("x");
  x->dtype = DataType::Float;
  x->shape = std::vector<Dim>{{1, ""}, {4, ""}};
  g.add_graph_input(x);
  Variable* y = g.create_variable("y");
  y->dtype = DataType::Float;
  y->shape = x->shape;
  Operation* op = g.create_operation(type, g.name, {x}, {y}, {}, domain);
  g.add_graph_output(y);
  return op;
}

TEST(QdqExport, CheckerRejectsInvalidModelWithoutWritingIt) {
  Graph g;
  g.name = "bad";
  g.model.opset_imports = {{"", 13}};
  add_single_op(g, "NotAnOnnxOp", "");
  testing::TempDir dir;
  const std::string out = dir.file("bad.onnx");
  try {
    export_graph(g, load_platform("ORT_INT8"), out);
    FAIL() << "export of an invalid model succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidModel);
    const std::string message = e.what();
    EXPECT_NE(message.find(out), std::string::npos) << message;
    EXPECT_NE(message.find("NotAnOnnxOp"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  EXPECT_FALSE(file_exists(out));
}

// Ops of other domains have no schema in libonnx: the gate lets them through, as ONNX Runtime
// would with the right custom op library.
TEST(QdqExport, CheckerAcceptsCustomDomainOps) {
  Graph g;
  g.name = "custom";
  g.model.opset_imports = {{"", 13}, {"my.domain", 1}};
  add_single_op(g, "MyOp", "my.domain")->opset = 1;
  testing::TempDir dir;
  EXPECT_NO_THROW(export_graph(g, load_platform("ORT_INT8"), dir.file("custom.onnx")));
  EXPECT_TRUE(file_exists(dir.file("custom.onnx")));
}

// NCNN's activations use [-127, 127]: QuantizeLinear alone would saturate at -128, so a Clip
// to (qmin - zero point) * scale reads the value first.
TEST(QdqExport, NarrowRangeGetsClipBeforeQuantizeLinear) {
  Quantized q = quantize_tiny_cnn("NCNN_INT8", "minmax");
  testing::TempDir dir;
  export_graph(*q.graph, load_platform("NCNN_INT8"), dir.file("q.onnx"));
  auto exported = load_onnx_graph(dir.file("q.onnx"));
  int quantize = 0;
  for (const auto& op : exported->operations()) {
    if (op->type != "QuantizeLinear") continue;
    ++quantize;
    const Operation* clip = op->input(0)->producer();
    ASSERT_NE(clip, nullptr);
    ASSERT_EQ(clip->type, "Clip");
    const float scale = op->input(1)->value.data<float>()[0];
    EXPECT_FLOAT_EQ(clip->input(1)->value.data<float>()[0], -127 * scale);
    EXPECT_FLOAT_EQ(clip->input(2)->value.data<float>()[0], 127 * scale);
  }
  EXPECT_GT(quantize, 0);
}

// An opset-11 model is raised to 13 for QDQ: Squeeze/Unsqueeze take their axes as inputs, and a
// Softmax over a middle axis keeps its opset-11 meaning (flatten at the axis) through
// Flatten -> Softmax -> Reshape. ONNX Runtime computes on the export what qforge computes on
// the original.
std::unique_ptr<Graph> make_opset11_graph() {
  auto g = std::make_unique<Graph>();
  g->model.ir_version = 6;
  g->model.opset_imports = {{"", 11}};
  auto var = [&](const std::string& name) { return g->create_variable(name); };
  Variable* x = var("x");
  x->dtype = DataType::Float;
  x->shape = std::vector<Dim>{{2, ""}, {3, ""}, {4, ""}};
  g->add_graph_input(x);
  Variable* u = var("u");
  u->shape = std::vector<Dim>{{2, ""}, {1, ""}, {3, ""}, {4, ""}};
  g->create_operation("Unsqueeze", "unsqueeze", {x}, {u}, {Attribute::make_ints("axes", {1})});
  Variable* s = var("s");
  s->shape = x->shape;
  g->create_operation("Squeeze", "squeeze", {u}, {s}, {Attribute::make_ints("axes", {1})});
  Variable* y = var("y");
  y->dtype = DataType::Float;
  y->shape = x->shape;
  g->create_operation("Softmax", "softmax", {s}, {y}, {Attribute::make_int("axis", 1)});
  Variable* z = var("z");
  z->dtype = DataType::Float;
  g->create_operation("LogSoftmax", "log_softmax", {s}, {z}, {Attribute::make_int("axis", -1)});
  g->add_graph_output(y);
  g->add_graph_output(z);
  for (const auto& op : g->operations()) op->opset = 11;
  return g;
}

TEST(QdqOpset, RaisesOpset11ModelTo13) {
  auto g = make_opset11_graph();
  testing::TempDir dir;
  export_graph(*g, load_platform("ORT_INT8"), dir.file("q.onnx"));
  auto exported = load_onnx_graph(dir.file("q.onnx"));
  EXPECT_EQ(exported->model.opset_of(""), 13);
  EXPECT_EQ(exported->find_operation("squeeze")->num_inputs(), 2u);
  EXPECT_EQ(exported->find_operation("unsqueeze")->num_inputs(), 2u);
  EXPECT_FALSE(exported->find_operation("squeeze")->has_attr("axes"));
  const Operation* softmax = exported->find_operation("softmax");
  EXPECT_EQ(softmax->attr_int("axis", 0), -1);
  EXPECT_EQ(softmax->input(0)->producer()->type, "Flatten");
  EXPECT_EQ(softmax->output(0)->consumers()[0]->type, "Reshape");
  EXPECT_EQ(exported->find_operation("log_softmax")->input(0)->producer()->type, "Squeeze");
  EXPECT_EQ(exported->outputs()[0]->name, "y");

  if (!testing::ort_available()) GTEST_SKIP() << "onnxruntime-node not installed";
  const Tensor x = testing::random_tensor(DataType::Float, {2, 3, 4}, 5, -3.0f, 3.0f);
  write_npy(dir.file("x.npy"), x);
  Executor executor(*g, ExecutorOptions{1});
  const std::vector<Tensor> expected = executor.run({{"x", x}});
  const auto results =
      testing::run_ort({{dir.file("q.onnx"), {{"x", dir.file("x.npy")}}, dir.file("ort"), false}});
  ASSERT_TRUE(results[0].ok) << results[0].error;
  for (size_t o = 0; o < expected.size(); ++o)
    EXPECT_EQ(testing::compare_tensors(results[0].outputs[o], expected[o], 1e-5, 1e-6), "") << o;
}

TEST(QdqOpset, RefusesWhatCannotBeRaised) {
  auto g = make_opset11_graph();
  g->find_operation("softmax")->set_attr(Attribute::make_int("axis", 1));
  g->find_operation("softmax")->input(0)->shape.reset();  // rank unknown: meaning unknown at 13
  testing::TempDir dir;
  try {
    export_graph(*g, load_platform("ORT_INT8"), dir.file("q.onnx"));
    FAIL() << "export succeeded";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("opset 11"), std::string::npos) << message;
    EXPECT_NE(message.find("softmax"), std::string::npos) << message;
  }
  EXPECT_FALSE(file_exists(dir.file("q.onnx")));
}
}  // namespace
}  // namespace qforge
