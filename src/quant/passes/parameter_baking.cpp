// SPDX-License-Identifier: Apache-2.0
// Baking: parameters are replaced by their fake-quantized values, so simulation no longer
// quantizes them at run time and export can store them as exact integers. The float value is
// kept in Variable::fp32_value (PPQ's stored_value) for error analysis, unless the setting's
// keep_fp32_parameters is off.
#include "quant_passes.h"

namespace qforge {

void parameter_baking(Graph& graph, const PassContext& ctx) {
  for (const auto& owned : graph.operations()) {
    const Operation& op = *owned;
    for (size_t i = 0; i < op.num_inputs(); ++i) {
      TensorQuantizationConfig* config = input_config(op, i);
      Variable* var = op.input(i);
      if (!config || !var || !var->is_parameter() || !config->is_active()) continue;
      const bool baking = config->state == QuantizationState::Activated ||
                          config->state == QuantizationState::Passive;
      if (baking && !var->fp32_value().defined() && ctx.setting.keep_fp32_parameters)
        var->set_fp32_value(var->value);
      if (config->state == QuantizationState::Activated) {
        var->value = fake_quantize(var->value, *config);
        config->state = QuantizationState::Baked;
      } else if (config->state == QuantizationState::Passive) {
        var->value = fake_quantize(var->value, *config);
        config->state = QuantizationState::PassiveBaked;
      }
    }
  }
}

}  // namespace qforge
