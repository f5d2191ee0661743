// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the formatting passes (declared in format_util.h). Exercised through every
// tests/passes/test_format_*.cpp.
#include "format_util.h"

#include <algorithm>
#include <unordered_set>

namespace qforge::format {

void for_each_graph(Graph& graph, const std::function<void(Graph&)>& fn) {
  fn(graph);
  std::vector<Graph*> subgraphs;
  for (const auto& op : graph.operations())
    for (Graph* sub : op->subgraphs()) subgraphs.push_back(sub);
  for (Graph* sub : subgraphs) for_each_graph(*sub, fn);
}

NameSet names_read_by_subgraphs(const Graph& graph) {
  NameSet names;
  for (const auto& op : graph.operations())
    for (Graph* sub : op->subgraphs())
      for (const std::string& name : sub->outer_references()) names.insert(name);
  return names;
}

bool is_constant(const Variable* var) {
  return var && var->is_parameter() && !(var->graph() && var->graph()->is_graph_input(var));
}

bool feeds_only(const Variable* var, const Operation* consumer, const NameSet& subgraph_reads) {
  if (!var || !var->producer() || var->consumers().empty()) return false;
  if (var->graph()->is_graph_output(var) || subgraph_reads.count(var->name)) return false;
  return std::all_of(var->consumers().begin(), var->consumers().end(),
                     [&](const Operation* op) { return op == consumer; });
}

void remove_if_unused(Graph& graph, Variable* var) {
  if (var && !var->producer() && var->consumers().empty() && !graph.is_graph_input(var) &&
      !graph.is_graph_output(var))
    graph.remove_variable(var);
}

void absorb_consumer(Graph& graph, Operation* producer, size_t index, Operation* old_op) {
  Variable* middle = producer->output(index);
  Variable* out = old_op->output(0);
  const std::vector<Variable*> old_outputs = old_op->outputs();
  graph.remove_operation(old_op);
  graph.set_output(producer, index, out);
  remove_if_unused(graph, middle);
  for (Variable* extra : old_outputs)
    if (extra != out) remove_if_unused(graph, extra);
}

namespace {
// Ops whose output 0 may have another element type than their input 0.
const std::unordered_set<std::string> kTypeChanging = {"Cast",
                                                       "CastLike",
                                                       "Shape",
                                                       "Size",
                                                       "ArgMax",
                                                       "ArgMin",
                                                       "Equal",
                                                       "Greater",
                                                       "GreaterOrEqual",
                                                       "Less",
                                                       "LessOrEqual",
                                                       "Not",
                                                       "And",
                                                       "Or",
                                                       "Xor",
                                                       "IsNaN",
                                                       "IsInf",
                                                       "NonZero",
                                                       "QuantizeLinear",
                                                       "DequantizeLinear",
                                                       "DynamicQuantizeLinear",
                                                       "ConstantOfShape",
                                                       "Constant",
                                                       "EyeLike",
                                                       "Where",
                                                       "OneHot",
                                                       "NonMaxSuppression",
                                                       "TfIdfVectorizer",
                                                       "StringNormalizer",
                                                       "Multinomial",
                                                       "RandomNormal",
                                                       "RandomUniform",
                                                       "RandomNormalLike",
                                                       "RandomUniformLike",
                                                       "Bernoulli",
                                                       "QLinearConv",
                                                       "QLinearMatMul",
                                                       "ConvInteger",
                                                       "MatMulInteger",
                                                       "Loop",
                                                       "If",
                                                       "Scan"};
}  // namespace

DataType guess_element_type(const Variable* var) {
  for (int depth = 0; var && depth < 64; ++depth) {
    if (var->value.defined()) return var->value.dtype();
    if (var->dtype != DataType::Undefined) return var->dtype;
    const Operation* producer = var->producer();
    if (!producer || !(producer->domain.empty() || producer->domain == "ai.onnx")) break;
    if (producer->output(0) != var || kTypeChanging.count(producer->type)) break;
    var = producer->input(0);
  }
  return DataType::Float;
}

void set_standard_opset(Graph& root, int64_t version) {
  root.model.set_opset("", version);
  for_each_graph(root, [&](Graph& g) {
    if (&g != &root && g.model.opset_of("") != 0) g.model.set_opset("", version);
    for (const auto& op : g.operations())
      if (op->domain.empty() || op->domain == "ai.onnx") op->opset = version;
  });
}

}  // namespace qforge::format

namespace qforge::format {

namespace {
bool name_taken(const Graph& graph, const std::string& name) {
  if (graph.find_variable(name)) return true;
  for (const auto& op : graph.operations())
    for (const Graph* sub : op->subgraphs())
      if (name_taken(*sub, name)) return true;
  return false;
}
}  // namespace

Variable* create_parameter(Graph& graph, const std::string& base, Tensor value) {
  const Graph* root = &graph;
  while (root->parent) root = root->parent;
  std::string name = base;
  for (size_t k = 1; name_taken(*root, name); ++k) name = fmt::format("{}_{}", base, k);
  return graph.create_variable(name, std::move(value));
}

void set_parameter_input(Graph& graph, Operation* op, size_t index, Tensor value,
                         const std::string& suffix, const NameSet& subgraph_reads) {
  Variable* current = op->input(index);
  const bool private_parameter =
      is_constant(current) && !graph.is_graph_output(current) &&
      !subgraph_reads.count(current->name) &&
      std::all_of(current->consumers().begin(), current->consumers().end(),
                  [&](const Operation* c) { return c == op; });
  if (private_parameter) {
    current->value = std::move(value);
    current->dtype = current->value.dtype();
    std::vector<Dim> dims;
    for (int64_t d : current->value.shape()) dims.push_back(Dim{d, ""});
    current->shape = dims;
    return;
  }
  const std::string base = (op->name.empty() ? op->output(0)->name : op->name) + "_" + suffix;
  Variable* fresh = create_parameter(graph, base, std::move(value));
  while (op->num_inputs() <= index) graph.add_input(op, nullptr);
  graph.set_input(op, index, fresh);
}

std::optional<std::vector<float>> per_channel_values(const Tensor& value, int64_t rank,
                                                     int64_t axis, int64_t channels) {
  if (value.rank() > rank || value.numel() == 0) return std::nullopt;
  const int64_t offset = rank - value.rank();  // numpy broadcasting aligns trailing axes
  int64_t found = 1;
  for (int i = 0; i < value.rank(); ++i) {
    const int64_t d = value.dim(i);
    if (offset + i == axis) {
      if (d != 1 && d != channels) return std::nullopt;
      found = d;
    } else if (d != 1) {
      return std::nullopt;
    }
  }
  const std::vector<float> values = value.to_float_vector();
  if (found == 1) return std::vector<float>(static_cast<size_t>(channels), values[0]);
  return values;
}

}  // namespace qforge::format
