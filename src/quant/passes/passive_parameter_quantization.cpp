// SPDX-License-Identifier: Apache-2.0
// Passive parameters: a bias in int32 takes s_bias[c] = s_input * s_weight[c] and zero offset,
// as integer engines compute it (QLinearConv, TensorRT with int32 bias).
#include "quant_passes.h"

namespace qforge {

void passive_parameter_quantization(Graph& graph, const PassContext&) {
  for (const auto& owned : graph.operations()) {
    const Operation& op = *owned;
    TensorQuantizationConfig* bias = input_config(op, 2);
    if (!bias || bias->state != QuantizationState::PassiveInit || !is_bias_port(op, 2)) continue;
    const TensorQuantizationConfig* in = input_config(op, 0);
    const TensorQuantizationConfig* weight = input_config(op, 1);
    if (!in || !weight || !in->is_active() || !weight->is_active() || in->effective_scale().numel() != 1) {
      bias->state = QuantizationState::FP32;  // no integer path without both scales
      continue;
    }
    const float s_in = in->effective_scale().data<float>()[0];
    const Tensor& s_w = weight->effective_scale();
    const int64_t channels = op.input(2)->value.numel();
    if (s_w.numel() != 1 && s_w.numel() != channels) {
      bias->state = QuantizationState::FP32;
      continue;
    }
    Tensor scale(DataType::Float, {channels});
    for (int64_t c = 0; c < channels; ++c)
      scale.data<float>()[c] = s_in * s_w.data<float>()[s_w.numel() == 1 ? 0 : c];
    bias->scale = scale;
    bias->offset = Tensor(DataType::Float, {channels});
    bias->channel_axis = 0;
    bias->state = QuantizationState::Passive;
  }
}

}  // namespace qforge
