// SPDX-License-Identifier: Apache-2.0
// Passive parameters: a bias in int32 takes s_bias[c] = s_input * s_weight[c] and zero offset,
// as integer engines compute it (QLinearConv, TensorRT with int32 bias). Clip's bounds and a
// constant Pad's value take the input's scale and offset: engines clamp and pad in the input's
// integer domain, so the bounds are values of that grid.
#include "quant_passes.h"

namespace qforge {

namespace {
void quantize_with_input_scale(const Operation& op) {
  const TensorQuantizationConfig* in = input_config(op, 0);
  for (size_t i = 1; i < op.num_inputs(); ++i) {
    TensorQuantizationConfig* c = input_config(op, i);
    if (!c || c->state != QuantizationState::PassiveInit || !is_input_scaled_port(op, i)) continue;
    if (!in || !in->is_active()) {
      c->state = QuantizationState::FP32;  // e.g. a Clip fused into its Conv: a float clamp
      continue;
    }
    const TensorQuantizationConfig& e = in->effective();
    c->policy = e.policy;
    c->num_bits = e.num_bits;
    c->quant_min = e.quant_min;
    c->quant_max = e.quant_max;
    c->rounding = e.rounding;
    c->scale = e.scale.clone();
    c->offset = e.offset.clone();
    c->state = QuantizationState::Passive;
  }
}
}  // namespace

void passive_parameter_quantization(Graph& graph, const PassContext&) {
  for (const auto& owned : graph.operations()) {
    const Operation& op = *owned;
    if (op.type == "Clip" || op.type == "Pad") {
      quantize_with_input_scale(op);
      continue;
    }
    TensorQuantizationConfig* bias = input_config(op, 2);
    if (!bias || bias->state != QuantizationState::PassiveInit || !is_bias_port(op, 2)) continue;
    const TensorQuantizationConfig* in = input_config(op, 0);
    const TensorQuantizationConfig* weight = input_config(op, 1);
    if (!in || !weight || !in->is_active() || !weight->is_active() ||
        in->effective_scale().numel() != 1) {
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
