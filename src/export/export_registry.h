// SPDX-License-Identifier: Apache-2.0
// The exporter list: one register function per exporter file, called from kExporters in
// export_graph.cpp.
#pragma once

#include <string>
#include <vector>

#include "qforge/export.h"

namespace qforge {

struct ExporterEntry {
  std::string name;
  void (*write)(const Graph& graph, const Platform& platform, const std::string& model_out);
};
using ExporterRegistry = std::vector<ExporterEntry>;

void register_qdq_onnx_exporter(ExporterRegistry& registry);  // qdq_onnx.cpp

// onnx_checker.cpp: libonnx's checker and strict shape inference on `graph` as it will be saved
// (outputs declared without a shape get the inferred one); an InvalidModel error naming
// `model_out` and the checker's message when it fails. Returns false (nothing checked) for a
// model newer than libonnx knows (IR version, opset).
bool check_onnx_export(Graph& graph, const std::string& model_out);

// qdq_opset.cpp: raises the standard opset of the exporter's copy to 13 (per-axis Q/DQ), rewriting
// the ops whose definition changed; an Argument error naming the ops that cannot be raised.
void raise_opset_for_qdq(Graph& graph);

}  // namespace qforge
