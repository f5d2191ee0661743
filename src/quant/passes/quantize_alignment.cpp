// SPDX-License-Identifier: Apache-2.0
// Scale alignment from the platform's rules: "output" makes every data input share the
// output's scale (Concat); "max" makes the inputs share the largest input scale (Add on DSPs).
#include "quant_passes.h"

namespace qforge {

void quantize_alignment(Graph& graph, const PassContext& ctx) {
  for (const auto& owned : graph.operations()) {
    const Operation& op = *owned;
    auto rule = ctx.platform.alignment.find(op.type);
    if (!op.quant_config || rule == ctx.platform.alignment.end() || rule->second == "none") continue;
    std::vector<TensorQuantizationConfig*> inputs;
    for (size_t i = 0; i < op.num_inputs(); ++i)
      if (TensorQuantizationConfig* in = input_config(op, i); is_quantizable(in) && !op.input(i)->is_parameter())
        inputs.push_back(in);
    if (inputs.empty()) continue;
    TensorQuantizationConfig* target = nullptr;
    if (rule->second == "output") {
      target = output_config(op, 0);
      if (!is_quantizable(target)) continue;
    } else {  // "max": the input whose (per-tensor) scale is largest
      float best = -1;
      for (TensorQuantizationConfig* in : inputs) {
        const Tensor& s = in->effective_scale();
        if (s.defined() && s.numel() == 1 && s.data<float>()[0] > best) {
          best = s.data<float>()[0];
          target = in;
        }
      }
      if (!target) continue;
    }
    for (TensorQuantizationConfig* in : inputs) in->dominated_by(target);
  }
}

}  // namespace qforge
