// SPDX-License-Identifier: Apache-2.0
// PPQ's graphwise_error_analyse and layerwise_error_analyse (qforge/error_analysis.h) on the
// Executor: an FP32 reference executor (baked parameters read back as Variable::fp32_value) and
// a simulating one (attach_fake_quantization), compared through after-hooks one batch at a time.
// Tested in tests/analysis/test_error_analysis.cpp; the CLI's `quantize --analyse` prints it.
#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "qforge/error_analysis.h"
#include "qforge/executor.h"
#include "qforge/progress.h"
#include "qforge/quantizer.h"

namespace qforge {

namespace {

// PPQ's COMPUTING_OP: the ops with weights whose outputs PPQ reports.
bool is_computing(const Operation& op) {
  return op.type == "Conv" || op.type == "ConvTranspose" || op.type == "Gemm" ||
         op.type == "MatMul";
}

bool has_active_port(const Operation& op) {
  if (!op.quant_config) return false;
  for (const auto* list : {&op.quant_config->input_configs, &op.quant_config->output_configs})
    for (const auto& config : *list)
      if (config && config->is_active()) return true;
  return false;
}

std::vector<const Operation*> select_ops(const Graph& graph, AnalysedOps which) {
  const bool quantized = std::any_of(graph.operations().begin(), graph.operations().end(),
                                     [](const auto& op) { return has_active_port(*op); });
  if (!quantized)
    fail(ErrorKind::Argument,
         "error analysis needs a quantized graph, and no op of graph '{}' has an active "
         "quantization config (dispatch and quantize it first)",
         graph.name);
  std::vector<const Operation*> ops;
  for (const auto& op : graph.operations()) {
    const bool take = which == AnalysedOps::All ||
                      (which == AnalysedOps::Quantized && has_active_port(*op)) ||
                      (which == AnalysedOps::Computing && op->quant_config && is_computing(*op));
    if (take) ops.push_back(op.get());
  }
  if (ops.empty())
    fail(ErrorKind::Argument,
         "graph '{}' has no quantized computing op (Conv, ConvTranspose, Gemm, MatMul) to "
         "analyse; analyse the quantized ops instead (CLI: --analyse-ops quantized)",
         graph.name);
  return ops;
}

// Makes `executor` read each baked parameter's FP32 value instead of its baked one, on every op
// but `except`. Returns how many baked parameters have no FP32 value to read.
int64_t attach_fp32_parameters(Executor& executor, const Graph& graph, const Operation* except) {
  int64_t missing = 0;
  for (const auto& op : graph.operations()) {
    if (op.get() == except || !op->quant_config) continue;
    const auto& configs = op->quant_config->input_configs;
    for (size_t i = 0; i < op->num_inputs() && i < configs.size(); ++i) {
      const Variable* var = op->input(i);
      const QuantizationState state = configs[i]->state;
      if (!var || !var->is_parameter()) continue;
      if (state != QuantizationState::Baked && state != QuantizationState::PassiveBaked) continue;
      if (!var->fp32_value().defined()) {
        ++missing;
        continue;
      }
      executor.set_input_delegate(op.get(), i,
                                  [value = var->fp32_value()](const Tensor&) { return value; });
    }
  }
  return missing;
}

struct BatchPlan {
  size_t batch, total, batches;
};

BatchPlan plan_batches(const CalibrationDataset& data, const ErrorAnalysisOptions& options) {
  if (data.size() == 0)
    fail(ErrorKind::Argument, "error analysis data is empty ({})", data.describe());
  const size_t batch = static_cast<size_t>(std::max(options.batch, 1));
  const size_t total =
      std::min(static_cast<size_t>(std::max(options.steps, 1)) * batch, data.size());
  return {batch, total, (total + batch - 1) / batch};
}

// Calls `visit` on each batch; batches holding NaN/Inf are skipped and counted, as runtime
// calibration does. `units` is the progress made by one batch.
template <typename Visit>
void for_each_batch(CalibrationDataset& data, const BatchPlan& plan, ErrorAnalysis& result,
                    ProgressBar& progress, int64_t units, Visit&& visit) {
  for (size_t begin = 0; begin < plan.total; begin += plan.batch) {
    const size_t end = std::min(plan.total, begin + plan.batch);
    const Batch batch = collate(data, begin, end);
    if (batch_is_finite(batch)) {
      visit(batch);
      result.samples += static_cast<int64_t>(end - begin);
    } else {
      result.skipped_samples += static_cast<int64_t>(end - begin);
    }
    progress.advance(units);
  }
  progress.finish();
  if (result.samples == 0)
    fail(ErrorKind::Argument, "every error analysis sample holds NaN or Inf ({})", data.describe());
}

// One row per analysed op, and the executor's schedule (a topological order) to sort them by.
struct Rows {
  std::vector<const Operation*> ops;
  std::unordered_map<const Operation*, size_t> index;
  std::unordered_map<const Operation*, size_t> position;  // filled by record() on the first run

