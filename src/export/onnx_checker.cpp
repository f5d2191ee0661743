// SPDX-License-Identifier: Apache-2.0
// The ONNX checker gate of the ONNX exporters: libonnx's checker plus strict shape inference
// on the model about to be written, so that qforge never leaves a model that ONNX tools
// reject. Called by qdq_onnx.cpp before the file is written; tested in
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

// ONNX wants a shape on every output of the main graph; one declared without (a graph built in
// code, never traced) gets what libonnx infers.
void fill_output_shapes(Graph& graph, const onnx::GraphProto& inferred) {
  for (int k = 0; k < inferred.output_size(); ++k) {
    Variable* var = graph.outputs()[static_cast<size_t>(k)];
    const auto& type = inferred.output(k).type();
    if (var->shape || !type.has_tensor_type() || !type.tensor_type().has_shape()) continue;
    std::vector<Dim> dims;
    for (const auto& d : type.tensor_type().shape().dim())
      dims.push_back(d.has_dim_value() ? Dim{d.dim_value(), ""} : Dim{-1, d.dim_param()});
    var->shape = std::move(dims);
    if (var->dtype == DataType::Undefined && dtype_is_known(type.tensor_type().elem_type()))
      var->dtype = static_cast<DataType>(type.tensor_type().elem_type());
  }
}

}  // namespace

bool check_onnx_export(Graph& graph, const std::string& model_out) {
  onnx::ModelProto model;
  graph_to_model_proto(graph, &model);
  if (!newer_than_checker(model).empty()) return false;
  try {
    // Full check (onnx.checker.check_model(full_check=True)): types checked, node-level
    // inference errors thrown. Inference runs first so that outputs without a shape get one.
    const onnx::ShapeInferenceOptions strict(/*check_type=*/true, /*error_mode=*/1);
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(), strict);
    fill_output_shapes(graph, model.graph());
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    fail(ErrorKind::InvalidModel, "{}: the ONNX checker rejects the exported model: {}", model_out,
         one_line(e.what()));
  }
  return true;
}

}  // namespace qforge
