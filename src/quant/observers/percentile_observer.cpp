// SPDX-License-Identifier: Apache-2.0
// percentile observer: clips to the ObserverOptions::percentile quantile of the calibration
// data, read from the pass-1 histogram with linear interpolation inside a bin. Symmetric
// configs use |x| (one tail); asymmetric ones cut both tails of x. Registered in
// observer_registry.cpp; tested in tests/quant/test_observers.cpp.
//
// PPQ takes torch.kthvalue quantiles of every batch and averages them over batches, so its
// result depends on the batch size and it keeps every batch's numbers; the quantile of the
// pooled histogram does neither.
#include <algorithm>

#include "histogram.h"

namespace qforge::observers {

namespace {

class PercentileObserver final : public TwoPassObserver {
 public:
  PercentileObserver(const TensorQuantizationConfig& config, const ObserverOptions& options)
      : TwoPassObserver("percentile", config, options) {}

 protected:
  std::pair<double, double> choose_range(const Histogram& histogram,
                                         const TensorQuantizationConfig&) const override {
    const double p = options().percentile;
    if (absolute()) {
      const double t = std::min(histogram.quantile(p), static_cast<double>(range().abs_max()));
      return {-t, t};
    }
    const double lo = std::max(histogram.quantile(1.0 - p), static_cast<double>(range().min));
    const double hi = std::min(histogram.quantile(p), static_cast<double>(range().max));
    return {lo, std::max(lo, hi)};
  }
};

}  // namespace

std::unique_ptr<Observer> make_percentile_observer(const TensorQuantizationConfig& config,
                                                   const ObserverOptions& options) {
  return std::make_unique<PercentileObserver>(config, options);
}

}  // namespace qforge::observers
