// SPDX-License-Identifier: Apache-2.0
// Pass rewrite_legacy_attributes: ops whose old versions took attributes that later became
// inputs (Clip, Pad < 11; Slice, TopK < 10), Upsample and Resize-10 are rewritten in their
// opset-11 form, and the model's standard opset is raised to 11 when that is needed and safe.
// Listed in format_graph.cpp; tested in tests/passes/test_format_rewrite_legacy_attributes.cpp.
#include <algorithm>
#include <cfloat>
#include <optional>
#include <unordered_set>

#include "format_passes.h"
#include "format_util.h"

namespace qforge {

namespace {

constexpr int64_t kModernOpset = 11;

bool is_standard(const Operation& op) {
  return op.domain.empty() || op.domain == "ai.onnx";
}

// Ops that must change form to live at opset 11 (or that are deprecated there).
bool is_legacy(const Operation& op) {
  if (op.type == "Clip" || op.type == "Pad") return op.opset < 11;
  if (op.type == "Slice" || op.type == "TopK") return op.opset < 10;
  if (op.type == "Resize") return op.opset < 11;
  return op.type == "Upsample" || (op.type == "Scatter" && op.opset >= 9);
}

// Experimental ops of early opsets that later opsets no longer define.
const std::unordered_set<std::string> kRemovedOps = {
    "ImageScaler",     "Crop",         "Affine", "ScaledTanh",  "ParametricSoftplus", "GRUUnit",
    "GivenTensorFill", "ConstantFill", "Scale",  "DynamicSlice"};

// Why a non-legacy op cannot be read at opset 11 as it stands; "" when it can.
std::string raise_blocker(const Operation& op) {
  // Below 7 many ops change signature (consumed_inputs, broadcast attributes): not attempted.
  if (op.opset < 7) return "opset below 7";
  if (kRemovedOps.count(op.type)) return "experimental op";
  if (op.type == "Scan" && op.opset < 9) return "Scan-8 has a batch axis";
  if (op.type == "MeanVarianceNormalization" && op.opset < 9) return "experimental op";
  if (op.type == "BatchNormalization" && op.opset < 9 && op.attr_int("spatial", 1) == 0)
    return "BatchNormalization with spatial=0";
  return "";
}

std::string name_for(const Operation& op, const std::string& suffix) {
  return (op.name.empty() ? op.output(0)->name : op.name) + "_" + suffix;
}

Variable* add_parameter(Graph& graph, const Operation& op, const std::string& suffix,
                        Tensor value) {
  return format::create_parameter(graph, name_for(op, suffix), std::move(value));
}

Tensor scalar_like(DataType type, double value) {
  Tensor t = Tensor::scalar<double>(value);
  return type == DataType::Double ? t : t.cast(type);
}

Tensor int64_list(const std::vector<int64_t>& values) {
  return Tensor::from_vector<int64_t>({static_cast<int64_t>(values.size())}, values);
}

// Sets inputs 1.. of `op` to `extra` (nullptr: omitted optional), dropping trailing omissions.
void set_tail_inputs(Graph& graph, Operation* op, std::vector<Variable*> extra) {
  while (!extra.empty() && extra.back() == nullptr) extra.pop_back();
  while (op->num_inputs() > 1) graph.remove_input(op, op->num_inputs() - 1);
  for (Variable* v : extra) graph.add_input(op, v);
}

void rewrite_clip(Graph& graph, Operation* op) {
  const DataType type = format::guess_element_type(op->input(0));
  Variable* min =
      op->has_attr("min")
          ? add_parameter(graph, *op, "min", scalar_like(type, op->attr_float("min", -FLT_MAX)))
          : nullptr;
  Variable* max =
      op->has_attr("max")
          ? add_parameter(graph, *op, "max", scalar_like(type, op->attr_float("max", FLT_MAX)))
          : nullptr;
  set_tail_inputs(graph, op, {min, max});
  op->remove_attr("min");
  op->remove_attr("max");
}

void rewrite_pad(Graph& graph, Operation* op) {
  // Pad-1 calls the attribute "paddings", Pad-2 "pads".
  const std::vector<int64_t> pads =
      op->has_attr("pads") ? op->attr_ints("pads") : op->attr_ints("paddings");
  const float value = op->attr_float("value", 0.0f);
  Variable* pads_var = add_parameter(graph, *op, "pads", int64_list(pads));
  Variable* value_var = nullptr;
  if (op->attr_string("mode", "constant") == "constant" && value != 0.0f)
    value_var = add_parameter(graph, *op, "value",
                              scalar_like(format::guess_element_type(op->input(0)), value));
  set_tail_inputs(graph, op, {pads_var, value_var});
  for (const char* attr : {"pads", "paddings", "value"}) op->remove_attr(attr);
}

void rewrite_slice(Graph& graph, Operation* op) {
  std::vector<Variable*> extra = {
      add_parameter(graph, *op, "starts", int64_list(op->attr_ints("starts"))),
      add_parameter(graph, *op, "ends", int64_list(op->attr_ints("ends")))};
  if (op->has_attr("axes"))
    extra.push_back(add_parameter(graph, *op, "axes", int64_list(op->attr_ints("axes"))));
  set_tail_inputs(graph, op, extra);
  for (const char* attr : {"starts", "ends", "axes"}) op->remove_attr(attr);
}

void rewrite_topk(Graph& graph, Operation* op) {
  set_tail_inputs(graph, op, {add_parameter(graph, *op, "k", int64_list({op->attr_int("k", 1)}))});
  op->remove_attr("k");
}

// Upsample and Resize-10 compute source coordinates as x / scale ("asymmetric") and, for
// nearest, ONNX Runtime rounds down when upsampling and up when downsampling an axis. Resize-11
// has one nearest_mode for all axes, so mixed up/down scales cannot be expressed.
std::optional<std::string> nearest_mode_for(const std::optional<std::vector<float>>& scales,
                                            bool assume_upsampling) {
  if (!scales) return assume_upsampling ? std::optional<std::string>("floor") : std::nullopt;
  if (std::all_of(scales->begin(), scales->end(), [](float v) { return v >= 1.0f; }))
    return "floor";
  if (std::all_of(scales->begin(), scales->end(), [](float v) { return v <= 1.0f; })) return "ceil";
  return std::nullopt;
}

bool scales_in_attribute(const Operation& op) {
  return op.type == "Upsample" && op.opset < 9;
}

// The scales when known now: Upsample-7's attribute or a constant input.
std::optional<std::vector<float>> known_scales(const Operation& op) {
  if (scales_in_attribute(op)) return op.attr_floats("scales");
  if (format::is_constant(op.input(1))) return op.input(1)->value.to_float_vector();
  return std::nullopt;
}

bool can_rewrite_resize(const Operation& op) {
  if (scales_in_attribute(op) ? !op.has_attr("scales") : !op.input(1)) return false;
  const std::string mode = op.attr_string("mode", "nearest");
  if (mode != "nearest") return mode == "linear" || mode == "bilinear";
  // The Upsample spec asks for scales >= 1, so unknown scales upsample.
  return nearest_mode_for(known_scales(op), op.type == "Upsample").has_value();
}

void rewrite_resize(Graph& graph, Operation* op, int64_t target_opset) {
  const std::string mode = op->attr_string("mode", "nearest");
  if (mode == "nearest")
    op->set_attr(Attribute::make_string(
        "nearest_mode", *nearest_mode_for(known_scales(*op), op->type == "Upsample")));
  Variable* scales = op->input(1);
  if (scales_in_attribute(*op)) {
    const std::vector<float> s = op->attr_floats("scales");
    scales = add_parameter(graph, *op, "scales",
                           Tensor::from_vector<float>({static_cast<int64_t>(s.size())}, s));
  }
  op->set_attr(Attribute::make_string("mode", mode == "nearest" ? "nearest" : "linear"));
  op->set_attr(Attribute::make_string("coordinate_transformation_mode", "asymmetric"));
  op->remove_attr("scales");
  // roi is a required input until opset 13; an empty tensor says "not used".
  Variable* roi =
      target_opset < 13 ? add_parameter(graph, *op, "roi", Tensor(DataType::Float, {0})) : nullptr;
  set_tail_inputs(graph, op, {roi, scales});
  op->type = "Resize";
}

bool can_rewrite(const Operation* op) {
  if (op->type == "Resize" || op->type == "Upsample") return can_rewrite_resize(*op);
  if (op->type == "Slice") return op->has_attr("starts") && op->has_attr("ends");
  if (op->type == "Pad") return op->has_attr("pads") || op->has_attr("paddings");
  if (op->type == "TopK") return op->has_attr("k");
  return true;
}

void rewrite(Graph& graph, Operation* op, int64_t target_opset) {
  if (op->type == "Clip")
    rewrite_clip(graph, op);
  else if (op->type == "Pad")
    rewrite_pad(graph, op);
  else if (op->type == "Slice")
    rewrite_slice(graph, op);
  else if (op->type == "TopK")
    rewrite_topk(graph, op);
  else if (op->type == "Scatter")
    op->type = "ScatterElements";  // same semantics, renamed in 11
  else
    rewrite_resize(graph, op, target_opset);
}

struct Found {
  std::vector<std::pair<Graph*, Operation*>> legacy;
  std::vector<Operation*> others;
};

Found find_ops(Graph& root) {
  Found found;
  format::for_each_graph(root, [&](Graph& g) {
    for (const auto& op : g.operations()) {
      if (!is_standard(*op)) continue;
      if (is_legacy(*op))
        found.legacy.emplace_back(&g, op.get());
      else
        found.others.push_back(op.get());
    }
  });
  return found;
}

}  // namespace

void rewrite_legacy_attributes(Graph& graph) {
  const Found found = find_ops(graph);
  if (found.legacy.empty()) return;
  const bool needs_raise = std::any_of(found.legacy.begin(), found.legacy.end(), [](const auto& p) {
    return p.second->opset < kModernOpset;
  });
  if (!needs_raise) {
    // Already modern: rewrite deprecated ops one by one where their meaning can be kept.
    for (const auto& [g, op] : found.legacy)
      if (can_rewrite(op)) rewrite(*g, op, op->opset);
    return;
  }
  // Raising the opset changes how every op of the model is read, so it is all or nothing.
  // Model-local functions import their own opsets, which must agree with the model's.
  if (!graph.model.functions.empty()) return;
  for (const auto& [g, op] : found.legacy)
    if (op->opset < 7 || !can_rewrite(op)) return;
  for (const Operation* op : found.others)
    if (!raise_blocker(*op).empty()) return;
  for (const auto& [g, op] : found.legacy) rewrite(*g, op, kModernOpset);
  for (Operation* op : found.others)
    if (op->type == "BatchNormalization" && op->opset < 9) op->remove_attr("spatial");  // gone in 9
  format::set_standard_opset(graph, kModernOpset);
  graph.model.ir_version =
      std::max<int64_t>(graph.model.ir_version, 6);  // IR 6 introduced opset 11
}

}  // namespace qforge
