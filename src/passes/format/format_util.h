// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the formatting passes in this folder: graph traversal, what counts as a
// constant, and the rewiring that keeps public and subgraph-visible names intact.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <unordered_set>

#include "qforge/graph.h"

namespace qforge::format {

using NameSet = std::unordered_set<std::string>;

// Calls fn on `graph`, then on every subgraph below it (parents first).
void for_each_graph(Graph& graph, const std::function<void(Graph&)>& fn);

// Names that subgraphs of `graph`'s ops read from enclosing scopes. Such reads go by name, not by
// consumer link, so a variable named here must keep its name and its value.
NameSet names_read_by_subgraphs(const Graph& graph);

// A parameter whose value is known at format time: a graph input could be fed another value.
bool is_constant(const Variable* var);

// `var` is an intermediate only `consumer` reads: produced by an op, read by `consumer` (once or
// more) and nobody else, not a graph output, not read by a subgraph.
bool feeds_only(const Variable* var, const Operation* consumer, const NameSet& subgraph_reads);

// Removes `old_op`, which must be the only consumer of `producer`'s output `index`, and makes
// `producer` write `old_op`'s output 0 instead, so downstream names stay as they were.
void absorb_consumer(Graph& graph, Operation* producer, size_t index, Operation* old_op);

// Removes `var` if nothing produces, reads or exposes it.
void remove_if_unused(Graph& graph, Variable* var);

// Best guess at a tensor variable's element type: declared/traced type, parameter value, or the
// type of the first input of a type-preserving producer; Float when nothing says otherwise.
DataType guess_element_type(const Variable* var);

// Sets the root graph's import of the standard domain to `version`, and the opset field of every
// standard-domain op (and subgraph's model info) to match.
void set_standard_opset(Graph& root, int64_t version);

}  // namespace qforge::format

namespace qforge::format {

// A new parameter in `graph` named `base` or base_1, base_2...: unique across the whole model
// (root and every subgraph), as ONNX forbids a subgraph name shadowing an outer one.
Variable* create_parameter(Graph& graph, const std::string& base, Tensor value);

// Sets input `index` of `op` to a parameter holding `value`: the existing parameter is updated
// in place when `op` is its only reader, else a new one named "<op>_<suffix>" is created (shared
// weights stay intact for their other readers).
void set_parameter_input(Graph& graph, Operation* op, size_t index, Tensor value,
                         const std::string& suffix, const NameSet& subgraph_reads);

// The `channels` values of a constant added to an output of rank `rank` whose channel axis is
// `axis`, when it broadcasts per channel (or as a single value); nullopt otherwise.
std::optional<std::vector<float>> per_channel_values(const Tensor& value, int64_t rank,
                                                     int64_t axis, int64_t channels);

}  // namespace qforge::format
