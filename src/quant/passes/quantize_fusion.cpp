// SPDX-License-Identifier: Apache-2.0
// Fusion as the engines do it: a Conv/ConvTranspose/Gemm/MatMul followed only by a fusible
// activation keeps the edge between them in float (engines fuse the pair and quantize after the
// activation); "Swish" in a platform's list names the pattern x * Sigmoid(x), which stays in
// float up to the Mul's output. Passive ops (MaxPool, Reshape, ...) share their input's scale.
#include <optional>

#include "quant_passes.h"

namespace qforge {

namespace {
bool is_computing(const std::string& type) {
  return type == "Conv" || type == "ConvTranspose" || type == "Gemm" || type == "MatMul";
}

// `out` feeds exactly a Sigmoid and a Mul(out, Sigmoid(out)) whose Sigmoid output feeds only
// that Mul (and is no graph output), both quantized ops: the pair is a Swish. Returns the Sigmoid
// and the Mul.
std::optional<std::pair<Operation*, Operation*>> swish_after(const Graph& graph,
                                                             const Variable* out) {
  if (out->consumers().size() != 2) return std::nullopt;
  Operation* sigmoid = out->consumers()[0];
  Operation* mul = out->consumers()[1];
  if (sigmoid->type != "Sigmoid") std::swap(sigmoid, mul);
  if (sigmoid->type != "Sigmoid" || mul->type != "Mul" || !sigmoid->quant_config ||
      !mul->quant_config || sigmoid->input(0) != out || mul->num_inputs() != 2)
    return std::nullopt;
  const Variable* gate = sigmoid->output(0);
  if (!gate || graph.is_graph_output(gate) || gate->consumers().size() != 1 ||
      gate->consumers()[0] != mul)
    return std::nullopt;
  const bool operands = (mul->input(0) == out && mul->input(1) == gate) ||
                        (mul->input(0) == gate && mul->input(1) == out);
  if (!operands) return std::nullopt;
  return std::make_pair(sigmoid, mul);
}

void keep_swish_in_float(Operation& op, Operation& sigmoid, Operation& mul) {
  output_config(op, 0)->state = QuantizationState::FP32;
  input_config(sigmoid, 0)->state = QuantizationState::FP32;
  output_config(sigmoid, 0)->state = QuantizationState::FP32;
  input_config(mul, 0)->state = QuantizationState::FP32;
  input_config(mul, 1)->state = QuantizationState::FP32;
}
}  // namespace

void quantize_fusion(Graph& graph, const PassContext& ctx) {
  const auto& fusible = ctx.platform.fusible_activations;
  for (const auto& owned : graph.operations()) {
    Operation& op = *owned;
    if (!op.quant_config || !is_computing(op.type) || op.num_outputs() != 1 || !op.output(0))
      continue;
    const Variable* out = op.output(0);
    if (graph.is_graph_output(out)) continue;
    if (std::find(fusible.begin(), fusible.end(), "Swish") != fusible.end())
      if (const auto swish = swish_after(graph, out)) {
        keep_swish_in_float(op, *swish->first, *swish->second);
        continue;
      }
    if (out->consumers().size() != 1) continue;
    Operation& act = *out->consumers()[0];
    if (!act.quant_config || std::find(fusible.begin(), fusible.end(), act.type) == fusible.end())
      continue;
    if (act.input(0) != out) continue;
    output_config(op, 0)->state = QuantizationState::FP32;
    input_config(act, 0)->state = QuantizationState::FP32;
  }
  for (const auto& owned : graph.operations()) {
    Operation& op = *owned;
    if (!op.quant_config || !ctx.platform.is_passive(op.type)) continue;
    TensorQuantizationConfig* in = input_config(op, 0);
    if (!is_quantizable(in)) continue;
    for (size_t o = 0; o < op.num_outputs(); ++o)
      if (TensorQuantizationConfig* out = output_config(op, o); is_quantizable(out))
        out->dominated_by(in);
  }
}

}  // namespace qforge
