// SPDX-License-Identifier: Apache-2.0
// Calibration observers (PPQ's TensorObserver). Each keeps fixed-size state — running min/max,
// or histograms of 2048+ bins — never the activations, so memory does not grow with the number
// of calibration samples. Observers that need a histogram run in two passes over the data: the
// first records the range, the second fills the histogram over that range; one histogram can
// then be evaluated with several methods (minmax, percentile, KL, MSE) offline.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "qforge/quantization_config.h"

namespace qforge {

struct ObserverOptions {
  float percentile = 0.9999f;  // fraction of |x| mass kept by the percentile method
  int histogram_bins = 4096;   // KL uses 4096 bins of |x| (PPQ), merged into 128 levels
  int kl_target_bins = 128;
  float ema_decay = 0.99f;
  int isotone_axis = -1;  // rows whose order the isotone observer keeps run along this axis
};

class Observer {
 public:
  virtual ~Observer() = default;
  // Number of passes over the calibration data this observer needs (1 or 2).
  virtual int passes() const = 0;
  // Sees one batch of values for the given pass (0-based). Non-finite values are ignored and
  // counted.
  virtual void observe(const Tensor& values, int pass) = 0;
  // Writes scale/offset into `config` (per channel when its policy says so) and sets it
  // Activated. Fails when nothing was observed.
  virtual void render(TensorQuantizationConfig& config) const = 0;
  virtual int64_t non_finite_count() const = 0;
};

// Algorithms: "minmax", "percentile", "kl", "mse", "isotone", "ema". Unknown names fail with an
// Argument error listing the known ones.
std::unique_ptr<Observer> make_observer(const std::string& algorithm, const TensorQuantizationConfig& config,
                                        const ObserverOptions& options = {});
std::vector<std::string> observer_algorithms();

// Per-channel min/max of a parameter along `axis` (weights; negative counts from the end).
// Non-finite values are skipped; a channel without a finite value gets +inf / -inf.
void minmax_per_channel(const Tensor& values, int axis, std::vector<float>* mins, std::vector<float>* maxs);

}  // namespace qforge
