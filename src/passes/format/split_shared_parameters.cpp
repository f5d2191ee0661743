// SPDX-License-Identifier: Apache-2.0
// Pass split_shared_parameters: a parameter read by several ops gets its own copy per op, since
// quantization later gives each op's weight its own scale (and may rewrite it). Listed in
// format_graph.cpp; tested in tests/passes/test_format_split_shared_parameters.cpp.
#include <algorithm>

#include "format_passes.h"
#include "format_util.h"

namespace qforge {

namespace {

void split_in(Graph& graph) {
  std::vector<Variable*> shared;
  for (Variable* v : graph.parameters()) {
    if (graph.is_graph_input(v)) continue;  // a fed input is one value by definition
    const auto& readers = v->consumers();
    if (std::any_of(readers.begin(), readers.end(),
                    [&](const Operation* op) { return op != readers.front(); }))
      shared.push_back(v);
  }
  for (Variable* param : shared) {
    // The first reader keeps the original (and its name, which graph outputs and subgraphs
    // may use); each other op gets a copy, read at every port where it read the original.
    std::vector<Operation*> readers;
    for (Operation* op : param->consumers())
      if (std::find(readers.begin(), readers.end(), op) == readers.end()) readers.push_back(op);
    for (size_t r = 1; r < readers.size(); ++r) {
      Operation* op = readers[r];
      Variable* copy = format::create_parameter(graph, param->name, param->value.clone());
      copy->set_doc_string(param->doc_string());
      for (size_t i = 0; i < op->num_inputs(); ++i)
        if (op->input(i) == param) graph.set_input(op, i, copy);
    }
  }
}

}  // namespace

void split_shared_parameters(Graph& graph) {
  format::for_each_graph(graph, split_in);
}

}  // namespace qforge
