// SPDX-License-Identifier: Apache-2.0
// Platform tables: parsing and validation of the JSON schema (built-in tables are embedded
// from src/quant/platforms/*.json). Errors name the file and field. Tested in
// tests/quant/test_platform.cpp.
#include "qforge/platform.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

#include "qforge/file_io.h"

namespace qforge {

extern const std::pair<std::string_view, std::string_view> kBuiltinPlatformFiles[];
extern const int kBuiltinPlatformCount;

namespace {

using nlohmann::json;

const json& field(const json& object, const char* key, const std::string& where) {
  if (!object.is_object() || !object.contains(key)) fail(ErrorKind::Argument, "{}: missing field '{}'", where, key);
  return object.at(key);
}

template <typename T>
T typed(const json& object, const char* key, const std::string& where, const char* expected) {
  const json& value = field(object, key, where);
  try {
    return value.get<T>();
  } catch (const json::exception&) {
    fail(ErrorKind::Argument, "{}: field '{}' should be {}, found {}", where, key, expected, value.dump());
  }
}

template <typename T>
T typed_or(const json& object, const char* key, const std::string& where, const char* expected, T fallback) {
  return object.contains(key) ? typed<T>(object, key, where, expected) : fallback;
}

QuantScheme parse_scheme(const json& object, const std::string& where) {
  if (!object.is_object()) fail(ErrorKind::Argument, "{}: should be an object", where);
  static const char* const kKnown[] = {"symmetric", "per_channel", "power_of_2", "num_bits", "quant_min",
                                       "quant_max", "rounding", "observer", "channel_axis"};
  for (const auto& [key, value] : object.items())
    if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown))
      fail(ErrorKind::Argument, "{}: unknown field '{}'", where, key);
  QuantScheme s;
  s.policy.symmetric = typed<bool>(object, "symmetric", where, "true or false");
  s.policy.per_channel = typed_or<bool>(object, "per_channel", where, "true or false", false);
  s.policy.power_of_2 = typed_or<bool>(object, "power_of_2", where, "true or false", false);
  s.num_bits = typed<int>(object, "num_bits", where, "an integer");
  s.quant_min = typed<int64_t>(object, "quant_min", where, "an integer");
  s.quant_max = typed<int64_t>(object, "quant_max", where, "an integer");
  s.channel_axis = typed_or<int>(object, "channel_axis", where, "an integer", 0);
  s.observer = typed_or<std::string>(object, "observer", where, "a string", "minmax");
  const std::string rounding = typed_or<std::string>(object, "rounding", where, "a string", "half_even");
  s.rounding = with_error_context(where + ": field 'rounding'", [&] { return rounding_policy_from_name(rounding); });
  s.make_config().validate(where);
  return s;
}

std::vector<std::string> string_list(const json& object, const char* key, const std::string& where) {
  return typed_or<std::vector<std::string>>(object, key, where, "a list of strings", {});
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

TensorQuantizationConfig QuantScheme::make_config() const {
  TensorQuantizationConfig c;
  c.policy = policy;
  c.num_bits = num_bits;
  c.quant_min = quant_min;
  c.quant_max = quant_max;
  c.rounding = rounding;
  c.observer_algorithm = observer;
  c.channel_axis = channel_axis;
  c.state = QuantizationState::Initial;
  return c;
}

bool Platform::quantizes(const std::string& op_type) const {
  return std::find(quantized_ops.begin(), quantized_ops.end(), op_type) != quantized_ops.end();
}

bool Platform::is_passive(const std::string& op_type) const {
  return std::find(passive_ops.begin(), passive_ops.end(), op_type) != passive_ops.end();
}

Platform parse_platform(const std::string& json_text, const std::string& where) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::parse_error& e) {
    fail(ErrorKind::Argument, "{}: not valid JSON ({})", where, e.what());
  }
  if (!doc.is_object()) fail(ErrorKind::Argument, "{}: a platform must be a JSON object", where);
  static const char* const kKnown[] = {"name", "description", "activation", "weight", "weight_channel_axis", "bias",
                                       "quantized_ops", "passive_ops", "fusible_activations", "alignment",
                                       "quantize_outputs", "exporter"};
  for (const auto& [key, value] : doc.items())
    if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown))
      fail(ErrorKind::Argument, "{}: unknown field '{}'", where, key);
  Platform p;
  p.name = typed<std::string>(doc, "name", where, "a string");
  p.description = typed_or<std::string>(doc, "description", where, "a string", "");
  p.activation = parse_scheme(field(doc, "activation", where), where + ": activation");
  p.weight = parse_scheme(field(doc, "weight", where), where + ": weight");
  p.weight_channel_axis = typed_or<std::map<std::string, int>>(doc, "weight_channel_axis", where,
                                                                "an object of op type -> axis", {});
  const std::string bias = typed_or<std::string>(doc, "bias", where, "a string", "fp32");
  if (bias == "fp32") p.bias = BiasMode::FP32;
  else if (bias == "int32") p.bias = BiasMode::Int32Passive;
  else fail(ErrorKind::Argument, "{}: field 'bias' should be \"fp32\" or \"int32\", found \"{}\"", where, bias);
  p.quantized_ops = string_list(doc, "quantized_ops", where);
  if (p.quantized_ops.empty()) fail(ErrorKind::Argument, "{}: field 'quantized_ops' is empty", where);
  p.passive_ops = string_list(doc, "passive_ops", where);
  p.fusible_activations = string_list(doc, "fusible_activations", where);
  p.alignment = typed_or<std::map<std::string, std::string>>(doc, "alignment", where, "an object of op type -> rule", {});
  for (const auto& [op, rule] : p.alignment)
    if (rule != "output" && rule != "max" && rule != "none")
      fail(ErrorKind::Argument, "{}: alignment rule for {} should be output, max or none, found \"{}\"", where, op, rule);
  p.quantize_outputs = typed_or<bool>(doc, "quantize_outputs", where, "true or false", true);
  p.exporter = typed_or<std::string>(doc, "exporter", where, "a string", "qdq_onnx");
  return p;
}

std::vector<std::string> builtin_platforms() {
  std::vector<std::string> names;
  for (int i = 0; i < kBuiltinPlatformCount; ++i) names.push_back(upper(std::string(kBuiltinPlatformFiles[i].first)));
  return names;
}

Platform load_platform(const std::string& name_or_path) {
  if (name_or_path.size() > 5 && name_or_path.substr(name_or_path.size() - 5) == ".json")
    return parse_platform(read_file(name_or_path), name_or_path);
  const std::string wanted = upper(name_or_path);
  for (int i = 0; i < kBuiltinPlatformCount; ++i)
    if (upper(std::string(kBuiltinPlatformFiles[i].first)) == wanted)
      return parse_platform(std::string(kBuiltinPlatformFiles[i].second),
                            fmt::format("built-in platform {}", kBuiltinPlatformFiles[i].first));
  fail(ErrorKind::Argument, "unknown platform '{}' (built-in: {}; or a .json file)", name_or_path,
       fmt::join(builtin_platforms(), ", "));
}

}  // namespace qforge
