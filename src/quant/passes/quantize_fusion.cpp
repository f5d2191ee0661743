// SPDX-License-Identifier: Apache-2.0
// Fusion as the engines do it: a Conv/ConvTranspose/Gemm/MatMul followed only by a fusible
// activation keeps the edge between them in float (engines fuse the pair and quantize after the
// activation); passive ops (MaxPool, Reshape, ...) share their input's scale.
#include "quant_passes.h"

namespace qforge {

namespace {
bool is_computing(const std::string& type) {
  return type == "Conv" || type == "ConvTranspose" || type == "Gemm" || type == "MatMul";
}
}  // namespace

void quantize_fusion(Graph& graph, const PassContext& ctx) {
  const auto& fusible = ctx.platform.fusible_activations;
  for (const auto& owned : graph.operations()) {
    Operation& op = *owned;
    if (!op.quant_config || !is_computing(op.type) || op.num_outputs() != 1 || !op.output(0)) continue;
    const Variable* out = op.output(0);
    if (out->consumers().size() != 1 || graph.is_graph_output(out)) continue;
    Operation& act = *out->consumers()[0];
    if (!act.quant_config || std::find(fusible.begin(), fusible.end(), act.type) == fusible.end()) continue;
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
      if (TensorQuantizationConfig* out = output_config(op, o); is_quantizable(out)) out->dominated_by(in);
  }
}

}  // namespace qforge
