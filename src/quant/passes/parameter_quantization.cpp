// SPDX-License-Identifier: Apache-2.0
// Weights: min/max per output channel (or per tensor), scale from the platform's weight scheme.
#include "quant_passes.h"
#include "qforge/observer.h"

#include <algorithm>

namespace qforge {

void parameter_quantization(Graph& graph, const PassContext&) {
  for (const auto& owned : graph.operations()) {
    const Operation& op = *owned;
    for (size_t i = 0; i < op.num_inputs(); ++i) {
      TensorQuantizationConfig* config = input_config(op, i);
      if (!config || config->state != QuantizationState::Initial || !is_weight_port(op, i)) continue;
      const Tensor& weight = op.input(i)->value;
      with_error_context(op.describe(), [&] {
        std::vector<float> mins, maxs;
        if (config->policy.per_channel) {
          if (config->channel_axis >= weight.rank())
            fail(ErrorKind::Shape, "weight {} has no channel axis {}", shape_to_string(weight.shape()),
                 config->channel_axis);
          minmax_per_channel(weight, config->channel_axis, &mins, &maxs);
        } else {
          const std::vector<float> values = weight.to_float_vector();
          const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
          mins = {values.empty() ? 0.0f : *lo};
          maxs = {values.empty() ? 0.0f : *hi};
        }
        Tensor scale(DataType::Float, config->policy.per_channel ? Shape{static_cast<int64_t>(mins.size())} : Shape{});
        Tensor offset(DataType::Float, scale.shape());
        for (size_t c = 0; c < mins.size(); ++c)
          compute_scale_offset(mins[c], maxs[c], *config, &scale.data<float>()[c], &offset.data<float>()[c]);
        config->scale = scale;
        config->offset = offset;
        config->state = QuantizationState::Activated;
      });
    }
  }
}

}  // namespace qforge
