// SPDX-License-Identifier: Apache-2.0
// Runtime calibration: runs the graph on calibration batches (weights already fake-quantized,
// as PPQ does) and feeds every uncalibrated activation config's observer through executor
// hooks. Two-pass observers (histograms) get a second sweep. Samples holding NaN/Inf are
// skipped and counted. Memory stays flat: observers keep fixed-size state.
// calib_batch samples are stacked along axis 0 into one executor run; a model input with a
// fixed first dimension, or a model that fails on the first stacked batch, runs one sample at a
// time, and the report says why. Listed in quantizer.cpp; tested in
// tests/quant/test_quantizer.cpp (Quantizer.*Batch*).
#include <chrono>
#include <cmath>
#include <cstdio>
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
using Points = std::map<const Operation*, std::vector<ObservationPoint>>;

// An observer for every activation config still to calibrate; `passes` gets the most any needs.
Points make_observation_points(const Graph& graph, const PassContext& ctx, int* passes) {
  Points points;
  for (const auto& owned : graph.operations()) {
    const Operation& op = *owned;
    auto consider = [&](TensorQuantizationConfig* config, size_t port, bool is_output) {
      if (!config || config->state != QuantizationState::Initial || config->dominator() != config)
        return;
      if (!is_output && (is_weight_port(op, port) || is_bias_port(op, port))) return;
      auto observer = with_error_context(op.describe(), [&] {
        return make_observer(config->observer_algorithm, *config, ctx.setting.observer);
      });
      *passes = std::max(*passes, observer->passes());
      points[&op].push_back({config, port, is_output, std::move(observer)});
    };
    for (size_t i = 0; i < op.num_inputs(); ++i) consider(input_config(op, i), i, false);
    for (size_t o = 0; o < op.num_outputs(); ++o) consider(output_config(op, o), o, true);
  }
  return points;
}

void add_observer_hooks(Executor& executor, Points& points, const int& current_pass) {
  for (auto& [op, list] : points) {
    executor.add_before_hook(
        op, [&list, &current_pass](const Operation&, const std::vector<const Tensor*>& inputs) {
          for (ObservationPoint& p : list)
            if (!p.is_output && p.port < inputs.size() && inputs[p.port])
              p.observer->observe(*inputs[p.port], current_pass);
        });
    executor.add_after_hook(
        op, [&list, &current_pass](const Operation&, const std::vector<const Tensor*>& outputs) {
          for (ObservationPoint& p : list)
            if (p.is_output && p.port < outputs.size() && outputs[p.port])
              p.observer->observe(*outputs[p.port], current_pass);
        });
  }
}

// Weights are quantized but not baked yet: the simulation would fake-quantize every weight again
// on every run, a cost per run that dominated calibration one sample at a time (mobilenet_v2:
// 15%). Each is quantized once here and reused.
void reuse_quantized_parameters(Executor& executor, const Graph& graph) {
  for (const auto& owned : graph.operations()) {
    const Operation& op = *owned;
    for (size_t i = 0; i < op.num_inputs(); ++i) {
      const TensorQuantizationConfig* config = input_config(op, i);
      const Variable* var = op.input(i);
      if (!config || !var || !var->is_parameter() || !config->is_active()) continue;
      if (config->state == QuantizationState::Baked ||
          config->state == QuantizationState::PassiveBaked || var->value.dtype() != DataType::Float)
        continue;
      Tensor quantized = fake_quantize(var->value, *config);
      executor.set_input_delegate(&op, i, [quantized](const Tensor&) { return quantized; });
    }
  }
}

// Stacking samples needs a free first dimension on every model input: a fixed one (often 1) or
// a scalar input takes one sample per run. Returns the reason, "" when stacking is possible.
std::string fixed_batch_reason(const Graph& graph) {
  for (const Variable* in : graph.inputs()) {
    if (in->is_parameter() || !in->shape) continue;
    if (in->shape->empty()) return fmt::format("input '{}' is a scalar", in->name);
    if (in->shape->front().is_static())
      return fmt::format("input '{}' has a fixed first dimension ({})", in->name,
                         dims_to_string(*in->shape));
  }
  return "";
}

