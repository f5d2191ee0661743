// SPDX-License-Identifier: Apache-2.0
// Pass remove_dead_ops: ops none of whose outputs reach a graph output are deleted, then
// variables and parameters nobody uses. Subgraphs go first, since what they still read from
// outer scopes keeps outer ops alive. Listed in format_graph.cpp; tested in
// tests/passes/test_format_remove_dead_ops.cpp.
#include <unordered_set>

#include "format_passes.h"
#include "format_util.h"

namespace qforge {

namespace {

std::unordered_set<const Operation*> live_operations(const Graph& graph) {
  std::unordered_set<const Variable*> seen;
  std::unordered_set<const Operation*> live;
  std::vector<const Variable*> work(graph.outputs().begin(), graph.outputs().end());
  while (!work.empty()) {
    const Variable* v = work.back();
    work.pop_back();
    if (!v || !seen.insert(v).second) continue;
    const Operation* producer = v->producer();
    if (!producer || !live.insert(producer).second) continue;
    for (const Variable* in : producer->inputs()) work.push_back(in);
    // A subgraph reads outer values by name, not through a consumer link.
    for (const Graph* sub : producer->subgraphs())
      for (const std::string& name : sub->outer_references())
        if (const Variable* ref = graph.find_variable(name)) work.push_back(ref);
  }
  return live;
}

void remove_in(Graph& graph) {
  for (const auto& op : graph.operations())
    for (Graph* sub : op->subgraphs()) remove_in(*sub);
  const std::unordered_set<const Operation*> live = live_operations(graph);
  std::vector<Operation*> dead;
  for (const auto& op : graph.operations())
    if (!live.count(op.get())) dead.push_back(op.get());
  for (Operation* op : dead) graph.remove_operation(op);
  const format::NameSet subgraph_reads = format::names_read_by_subgraphs(graph);
  std::vector<Variable*> unused;
  for (const auto& v : graph.variables())
    if (!v->producer() && v->consumers().empty() && !graph.is_graph_input(v.get()) &&
        !graph.is_graph_output(v.get()) && !subgraph_reads.count(v->name))
      unused.push_back(v.get());
  for (Variable* v : unused) graph.remove_variable(v);
}

}  // namespace

void remove_dead_ops(Graph& graph) {
  remove_in(graph);
}

}  // namespace qforge
