// SPDX-License-Identifier: Apache-2.0
// Exporters of quantized graphs (PPQ's export_graph). Each writes atomically and never over the
// input model. "qdq_onnx": ONNX with QuantizeLinear/DequantizeLinear pairs (opset >= 13),
// int8 weights with only a DequantizeLinear, int32 biases; FP32 ops stay float.
#pragma once

#include <string>
#include <vector>

#include "qforge/graph.h"
#include "qforge/platform.h"

namespace qforge {

std::vector<std::string> exporter_names();
// `config_out` (optional): a JSON of every TQC (scale, offset, range, state) by op and port.
void export_graph(const Graph& graph, const Platform& platform, const std::string& model_out,
                  const std::string& config_out = "", const std::string& exporter = "");

}  // namespace qforge
