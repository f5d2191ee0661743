// SPDX-License-Identifier: Apache-2.0
// Raises a model's standard opset to 13 for QDQ export (per-axis QuantizeLinear/
// DequantizeLinear need 13). From opset 11 or 12 (format_graph brings older models to 11), ops
// whose definition changed by 13 only in the types it accepts are relabelled, and the few whose
// signature or meaning changed are rewritten in their opset-13 form (table below); any other
// change is an error naming the ops. Runs on the exporter's copy, after the quantization configs
// are attached. Called by qdq_onnx.cpp; tested in tests/export/test_qdq_onnx.cpp (QdqOpset.*)
// and on opset-11/12 real models in tests/quant/test_end_to_end.cpp.
#include <onnx/defs/schema.h>

#include <functional>
#include <set>
#include <unordered_set>

#include "export_registry.h"

namespace qforge {

namespace {

constexpr int64_t kQdqOpset = 13;
constexpr int64_t kLowestRaisable = 11;

bool is_standard(const Operation& op) {
  return op.domain.empty() || op.domain == "ai.onnx";
}

// Versions 12 and 13 of these only add element types (bfloat16, int8 ...), or attributes and
// optional inputs whose defaults keep the old behaviour (ArgMax select_last_index, GatherND
// batch_dims, Constant value_*, QuantizeLinear axis for per-tensor scales).
const std::unordered_set<std::string> kSameMeaning = {"Abs",
                                                      "Add",
                                                      "ArgMax",
                                                      "ArgMin",
                                                      "Cast",
                                                      "Ceil",
                                                      "Clip",
                                                      "Concat",
                                                      "Constant",
                                                      "DepthToSpace",
                                                      "DequantizeLinear",
                                                      "Div",
                                                      "Equal",
                                                      "Erf",
                                                      "Exp",
                                                      "Expand",
                                                      "Flatten",
                                                      "Floor",
                                                      "Gather",
                                                      "GatherElements",
                                                      "GatherND",
                                                      "Gemm",
                                                      "Greater",
                                                      "Identity",
                                                      "If",
                                                      "IsNaN",
                                                      "LRN",
                                                      "Less",
                                                      "Log",
                                                      "Loop",
                                                      "MatMul",
                                                      "Max",
                                                      "MaxPool",
                                                      "Mean",
                                                      "MeanVarianceNormalization",
                                                      "Min",
                                                      "Mod",
                                                      "Mul",
                                                      "Neg",
                                                      "NonZero",
                                                      "Pad",
                                                      "Pow",
                                                      "QuantizeLinear",
                                                      "Reciprocal",
                                                      "ReduceL1",
                                                      "ReduceL2",
                                                      "ReduceLogSum",
                                                      "ReduceLogSumExp",
                                                      "ReduceMax",
                                                      "ReduceMean",
                                                      "ReduceMin",
                                                      "ReduceProd",
                                                      "ReduceSumSquare",
                                                      "Relu",
                                                      "Reshape",
                                                      "ScatterElements",
                                                      "ScatterND",
                                                      "Shape",
                                                      "Sigmoid",
                                                      "Sign",
                                                      "Size",
                                                      "Slice",
                                                      "SpaceToDepth",
                                                      "Sqrt",
                                                      "Sub",
                                                      "Sum",
                                                      "Tanh",
                                                      "Tile",
                                                      "Transpose"};

Variable* int64_parameter(Graph& g, const Operation& op, const std::string& suffix,
                          const std::vector<int64_t>& values) {
  return g.create_variable(
      g.unique_variable_name(op.name + "_" + suffix),
      Tensor::from_vector<int64_t>({static_cast<int64_t>(values.size())}, values));
}

// Squeeze, Unsqueeze, ReduceSum (axes) and Split (split) take as an input in 13 what was an
// attribute; an absent attribute means the same as an absent input.
std::string move_attribute_to_input(Graph& g, Operation& op, const char* attr, size_t index) {
  if (!op.has_attr(attr)) return "";
  while (op.num_inputs() < index) g.add_input(&op, nullptr);
  if (op.num_inputs() > index) return fmt::format("has both the '{}' attribute and input", attr);
  g.add_input(&op, int64_parameter(g, op, attr, op.attr_ints(attr)));
  op.remove_attr(attr);
  return "";
}

// Softmax, LogSoftmax and Hardmax: before 13 they work on the input flattened to 2-D at `axis`
// (default 1); from 13 on one axis (default -1). The same when `axis` is the last one, else the
// old meaning is spelled out: Flatten(axis) -> op(axis=-1) -> Reshape to the input's shape.
std::string rewrite_softmax(Graph& g, Operation& op) {
  Variable* x = op.input(0);
  if (!x || !x->shape) return "input rank unknown (trace the graph first)";
  const auto rank = static_cast<int64_t>(x->shape->size());
  int64_t axis = op.attr_int("axis", 1);
  if (axis < 0) axis += rank;
  op.set_attr(Attribute::make_int("axis", -1));
  if (axis == rank - 1) return "";
  Variable* y = op.output(0);
  Variable* flat = g.create_variable(g.unique_variable_name(x->name + "_2d"));
  g.create_operation("Flatten", g.unique_operation_name(op.name + "_Flatten"), {x}, {flat},
                     {Attribute::make_int("axis", axis)});
  g.set_input(&op, 0, flat);
  Variable* flat_out = g.create_variable(g.unique_variable_name(y->name + "_2d"));
  g.set_output(&op, 0, flat_out);
  Variable* shape = g.create_variable(g.unique_variable_name(x->name + "_shape"));
  g.create_operation("Shape", g.unique_operation_name(op.name + "_Shape"), {x}, {shape});
  g.create_operation("Reshape", g.unique_operation_name(op.name + "_Reshape"), {flat_out, shape},
                     {y});
  return "";
}

std::string rewrite_dropout(Graph& g, Operation& op) {
  // Dropout-12 takes the ratio as an input (a float scalar).
  if (!op.has_attr("ratio")) return "";
  Variable* ratio = g.create_variable(g.unique_variable_name(op.name + "_ratio"),
                                      Tensor::scalar<float>(op.attr_float("ratio", 0.5f)));
  if (op.num_inputs() > 1) return "has both the 'ratio' attribute and input";
  g.add_input(&op, ratio);
  op.remove_attr("ratio");
  return "";
}

std::string rewrite_resize(Graph&, Operation& op) {
  // Resize-13 drops this mode; it has no exact equivalent.
  if (op.attr_string("coordinate_transformation_mode", "") == "tf_half_pixel_for_nn")
    return "coordinate_transformation_mode tf_half_pixel_for_nn is gone in opset 13";
  return "";
}

using Rewrite = std::function<std::string(Graph&, Operation&)>;
const std::map<std::string, Rewrite>& rewrites() {
  static const std::map<std::string, Rewrite> table = {
      {"Softmax", rewrite_softmax},
      {"LogSoftmax", rewrite_softmax},
      {"Hardmax", rewrite_softmax},
      {"Squeeze",
       [](Graph& g, Operation& op) { return move_attribute_to_input(g, op, "axes", 1); }},
      {"Unsqueeze",
       [](Graph& g, Operation& op) { return move_attribute_to_input(g, op, "axes", 1); }},
      {"ReduceSum",
       [](Graph& g, Operation& op) { return move_attribute_to_input(g, op, "axes", 1); }},
      {"Split", [](Graph& g, Operation& op) { return move_attribute_to_input(g, op, "split", 1); }},
      {"Dropout", rewrite_dropout},
      {"Resize", rewrite_resize},
  };
  return table;
}

bool changed_since(const Operation& op, int64_t opset) {
  const auto* before = onnx::OpSchemaRegistry::Schema(op.type, static_cast<int>(opset));
  const auto* after = onnx::OpSchemaRegistry::Schema(op.type, static_cast<int>(kQdqOpset));
  return before && after && before->SinceVersion() != after->SinceVersion();
}

// Rewrites what must change and relabels every standard op as opset 13; collects what cannot
// be raised (op -> reason). The graph is the exporter's copy: a failure leaves nothing behind.
void raise(Graph& g, int64_t opset, std::map<std::string, std::string>& blocked) {
  std::vector<Operation*> ops;  // snapshot: rewrites append ops
  for (const auto& op : g.operations()) ops.push_back(op.get());
  for (Operation* op : ops) {
    for (Graph* sub : op->subgraphs()) raise(*sub, opset, blocked);
    if (!is_standard(*op) || !changed_since(*op, opset)) continue;
    if (const auto rewrite = rewrites().find(op->type); rewrite != rewrites().end()) {
      if (const std::string why = rewrite->second(g, *op); !why.empty())
        blocked.emplace(op->describe(), why);
    } else if (opset < kLowestRaisable || !kSameMeaning.count(op->type)) {
      blocked.emplace(op->type, "definition changed");
    }
  }
  for (const auto& op : g.operations())
    if (is_standard(*op)) op->opset = kQdqOpset;
  if (g.model.opset_of("") != 0) g.model.set_opset("", kQdqOpset);
}

}  // namespace

void raise_opset_for_qdq(Graph& graph) {
  const int64_t opset = graph.model.opset_of("");
  if (opset >= kQdqOpset) return;
  std::map<std::string, std::string> blocked;
  raise(graph, opset, blocked);
  if (!blocked.empty()) {
    std::vector<std::string> reasons;
    for (const auto& [what, why] : blocked) reasons.push_back(fmt::format("{}: {}", what, why));
    fail(ErrorKind::Argument,
         "QDQ export needs opset {} but the model is opset {} and cannot be raised ({}); convert "
         "the model to opset {} first",
         kQdqOpset, opset, fmt::join(reasons, "; "), kQdqOpset);
  }
  if (graph.model.ir_version < 7) graph.model.ir_version = 7;
}

}  // namespace qforge
