// SPDX-License-Identifier: Apache-2.0
// The ONNX checker gate of the ONNX exporters: libonnx's checker plus strict shape inference
// on the model about to be written, so that qforge never leaves a model ONNX Runtime would
// refuse. Called by qdq_onnx.cpp before the file is written; tested in
// tests/export/test_qdq_onnx.cpp (QdqExport.*Checker*).
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>

#include "export_registry.h"
#include "frontend/onnx/onnx_proto_convert.h"

namespace qforge {

namespace {

// libonnx (Debian's 1.12) knows IR version 8 and opsets up to 17: a model made for a newer ONNX
// would fail for reasons that say nothing about the export, so it is not judged.
std::string newer_than_checker(const onnx::ModelProto& model) {
  if (model.ir_version() > onnx::IR_VERSION)
    return fmt::format("IR version {} (checker knows {})", model.ir_version(),
                       static_cast<int>(onnx::IR_VERSION));
  const auto& known = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  for (const auto& opset : model.opset_import()) {
    const std::string domain = opset.domain() == "ai.onnx" ? "" : opset.domain();
    const auto it = known.find(domain);
    if (it != known.end() && opset.version() > it->second.second)
      return fmt::format("opset {} of '{}' (checker knows {})", opset.version(), domain,
                         it->second.second);
  }
  return "";
}

std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

}  // namespace

bool check_onnx_export(const Graph& graph, const std::string& model_out) {
  onnx::ModelProto model;
  graph_to_model_proto(graph, &model);
  if (!newer_than_checker(model).empty()) return false;
  try {
    // Full check (onnx.checker.check_model(full_check=True)): types checked, node-level
    // inference errors thrown. Inference runs first, on this private copy: it fills in graph
    // outputs declared without a shape, which libonnx 1.12's checker would reject although
    // ONNX Runtime accepts them (a graph built in code, never traced).
    const onnx::ShapeInferenceOptions strict(/*check_type=*/true, /*error_mode=*/1);
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(), strict);
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    fail(ErrorKind::InvalidModel, "{}: the ONNX checker rejects the exported model: {}", model_out,
         one_line(e.what()));
  }
  return true;
}

}  // namespace qforge
