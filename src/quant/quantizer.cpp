// SPDX-License-Identifier: Apache-2.0
// The Quantizer: builds per-port configs from the platform table and runs the passes in PPQ's
// order. This file is the only place the order lives. Tested in tests/quant/test_quantizer.cpp.
#include "qforge/quantizer.h"

#include <cstdio>
#include <map>
#include <optional>

#include "passes/quant_passes.h"
#include "qforge/dispatch.h"
#include "qforge/executor.h"
#include "qforge/format.h"
#include "qforge/onnx_io.h"

namespace qforge {

Quantizer::Quantizer(Platform platform, Graph& graph)
    : platform_(std::move(platform)), graph_(graph) {}

void Quantizer::quantize(CalibrationDataset& data, const QuantizationSetting& setting) {
  const PassContext ctx{platform_, setting, &data, &calibration_};
  using Pass = void (*)(Graph&, const PassContext&);
  struct Step {
    const char* name;
    bool enabled;
    Pass run;
  };
  const Step pipeline[] = {
      {"init_quantization_configs", true, init_quantization_configs},
      {"quantize_fusion", setting.fusion, quantize_fusion},
      {"quantize_simplify", true, quantize_simplify},
      {"parameter_quantization", setting.quantize_parameter, parameter_quantization},
      {"runtime_calibration", setting.quantize_activation, runtime_calibration},
      {"quantize_alignment", setting.alignment, quantize_alignment},
      {"passive_parameter_quantization", setting.passive_parameters,
       passive_parameter_quantization},
      {"parameter_baking", setting.baking, parameter_baking},
  };
  for (const Step& step : pipeline)
    if (step.enabled) with_error_context(step.name, [&] { step.run(graph_, ctx); });
  // Configs left uncalibrated (a pass switched off) run in float.
  for (const auto& op : graph_.operations()) {
    if (!op->quant_config) continue;
    for (auto* list : {&op->quant_config->input_configs, &op->quant_config->output_configs})
      for (auto& config : *list)
        if (config->state == QuantizationState::Initial ||
            config->state == QuantizationState::PassiveInit)
          config->state = QuantizationState::FP32;
  }
}

void Quantizer::initialize(const QuantizationSetting& setting) {
  const PassContext ctx{platform_, setting, nullptr, &calibration_};
  with_error_context("init_quantization_configs", [&] { init_quantization_configs(graph_, ctx); });
}

std::string Quantizer::report() const {
  std::map<std::string, int> by_state;
  int quantized_ops = 0, fp32_ops = 0;
  std::string table = fmt::format("{:<36} {:<18} {}\n", "op", "type", "ports (state)");
  for (const auto& op : graph_.operations()) {
    if (!op->quant_config) {
      ++fp32_ops;
      continue;
    }
    ++quantized_ops;
    std::vector<std::string> ports;
    auto add = [&](const char* side, size_t index, const TensorQuantizationConfig& c) {
      ++by_state[quantization_state_name(c.state)];
      if (c.state != QuantizationState::FP32)
        ports.push_back(fmt::format("{}{}:{}", side, index, quantization_state_name(c.state)));
    };
    for (size_t i = 0; i < op->quant_config->input_configs.size(); ++i)
      add("in", i, *op->quant_config->input_configs[i]);
    for (size_t o = 0; o < op->quant_config->output_configs.size(); ++o)
      add("out", o, *op->quant_config->output_configs[o]);
    table +=
        fmt::format("{:<36} {:<18} {}\n", op->name.substr(0, 36), op->type, fmt::join(ports, " "));
  }
  std::string out = fmt::format("platform {}: {} ops quantized, {} ops in FP32\n", platform_.name,
                                quantized_ops, fp32_ops);
  for (const auto& [state, count] : by_state) out += fmt::format("  {:<14} {}\n", state, count);
  if (calibration_.samples || calibration_.skipped_samples)
    out += fmt::format(
        "calibration: {} samples in {:.2f}s, {} skipped (NaN/Inf); {} per run, {} runs\n",
        calibration_.samples, calibration_.seconds, calibration_.skipped_samples,
        calibration_.batch, calibration_.runs);
  if (!calibration_.note.empty()) out += "note: " + calibration_.note + "\n";
  return out + table;
}

std::unique_ptr<Graph> quantize_onnx_model(const std::string& onnx_file,
                                           CalibrationDataset& dataset, const Platform& platform,
                                           const QuantizationSetting& setting) {
  auto graph = load_onnx_graph(onnx_file);
  format_graph(*graph);
  if (dataset.size() == 0)
    fail(ErrorKind::Argument, "calibration data is empty ({})", dataset.describe());
  trace_operation_meta(*graph, collate(dataset, 0, 1), ExecutorOptions{setting.threads});
  dispatch_graph(*graph, platform, setting.dispatcher, setting.dispatching_table);
  Quantizer quantizer(platform, *graph);
  quantizer.quantize(dataset, setting);
  return graph;
}

namespace {
// The calibration data seen through `collate_fn` (PPQ's: each sample becomes the model's inputs).
class CollatedDataset final : public CalibrationDataset {
 public:
  CollatedDataset(CalibrationDataset& inner, CollateFn collate)
      : inner_(inner), collate_(std::move(collate)) {}
  size_t size() const override { return inner_.size(); }
  Batch sample(size_t index) override { return collate_(inner_.sample(index)); }
  std::string describe() const override { return inner_.describe() + " through collate_fn"; }

