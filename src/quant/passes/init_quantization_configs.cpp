// SPDX-License-Identifier: Apache-2.0
// Builds one OperationQuantizationConfig per dispatched op from the platform table and the op's
// sockets: data ports get the activation scheme, weights the weight scheme (per-channel on the
// op's output-channel axis), biases the platform's bias mode, SOI ports stay FP32.
#include "qforge/op_sockets.h"
#include "quant_passes.h"

namespace qforge {

namespace {

std::unique_ptr<TensorQuantizationConfig> fp32_config() {
  auto c = std::make_unique<TensorQuantizationConfig>();
  c->state = QuantizationState::FP32;
  return c;
}

bool is_float(const Variable* var) {
  if (!var) return false;
  if (var->is_parameter()) return var->value.dtype() == DataType::Float;
  return var->dtype == DataType::Float || var->dtype == DataType::Undefined;
}

std::unique_ptr<TensorQuantizationConfig> bias_config(const PassContext& ctx) {
  if (ctx.platform.bias == BiasMode::FP32) return fp32_config();
  auto c = std::make_unique<TensorQuantizationConfig>();
  c->policy.symmetric = true;
  c->policy.per_channel = true;
  c->num_bits = 32;
  c->quant_min = -(int64_t{1} << 31) + 1;  // symmetric int32 range
  c->quant_max = (int64_t{1} << 31) - 1;
  c->rounding = ctx.platform.weight.rounding;
  c->state = QuantizationState::PassiveInit;
  return c;
}

}  // namespace

void init_quantization_configs(Graph& graph, const PassContext& ctx) {
  for (const auto& owned : graph.operations()) {
    Operation& op = *owned;
    op.quant_config.reset();
    if (op.platform != ctx.platform.name) continue;
    const bool quantized_type = ctx.platform.quantizes(op.type) || ctx.platform.is_passive(op.type);
    if (!quantized_type) continue;
    auto config = std::make_shared<OperationQuantizationConfig>();
    const OpSocket socket = op_socket(op);
    for (size_t i = 0; i < op.num_inputs(); ++i) {
      const Variable* var = op.input(i);
      std::unique_ptr<TensorQuantizationConfig> tqc;
      if (!is_float(var) || socket.inputs[i] == PortRole::SOI) {
        tqc = fp32_config();
      } else if (is_weight_port(op, i)) {
        tqc = std::make_unique<TensorQuantizationConfig>(ctx.platform.weight.make_config());
        tqc->channel_axis = weight_channel_axis(op, ctx.platform, var->value);
        if (tqc->policy.per_channel && var->value.rank() == 0) tqc->policy.per_channel = false;
      } else if (is_bias_port(op, i)) {
        tqc = bias_config(ctx);
      } else if (var->is_parameter() && is_input_scaled_port(op, i)) {
        // Clip bounds, a Pad's constant value: passive, they take the input's scale later.
        tqc = std::make_unique<TensorQuantizationConfig>(ctx.platform.activation.make_config());
        tqc->state = QuantizationState::PassiveInit;
      } else if (var->is_parameter() && socket.inputs[i] == PortRole::Parameter) {
        tqc = fp32_config();  // BN statistics, PRelu slopes: kept in float
      } else {
        tqc = std::make_unique<TensorQuantizationConfig>(ctx.platform.activation.make_config());
        if (!ctx.setting.activation_observer.empty())
          tqc->observer_algorithm = ctx.setting.activation_observer;
      }
      config->input_configs.push_back(std::move(tqc));
    }
    for (size_t o = 0; o < op.num_outputs(); ++o) {
      const Variable* var = op.output(o);
      std::unique_ptr<TensorQuantizationConfig> tqc;
      if (ctx.platform.quantize_outputs && var && is_float(var) &&
          socket.outputs[o] == PortRole::Data) {
        tqc = std::make_unique<TensorQuantizationConfig>(ctx.platform.activation.make_config());
        if (!ctx.setting.activation_observer.empty())
          tqc->observer_algorithm = ctx.setting.activation_observer;
      } else {
        tqc = fp32_config();
      }
      config->output_configs.push_back(std::move(tqc));
    }
    op.quant_config = std::move(config);
  }
}

}  // namespace qforge