struct SweepResult {
  int64_t used = 0, skipped = 0, runs = 0;
};

// Runs samples [begin, end) stacked; a stack holding NaN/Inf runs its samples one by one so
// that only the bad ones are skipped.
void run_samples(Executor& executor, CalibrationDataset& data, size_t begin, size_t end,
                 bool first_pass, SweepResult& r) {
  Batch samples = collate(data, begin, end);
  if (!batch_is_finite(samples)) {
    if (end - begin > 1) {
      for (size_t i = begin; i < end; ++i) run_samples(executor, data, i, i + 1, first_pass, r);
      return;
    }
    if (first_pass) ++r.skipped;
    return;
  }
  if (first_pass) r.used += static_cast<int64_t>(end - begin);
  executor.run(samples);
  ++r.runs;
}

// All passes over samples [0, total), `batch` samples per run; `r` counts as it goes.
void sweep(Graph& graph, const PassContext& ctx, size_t total, size_t batch, SweepResult& r) {
  int passes = 1;
  Points points = make_observation_points(graph, ctx, &passes);
  if (points.empty()) return;
  Executor executor(graph, ExecutorOptions{ctx.setting.threads});
  attach_fake_quantization(executor, graph);
  reuse_quantized_parameters(executor, graph);
  int current_pass = 0;
  add_observer_hooks(executor, points, current_pass);
  ProgressBar progress("calibrating", static_cast<int64_t>(passes * ((total + batch - 1) / batch)),
                       ctx.setting.progress);
  for (current_pass = 0; current_pass < passes; ++current_pass) {
    for (size_t begin = 0; begin < total; begin += batch) {
      run_samples(executor, *ctx.data, begin, std::min(total, begin + batch), current_pass == 0, r);
      progress.advance();
    }
  }
  progress.finish();
  if (r.used == 0)
    fail(ErrorKind::Argument, "every calibration sample holds NaN or Inf ({})",
         ctx.data->describe());
  for (auto& [op, list] : points)
    for (ObservationPoint& p : list)
      with_error_context(op->describe(), [&] { p.observer->render(*p.config); });
}

}  // namespace

void runtime_calibration(Graph& graph, const PassContext& ctx) {
  if (!ctx.data) fail(ErrorKind::Argument, "activation calibration needs calibration data");
  size_t batch = static_cast<size_t>(std::max(ctx.setting.calib_batch, 1));
  const size_t wanted = static_cast<size_t>(std::max(ctx.setting.calib_steps, 1)) * batch;
  const size_t total = std::min(wanted, ctx.data->size());
  if (total == 0) fail(ErrorKind::Argument, "calibration data is empty ({})", ctx.data->describe());
  std::string note;
  if (batch > 1) {
    if (const std::string why = fixed_batch_reason(graph); !why.empty()) {
      note = fmt::format("calib_batch {} not used: {}, so samples run one at a time", batch, why);
      batch = 1;
    }
  }
  const auto start = std::chrono::steady_clock::now();
  SweepResult r;
  try {
    sweep(graph, ctx, total, batch, r);
  } catch (const Error& e) {
    // A model may assume one sample inside (a Reshape to [1, -1]) although its inputs look free:
    // when the first stacked run fails, calibration restarts one sample at a time with fresh
    // observers (nothing from the failed run counts). Later failures are real.
    if (batch == 1 || r.runs > 0) throw;
    note = fmt::format(
        "calib_batch {} not used: a stacked batch failed ({}), so samples run one at a time", batch,
        e.what());
    batch = 1;
    r = SweepResult{};
    sweep(graph, ctx, total, batch, r);
  }
  if (!note.empty() && ctx.setting.progress) std::fprintf(stderr, "note: %s\n", note.c_str());
  if (ctx.report) {
    ctx.report->samples = r.used;
    ctx.report->skipped_samples = r.skipped;
    ctx.report->batch = static_cast<int64_t>(batch);
    ctx.report->runs = r.runs;
    ctx.report->note = note;
    ctx.report->seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
}

}  // namespace qforge
