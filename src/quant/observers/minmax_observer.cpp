// SPDX-License-Identifier: Apache-2.0
// minmax observer (PPQ's TorchMinMaxObserver): running min/max of the finite values, per tensor
// or per channel along config.channel_axis. One pass; state is one pair per channel.
// Registered in observer_registry.cpp; tested in tests/quant/test_observers.cpp.
#include <algorithm>

#include "histogram.h"

namespace qforge::observers {

namespace {

constexpr const char* kName = "minmax";

class MinMaxObserver final : public Observer {
 public:
  explicit MinMaxObserver(const TensorQuantizationConfig& config)
      : per_channel_(config.policy.per_channel), axis_(config.channel_axis) {}

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
    for (size_t c = 0; c < mins.size(); ++c) {
      mins_[c] = std::min(mins_[c], mins[c]);
      maxs_[c] = std::max(maxs_[c], maxs[c]);
    }
  }

  void render(TensorQuantizationConfig& config) const override {
    render_ranges(config, per_channel_, mins_, maxs_, kName);
  }

  int64_t non_finite_count() const override { return non_finite_; }

 private:
  bool per_channel_;
  int axis_;
  std::vector<float> mins_, maxs_;  // one entry per tensor, or per channel
  int64_t non_finite_ = 0;
};

}  // namespace

std::unique_ptr<Observer> make_minmax_observer(const TensorQuantizationConfig& config,
                                               const ObserverOptions&) {
  return std::make_unique<MinMaxObserver>(config);
}

}  // namespace qforge::observers
