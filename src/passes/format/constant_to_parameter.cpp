// SPDX-License-Identifier: Apache-2.0
// Pass constant_to_parameter: Constant nodes, and ConstantOfShape with a constant shape, become
// parameters under their output's name. Listed in format_graph.cpp; tested in
// tests/passes/test_format_constant_to_parameter.cpp.
#include <onnx/onnx_pb.h>

#include <cstring>
#include <filesystem>
#include <optional>

#include "core/tensor_proto.h"
#include "format_passes.h"
#include "format_util.h"

namespace qforge {

namespace {

// ConstantOfShape outputs above this many bytes stay ops: a parameter would bloat the model.
constexpr size_t kMaxFilledBytes = size_t{64} << 20;

Tensor string_tensor(Shape shape, const std::vector<std::string>& values) {
  Tensor t(DataType::String, std::move(shape));
  t.strings() = values;
  return t;
}

// The value of a Constant node, or nullopt when it has none we understand.
std::optional<Tensor> constant_value(const Operation& op, const std::string& base_dir) {
  for (const Attribute& a : op.attributes) {
    if (!a.extra().ref_attr_name.empty()) return std::nullopt;  // only meaningful inside functions
    if (a.name == "value" && a.type == AttributeType::Tensor) return a.t;
    if (a.name == "value_float" && a.type == AttributeType::Float)
      return Tensor::scalar<float>(a.f);
    if (a.name == "value_int" && a.type == AttributeType::Int) return Tensor::scalar<int64_t>(a.i);
    if (a.name == "value_floats" && a.type == AttributeType::Floats)
      return Tensor::from_vector<float>({static_cast<int64_t>(a.floats.size())}, a.floats);
    if (a.name == "value_ints" && a.type == AttributeType::Ints)
      return Tensor::from_vector<int64_t>({static_cast<int64_t>(a.ints.size())}, a.ints);
    if (a.name == "value_string" && a.type == AttributeType::String)
      return string_tensor({}, {a.s});
    if (a.name == "value_strings" && a.type == AttributeType::Strings)
      return string_tensor({static_cast<int64_t>(a.strings.size())}, a.strings);
    if (a.name == "sparse_value" && a.type == AttributeType::SparseTensor &&
        a.extra().opaque.size() == 1) {
      onnx::SparseTensorProto proto;
      if (!proto.ParseFromString(a.extra().opaque[0])) return std::nullopt;
      return tensor_from_sparse_proto(proto, base_dir, op.describe());
    }
  }
  return std::nullopt;
}

// ConstantOfShape's output when its shape input is a constant.
std::optional<Tensor> filled_value(const Operation& op) {
  const Variable* shape_var = op.input(0);
  if (!format::is_constant(shape_var)) return std::nullopt;
  const Tensor& shape_tensor = shape_var->value;
  if (shape_tensor.dtype() != DataType::Int64 || shape_tensor.rank() != 1) return std::nullopt;
  const Shape shape = shape_tensor.to_int64_vector();
  for (int64_t d : shape)
    if (d < 0) return std::nullopt;
  const Tensor* attr = op.attr_tensor("value");
  const Tensor fill = attr ? *attr : Tensor::scalar<float>(0.0f);
  if (fill.numel() != 1 || fill.dtype() == DataType::String) return std::nullopt;
  const size_t element = dtype_size(fill.dtype());
  if (element == 0 || static_cast<size_t>(shape_numel(shape)) > kMaxFilledBytes / element)
    return std::nullopt;
  Tensor out(fill.dtype(), shape);
  auto* dst = static_cast<std::byte*>(out.raw());
  for (int64_t i = 0; i < out.numel(); ++i) std::memcpy(dst + i * element, fill.raw(), element);
  return out;
}

void convert_in(Graph& graph, const std::string& base_dir) {
  std::vector<Operation*> ops;
  for (const auto& op : graph.operations())
    if ((op->domain.empty() || op->domain == "ai.onnx") && op->num_outputs() == 1 && op->output(0))
      ops.push_back(op.get());
  for (Operation* op : ops) {
    std::optional<Tensor> value;
    if (op->type == "Constant")
      value = constant_value(*op, base_dir);
    else if (op->type == "ConstantOfShape")
      value = filled_value(*op);
    if (!value) continue;
    Variable* out = op->output(0);
    graph.remove_operation(op);  // a now unused shape input goes in remove_dead_ops
    // The variable keeps its name, so graph outputs and subgraph reads still find it.
    out->value = *value;
    out->dtype = value->dtype();
    std::vector<Dim> dims;
    for (int64_t d : value->shape()) dims.push_back(Dim{d, ""});
    out->shape = dims;
  }
}

}  // namespace

void constant_to_parameter(Graph& graph) {
  const std::string& source = graph.model.source_path;
  const std::string base_dir =
      source.empty() ? "" : std::filesystem::path(source).parent_path().string();
  format::for_each_graph(graph, [&](Graph& g) { convert_in(g, base_dir); });
}

}  // namespace qforge
