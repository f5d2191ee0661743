// SPDX-License-Identifier: Apache-2.0
// PPQ's graph concepts: Graph owns Operations and Variables. A variable has at most one
// producer and any number of consumers; a parameter is a variable with a value and no
// producer. Link fields (producer, consumers, inputs, outputs) change only through Graph's
// editing API, which keeps both sides consistent.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "qforge/attribute.h"
#include "qforge/tensor.h"

namespace qforge {

class Graph;
class Operation;
struct OperationQuantizationConfig;  // qforge/quantization_config.h

// What few variables carry, held apart so that a Variable stays small (a model has one per
// value and parameter).
struct VariableExtra {
  Tensor fp32_value;
  std::string opaque_type;
  std::string doc_string;
};

class Variable {
 public:
  std::string name;
  Tensor value;  // defined for parameters (initializers)
  // Declared or traced type. dtype Undefined and shape nullopt mean unknown.
  DataType dtype = DataType::Undefined;
  std::optional<std::vector<Dim>> shape;
  bool has_value_info = false;  // the source model declared its type in value_info

  // A baked parameter's value before baking (PPQ's stored_value): the FP32 reference of error
  // analysis. Empty for parameters never baked and for other variables.
  const Tensor& fp32_value() const { return extra().fp32_value; }
  void set_fp32_value(Tensor value);
  // Serialized ONNX TypeProto for non-tensor types (sequence, map, optional, sparse).
  const std::string& opaque_type() const { return extra().opaque_type; }
  void set_opaque_type(std::string type);
  const std::string& doc_string() const { return extra().doc_string; }
  void set_doc_string(std::string doc);

  bool is_parameter() const { return value.defined() && producer_ == nullptr; }
  Operation* producer() const { return producer_; }
  // One entry per consuming input port (an op reading it twice appears twice).
  const std::vector<Operation*>& consumers() const { return consumers_; }
  Graph* graph() const { return graph_; }
  // Static shape when every dimension is known.
  std::optional<Shape> static_shape() const;

 private:
  friend class Graph;
  const VariableExtra& extra() const;
  VariableExtra& mutable_extra();  // allocates it
  Graph* graph_ = nullptr;
  Operation* producer_ = nullptr;
  std::vector<Operation*> consumers_;
  std::unique_ptr<VariableExtra> extra_;  // null until one of its parts is set
};

class Operation {
 public:
  std::string name;
  std::string type;
  std::string domain;  // "" is the standard ONNX domain ("ai.onnx")
  int64_t opset = 0;   // opset version of `domain` in the model
  std::vector<Attribute> attributes;
  std::string doc_string;
  std::string platform;  // dispatch result; empty until dispatched
  // Per-port quantization configs, set by the Quantizer (PPQ's QuantableOperation). Not
  // copied by Graph::deep_copy.
  std::shared_ptr<OperationQuantizationConfig> quant_config;

  const std::vector<Variable*>& inputs() const { return inputs_; }  // nullptr: omitted optional
  const std::vector<Variable*>& outputs() const { return outputs_; }
  Variable* input(size_t index) const { return index < inputs_.size() ? inputs_[index] : nullptr; }
  Variable* output(size_t index) const {
    return index < outputs_.size() ? outputs_[index] : nullptr;
  }
  size_t num_inputs() const { return inputs_.size(); }
  size_t num_outputs() const { return outputs_.size(); }
  Graph* graph() const { return graph_; }

  const Attribute* find_attr(std::string_view attr_name) const;
  Attribute* find_attr(std::string_view attr_name);
  bool has_attr(std::string_view attr_name) const { return find_attr(attr_name) != nullptr; }
  // Typed getters: the default when absent; an InvalidModel error naming the node on a type
  // mismatch.
  int64_t attr_int(std::string_view attr_name, int64_t fallback) const;
  float attr_float(std::string_view attr_name, float fallback) const;
  std::string attr_string(std::string_view attr_name, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(std::string_view attr_name,
                                 const std::vector<int64_t>& fallback = {}) const;
  std::vector<float> attr_floats(std::string_view attr_name,
                                 const std::vector<float>& fallback = {}) const;
  const Tensor* attr_tensor(std::string_view attr_name) const;
  void set_attr(Attribute attribute);  // replaces an attribute of the same name
  bool remove_attr(std::string_view attr_name);

  // Subgraphs held by graph attributes (If branches, Loop/Scan bodies).
  std::vector<Graph*> subgraphs() const;
  // "node 'conv1' (Conv)" for error messages.
  std::string describe() const;

 private:
  friend class Graph;
  Graph* graph_ = nullptr;
  std::vector<Variable*> inputs_;
  std::vector<Variable*> outputs_;
};

// Model-level data, kept so that import -> export is lossless. Used on the root graph.
struct ModelInfo {
  int64_t ir_version = 8;
  std::vector<std::pair<std::string, int64_t>> opset_imports;  // domain, version
  std::string producer_name;
  std::string producer_version;
  std::string domain;
  int64_t model_version = 0;
  std::string doc_string;
  std::vector<std::pair<std::string, std::string>> metadata_props;
  std::vector<std::string> functions;      // serialized FunctionProto
  std::vector<std::string> training_info;  // serialized TrainingInfoProto
  std::string source_path;                 // where it was loaded from (for messages)
  // Serialized TensorAnnotation entries of this graph's GraphProto (quantization_annotation);
  // each graph, subgraphs included, keeps its own.
  std::vector<std::string> quantization_annotations;

