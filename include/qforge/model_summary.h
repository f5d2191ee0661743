// SPDX-License-Identifier: Apache-2.0
// What `qforge inspect` shows: op counts by domain and type, inputs and outputs, parameter
// count and bytes, opsets, subgraphs.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "qforge/graph.h"

namespace qforge {

struct ValueSummary {
  std::string name;
  std::string dtype;  // "float32", or the non-tensor type ("sequence", ...)
  std::string shape;  // "[N, 3, 224, 224]", "?" when unknown
};

struct ModelSummary {
  std::string path;
  std::string producer;
  int64_t ir_version = 0;
  std::vector<std::pair<std::string, int64_t>> opsets;
  std::map<std::string, std::map<std::string, int64_t>> op_counts;  // domain -> type -> count
  int64_t op_total = 0;
  std::vector<ValueSummary> inputs, outputs;
  int64_t parameter_count = 0;   // tensors
  int64_t parameter_elements = 0;
  int64_t parameter_bytes = 0;
  int64_t subgraph_count = 0;
  std::vector<std::string> subgraph_owners;  // "node 'loop' (Loop): body"
};

// Counts include ops inside subgraphs.
ModelSummary summarize_model(const Graph& graph);
std::string summary_to_text(const ModelSummary& summary);
std::string summary_to_json(const ModelSummary& summary);

}  // namespace qforge