  explicit Rows(std::vector<const Operation*> selected, ErrorAnalysis& result)
      : ops(std::move(selected)) {
    for (const Operation* op : ops) {
      index[op] = result.ops.size();
      result.ops.push_back({op->name, op->type, {}});
    }
  }
  void record(const Operation& op) { position.emplace(&op, position.size()); }
  // Rows of ops that never ran (not needed for the graph outputs) go last.
  void sort(ErrorAnalysis& result) const {
    std::vector<size_t> order(ops.size());
    for (size_t r = 0; r < order.size(); ++r) order[r] = r;
    auto key = [&](size_t r) {
      auto it = position.find(ops[r]);
      return it == position.end() ? position.size() + r : it->second;
    };
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return key(a) < key(b); });
    std::vector<LayerError> sorted;
    for (size_t r : order) sorted.push_back(std::move(result.ops[r]));
    result.ops = std::move(sorted);
  }
};

void add_outputs(ErrorStats& stats, const std::vector<Tensor>& quantized,
                 const std::vector<Tensor>& reference) {
  for (size_t k = 0; k < reference.size() && k < quantized.size(); ++k)
    stats.add(quantized[k], reference[k]);
}

}  // namespace

ErrorAnalysis graphwise_error_analyse(const Graph& graph, CalibrationDataset& data,
                                      const ErrorAnalysisOptions& options) {
  ErrorAnalysis result;
  result.method = "graphwise";
  Rows rows(select_ops(graph, options.ops), result);
  for (const Variable* out : graph.outputs())
    result.outputs.push_back({out->name, out->producer() ? out->producer()->type : "input", {}});
  const BatchPlan plan = plan_batches(data, options);

  Executor reference(graph, ExecutorOptions{options.threads});
  result.baked_without_fp32_value = attach_fp32_parameters(reference, graph, nullptr);
  Executor simulated(graph, ExecutorOptions{options.threads});
  attach_fake_quantization(simulated, graph);
  // The FP32 outputs of the analysed ops for the current batch only, released as soon as the
  // simulated run has compared them: memory never grows with the number of samples.
  std::vector<std::vector<Tensor>> held(rows.ops.size());
  reference.add_after_hook(nullptr,
                           [&](const Operation& op, const std::vector<const Tensor*>& outputs) {
                             rows.record(op);
                             auto it = rows.index.find(&op);
                             if (it == rows.index.end()) return;
                             std::vector<Tensor>& keep = held[it->second];
                             keep.clear();
                             for (const Tensor* t : outputs) keep.push_back(t ? *t : Tensor());
                           });
  simulated.add_after_hook(nullptr,
                           [&](const Operation& op, const std::vector<const Tensor*>& outputs) {
                             auto it = rows.index.find(&op);
                             if (it == rows.index.end()) return;
                             std::vector<Tensor>& keep = held[it->second];
                             for (size_t o = 0; o < outputs.size() && o < keep.size(); ++o)
                               if (outputs[o] && keep[o].defined())
                                 result.ops[it->second].stats.add(*outputs[o], keep[o]);
                             keep.clear();
                           });

  ProgressBar progress("graphwise error analysis", static_cast<int64_t>(plan.batches),
                       options.progress);
  for_each_batch(data, plan, result, progress, 1, [&](const Batch& batch) {
    const std::vector<Tensor> fp32 = reference.run(batch);
    const std::vector<Tensor> quantized = simulated.run(batch);
    for (size_t k = 0; k < result.outputs.size() && k < fp32.size(); ++k)
      result.outputs[k].stats.add(quantized[k], fp32[k]);
  });
  rows.sort(result);
  return result;
}

ErrorAnalysis layerwise_error_analyse(const Graph& graph, CalibrationDataset& data,
                                      const ErrorAnalysisOptions& options) {
  ErrorAnalysis result;
  result.method = "layerwise";
  Rows rows(select_ops(graph, options.ops), result);
  const BatchPlan plan = plan_batches(data, options);

  Executor reference(graph, ExecutorOptions{options.threads});
  result.baked_without_fp32_value = attach_fp32_parameters(reference, graph, nullptr);
  reference.add_after_hook(
      nullptr, [&](const Operation& op, const std::vector<const Tensor*>&) { rows.record(op); });
  Executor single(graph, ExecutorOptions{options.threads});

  const int64_t units = static_cast<int64_t>(rows.ops.size()) + 1;
  ProgressBar progress("layerwise error analysis", static_cast<int64_t>(plan.batches) * units,
                       options.progress);
  // Batches outside, ops inside: the FP32 outputs of a batch are computed once for all ops.
  for_each_batch(data, plan, result, progress, units, [&](const Batch& batch) {
    const std::vector<Tensor> fp32 = reference.run(batch);
    for (size_t r = 0; r < rows.ops.size(); ++r) {
      const Operation* target = rows.ops[r];
      ErrorStats& stats = result.ops[r].stats;
      if (!has_active_port(*target)) {  // quantizes nothing: exactly the FP32 outputs
        add_outputs(stats, fp32, fp32);
        continue;
      }
      single.clear_delegates();
      attach_fp32_parameters(single, graph, target);
      attach_fake_quantization(single, graph,
                               [target](const Operation& op) { return &op == target; });
      add_outputs(stats, single.run(batch), fp32);
    }
  });
  rows.sort(result);
  return result;
}

}  // namespace qforge
