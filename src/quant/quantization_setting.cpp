// SPDX-License-Identifier: Apache-2.0
// QuantizationSetting: PPQ's defaults and the JSON form used by `qforge quantize --setting`.
#include <nlohmann/json.hpp>

#include "qforge/dispatch.h"
#include "qforge/quantizer.h"

namespace qforge {

QuantizationSetting default_setting() { return QuantizationSetting{}; }

QuantizationSetting parse_setting(const std::string& json_text, const std::string& where) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::parse_error& e) {
    fail(ErrorKind::Argument, "{}: not valid JSON ({})", where, e.what());
  }
  if (!doc.is_object()) fail(ErrorKind::Argument, "{}: a setting must be a JSON object", where);
  QuantizationSetting s = default_setting();
  for (const auto& [key, value] : doc.items()) {
    auto as_bool = [&](bool& field) {
      if (!value.is_boolean()) fail(ErrorKind::Argument, "{}: '{}' should be true or false", where, key);
      field = value.get<bool>();
    };
    auto as_int = [&](int& field) {
      if (!value.is_number_integer()) fail(ErrorKind::Argument, "{}: '{}' should be an integer", where, key);
      field = value.get<int>();
    };
    auto as_float = [&](float& field) {
      if (!value.is_number()) fail(ErrorKind::Argument, "{}: '{}' should be a number", where, key);
      field = value.get<float>();
    };
    auto as_string = [&](std::string& field) {
      if (!value.is_string()) fail(ErrorKind::Argument, "{}: '{}' should be a string", where, key);
      field = value.get<std::string>();
    };
    if (key == "dispatcher") as_string(s.dispatcher);
    else if (key == "fusion") as_bool(s.fusion);
    else if (key == "quantize_parameter") as_bool(s.quantize_parameter);
    else if (key == "quantize_activation") as_bool(s.quantize_activation);
    else if (key == "activation_observer") as_string(s.activation_observer);
    else if (key == "percentile") as_float(s.observer.percentile);
    else if (key == "histogram_bins") as_int(s.observer.histogram_bins);
    else if (key == "alignment") as_bool(s.alignment);
    else if (key == "passive_parameters") as_bool(s.passive_parameters);
    else if (key == "bias_correction") as_bool(s.bias_correction);
    else if (key == "baking") as_bool(s.baking);
    else if (key == "calib_steps") as_int(s.calib_steps);
    else if (key == "calib_batch") as_int(s.calib_batch);
    else if (key == "threads") as_int(s.threads);
    else if (key == "dispatching_table") s.dispatching_table = parse_dispatching_table(value.dump(), where + ": dispatching_table");
    else fail(ErrorKind::Argument, "{}: unknown setting '{}'", where, key);
  }
  if (s.calib_steps < 1) fail(ErrorKind::Argument, "{}: calib_steps must be at least 1", where);
  if (s.calib_batch < 1) fail(ErrorKind::Argument, "{}: calib_batch must be at least 1", where);
  if (s.bias_correction) fail(ErrorKind::Argument, "{}: bias_correction is not implemented yet", where);
  return s;
}

}  // namespace qforge
