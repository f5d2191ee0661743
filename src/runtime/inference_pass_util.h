// SPDX-License-Identifier: Apache-2.0
// What the inference passes (channels_last.cpp, conv_chains.cpp) share: values known before
// running, and values that If/Loop/Scan bodies read by name.
#pragma once

#include <string>
#include <unordered_set>

#include "qforge/graph.h"

namespace qforge {

inline bool is_standard(const Operation& op) {
  return op.domain.empty() || op.domain == "ai.onnx";
}

// A value known before running: a parameter's or a Constant's.
inline const Tensor* constant_value(const Variable* v) {
  if (!v) return nullptr;
  if (v->is_parameter()) return &v->value;
  if (v->producer() && is_standard(*v->producer()) && v->producer()->type == "Constant")
    return v->producer()->attr_tensor("value");
  return nullptr;
}

// The names of outer values that the graph's If/Loop/Scan bodies read: they must keep them.
inline std::unordered_set<std::string> names_read_by_subgraphs(const Graph& graph) {
  std::unordered_set<std::string> names;
  for (const auto& op : graph.operations())
    for (const Graph* sub : op->subgraphs())
      for (const std::string& name : sub->outer_references()) names.insert(name);
  return names;
}

}  // namespace qforge
