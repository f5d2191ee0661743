// SPDX-License-Identifier: Apache-2.0
// One quantizer per edge: consumers' input configs on a variable merge into the producer's
// output config (or, without one, into the first consumer's), so the exported model has one
// Q/DQ pair per tensor and the simulation quantizes it once.
#include "quant_passes.h"

namespace qforge {

void quantize_simplify(Graph& graph, const PassContext&) {
  for (const auto& var : graph.variables()) {
    if (var->is_parameter()) continue;
    TensorQuantizationConfig* anchor = nullptr;
    if (Operation* producer = var->producer())
      for (size_t o = 0; o < producer->num_outputs(); ++o)
        if (producer->output(o) == var.get() && is_quantizable(output_config(*producer, o)))
          anchor = output_config(*producer, o);
    for (Operation* consumer : var->consumers())
      for (size_t i = 0; i < consumer->num_inputs(); ++i) {
        if (consumer->input(i) != var.get()) continue;
        TensorQuantizationConfig* in = input_config(*consumer, i);
        if (!is_quantizable(in)) continue;
        if (!anchor) anchor = in;
        else if (in != anchor) in->dominated_by(anchor);
      }
  }
}

}  // namespace qforge
