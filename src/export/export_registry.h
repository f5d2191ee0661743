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

}  // namespace qforge
