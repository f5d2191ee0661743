// SPDX-License-Identifier: Apache-2.0
// QuantizationSetting: PPQ's defaults and the JSON form used by `qforge quantize --setting`.
// kKeys gives every field of QuantizationSetting and ObserverOptions its key (the table in
// docs/quantization.md lists them). Tested in tests/quant/test_quantizer.cpp
// (QuantizationSetting.*).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <variant>

#include "qforge/dispatch.h"
#include "qforge/observer.h"
#include "qforge/quantizer.h"

namespace qforge {

namespace {

template <typename T>
using Field = T& (*)(QuantizationSetting&);
using AnyField = std::variant<Field<bool>, Field<int>, Field<float>, Field<std::string>,
                              Field<DispatchingTable>>;

struct SettingKey {
  const char* key;
  AnyField field;
};

#define QF_FIELD(type, member) \
  static_cast<Field<type>>([](QuantizationSetting& s) -> type& { return s.member; })

const SettingKey kKeys[] = {
    {"dispatcher", QF_FIELD(std::string, dispatcher)},
    {"dispatching_table", QF_FIELD(DispatchingTable, dispatching_table)},
    {"fusion", QF_FIELD(bool, fusion)},
    {"quantize_parameter", QF_FIELD(bool, quantize_parameter)},
    {"quantize_activation", QF_FIELD(bool, quantize_activation)},
    {"activation_observer", QF_FIELD(std::string, activation_observer)},
    {"percentile", QF_FIELD(float, observer.percentile)},
    {"histogram_bins", QF_FIELD(int, observer.histogram_bins)},
    {"kl_target_bins", QF_FIELD(int, observer.kl_target_bins)},
    {"ema_decay", QF_FIELD(float, observer.ema_decay)},
    {"isotone_axis", QF_FIELD(int, observer.isotone_axis)},
    {"alignment", QF_FIELD(bool, alignment)},
    {"passive_parameters", QF_FIELD(bool, passive_parameters)},
    {"bias_correction", QF_FIELD(bool, bias_correction)},
    {"baking", QF_FIELD(bool, baking)},
    {"keep_fp32_parameters", QF_FIELD(bool, keep_fp32_parameters)},
    {"calib_steps", QF_FIELD(int, calib_steps)},
    {"calib_batch", QF_FIELD(int, calib_batch)},
    {"threads", QF_FIELD(int, threads)},
    {"progress", QF_FIELD(bool, progress)},
};

#undef QF_FIELD

// Reads `value` into the field `key` names, with an error naming the key on a wrong type.
void set_field(QuantizationSetting& s, const SettingKey& key, const nlohmann::json& value,
               const std::string& where) {
  auto wrong = [&](const char* expected) {
    fail(ErrorKind::Argument, "{}: '{}' should be {}", where, key.key, expected);
  };
  std::visit(
      [&](auto field) {
        auto& target = field(s);
        using T = std::decay_t<decltype(target)>;
        if constexpr (std::is_same_v<T, bool>) {
          if (!value.is_boolean()) wrong("true or false");
          target = value.get<bool>();
        } else if constexpr (std::is_same_v<T, int>) {
          if (!value.is_number_integer()) wrong("an integer");
          target = value.get<int>();
        } else if constexpr (std::is_same_v<T, float>) {
          if (!value.is_number()) wrong("a number");
          target = value.get<float>();
        } else if constexpr (std::is_same_v<T, std::string>) {
          if (!value.is_string()) wrong("a string");
          target = value.get<std::string>();
        } else {
          target = parse_dispatching_table(value.dump(), where + ": " + key.key);
        }
      },
      key.field);
}

void validate(const QuantizationSetting& s, const std::string& where) {
  const std::vector<std::string> dispatchers = dispatcher_names();
  if (std::find(dispatchers.begin(), dispatchers.end(), s.dispatcher) == dispatchers.end())
    fail(ErrorKind::Argument, "{}: unknown dispatcher '{}' (expected {})", where, s.dispatcher,
         fmt::join(dispatchers, ", "));
  // The observers' own checks (known algorithm, option ranges) now rather than at calibration.
  with_error_context(where, [&] {
    make_observer(s.activation_observer.empty() ? "minmax" : s.activation_observer,
                  TensorQuantizationConfig{}, s.observer);
  });
  if (s.calib_steps < 1) fail(ErrorKind::Argument, "{}: calib_steps must be at least 1", where);
  if (s.calib_batch < 1) fail(ErrorKind::Argument, "{}: calib_batch must be at least 1", where);
  if (s.threads < 0) fail(ErrorKind::Argument, "{}: threads must be 0 (all cores) or more", where);
  if (s.bias_correction)
    fail(ErrorKind::Argument, "{}: bias_correction is not implemented yet", where);
}

}  // namespace

QuantizationSetting default_setting() {
  return QuantizationSetting{};
}

std::vector<std::string> setting_keys() {
  std::vector<std::string> keys;
  for (const SettingKey& key : kKeys) keys.emplace_back(key.key);
  return keys;
}

QuantizationSetting parse_setting(const std::string& json_text, const std::string& where) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::parse_error& e) {
    fail(ErrorKind::Argument, "{}: not valid JSON ({})", where, e.what());
  }
  if (!doc.is_object()) fail(ErrorKind::Argument, "{}: a setting must be a JSON object", where);
  QuantizationSetting s = default_setting();
  for (const auto& [name, value] : doc.items()) {
    const auto key = std::find_if(std::begin(kKeys), std::end(kKeys),
                                  [&](const SettingKey& k) { return name == k.key; });
    if (key == std::end(kKeys))
      fail(ErrorKind::Argument, "{}: unknown setting '{}' (known: {})", where, name,
           fmt::join(setting_keys(), ", "));
    set_field(s, *key, value, where);
  }
  validate(s, where);
  return s;
}

}  // namespace qforge
