// SPDX-License-Identifier: Apache-2.0
// Graph: ownership, lookup and the editing API that keeps producer/consumer links consistent.
// Tested in tests/ir/test_graph.cpp.
#include "qforge/graph.h"

#include <algorithm>
#include <set>
#include <unordered_set>

namespace qforge {

const VariableExtra& Variable::extra() const {
  static const VariableExtra kNone;
  return extra_ ? *extra_ : kNone;
}

VariableExtra& Variable::mutable_extra() {
  if (!extra_) extra_ = std::make_unique<VariableExtra>();
  return *extra_;
}

void Variable::set_fp32_value(Tensor value) {
  if (value.defined() || extra_) mutable_extra().fp32_value = std::move(value);
}

void Variable::set_opaque_type(std::string type) {
  if (!type.empty() || extra_) mutable_extra().opaque_type = std::move(type);
}

void Variable::set_doc_string(std::string doc) {
  if (!doc.empty() || extra_) mutable_extra().doc_string = std::move(doc);
}

std::optional<Shape> Variable::static_shape() const {
  if (value.defined()) return value.shape();
  if (!shape) return std::nullopt;
  Shape out;
  for (const Dim& d : *shape) {
    if (!d.is_static()) return std::nullopt;
    out.push_back(d.value);
  }
  return out;
}

int64_t ModelInfo::opset_of(const std::string& op_domain) const {
  const std::string wanted = op_domain == "ai.onnx" ? "" : op_domain;
  for (const auto& [d, v] : opset_imports)
    if ((d == "ai.onnx" ? "" : d) == wanted) return v;
  return 0;
}

void ModelInfo::set_opset(const std::string& op_domain, int64_t version) {
  const std::string wanted = op_domain == "ai.onnx" ? "" : op_domain;
  for (auto& [d, v] : opset_imports)
    if ((d == "ai.onnx" ? "" : d) == wanted) {
      v = version;
      return;
    }
  opset_imports.emplace_back(op_domain, version);
}

std::vector<Variable*> Graph::parameters() const {
  std::vector<Variable*> out;
  for (const auto& v : variables_)
    if (v->is_parameter()) out.push_back(v.get());
  return out;
}

Variable* Graph::find_variable(std::string_view var_name) const {
  auto it = variables_by_name_.find(std::string(var_name));
  return it == variables_by_name_.end() ? nullptr : it->second;
}

Operation* Graph::find_operation(std::string_view op_name) const {
  for (const auto& op : operations_)
    if (op->name == op_name) return op.get();
  return nullptr;
}

std::string Graph::unique_variable_name(const std::string& base) const {
  const std::string stem = base.empty() ? "var" : base;
  if (!find_variable(stem)) return stem;
  for (size_t k = 1;; ++k) {
    std::string candidate = fmt::format("{}_{}", stem, k);
    if (!find_variable(candidate)) return candidate;
  }
}

std::string Graph::unique_operation_name(const std::string& base) const {
  std::unordered_set<std::string> taken;
  for (const auto& op : operations_) taken.insert(op->name);
  const std::string stem = base.empty() ? "op" : base;
  if (!taken.count(stem)) return stem;
  for (size_t k = 1;; ++k) {
    std::string candidate = fmt::format("{}_{}", stem, k);
    if (!taken.count(candidate)) return candidate;
  }
}

Variable* Graph::adopt(std::unique_ptr<Variable> var) {
  var->graph_ = this;
  Variable* raw = var.get();
  variables_by_name_[raw->name] = raw;
  variables_.push_back(std::move(var));
  return raw;
}

Variable* Graph::create_variable(const std::string& var_name, Tensor value) {
  auto var = std::make_unique<Variable>();
  var->name = unique_variable_name(var_name);
  if (value.defined()) {
    var->dtype = value.dtype();
    std::vector<Dim> dims;
    for (int64_t d : value.shape()) dims.push_back(Dim{d, ""});
    var->shape = dims;
  }
  var->value = std::move(value);
  return adopt(std::move(var));
}

void Graph::link_input(Operation* op, Variable* var) {
  if (var) var->consumers_.push_back(op);
}

void Graph::unlink_input(Operation* op, Variable* var) {
  if (!var) return;
  auto it = std::find(var->consumers_.begin(), var->consumers_.end(), op);
  if (it != var->consumers_.end()) var->consumers_.erase(it);
}

Operation* Graph::create_operation(const std::string& op_type, const std::string& op_name,
                                   const std::vector<Variable*>& inputs,
                                   const std::vector<Variable*>& outputs,
                                   std::vector<Attribute> attributes,
                                   const std::string& op_domain) {
  auto op = std::make_unique<Operation>();
  op->graph_ = this;
  op->type = op_type;
  op->name = op_name;
  op->domain = op_domain;
  op->opset = model.opset_of(op_domain);
  op->attributes = std::move(attributes);
  Operation* raw = op.get();
  for (Variable* in : inputs) {
    raw->inputs_.push_back(in);
    link_input(raw, in);
  }
  for (Variable* out : outputs) {
    if (out && out->producer_ && out->producer_ != raw)
      fail(ErrorKind::InvalidModel, "variable '{}' is produced by both {} and {}", out->name,
           out->producer_->describe(), raw->describe());
    raw->outputs_.push_back(out);
    if (out) out->producer_ = raw;
  }
  operations_.push_back(std::move(op));
  return raw;
}

void Graph::remove_operation(Operation* op) {
  for (Variable* in : op->inputs_) unlink_input(op, in);
  for (Variable* out : op->outputs_)
    if (out && out->producer_ == op) out->producer_ = nullptr;
  auto it = std::find_if(operations_.begin(), operations_.end(),
                         [&](const auto& p) { return p.get() == op; });
  QF_ASSERT(it != operations_.end());
  operations_.erase(it);
}

void Graph::remove_variable(Variable* var) {
  QF_ASSERT(var->producer_ == nullptr && var->consumers_.empty());
  QF_ASSERT(!is_graph_input(var) && !is_graph_output(var));
  variables_by_name_.erase(var->name);
  auto it = std::find_if(variables_.begin(), variables_.end(),
                         [&](const auto& p) { return p.get() == var; });
  QF_ASSERT(it != variables_.end());
  variables_.erase(it);
}

void Graph::remove_unused_variables() {
  std::vector<Variable*> unused;
  for (const auto& v : variables_)
    if (!v->producer_ && v->consumers_.empty() && !is_graph_input(v.get()) &&
        !is_graph_output(v.get()))
      unused.push_back(v.get());
  for (Variable* v : unused) remove_variable(v);
}

void Graph::set_input(Operation* op, size_t index, Variable* var) {
  QF_ASSERT(index < op->inputs_.size());
  unlink_input(op, op->inputs_[index]);
  op->inputs_[index] = var;
  link_input(op, var);
}

void Graph::add_input(Operation* op, Variable* var) {
  op->inputs_.push_back(var);
  link_input(op, var);
}

void Graph::remove_input(Operation* op, size_t index) {
  QF_ASSERT(index < op->inputs_.size());
  unlink_input(op, op->inputs_[index]);
  op->inputs_.erase(op->inputs_.begin() + static_cast<std::ptrdiff_t>(index));
}

void Graph::set_output(Operation* op, size_t index, Variable* var) {
  QF_ASSERT(index < op->outputs_.size());
  Variable* old = op->outputs_[index];
  if (old && old->producer_ == op) old->producer_ = nullptr;
  if (var) {
    if (var->producer_ && var->producer_ != op)
      fail(ErrorKind::InvalidModel, "variable '{}' already has a producer", var->name);
    var->producer_ = op;
  }
  op->outputs_[index] = var;
}

void Graph::add_output(Operation* op, Variable* var) {
  op->outputs_.push_back(nullptr);
  set_output(op, op->outputs_.size() - 1, var);
}

void Graph::add_graph_input(Variable* var) {
  inputs_.push_back(var);
}
void Graph::add_graph_output(Variable* var) {
  outputs_.push_back(var);
}
void Graph::set_graph_inputs(std::vector<Variable*> vars) {
  inputs_ = std::move(vars);
}
void Graph::set_graph_outputs(std::vector<Variable*> vars) {
  outputs_ = std::move(vars);
}

void Graph::remove_graph_input(Variable* var) {
  inputs_.erase(std::remove(inputs_.begin(), inputs_.end(), var), inputs_.end());
}

void Graph::replace_graph_output(Variable* old_var, Variable* new_var) {
  std::replace(outputs_.begin(), outputs_.end(), old_var, new_var);
}

bool Graph::is_graph_input(const Variable* var) const {
  return std::find(inputs_.begin(), inputs_.end(), var) != inputs_.end();
}

bool Graph::is_graph_output(const Variable* var) const {
  return std::find(outputs_.begin(), outputs_.end(), var) != outputs_.end();
}

void Graph::rename_variable(Variable* var, const std::string& new_name) {
  if (var->name == new_name) return;
  if (find_variable(new_name))
    fail(ErrorKind::Internal, "cannot rename '{}': '{}' exists", var->name, new_name);
  variables_by_name_.erase(var->name);
  var->name = new_name;
  variables_by_name_[new_name] = var;
}

void Graph::replace_all_uses(Variable* from, Variable* to) {
  if (from == to) return;
  const std::vector<Operation*> consumers = from->consumers_;
  std::set<Operation*> seen;
  for (Operation* op : consumers) {
    if (!seen.insert(op).second) continue;
    for (size_t i = 0; i < op->inputs_.size(); ++i)
      if (op->inputs_[i] == from) set_input(op, i, to);
  }
  replace_graph_output(from, to);
}

namespace {
// Wires a single-input single-output op: `in` -> op -> `out` (its first ports, made if absent).
void wire_through(Graph& graph, Operation* op, Variable* in, Variable* out) {
  if (op->num_inputs() == 0)
    graph.add_input(op, in);
  else
    graph.set_input(op, 0, in);
  if (op->num_outputs() == 0)
    graph.add_output(op, out);
  else
    graph.set_output(op, 0, out);
}
}  // namespace

Variable* Graph::insert_op_before(Operation* op, Operation* consumer, size_t index) {
  Variable* feed = consumer->input(index);
  QF_ASSERT(feed != nullptr);
  Variable* link = create_variable(feed->name + "_" + op->type);
  wire_through(*this, op, feed, link);
  set_input(consumer, index, link);
  return link;
}

Variable* Graph::insert_op_after(Operation* op, Operation* producer, size_t index) {
  Variable* out = producer->output(index);
  QF_ASSERT(out != nullptr);
  Variable* link = create_variable(out->name + "_" + op->type);
  // Former consumers (and graph outputs) now read op's output.
  replace_all_uses(out, link);
  wire_through(*this, op, out, link);
  // Keep graph output names stable: swap names so the graph output keeps its original name.
  if (is_graph_output(link)) {
    variables_by_name_.erase(out->name);
    variables_by_name_.erase(link->name);
    std::swap(out->name, link->name);
    variables_by_name_[out->name] = out;
    variables_by_name_[link->name] = link;
  }
  return link;
}

bool Graph::bypass_operation(Operation* op) {
  Variable* in = op->input(0);
  Variable* out = op->output(0);
  QF_ASSERT(in != nullptr && out != nullptr);
  const bool out_is_public = is_graph_output(out);
  // Two public names cannot become one variable; such an op stays.
  if (out_is_public && (is_graph_input(in) || is_graph_output(in))) return false;
  // A subgraph's reference to an enclosing graph's value is resolved by name: keep it.
  const bool outer_reference = !in->producer_ && !in->is_parameter() && !is_graph_input(in);
  if (out_is_public && outer_reference) return false;
  remove_operation(op);
  replace_all_uses(out, in);
  if (out_is_public) {
    // The graph output keeps its public name: `in` takes it over.
    variables_by_name_.erase(in->name);
    variables_by_name_.erase(out->name);
    std::swap(in->name, out->name);
    variables_by_name_[in->name] = in;
    variables_by_name_[out->name] = out;
  }
  if (!out->producer_ && out->consumers_.empty() && !is_graph_output(out) && !is_graph_input(out))
    remove_variable(out);
  return true;
}

void Graph::topological_sort() {
  std::unordered_map<const Operation*, size_t> pending;
  std::vector<Operation*> ready;
  for (const auto& op : operations_) {
    size_t count = 0;
    std::unordered_set<const Operation*> producers;
    for (Variable* in : op->inputs_)
      if (in && in->producer_ && in->producer_ != op.get()) producers.insert(in->producer_);
    for (Graph* sub : op->subgraphs())
      for (const std::string& ref : sub->outer_references())
        if (Variable* v = find_variable(ref); v && v->producer_ && v->producer_ != op.get())
          producers.insert(v->producer_);
    count = producers.size();
    pending[op.get()] = count;
    if (count == 0) ready.push_back(op.get());
  }
  // Downstream map that includes implicit (subgraph) dependencies.
  std::unordered_map<const Operation*, std::vector<Operation*>> downstream;
  for (const auto& op : operations_) {
    std::unordered_set<const Operation*> producers;
    for (Variable* in : op->inputs_)
      if (in && in->producer_ && in->producer_ != op.get()) producers.insert(in->producer_);
    for (Graph* sub : op->subgraphs())
      for (const std::string& ref : sub->outer_references())
        if (Variable* v = find_variable(ref); v && v->producer_ && v->producer_ != op.get())
          producers.insert(v->producer_);
    for (const Operation* p : producers) downstream[p].push_back(op.get());
  }
  std::vector<Operation*> order;
  // Stable: process in original order among ready ops.
  std::unordered_map<const Operation*, size_t> position;
  for (size_t i = 0; i < operations_.size(); ++i) position[operations_[i].get()] = i;
  auto by_position = [&](Operation* a, Operation* b) { return position[a] > position[b]; };
  std::make_heap(ready.begin(), ready.end(), by_position);
  while (!ready.empty()) {
    std::pop_heap(ready.begin(), ready.end(), by_position);
    Operation* op = ready.back();
    ready.pop_back();
    order.push_back(op);
    for (Operation* next : downstream[op])
      if (--pending[next] == 0) {
        ready.push_back(next);
        std::push_heap(ready.begin(), ready.end(), by_position);
      }
  }
  if (order.size() != operations_.size()) {
    for (const auto& op : operations_)
      if (pending[op.get()] != 0)
        fail(ErrorKind::InvalidModel, "graph '{}' has a cycle through {}", name, op->describe());
  }
  std::vector<std::unique_ptr<Operation>> sorted;
  sorted.reserve(operations_.size());
  std::unordered_map<Operation*, std::unique_ptr<Operation>> owned;
  for (auto& op : operations_) owned[op.get()] = std::move(op);
  for (Operation* op : order) sorted.push_back(std::move(owned[op]));
  operations_ = std::move(sorted);
}

std::vector<Operation*> Graph::downstream_ops(const Operation* op) const {
  std::vector<Operation*> out;
  for (Variable* v : op->outputs_)
    if (v)
      for (Operation* c : v->consumers_)
        if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  return out;
}

std::vector<Operation*> Graph::upstream_ops(const Operation* op) const {
  std::vector<Operation*> out;
  for (Variable* v : op->inputs_)
    if (v && v->producer_ && std::find(out.begin(), out.end(), v->producer_) == out.end())
      out.push_back(v->producer_);
  return out;
}

namespace {
void copy_attributes_into(const std::vector<Attribute>& from, std::vector<Attribute>& to,
                          Graph* new_parent, Operation* new_owner, Graph::TensorCopy tensors) {
  to = from;
  const bool clone = tensors == Graph::TensorCopy::Clone;
  for (Attribute& a : to) {
    if (a.t.defined() && clone) a.t = a.t.clone();
    if (a.g) {
      std::shared_ptr<Graph> copy(a.g->deep_copy(tensors).release());
      copy->parent = new_parent;
      copy->owner = new_owner;
      a.g = copy;
    }
    // The rare parts are shared with `from` until changed here.
    if (clone && !a.extra().tensors.empty())
      for (Tensor& t : a.mutable_extra().tensors) t = t.clone();
    if (a.extra().graphs.empty()) continue;
    for (auto& g : a.mutable_extra().graphs) {
      std::shared_ptr<Graph> copy(g->deep_copy(tensors).release());
      copy->parent = new_parent;
      copy->owner = new_owner;
      g = copy;
    }
  }
}
}  // namespace

std::unique_ptr<Graph> Graph::deep_copy(TensorCopy tensors) const {
  auto copy = std::make_unique<Graph>();
  copy->name = name;
  copy->doc_string = doc_string;
  copy->model = model;
  copy->parent = parent;
  copy->owner = owner;
  std::unordered_map<const Variable*, Variable*> vars;
  for (const auto& v : variables_) {
    auto nv = std::make_unique<Variable>();
    nv->name = v->name;
    nv->value = tensors == TensorCopy::Clone ? v->value.clone() : v->value;
    nv->dtype = v->dtype;
    nv->shape = v->shape;
    nv->set_opaque_type(v->opaque_type());
    nv->set_doc_string(v->doc_string());
    nv->has_value_info = v->has_value_info;
    vars[v.get()] = copy->adopt(std::move(nv));
  }
  auto map = [&](Variable* v) { return v ? vars.at(v) : nullptr; };
  for (const auto& op : operations_) {
    std::vector<Variable*> ins, outs;
    for (Variable* v : op->inputs_) ins.push_back(map(v));
    for (Variable* v : op->outputs_) outs.push_back(map(v));
    Operation* nop = copy->create_operation(op->type, op->name, ins, outs, {}, op->domain);
    nop->opset = op->opset;
    nop->doc_string = op->doc_string;
    nop->platform = op->platform;
    copy_attributes_into(op->attributes, nop->attributes, copy.get(), nop, tensors);
  }
  for (Variable* v : inputs_) copy->inputs_.push_back(map(v));
  for (Variable* v : outputs_) copy->outputs_.push_back(map(v));
  return copy;
}

std::vector<std::string> Graph::outer_references() const {
  std::set<std::string> defined;
  for (const auto& v : variables_)
    if (v->producer_ || v->is_parameter() || is_graph_input(v.get())) defined.insert(v->name);
  std::set<std::string> refs;
  for (const auto& op : operations_) {
    for (Variable* in : op->inputs_)
      if (in && !defined.count(in->name)) refs.insert(in->name);
    for (Graph* sub : op->subgraphs())
      for (const std::string& r : sub->outer_references())
        if (!defined.count(r)) refs.insert(r);
  }
  for (Variable* out : outputs_)
    if (out && !defined.count(out->name)) refs.insert(out->name);
  return {refs.begin(), refs.end()};
}

}  // namespace qforge
