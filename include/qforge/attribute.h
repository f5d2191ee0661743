// SPDX-License-Identifier: Apache-2.0
// An operation attribute: ONNX's AttributeProto as a plain struct. Graph attributes own
// subgraphs (If/Loop/Scan bodies); sparse tensors and type protos are kept serialized.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "qforge/tensor.h"

namespace qforge {

class Graph;

// Values equal ONNX AttributeProto.AttributeType.
enum class AttributeType : int32_t {
  Undefined = 0,
  Float = 1,
  Int = 2,
  String = 3,
  Tensor = 4,
  Graph = 5,
  Floats = 6,
  Ints = 7,
  Strings = 8,
  Tensors = 9,
  Graphs = 10,
  SparseTensor = 11,
  SparseTensors = 12,
  TypeProto = 13,
  TypeProtos = 14,
};
const char* attribute_type_name(AttributeType type);

// What few attributes carry (lists of tensors and graphs, serialized sparse tensors and type
// protos, names and doc strings kept for a lossless export), held apart so that an Attribute
// stays small: a model has one per attribute of every node.
struct AttributeExtra {
  std::vector<Tensor> tensors;
  std::vector<std::shared_ptr<Graph>> graphs;
  // Serialized SparseTensorProto / TypeProto values (SparseTensor(s), TypeProto(s)).
  std::vector<std::string> opaque;
  std::string doc_string;
  std::string ref_attr_name;  // inside function bodies: refers to the caller's attribute
  // TensorProto names of `t` (one entry) or of `tensors` (one per tensor), kept so that the
  // export is lossless; empty when no tensor is named.
  std::vector<std::string> tensor_names;
};

struct Attribute {
  std::string name;
  AttributeType type = AttributeType::Undefined;
  float f = 0.0f;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::shared_ptr<Graph> g;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;

  bool has_extra() const { return extra_ != nullptr; }
  // The rare parts: empty when never set. Copies of an Attribute share them until one is
  // changed through mutable_extra(), which allocates (or unshares) them.
  const AttributeExtra& extra() const;
  AttributeExtra& mutable_extra();

  static Attribute make_int(std::string name, int64_t value);
  static Attribute make_float(std::string name, float value);
  static Attribute make_string(std::string name, std::string value);
  static Attribute make_ints(std::string name, std::vector<int64_t> values);
  static Attribute make_floats(std::string name, std::vector<float> values);
  static Attribute make_tensor(std::string name, Tensor value);
  static Attribute make_graph(std::string name, std::shared_ptr<Graph> value);  // a subgraph

 private:
  static Attribute named(std::string name, AttributeType type);
  std::shared_ptr<AttributeExtra> extra_;
};

}  // namespace qforge
