// SPDX-License-Identifier: Apache-2.0
// Range scans, the fixed-range histogram and the two-pass observer base shared by the
// observers in this folder (see histogram.h). Tested in tests/quant/test_observers.cpp.
#include "histogram.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

namespace qforge::observers {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// One branch-free step over `count` independent lanes; written with selects (no reduction,
// no short-circuit) so the compiler vectorizes it. NaN and +-Inf fail |v| <= FLT_MAX.
inline void update_lanes(const float* x, int64_t count, float* mins, float* maxs, int64_t* bad) {
  for (int64_t j = 0; j < count; ++j) {
    const float v = x[j];
    const bool finite = std::fabs(v) <= FLT_MAX;
    mins[j] = (finite & (v < mins[j])) ? v : mins[j];
    maxs[j] = (finite & (v > maxs[j])) ? v : maxs[j];
    bad[j] += finite ? 0 : 1;
  }
}

}  // namespace

void RangeStats::merge(const RangeStats& other) {
  min = std::min(min, other.min);
  max = std::max(max, other.max);
  finite += other.finite;
  non_finite += other.non_finite;
}

float RangeStats::abs_max() const {
  return finite == 0 ? 0.0f : std::max(std::fabs(min), std::fabs(max));
}

RangeStats scan_range(const float* x, int64_t n) {
  constexpr int64_t kLanes = 32;
  float mins[kLanes], maxs[kLanes];
  int64_t bad[kLanes] = {};
  std::fill_n(mins, kLanes, kInf);
  std::fill_n(maxs, kLanes, -kInf);
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) update_lanes(x + i, kLanes, mins, maxs, bad);
  update_lanes(x + i, n - i, mins, maxs, bad);
  RangeStats stats;
  for (int64_t j = 0; j < kLanes; ++j) {
    stats.min = std::min(stats.min, mins[j]);
    stats.max = std::max(stats.max, maxs[j]);
    stats.non_finite += bad[j];
  }
  stats.finite = n - stats.non_finite;
  return stats;
}

int64_t channel_minmax(const float* x, int64_t outer, int64_t channels, int64_t inner, float* mins,
                       float* maxs) {
  int64_t bad_total = 0;
  if (inner == 1) {
    // Channels are the innermost axis (e.g. MatMul weights on their last axis): the channel
    // arrays themselves are the lanes.
    std::vector<int64_t> bad(static_cast<size_t>(channels), 0);
    for (int64_t o = 0; o < outer; ++o)
      update_lanes(x + o * channels, channels, mins, maxs, bad.data());
    for (int64_t b : bad) bad_total += b;
    return bad_total;
  }
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c) {
      const RangeStats run = scan_range(x + (o * channels + c) * inner, inner);
      mins[c] = std::min(mins[c], run.min);
      maxs[c] = std::max(maxs[c], run.max);
      bad_total += run.non_finite;
    }
  return bad_total;
}

AxisLayout axis_layout(const Tensor& t, int axis, const char* algorithm) {
  const int rank = t.rank();
  const int a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    fail(ErrorKind::Argument, "{} observer: axis {} is out of range for a {} tensor", algorithm,
         axis, shape_to_string(t.shape()));
  AxisLayout layout;
  for (int d = 0; d < a; ++d) layout.outer *= t.dim(d);
  layout.size = t.dim(a);
  for (int d = a + 1; d < rank; ++d) layout.inner *= t.dim(d);
  return layout;
}

int64_t batch_ranges(const Tensor& values, bool per_channel, int axis, const char* algorithm,
                     std::vector<float>* mins, std::vector<float>* maxs) {
  const Tensor data = as_float32(values, algorithm);
  if (!per_channel) {
    const RangeStats stats = scan_range(data.data<float>(), data.numel());
    *mins = {stats.min};
    *maxs = {stats.max};
    return stats.non_finite;
  }
  const AxisLayout layout = axis_layout(data, axis, algorithm);
  mins->assign(static_cast<size_t>(layout.size), kInf);
  maxs->assign(static_cast<size_t>(layout.size), -kInf);
  return channel_minmax(data.data<float>(), layout.outer, layout.size, layout.inner, mins->data(),
                        maxs->data());
}

Tensor as_float32(const Tensor& t, const char* algorithm) {
  if (t.dtype() == DataType::Float) return t;
  if (!dtype_is_floating(t.dtype()) && !dtype_is_integer(t.dtype()))
    fail(ErrorKind::Argument, "{} observer: cannot observe a {} tensor", algorithm,
         dtype_name(t.dtype()));
  return t.cast(DataType::Float);
}

