// SPDX-License-Identifier: Apache-2.0
// Graph -> ONNX ModelProto, the inverse of onnx_import.cpp: import -> export -> import is
// lossless. Models over 2 GB get their tensors in an external data file. Tested by
// tests/frontend/test_onnx_roundtrip.cpp and test_onnx_external_data.cpp.
#include <filesystem>

#include "../../core/tensor_proto.h"
#include "onnx_proto_convert.h"
#include "qforge/file_io.h"

namespace qforge {

namespace {

void write_value_info(const Variable& var, onnx::ValueInfoProto* info) {
  info->set_name(var.name);
  if (!var.doc_string().empty()) info->set_doc_string(var.doc_string());
  if (!var.opaque_type().empty()) {
    if (!info->mutable_type()->ParseFromString(var.opaque_type()))
      fail(ErrorKind::Internal, "value '{}' holds a corrupt type", var.name);
    return;
  }
  if (var.dtype == DataType::Undefined && !var.shape) return;
  auto* tensor_type = info->mutable_type()->mutable_tensor_type();
  tensor_type->set_elem_type(static_cast<int32_t>(var.dtype));
  if (var.shape) {
    auto* shape = tensor_type->mutable_shape();
    for (const Dim& d : *var.shape) {
      auto* dim = shape->add_dim();
      if (d.is_static())
        dim->set_dim_value(d.value);
      else if (!d.param.empty())
        dim->set_dim_param(d.param);
    }
  }
}

void write_graph(const Graph& graph, onnx::GraphProto* proto);

void write_attribute(const Attribute& a, onnx::AttributeProto* proto) {
  proto->set_name(a.name);
  if (!a.extra().doc_string.empty()) proto->set_doc_string(a.extra().doc_string);
  if (!a.extra().ref_attr_name.empty()) proto->set_ref_attr_name(a.extra().ref_attr_name);
  proto->set_type(static_cast<onnx::AttributeProto::AttributeType>(a.type));
  auto parse_opaque = [&](auto* message, size_t index) {
    if (index >= a.extra().opaque.size() || !message->ParseFromString(a.extra().opaque[index]))
      fail(ErrorKind::Internal, "attribute '{}' holds corrupt or missing data", a.name);
  };
  auto subgraph = [&](const std::shared_ptr<Graph>& g) -> const Graph& {
    if (!g) fail(ErrorKind::Internal, "graph attribute '{}' holds no graph", a.name);
    return *g;
  };
  switch (a.type) {
    case AttributeType::Undefined:
      break;
    case AttributeType::Float:
      proto->set_f(a.f);
      break;
    case AttributeType::Int:
      proto->set_i(a.i);
      break;
    case AttributeType::String:
      proto->set_s(a.s);
      break;
    case AttributeType::Tensor:
      tensor_to_proto(a.t, proto->mutable_t());
      if (!a.extra().tensor_names.empty()) proto->mutable_t()->set_name(a.extra().tensor_names[0]);
      break;
    case AttributeType::Graph:
      write_graph(subgraph(a.g), proto->mutable_g());
      break;
    case AttributeType::Floats:
      for (float v : a.floats) proto->add_floats(v);
      break;
    case AttributeType::Ints:
      for (int64_t v : a.ints) proto->add_ints(v);
      break;
    case AttributeType::Strings:
      for (const auto& v : a.strings) proto->add_strings(v);
      break;
    case AttributeType::Tensors:
      for (size_t k = 0; k < a.extra().tensors.size(); ++k) {
        auto* t = proto->add_tensors();
        tensor_to_proto(a.extra().tensors[k], t);
        if (k < a.extra().tensor_names.size() && !a.extra().tensor_names[k].empty())
          t->set_name(a.extra().tensor_names[k]);
      }
      break;
    case AttributeType::Graphs:
      for (const auto& g : a.extra().graphs) write_graph(subgraph(g), proto->add_graphs());
      break;
    case AttributeType::SparseTensor:
      parse_opaque(proto->mutable_sparse_tensor(), 0);
      break;
    case AttributeType::SparseTensors:
      for (size_t k = 0; k < a.extra().opaque.size(); ++k)
        parse_opaque(proto->add_sparse_tensors(), k);
      break;
    case AttributeType::TypeProto:
      parse_opaque(proto->mutable_tp(), 0);
      break;
    case AttributeType::TypeProtos:
      for (size_t k = 0; k < a.extra().opaque.size(); ++k)
        parse_opaque(proto->add_type_protos(), k);
      break;
  }
}

void write_graph(const Graph& graph, onnx::GraphProto* proto) {
  proto->set_name(graph.name);
  if (!graph.doc_string.empty()) proto->set_doc_string(graph.doc_string);
  for (const auto& var : graph.variables())
    if (var->is_parameter()) {
      auto* tensor = proto->add_initializer();
      tensor_to_proto(var->value, tensor);
      tensor->set_name(var->name);
    }
  for (const Variable* in : graph.inputs()) write_value_info(*in, proto->add_input());
  for (const Variable* out : graph.outputs()) write_value_info(*out, proto->add_output());
  // A value_info entry is written wherever the source had one, graph inputs and outputs too.
  for (const auto& var : graph.variables())
    if (var->has_value_info) write_value_info(*var, proto->add_value_info());
  for (const std::string& bytes : graph.model.quantization_annotations)
    if (!proto->add_quantization_annotation()->ParseFromString(bytes))
      fail(ErrorKind::Internal, "graph '{}' holds a corrupt quantization annotation", graph.name);
  for (const auto& op : graph.operations()) {
    auto* node = proto->add_node();
    for (const Variable* in : op->inputs()) node->add_input(in ? in->name : "");
    for (const Variable* out : op->outputs()) node->add_output(out ? out->name : "");
    if (!op->name.empty()) node->set_name(op->name);
    node->set_op_type(op->type);
    if (!op->domain.empty()) node->set_domain(op->domain);
    for (const Attribute& a : op->attributes) write_attribute(a, node->add_attribute());
    if (!op->doc_string.empty()) node->set_doc_string(op->doc_string);
  }
}

// Moves large tensors of `graph` (and its subgraphs) into `blob`, recording their offsets.
void externalize(onnx::GraphProto* graph, const std::string& location, size_t threshold,
                 std::string& blob) {
  auto move_out = [&](onnx::TensorProto* t) {
    if (!t->has_raw_data() || t->raw_data().size() < threshold) return;
    blob.append((64 - blob.size() % 64) % 64, '\0');  // aligned offsets allow mmap
    const size_t offset = blob.size();
    blob += t->raw_data();
    t->clear_raw_data();
    t->set_data_location(onnx::TensorProto::EXTERNAL);
    auto add = [&](const char* key, const std::string& value) {
      auto* entry = t->add_external_data();
      entry->set_key(key);
      entry->set_value(value);
    };
    add("location", location);
    add("offset", std::to_string(offset));
    add("length", std::to_string(blob.size() - offset));
  };
  for (auto& init : *graph->mutable_initializer()) move_out(&init);
  for (auto& node : *graph->mutable_node())
    for (auto& attr : *node.mutable_attribute()) {
      if (attr.has_t()) move_out(attr.mutable_t());
      if (attr.has_g()) externalize(attr.mutable_g(), location, threshold, blob);
      for (auto& g : *attr.mutable_graphs()) externalize(&g, location, threshold, blob);
    }
}

}  // namespace

void graph_to_model_proto(const Graph& graph, onnx::ModelProto* proto) {
  const ModelInfo& info = graph.model;
  proto->set_ir_version(info.ir_version);
  for (const auto& [domain, version] : info.opset_imports) {
    auto* opset = proto->add_opset_import();
    opset->set_domain(domain);
    opset->set_version(version);
  }
  if (!info.producer_name.empty()) proto->set_producer_name(info.producer_name);
  if (!info.producer_version.empty()) proto->set_producer_version(info.producer_version);
  if (!info.domain.empty()) proto->set_domain(info.domain);
  if (info.model_version) proto->set_model_version(info.model_version);
  if (!info.doc_string.empty()) proto->set_doc_string(info.doc_string);
  for (const auto& [key, value] : info.metadata_props) {
    auto* prop = proto->add_metadata_props();
    prop->set_key(key);
    prop->set_value(value);
  }
  for (const auto& bytes : info.functions)
    if (!proto->add_functions()->ParseFromString(bytes))
      fail(ErrorKind::Internal, "corrupt model function");
  for (const auto& bytes : info.training_info)
    if (!proto->add_training_info()->ParseFromString(bytes))
      fail(ErrorKind::Internal, "corrupt training info");
  write_graph(graph, proto->mutable_graph());
}

std::string serialize_onnx_graph(const Graph& graph) {
  onnx::ModelProto proto;
  graph_to_model_proto(graph, &proto);
  if (proto.ByteSizeLong() > static_cast<size_t>(INT32_MAX))
    fail(ErrorKind::Argument, "model is over 2 GB; save it with external data");
  return proto.SerializeAsString();
}

void save_onnx_graph(const Graph& graph, const std::string& path, const OnnxSaveOptions& options) {
  if (!graph.model.source_path.empty()) ensure_not_same_file(graph.model.source_path, path);
  onnx::ModelProto proto;
  graph_to_model_proto(graph, &proto);
  constexpr size_t kProtobufLimit = size_t{2000} * 1000 * 1000;  // under protobuf's 2 GiB cap
  const bool external = options.external_data == OnnxSaveOptions::ExternalData::Always ||
                        (options.external_data == OnnxSaveOptions::ExternalData::Auto &&
                         proto.ByteSizeLong() > kProtobufLimit);
  if (external) {
    const std::string location = std::filesystem::path(path).filename().string() + ".data";
    const std::string data_path = (std::filesystem::path(path).parent_path() / location).string();
    if (!graph.model.source_path.empty()) ensure_not_same_file(graph.model.source_path, data_path);
    std::string blob;
    externalize(proto.mutable_graph(), location, options.external_threshold_bytes, blob);
    if (proto.ByteSizeLong() > static_cast<size_t>(INT32_MAX))
      fail(ErrorKind::Argument, "{}: model structure alone is over 2 GB", path);
    write_file_atomic(data_path, blob);
  }
  write_file_atomic(path, proto.SerializeAsString());
}

}  // namespace qforge
