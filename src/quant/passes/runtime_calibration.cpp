// SPDX-License-Identifier: Apache-2.0
// Runtime calibration: runs the graph on calibration batches (weights already fake-quantized,
// as PPQ does) and feeds every uncalibrated activation config's observer through executor
// hooks. Two-pass observers (histograms) get a second sweep. Samples holding NaN/Inf are
// skipped and counted. Memory stays flat: observers keep fixed-size state.
#include <chrono>
#include <cmath>
#include <map>

#include "qforge/executor.h"
#include "qforge/progress.h"
#include "quant_passes.h"

namespace qforge {

namespace {

struct ObservationPoint {
  TensorQuantizationConfig* config;
  size_t port;
  bool is_output;
  std::unique_ptr<Observer> observer;
};

bool all_finite(const Batch& batch) {
  for (const auto& [name, tensor] : batch) {
    if (tensor.dtype() != DataType::Float) continue;
    const float* p = tensor.data<float>();
    for (int64_t i = 0; i < tensor.numel(); ++i)
      if (!std::isfinite(p[i])) return false;
  }
  return true;
}

}  // namespace

void runtime_calibration(Graph& graph, const PassContext& ctx) {
  if (!ctx.data) fail(ErrorKind::Argument, "activation calibration needs calibration data");
  std::map<const Operation*, std::vector<ObservationPoint>> points;
  int passes = 1;
  for (const auto& owned : graph.operations()) {
    const Operation& op = *owned;
    auto consider = [&](TensorQuantizationConfig* config, size_t port, bool is_output) {
      if (!config || config->state != QuantizationState::Initial || config->dominator() != config) return;
      if (!is_output && (is_weight_port(op, port) || is_bias_port(op, port))) return;
      auto observer = with_error_context(op.describe(), [&] {
        return make_observer(config->observer_algorithm, *config, ctx.setting.observer);
      });
      passes = std::max(passes, observer->passes());
      points[&op].push_back({config, port, is_output, std::move(observer)});
    };
    for (size_t i = 0; i < op.num_inputs(); ++i) consider(input_config(op, i), i, false);
    for (size_t o = 0; o < op.num_outputs(); ++o) consider(output_config(op, o), o, true);
  }
  if (points.empty()) return;

  Executor executor(graph, ExecutorOptions{ctx.setting.threads});
  attach_fake_quantization(executor, graph);
  int current_pass = 0;
  for (auto& [op, list] : points) {
    executor.add_before_hook(op, [&list, &current_pass](const Operation&, const std::vector<const Tensor*>& inputs) {
      for (ObservationPoint& p : list)
        if (!p.is_output && p.port < inputs.size() && inputs[p.port]) p.observer->observe(*inputs[p.port], current_pass);
    });
    executor.add_after_hook(op, [&list, &current_pass](const Operation&, const std::vector<const Tensor*>& outputs) {
      for (ObservationPoint& p : list)
        if (p.is_output && p.port < outputs.size() && outputs[p.port])
          p.observer->observe(*outputs[p.port], current_pass);
    });
  }

  const size_t batch = static_cast<size_t>(std::max(ctx.setting.calib_batch, 1));
  const size_t wanted = static_cast<size_t>(std::max(ctx.setting.calib_steps, 1)) * batch;
  const size_t total = std::min(wanted, ctx.data->size());
  if (total == 0) fail(ErrorKind::Argument, "calibration data is empty ({})", ctx.data->describe());
  const auto start = std::chrono::steady_clock::now();
  int64_t used = 0, skipped = 0;
  ProgressBar progress("calibrating", static_cast<int64_t>(passes * ((total + batch - 1) / batch)), ctx.setting.progress);
  for (current_pass = 0; current_pass < passes; ++current_pass) {
    for (size_t begin = 0; begin < total; begin += batch) {
      const size_t end = std::min(total, begin + batch);
      Batch samples = collate(*ctx.data, begin, end);
      progress.advance();
      if (!all_finite(samples)) {
        if (current_pass == 0) skipped += static_cast<int64_t>(end - begin);
        continue;
      }
      if (current_pass == 0) used += static_cast<int64_t>(end - begin);
      executor.run(samples);
    }
  }
  progress.finish();
  if (used == 0) fail(ErrorKind::Argument, "every calibration sample holds NaN or Inf ({})", ctx.data->describe());
  for (auto& [op, list] : points)
    for (ObservationPoint& p : list)
      with_error_context(op->describe(), [&] { p.observer->render(*p.config); });
  if (ctx.report) {
    ctx.report->samples = used;
    ctx.report->skipped_samples = skipped;
    ctx.report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
}

}  // namespace qforge