Histogram::Histogram(int bins, double lo, double hi)
    : bins_(bins),
      lo_(lo),
      hi_(hi),
      width_((hi - lo) / bins),
      counts_(static_cast<size_t>(bins), 0) {
  QF_ASSERT(bins > 0 && hi > lo && std::isfinite(width_) && width_ > 0);
}

namespace {

// Bin index of each value (`bins` for non-finite ones) in a branch-free, vectorized loop.
inline void bin_indices(const float* x, int64_t n, bool absolute, float lo, float per_unit,
                        int bins, int32_t* index) {
  const float top = static_cast<float>(bins - 1);
  const float trash = static_cast<float>(bins);
  for (int64_t j = 0; j < n; ++j) {
    const float v = absolute ? std::fabs(x[j]) : x[j];
    const bool finite = std::fabs(x[j]) <= FLT_MAX;
    const float t = std::min(std::max((v - lo) * per_unit, 0.0f), top);
    index[j] = static_cast<int32_t>(finite ? t : trash);
  }
}

}  // namespace

void Histogram::add(const float* x, int64_t n, bool absolute) {
  constexpr int64_t kBlock = 1024;
  constexpr int kWays = 4;
  int32_t index[kBlock];
  const float lo = static_cast<float>(lo_);
  const float per_unit = static_cast<float>(bins_ / (hi_ - lo_));
  const size_t stride = static_cast<size_t>(bins_) + 1;  // + a slot for the dropped values
  // Large inputs count into kWays interleaved 32-bit tables: a spike of equal values (the
  // zeros of a ReLU) would otherwise chain every increment on one counter's store.
  const bool interleave = n >= 32 * static_cast<int64_t>(stride);
  std::vector<uint32_t> ways(interleave ? kWays * stride : 0, 0);
  int64_t dropped = 0;
  for (int64_t begin = 0; begin < n; begin += kBlock) {
    const int64_t len = std::min(kBlock, n - begin);
    bin_indices(x + begin, len, absolute, lo, per_unit, bins_, index);
    if (interleave) {
      uint32_t* w = ways.data();
      int64_t j = 0;
      for (; j + kWays <= len; j += kWays)
        for (int k = 0; k < kWays; ++k)
          ++w[static_cast<size_t>(k) * stride + static_cast<size_t>(index[j + k])];
      for (; j < len; ++j) ++w[static_cast<size_t>(index[j])];
    } else {
      for (int64_t j = 0; j < len; ++j) {
        if (index[j] < bins_)
          ++counts_[static_cast<size_t>(index[j])];
        else
          ++dropped;
      }
    }
    // 32-bit tables take at most 2^31 counts per way: flush well before.
    if (interleave && (begin / kBlock) % (int64_t{1} << 20) == (int64_t{1} << 20) - 1)
      flush(ways, stride, kWays);
  }
  if (interleave)
    flush(ways, stride, kWays);
  else
    total_ += n - dropped;
}

void Histogram::flush(std::vector<uint32_t>& ways, size_t stride, int count) {
  for (int w = 0; w < count; ++w)
    for (int b = 0; b < bins_; ++b) {
      uint32_t& slot = ways[static_cast<size_t>(w) * stride + static_cast<size_t>(b)];
      counts_[static_cast<size_t>(b)] += slot;
      total_ += slot;
      slot = 0;
    }
}

double Histogram::quantile(double fraction) const {
  const double target = std::clamp(fraction, 0.0, 1.0) * static_cast<double>(total_);
  double below = 0;
  for (int b = 0; b < bins_; ++b) {
    const double count = static_cast<double>(counts_[static_cast<size_t>(b)]);
    if (count > 0 && below + count >= target)
      return edge(b) + std::clamp((target - below) / count, 0.0, 1.0) * width_;
    below += count;
  }
  return hi_;
}

TwoPassObserver::TwoPassObserver(const char* algorithm, const TensorQuantizationConfig& config,
                                 const ObserverOptions& options)
    : algorithm_(algorithm), options_(options), absolute_(config.policy.symmetric) {
  reject_per_channel(config, algorithm);
}

