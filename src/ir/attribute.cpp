// SPDX-License-Identifier: Apache-2.0
#include "qforge/attribute.h"

namespace qforge {

const char* attribute_type_name(AttributeType type) {
  switch (type) {
    case AttributeType::Undefined:
      return "undefined";
    case AttributeType::Float:
      return "float";
    case AttributeType::Int:
      return "int";
    case AttributeType::String:
      return "string";
    case AttributeType::Tensor:
      return "tensor";
    case AttributeType::Graph:
      return "graph";
    case AttributeType::Floats:
      return "floats";
    case AttributeType::Ints:
      return "ints";
    case AttributeType::Strings:
      return "strings";
    case AttributeType::Tensors:
      return "tensors";
    case AttributeType::Graphs:
      return "graphs";
    case AttributeType::SparseTensor:
      return "sparse_tensor";
    case AttributeType::SparseTensors:
      return "sparse_tensors";
    case AttributeType::TypeProto:
      return "type_proto";
    case AttributeType::TypeProtos:
      return "type_protos";
  }
  return "unknown";
}

Attribute::Attribute(const Attribute& other)
    : name(other.name),
      type(other.type),
      f(other.f),
      i(other.i),
      s(other.s),
      t(other.t),
      g(other.g),
      floats(other.floats),
      ints(other.ints),
      strings(other.strings),
      extra_(other.extra_ ? std::make_unique<AttributeExtra>(*other.extra_) : nullptr) {}

Attribute& Attribute::operator=(const Attribute& other) {
  if (this != &other) *this = Attribute(other);
  return *this;
}

Attribute::~Attribute() = default;

const AttributeExtra& Attribute::extra() const {
  static const AttributeExtra kNone;
  return extra_ ? *extra_ : kNone;
}

AttributeExtra& Attribute::mutable_extra() {
  if (!extra_) extra_ = std::make_unique<AttributeExtra>();
  return *extra_;
}

Attribute Attribute::make_int(std::string name, int64_t value) {
  Attribute a;
  a.name = std::move(name);
  a.type = AttributeType::Int;
  a.i = value;
  return a;
}
Attribute Attribute::make_float(std::string name, float value) {
  Attribute a;
  a.name = std::move(name);
  a.type = AttributeType::Float;
  a.f = value;
  return a;
}
Attribute Attribute::make_string(std::string name, std::string value) {
  Attribute a;
  a.name = std::move(name);
  a.type = AttributeType::String;
  a.s = std::move(value);
  return a;
}
Attribute Attribute::make_ints(std::string name, std::vector<int64_t> values) {
  Attribute a;
  a.name = std::move(name);
  a.type = AttributeType::Ints;
  a.ints = std::move(values);
  return a;
}
Attribute Attribute::make_floats(std::string name, std::vector<float> values) {
  Attribute a;
  a.name = std::move(name);
  a.type = AttributeType::Floats;
  a.floats = std::move(values);
  return a;
}
Attribute Attribute::make_tensor(std::string name, Tensor value) {
  Attribute a;
  a.name = std::move(name);
  a.type = AttributeType::Tensor;
  a.t = std::move(value);
  return a;
}
Attribute Attribute::make_graph(std::string name, std::shared_ptr<Graph> value) {
  Attribute a;
  a.name = std::move(name);
  a.type = AttributeType::Graph;
  a.g = std::move(value);
  return a;
}

}  // namespace qforge
