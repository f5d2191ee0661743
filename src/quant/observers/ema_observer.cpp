// SPDX-License-Identifier: Apache-2.0
// ema observer: exponential moving average of each batch's min and max, ema = d * ema +
// (1 - d) * batch with d = ObserverOptions::ema_decay; the first batch sets it. Per tensor or
// per channel; one pass. Registered in observer_registry.cpp; tested in
// tests/quant/test_observers.cpp.
#include "histogram.h"

namespace qforge::observers {

namespace {

constexpr const char* kName = "ema";

class EmaObserver final : public Observer {
 public:
  EmaObserver(const TensorQuantizationConfig& config, float decay)
      : per_channel_(config.policy.per_channel), axis_(config.channel_axis), decay_(decay) {}

  int passes() const override { return 1; }

  void observe(const Tensor& values, int pass) override {
    check_pass(pass, 1, kName);
    std::vector<float> mins, maxs;
    non_finite_ += batch_ranges(values, per_channel_, axis_, kName, &mins, &maxs);
    if (mins_.empty()) {
      mins_ = std::move(mins);
      maxs_ = std::move(maxs);
      return;
    }
    if (mins.size() != mins_.size())
      fail(ErrorKind::Shape, "{} observer: a batch has {} channels on axis {}, earlier ones had {}",
           kName, mins.size(), axis_, mins_.size());
    const double d = decay_;
    for (size_t c = 0; c < mins.size(); ++c) {
      if (!(mins[c] <= maxs[c])) continue;  // no finite value in this batch: keep the average
      if (!(mins_[c] <= maxs_[c])) {        // first finite batch for this entry
        mins_[c] = mins[c];
        maxs_[c] = maxs[c];
        continue;
      }
      mins_[c] = static_cast<float>(d * mins_[c] + (1.0 - d) * mins[c]);
      maxs_[c] = static_cast<float>(d * maxs_[c] + (1.0 - d) * maxs[c]);
    }
  }

  void render(TensorQuantizationConfig& config) const override {
    render_ranges(config, per_channel_, mins_, maxs_, kName);
  }

  int64_t non_finite_count() const override { return non_finite_; }

 private:
  bool per_channel_;
  int axis_;
  float decay_;
  std::vector<float> mins_, maxs_;  // one entry per tensor, or per channel
  int64_t non_finite_ = 0;
};

}  // namespace

std::unique_ptr<Observer> make_ema_observer(const TensorQuantizationConfig& config,
                                            const ObserverOptions& options) {
  return std::make_unique<EmaObserver>(config, options.ema_decay);
}

}  // namespace qforge::observers