void TwoPassObserver::observe(const Tensor& values, int pass) {
  check_pass(pass, 2, algorithm_);
  const Tensor data = as_float32(values, algorithm_);
  const float* x = data.data<float>();
  if (pass == 0) {
    if (histogram_)
      fail(ErrorKind::Argument,
           "{} observer: pass 0 (range) data came after pass 1 (histogram) began", algorithm_);
    range_.merge(scan_range(x, data.numel()));
    return;
  }
  if (range_.finite == 0) return;  // nothing finite in pass 0: no range to bin over
  if (!histogram_) {
    // The range includes 0 (as the quantization grid does); a degenerate one (all values
    // equal to 0) has nothing to search and render() treats it as minmax.
    const double lo = absolute_ ? 0.0 : std::min(range_.min, 0.0f);
    const double hi = absolute_ ? range_.abs_max() : std::max(range_.max, 0.0f);
    if (!(hi > lo)) return;
    histogram_.emplace(options_.histogram_bins, lo, hi);
  }
  histogram_->add(x, data.numel(), absolute_);
}

void TwoPassObserver::render(TensorQuantizationConfig& config) const {
  if (range_.finite == 0) fail_nothing_observed(algorithm_);
  reject_per_channel(config, algorithm_);
  if (config.policy.symmetric != absolute_)
    fail(ErrorKind::Argument, "{} observer was made for a {} config, not a {} one", algorithm_,
         absolute_ ? "symmetric" : "asymmetric",
         config.policy.symmetric ? "symmetric" : "asymmetric");
  const bool degenerate = range_.min == 0.0f && range_.max == 0.0f;
  if (degenerate) {
    write_range(config, 0.0f, 0.0f);
    return;
  }
  if (!histogram_ || histogram_->total() == 0)
    fail(ErrorKind::Argument,
         "{} observer needs its second pass (histogram) over the data before render", algorithm_);
  const auto [lo, hi] = choose_range(*histogram_, config);
  write_range(config, static_cast<float>(lo), static_cast<float>(hi));
}

void write_range(TensorQuantizationConfig& config, float min_value, float max_value) {
  float scale = 0, offset = 0;
  compute_scale_offset(min_value, max_value, config, &scale, &offset);
  config.scale = Tensor::scalar<float>(scale);
  config.offset = Tensor::scalar<float>(offset);
  config.state = QuantizationState::Activated;
}

void write_channel_ranges(TensorQuantizationConfig& config, const std::vector<float>& mins,
                          const std::vector<float>& maxs, const char* algorithm) {
  const int64_t channels = static_cast<int64_t>(mins.size());
  Tensor scale(DataType::Float, {channels});
  Tensor offset(DataType::Float, {channels});
  for (int64_t c = 0; c < channels; ++c) {
    const size_t i = static_cast<size_t>(c);
    if (!(mins[i] <= maxs[i]))
      fail(ErrorKind::Argument, "{} observer: channel {} (axis {}) saw no finite value", algorithm,
           c, config.channel_axis);
    compute_scale_offset(mins[i], maxs[i], config, &scale.data<float>()[c],
                         &offset.data<float>()[c]);
  }
  config.scale = scale;
  config.offset = offset;
  config.state = QuantizationState::Activated;
}

void render_ranges(TensorQuantizationConfig& config, bool per_channel,
                   const std::vector<float>& mins, const std::vector<float>& maxs,
                   const char* algorithm) {
  bool any_finite = false;
  for (size_t c = 0; c < mins.size(); ++c) any_finite |= mins[c] <= maxs[c];
  if (!any_finite) fail_nothing_observed(algorithm);
  if (config.policy.per_channel != per_channel)
    fail(ErrorKind::Argument, "{} observer was made for a per-{} config, not a per-{} one",
         algorithm, per_channel ? "channel" : "tensor",
         config.policy.per_channel ? "channel" : "tensor");
  if (per_channel)
    write_channel_ranges(config, mins, maxs, algorithm);
  else
    write_range(config, mins[0], maxs[0]);
}

void reject_per_channel(const TensorQuantizationConfig& config, const char* algorithm) {
  if (config.policy.per_channel)
    fail(ErrorKind::Argument,
         "per-channel quantization is not supported by the {} observer (use minmax or ema, or a "
         "per-tensor policy)",
         algorithm);
}

void fail_nothing_observed(const char* algorithm) {
  fail(ErrorKind::Argument,
       "{} observer saw no finite value: observe calibration data before render", algorithm);
}

void check_pass(int pass, int passes, const char* algorithm) {
  if (pass < 0 || pass >= passes)
    fail(ErrorKind::Argument, "{} observer takes {} pass{} (0{}), got pass {}", algorithm, passes,
         passes == 1 ? "" : "es", passes == 1 ? "" : " and 1", pass);
}

}  // namespace qforge::observers
