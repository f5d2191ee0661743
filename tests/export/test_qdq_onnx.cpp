// SPDX-License-Identifier: Apache-2.0
// Quantize -> export QDQ -> run in ONNX Runtime: ORT's outputs on the exported model agree with
// qforge's simulation within one quantization step of each output, on every platform whose
// rounding ONNX Runtime implements (half to even). Also checks the structure of the export
// (int8 weights behind DequantizeLinear only, int32 bias, no Q/DQ inside fused Conv+Relu).
#include <gtest/gtest.h>

#include <cmath>

#include "qforge/executor.h"
#include "qforge/export.h"
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
  std::cout << GetParam() << ": max |sim - ORT| = " << reference_diff << " (reference), " << optimized_diff
            << " (ORT int8 kernels); output step " << step << "\n";
  EXPECT_LE(reference_diff, step * 1.001f);
  EXPECT_LE(optimized_diff, step * 1.001f);
}

INSTANTIATE_TEST_SUITE_P(Platforms, QdqFidelity,
                         ::testing::Values("TRT_INT8", "ORT_INT8", "ORT_UINT8_ASYM", "OPENVINO_INT8", "PPL_CUDA_INT8",
                                           "PPL_DSP_INT8", "SNPE_INT8", "ACADEMIC"));

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
  EXPECT_THROW(export_graph(*q.graph, load_platform("ORT_INT8"), dir.file("q.onnx"), "", "tflite"), Error);
}

}  // namespace
}  // namespace qforge
