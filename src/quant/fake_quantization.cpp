// SPDX-License-Identifier: Apache-2.0
// Simulation: installs an executor quantize delegate on every port whose config is active and
// not baked, so the executor computes what the deployed engine computes on the exported QDQ
// model. A consumer port whose value the producer already quantized with the same config is
// skipped (fake quantization is idempotent, so this only saves time). The filtered form keeps
// this placement, so each quantized tensor belongs to exactly one op (layerwise analysis).
#include "passes/pass_context.h"
#include "qforge/executor.h"

namespace qforge {

namespace {
bool needs_delegate(const TensorQuantizationConfig* config) {
  return config && config->is_active() && config->state != QuantizationState::Baked &&
         config->state != QuantizationState::PassiveBaked;
}
}  // namespace

void attach_fake_quantization(Executor& executor, const Graph& graph) {
  attach_fake_quantization(executor, graph, [](const Operation&) { return true; });
}

void attach_fake_quantization(Executor& executor, const Graph& graph,
                              const std::function<bool(const Operation&)>& only) {
  for (const auto& owned : graph.operations()) {
    const Operation& op = *owned;
    if (!op.quant_config || !only(op)) continue;
    for (size_t o = 0; o < op.num_outputs(); ++o) {
      const TensorQuantizationConfig* config = output_config(op, o);
      if (!needs_delegate(config)) continue;
      executor.set_output_delegate(&op, o, [config](const Tensor& t) {
        return t.dtype() == DataType::Float ? fake_quantize(t, *config) : t;
      });
    }
    for (size_t i = 0; i < op.num_inputs(); ++i) {
      const TensorQuantizationConfig* config = input_config(op, i);
      const Variable* var = op.input(i);
      if (!needs_delegate(config) || !var) continue;
      if (var->is_parameter() && config->state == QuantizationState::Baked) continue;
      if (const Operation* producer = var->producer()) {
        bool done_upstream = false;
        for (size_t o = 0; o < producer->num_outputs(); ++o)
          if (producer->output(o) == var && needs_delegate(output_config(*producer, o)) &&
              &output_config(*producer, o)->effective() == &config->effective())
            done_upstream = true;
        if (done_upstream) continue;
      }
      executor.set_input_delegate(&op, i, [config](const Tensor& t) {
        return t.dtype() == DataType::Float ? fake_quantize(t, *config) : t;
      });
    }
  }
}

}  // namespace qforge
