// SPDX-License-Identifier: Apache-2.0
// Operation: attribute access with typed getters that report the node on a type mismatch.
#include <algorithm>

#include "qforge/graph.h"

namespace qforge {

const Attribute* Operation::find_attr(std::string_view attr_name) const {
  for (const Attribute& a : attributes)
    if (a.name == attr_name) return &a;
  return nullptr;
}

Attribute* Operation::find_attr(std::string_view attr_name) {
  for (Attribute& a : attributes)
    if (a.name == attr_name) return &a;
  return nullptr;
}

namespace {
const Attribute* typed(const Operation& op, std::string_view name, AttributeType expected) {
  const Attribute* a = op.find_attr(name);
  if (a && a->type != expected)
    fail(ErrorKind::InvalidModel, "{}: attribute '{}' should be {}, found {}", op.describe(), name,
         attribute_type_name(expected), attribute_type_name(a->type));
  return a;
}
}  // namespace

int64_t Operation::attr_int(std::string_view attr_name, int64_t fallback) const {
  const Attribute* a = typed(*this, attr_name, AttributeType::Int);
  return a ? a->i : fallback;
}

float Operation::attr_float(std::string_view attr_name, float fallback) const {
  const Attribute* a = typed(*this, attr_name, AttributeType::Float);
  return a ? a->f : fallback;
}

std::string Operation::attr_string(std::string_view attr_name, const std::string& fallback) const {
  const Attribute* a = typed(*this, attr_name, AttributeType::String);
  return a ? a->s : fallback;
}

std::vector<int64_t> Operation::attr_ints(std::string_view attr_name,
                                          const std::vector<int64_t>& fallback) const {
  const Attribute* a = typed(*this, attr_name, AttributeType::Ints);
  return a ? a->ints : fallback;
}

std::vector<float> Operation::attr_floats(std::string_view attr_name,
                                          const std::vector<float>& fallback) const {
  const Attribute* a = typed(*this, attr_name, AttributeType::Floats);
  return a ? a->floats : fallback;
}

const Tensor* Operation::attr_tensor(std::string_view attr_name) const {
  const Attribute* a = typed(*this, attr_name, AttributeType::Tensor);
  return a ? &a->t : nullptr;
}

void Operation::set_attr(Attribute attribute) {
  if (Attribute* existing = find_attr(attribute.name)) {
    *existing = std::move(attribute);
    return;
  }
  attributes.push_back(std::move(attribute));
}

bool Operation::remove_attr(std::string_view attr_name) {
  auto it = std::find_if(attributes.begin(), attributes.end(),
                         [&](const Attribute& a) { return a.name == attr_name; });
  if (it == attributes.end()) return false;
  attributes.erase(it);
  return true;
}

std::vector<Graph*> Operation::subgraphs() const {
  std::vector<Graph*> out;
  for (const Attribute& a : attributes) {
    if (a.type == AttributeType::Graph && a.g) out.push_back(a.g.get());
    if (a.type == AttributeType::Graphs)
      for (const auto& g : a.extra().graphs)
        if (g) out.push_back(g.get());
  }
  return out;
}

std::string Operation::describe() const {
  std::string qualified = domain.empty() || domain == "ai.onnx" ? type : domain + "." + type;
  return fmt::format("node '{}' ({})", name, qualified);
}

}  // namespace qforge