  int64_t opset_of(const std::string& op_domain) const;  // 0 when not imported
  void set_opset(const std::string& op_domain, int64_t version);
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  std::string name;
  std::string doc_string;
  ModelInfo model;
  Graph* parent = nullptr;     // enclosing graph of a subgraph
  Operation* owner = nullptr;  // the op whose attribute holds this subgraph
  // Names of quantization annotations etc. may be added by later layers.

  const std::vector<Variable*>& inputs() const { return inputs_; }
  const std::vector<Variable*>& outputs() const { return outputs_; }
  const std::vector<std::unique_ptr<Operation>>& operations() const { return operations_; }
  const std::vector<std::unique_ptr<Variable>>& variables() const { return variables_; }
  std::vector<Variable*> parameters() const;

  Variable* find_variable(std::string_view var_name) const;
  Operation* find_operation(std::string_view op_name) const;

  // A name not used by any variable (or op) of this graph: `base` itself if free, else base_1...
  std::string unique_variable_name(const std::string& base) const;
  std::string unique_operation_name(const std::string& base) const;

  // Creates a variable; the name is made unique if taken. A defined value makes a parameter.
  Variable* create_variable(const std::string& var_name, Tensor value = {});
  // Creates an op wired to the given variables (nullptr entries are omitted optionals).
  Operation* create_operation(const std::string& op_type, const std::string& op_name,
                              const std::vector<Variable*>& inputs,
                              const std::vector<Variable*>& outputs,
                              std::vector<Attribute> attributes = {},
                              const std::string& op_domain = "");
  // Unlinks the op from its variables and deletes it. Its outputs stay (without producer).
  void remove_operation(Operation* op);
  // Deletes a variable; it must have no producer and no consumers and not be a graph I/O.
  void remove_variable(Variable* var);
  // Deletes variables that nothing produces, consumes or exposes.
  void remove_unused_variables();

  void set_input(Operation* op, size_t index, Variable* var);  // var may be nullptr
  void add_input(Operation* op, Variable* var);
  void remove_input(Operation* op, size_t index);
  void set_output(Operation* op, size_t index, Variable* var);
  void add_output(Operation* op, Variable* var);

  void add_graph_input(Variable* var);
  void add_graph_output(Variable* var);
  void set_graph_inputs(std::vector<Variable*> vars);
  void set_graph_outputs(std::vector<Variable*> vars);
  void remove_graph_input(Variable* var);
  void replace_graph_output(Variable* old_var, Variable* new_var);
  bool is_graph_input(const Variable* var) const;
  bool is_graph_output(const Variable* var) const;

  // Renames a variable (fails if the name is taken). Subgraphs that reference it by name are
  // not updated: use it for values the caller knows are local.
  void rename_variable(Variable* var, const std::string& new_name);
  // Every consumer port and graph output that reads `from` reads `to` instead.
  void replace_all_uses(Variable* from, Variable* to);
  // Inserts `op` (one input, one output, not yet wired) on the edge feeding input `index`
  // of `consumer`: producer -> op -> consumer. Returns op's new output variable.
  Variable* insert_op_before(Operation* op, Operation* consumer, size_t index);
  // Inserts `op` after output `index` of `producer`: all former consumers read op's output.
  Variable* insert_op_after(Operation* op, Operation* producer, size_t index);
  // Removes a single-input single-output op, connecting its input straight to its consumers
  // (a graph output keeps its name). False, and nothing changed, when both ends are public.
  bool bypass_operation(Operation* op);

  // Orders operations so that every producer comes before its consumers; an InvalidModel error
  // naming a node on the cycle when there is one.
  void topological_sort();
  // Producer -> consumer ops (via any output).
  std::vector<Operation*> downstream_ops(const Operation* op) const;
  std::vector<Operation*> upstream_ops(const Operation* op) const;

  // Independent copy, subgraphs included. TensorCopy::Share lets parameter and attribute
  // tensors share their buffers with this graph's (no copy of the weights), for a caller that
  // replaces tensors but never writes into them (the exporters).
  enum class TensorCopy { Clone, Share };
  std::unique_ptr<Graph> deep_copy(TensorCopy tensors = TensorCopy::Clone) const;

  // Variables read by this graph (or its subgraphs) that it does not define: references to
  // an enclosing graph's values.
  std::vector<std::string> outer_references() const;

 private:
  void link_input(Operation* op, Variable* var);
  void unlink_input(Operation* op, Variable* var);
  Variable* adopt(std::unique_ptr<Variable> var);

  std::vector<Variable*> inputs_;
  std::vector<Variable*> outputs_;
  std::vector<std::unique_ptr<Operation>> operations_;
  std::vector<std::unique_ptr<Variable>> variables_;
  std::unordered_map<std::string, Variable*> variables_by_name_;
};

}  // namespace qforge