 private:
  CalibrationDataset& inner_;
  CollateFn collate_;
};

// Zero tensors of the given shapes, in the dtypes the model declares for those inputs.
Batch zero_inputs(const Graph& graph, const std::map<std::string, Shape>& shapes) {
  Batch batch;
  for (const auto& [name, shape] : shapes) {
    const Variable* var = graph.find_variable(name);
    if (!var || !graph.is_graph_input(var))
      fail(ErrorKind::Argument, "input_shapes names '{}', which is not an input of {}", name,
           graph.model.source_path);
    batch[name] = Tensor(var->dtype == DataType::Undefined ? DataType::Float : var->dtype, shape);
  }
  return batch;
}
}  // namespace

std::unique_ptr<Graph> quantize_onnx_model(const std::string& onnx_file,
                                           CalibrationDataset& calib_dataloader,
                                           const Platform& platform,
                                           const QuantizeOnnxOptions& options) {
  auto graph = load_onnx_graph(onnx_file);
  format_graph(*graph);
  std::optional<CollatedDataset> collated;
  CalibrationDataset* data = &calib_dataloader;
  if (options.collate_fn) data = &collated.emplace(calib_dataloader, options.collate_fn);
  if (data->size() == 0 && options.do_quantize)
    fail(ErrorKind::Argument, "calibration data is empty ({})", data->describe());
  Batch trace = options.trace_inputs;
  if (trace.empty() && !options.input_shapes.empty())
    trace = zero_inputs(*graph, options.input_shapes);
  if (trace.empty()) {
    if (data->size() == 0)
      fail(ErrorKind::Argument, "{}: no inputs to trace shapes with (no data, inputs or shapes)",
           onnx_file);
    trace = collate(*data, 0, 1);
  }
  trace_operation_meta(*graph, trace, ExecutorOptions{options.setting.threads});
  dispatch_graph(*graph, platform, options.setting.dispatcher, options.setting.dispatching_table);
  Quantizer quantizer(platform, *graph);
  if (options.do_quantize) {
    QuantizationSetting setting = options.setting;
    setting.calib_steps = options.calib_steps;
    quantizer.quantize(*data, setting);
  } else {
    quantizer.initialize(options.setting);
  }
  if (options.verbose > 0) std::fputs(quantizer.report().c_str(), stdout);
  return graph;
}

}  // namespace qforge
