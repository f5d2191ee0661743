// SPDX-License-Identifier: Apache-2.0
#include "pass_context.h"

namespace qforge {

TensorQuantizationConfig* input_config(const Operation& op, size_t index) {
  if (!op.quant_config || index >= op.quant_config->input_configs.size()) return nullptr;
  return op.quant_config->input_configs[index].get();
}

TensorQuantizationConfig* output_config(const Operation& op, size_t index) {
  if (!op.quant_config || index >= op.quant_config->output_configs.size()) return nullptr;
  return op.quant_config->output_configs[index].get();
}

bool is_quantizable(const TensorQuantizationConfig* config) {
  return config && config->state != QuantizationState::FP32;
}

bool is_weight_port(const Operation& op, size_t index) {
  const bool computing =
      op.type == "Conv" || op.type == "ConvTranspose" || op.type == "Gemm" || op.type == "MatMul";
  return computing && index == 1 && op.input(1) && op.input(1)->is_parameter();
}

bool is_bias_port(const Operation& op, size_t index) {
  const bool with_bias = op.type == "Conv" || op.type == "ConvTranspose" || op.type == "Gemm";
  return with_bias && index == 2 && op.input(2) && op.input(2)->is_parameter();
}

bool is_input_scaled_port(const Operation& op, size_t index) {
  const bool clip_bound = op.type == "Clip" && (index == 1 || index == 2);
  const bool pad_value =
      op.type == "Pad" && index == 2 && op.attr_string("mode", "constant") == "constant";
  return (clip_bound || pad_value) && op.input(index) && op.input(index)->is_parameter();
}

int weight_channel_axis(const Operation& op, const Platform& platform, const Tensor& weight) {
  if (op.type == "Gemm") return op.attr_int("transB", 0) ? 0 : 1;
  if (op.type == "MatMul") return std::max(weight.rank() - 1, 0);
  if (auto it = platform.weight_channel_axis.find(op.type);
      it != platform.weight_channel_axis.end())
    return it->second;
  return platform.weight.channel_axis;
}

}  // namespace qforge
