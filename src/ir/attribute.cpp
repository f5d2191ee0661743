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

const AttributeExtra& Attribute::extra() const {
  static const AttributeExtra kNone;
  return extra_ ? *extra_ : kNone;
}

AttributeExtra& Attribute::mutable_extra() {
  if (!extra_)
    extra_ = std::make_shared<AttributeExtra>();
  else if (extra_.use_count() > 1)
    extra_ = std::make_shared<AttributeExtra>(*extra_);
  return *extra_;
}

Attribute Attribute::named(std::string name, AttributeType type) {
  Attribute a;
  a.name = std::move(name);
  a.type = type;
  return a;
}

Attribute Attribute::make_int(std::string name, int64_t value) {
  Attribute a = named(std::move(name), AttributeType::Int);
  a.i = value;
  return a;
}
Attribute Attribute::make_float(std::string name, float value) {
  Attribute a = named(std::move(name), AttributeType::Float);
  a.f = value;
  return a;
}
Attribute Attribute::make_string(std::string name, std::string value) {
  Attribute a = named(std::move(name), AttributeType::String);
  a.s = std::move(value);
  return a;
}
Attribute Attribute::make_ints(std::string name, std::vector<int64_t> values) {
  Attribute a = named(std::move(name), AttributeType::Ints);
  a.ints = std::move(values);
  return a;
}
Attribute Attribute::make_floats(std::string name, std::vector<float> values) {
  Attribute a = named(std::move(name), AttributeType::Floats);
  a.floats = std::move(values);
  return a;
}
Attribute Attribute::make_tensor(std::string name, Tensor value) {
  Attribute a = named(std::move(name), AttributeType::Tensor);
  a.t = std::move(value);
  return a;
}
Attribute Attribute::make_graph(std::string name, std::shared_ptr<Graph> value) {
  Attribute a = named(std::move(name), AttributeType::Graph);
  a.g = std::move(value);
  return a;
}

}  // namespace qforge
