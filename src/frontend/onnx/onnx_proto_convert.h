// SPDX-License-Identifier: Apache-2.0
// Graph <-> onnx::ModelProto, shared by the importer, the exporter and the exporters of
// quantized models. Internal header.
#pragma once

#include <onnx/onnx_pb.h>

#include <memory>
#include <string>

#include "qforge/graph.h"
#include "qforge/onnx_io.h"

namespace qforge {

std::unique_ptr<Graph> graph_from_model_proto(const onnx::ModelProto& model,
                                              const std::string& display_name,
                                              const std::string& base_dir,
                                              const OnnxLoadOptions& options);
void graph_to_model_proto(const Graph& graph, onnx::ModelProto* model);

}  // namespace qforge
