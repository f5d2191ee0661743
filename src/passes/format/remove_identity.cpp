// SPDX-License-Identifier: Apache-2.0
// Pass remove_identity: Identity and inference-mode Dropout are bypassed (graph outputs keep their
// names). Listed in format_graph.cpp; tested in tests/passes/test_format_remove_identity.cpp.
#include "format_passes.h"
#include "format_util.h"

namespace qforge {

namespace {

bool is_standard(const Operation& op) {
  return op.domain.empty() || op.domain == "ai.onnx";
}

// Dropout computes Identity unless it trains: training_mode (opset 12+) or is_test=0 (opset < 7).
bool is_inference_dropout(const Operation& op, const format::NameSet& subgraph_reads) {
  if (op.opset < 7 && op.attr_int("is_test", 0) == 0) return false;
  if (const Variable* training = op.input(2)) {
    if (!format::is_constant(training) || training->value.numel() != 1 ||
        training->value.dtype() == DataType::String || training->value.value_as_double(0) != 0.0)
      return false;
  }
  // The mask output must be unused: without the op nobody would produce it.
  if (const Variable* mask = op.output(1))
    if (!mask->consumers().empty() || mask->graph()->is_graph_output(mask) ||
        subgraph_reads.count(mask->name))
      return false;
  return op.num_outputs() <= 2;
}

void remove_in(Graph& graph) {
  const format::NameSet subgraph_reads = format::names_read_by_subgraphs(graph);
  std::vector<Operation*> candidates;
  for (const auto& op : graph.operations()) {
    if (!is_standard(*op) || !op->input(0) || !op->output(0)) continue;
    if ((op->type == "Identity" && op->num_inputs() == 1 && op->num_outputs() == 1) ||
        (op->type == "Dropout" && is_inference_dropout(*op, subgraph_reads)))
      candidates.push_back(op.get());
  }
  for (Operation* op : candidates) {
    Variable* in = op->input(0);
    Variable* out = op->output(0);
    // Subgraphs read outer values by name: a name they read must survive unchanged. bypass
    // renames `in` when `out` is a graph output.
    if (subgraph_reads.count(out->name)) continue;
    if (graph.is_graph_output(out) && subgraph_reads.count(in->name)) continue;
    Variable* mask = op->output(1);
    if (graph.bypass_operation(op)) format::remove_if_unused(graph, mask);
  }
}

}  // namespace

void remove_identity(Graph& graph) {
  format::for_each_graph(graph, remove_in);
}

}  // namespace qforge
