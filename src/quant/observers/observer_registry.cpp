// SPDX-License-Identifier: Apache-2.0
// The observer list (make_observer, observer_algorithms) and minmax_per_channel for weights.
// Adding an observer: its file in this folder plus one line in kObservers. Tested in
// tests/quant/test_observers.cpp.
#include <algorithm>
#include <cctype>
#include <cmath>

#include "histogram.h"

namespace qforge {

namespace {

using Factory = std::unique_ptr<Observer> (*)(const TensorQuantizationConfig&,
                                              const ObserverOptions&);

struct ObserverEntry {
  const char* name;
  Factory make;
};

constexpr ObserverEntry kObservers[] = {
    {"minmax", observers::make_minmax_observer},
    {"percentile", observers::make_percentile_observer},
    {"kl", observers::make_kl_observer},
    {"mse", observers::make_mse_observer},
    {"isotone", observers::make_isotone_observer},
    {"ema", observers::make_ema_observer},
};

std::string known_names() {
  std::string names;
  for (const ObserverEntry& entry : kObservers)
    names += (names.empty() ? "" : ", ") + std::string(entry.name);
  return names;
}

void validate_options(const ObserverOptions& options) {
  if (!(options.percentile > 0.0f && options.percentile <= 1.0f))
    fail(ErrorKind::Argument, "observer percentile {} must be in (0, 1]", options.percentile);
  if (options.histogram_bins < 16 || options.histogram_bins > (1 << 24))
    fail(ErrorKind::Argument, "observer histogram_bins {} must be in 16..{}",
         options.histogram_bins, 1 << 24);
  if (options.kl_target_bins < 2 || options.kl_target_bins > options.histogram_bins)
    fail(ErrorKind::Argument, "observer kl_target_bins {} must be in 2..histogram_bins ({})",
         options.kl_target_bins, options.histogram_bins);
  if (!(options.ema_decay >= 0.0f && options.ema_decay < 1.0f))
    fail(ErrorKind::Argument, "observer ema_decay {} must be in [0, 1)", options.ema_decay);
}

}  // namespace

std::vector<std::string> observer_algorithms() {
  std::vector<std::string> names;
  for (const ObserverEntry& entry : kObservers) names.emplace_back(entry.name);
  return names;
}

std::unique_ptr<Observer> make_observer(const std::string& algorithm,
                                        const TensorQuantizationConfig& config,
                                        const ObserverOptions& options) {
  std::string name = algorithm;
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  for (const ObserverEntry& entry : kObservers) {
    if (name != entry.name) continue;
    validate_options(options);
    if (config.quant_min >= config.quant_max)
      fail(ErrorKind::Argument, "{} observer: quant_min {} must be below quant_max {}", entry.name,
           config.quant_min, config.quant_max);
    return entry.make(config, options);
  }
  fail(ErrorKind::Argument, "unknown observer algorithm '{}' (known: {})", algorithm,
       known_names());
}

void minmax_per_channel(const Tensor& values, int axis, std::vector<float>* mins,
                        std::vector<float>* maxs) {
  QF_ASSERT(mins != nullptr && maxs != nullptr);
  observers::batch_ranges(values, true, axis, "minmax", mins, maxs);
}

}  // namespace qforge
