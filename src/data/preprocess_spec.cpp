// SPDX-License-Identifier: Apache-2.0
// The JSON form of PreprocessSpec (parse_preprocess_spec) and its one-line description. Keys
// and their meaning are listed in docs/calibration_data.md; tested in
// tests/data/test_calibration_data.cpp.
#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "data/data_internal.h"

namespace qforge {

namespace {

using nlohmann::json;

[[noreturn]] void wrong_type(const std::string& where, const std::string& key, const char* expected,
                             const json& value) {
  fail(ErrorKind::Argument, "{}: preprocessing key '{}' must be {}, found {}", where, key, expected,
       value.dump());
}

int positive_int(const json& value, const std::string& where, const std::string& key,
                 const char* expected) {
  if (!value.is_number_integer() || value.get<int64_t>() <= 0 || value.get<int64_t>() > 1 << 20)
    wrong_type(where, key, expected, value);
  return value.get<int>();
}

std::pair<int, int> size_pair(const json& value, const std::string& where, const std::string& key,
                              const char* expected) {
  if (value.is_number_integer()) {  // a square
    const int side = positive_int(value, where, key, expected);
    return {side, side};
  }
  if (!value.is_array() || value.size() != 2) wrong_type(where, key, expected, value);
  return {positive_int(value[0], where, key, expected),
          positive_int(value[1], where, key, expected)};
}

std::vector<float> float_list(const json& value, const std::string& where, const std::string& key) {
  const char* expected = "a number or a list of numbers (one per channel)";
  if (value.is_number()) return {value.get<float>()};
  if (!value.is_array() || value.empty()) wrong_type(where, key, expected, value);
  std::vector<float> out;
  for (const json& item : value) {
    if (!item.is_number()) wrong_type(where, key, expected, value);
    out.push_back(item.get<float>());
  }
  return out;
}

std::string upper_string(const json& value, const std::string& where, const std::string& key,
                         const std::vector<std::string>& allowed) {
  const std::string expected = "one of \"" + fmt::format("{}", fmt::join(allowed, "\", \"")) + "\"";
  if (!value.is_string()) wrong_type(where, key, expected.c_str(), value);
  std::string text = value.get<std::string>();
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (std::find(allowed.begin(), allowed.end(), text) == allowed.end())
    wrong_type(where, key, expected.c_str(), value);
  return text;
}

DataType parse_dtype(const json& value, const std::string& where) {
  static const std::pair<const char*, DataType> kTypes[] = {
      {"float32", DataType::Float},  {"float", DataType::Float},   {"float16", DataType::Float16},
      {"float64", DataType::Double}, {"double", DataType::Double}, {"uint8", DataType::UInt8},
      {"int8", DataType::Int8}};
  const char* expected = "one of \"float32\", \"float16\", \"float64\", \"uint8\", \"int8\"";
  if (!value.is_string()) wrong_type(where, "dtype", expected, value);
  for (const auto& [name, type] : kTypes)
    if (value.get<std::string>() == name) return type;
  wrong_type(where, "dtype", expected, value);
}

void check_channel_counts(const PreprocessSpec& spec, const std::string& where) {
  const size_t channels = spec.color == "GRAY" ? 1 : 3;
  for (const auto& [key, list] : {std::pair{"mean", &spec.mean}, std::pair{"std", &spec.std}})
    if (list->size() > 1 && list->size() != channels)
      fail(ErrorKind::Argument,
           "{}: preprocessing key '{}' has {} values; {} images have {} channel{}", where, key,
           list->size(), spec.color, channels, channels == 1 ? "" : "s");
  for (float s : spec.std)
    if (s == 0.0f) fail(ErrorKind::Argument, "{}: preprocessing key 'std' holds a zero", where);
}

}  // namespace

PreprocessSpec parse_preprocess_spec(const std::string& json_text, const std::string& where) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::exception& e) {
    fail(ErrorKind::Argument, "{}: preprocessing spec is not valid JSON: {}", where, e.what());
  }
  if (!doc.is_object())
    fail(ErrorKind::Argument, "{}: preprocessing spec must be a JSON object, found {}", where,
         doc.type_name());
  PreprocessSpec spec;
  for (const auto& [key, value] : doc.items()) {
    if (key == "resize") {
      const char* expected = "a positive integer (shorter side) or [height, width]";
      if (value.is_number_integer())
        spec.resize_shorter = positive_int(value, where, key, expected);
      else
        spec.resize = size_pair(value, where, key, expected);
    } else if (key == "center_crop") {
      spec.center_crop = size_pair(value, where, key, "a positive integer or [height, width]");
    } else if (key == "mean") {
      spec.mean = float_list(value, where, key);
    } else if (key == "std") {
      spec.std = float_list(value, where, key);
    } else if (key == "scale") {
      if (!value.is_number()) wrong_type(where, key, "a number", value);
      spec.scale = value.get<float>();
    } else if (key == "color") {
      spec.color = upper_string(value, where, key, {"RGB", "BGR", "GRAY"});
    } else if (key == "layout") {
      spec.layout = upper_string(value, where, key, {"NCHW", "NHWC"});
    } else if (key == "dtype") {
      spec.dtype = parse_dtype(value, where);
    } else if (key == "input") {
      if (!value.is_string()) wrong_type(where, key, "a string (a model input name)", value);
      spec.input_name = value.get<std::string>();
    } else {
      fail(ErrorKind::Argument,
           "{}: unknown preprocessing key '{}' (known: resize, center_crop, mean, std, scale, "
           "color, layout, dtype, input)",
           where, key);
    }
  }
  check_channel_counts(spec, where);
  return spec;
}

namespace data {

std::string describe_spec(const PreprocessSpec& spec) {
  std::vector<std::string> parts;
  if (spec.resize_shorter)
    parts.push_back(fmt::format("resize shorter side to {}", *spec.resize_shorter));
  if (spec.resize)
    parts.push_back(fmt::format("resize {}x{}", spec.resize->first, spec.resize->second));
  if (spec.center_crop)
    parts.push_back(
        fmt::format("center crop {}x{}", spec.center_crop->first, spec.center_crop->second));
  parts.push_back(fmt::format("{} {} {}", spec.color, spec.layout, dtype_name(spec.dtype)));
  if (spec.scale != 1.0f) parts.push_back(fmt::format("scale {:g}", spec.scale));
  if (!spec.mean.empty()) parts.push_back(fmt::format("mean [{}]", fmt::join(spec.mean, ", ")));
  if (!spec.std.empty()) parts.push_back(fmt::format("std [{}]", fmt::join(spec.std, ", ")));
  return fmt::format("{}", fmt::join(parts, ", "));
}

}  // namespace data

}  // namespace qforge
