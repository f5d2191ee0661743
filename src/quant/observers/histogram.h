// SPDX-License-Identifier: Apache-2.0
// State shared by the calibration observers: a vectorized finite-range scan (per tensor and per
// channel), a fixed-range histogram, and the two-pass base (pass 0: range, pass 1: histogram)
// of the percentile, KL and MSE observers. Internal to src/quant/observers/; tested in
// tests/quant/test_observers.cpp.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "qforge/observer.h"

namespace qforge::observers {

// Range of the finite values of a run of floats; NaN/Inf are counted, never used.
struct RangeStats {
  float min = std::numeric_limits<float>::infinity();
  float max = -std::numeric_limits<float>::infinity();
  int64_t finite = 0;
  int64_t non_finite = 0;
  void merge(const RangeStats& other);
  float abs_max() const;
};
RangeStats scan_range(const float* x, int64_t n);

// Per-channel min/max of x viewed as [outer, channels, inner], folded into mins/maxs (sized
// `channels`; start them at +inf/-inf). Returns the number of non-finite values skipped.
int64_t channel_minmax(const float* x, int64_t outer, int64_t channels, int64_t inner, float* mins,
                       float* maxs);

// A tensor seen as [outer, size of `axis`, inner]; `axis` may count from the end.
struct AxisLayout {
  int64_t outer = 1, size = 1, inner = 1;
};
AxisLayout axis_layout(const Tensor& t, int axis, const char* algorithm);

// Min/max of one batch: one entry per tensor, or one per channel along `axis`; entries that saw
// no finite value hold +inf/-inf. Returns the number of non-finite values skipped.
int64_t batch_ranges(const Tensor& values, bool per_channel, int axis, const char* algorithm,
                     std::vector<float>* mins, std::vector<float>* maxs);

// `t` itself when float32, else a float32 copy (any numeric dtype); fails for others.
Tensor as_float32(const Tensor& t, const char* algorithm);

// `bins` equal bins over [lo, hi] (hi > lo). Values outside go to the end bins: PPQ's histc
// drops them, which would hide from a clip search the very outliers it must weigh (pass 1 may
// see data pass 0 did not). Non-finite values are skipped.
class Histogram {
 public:
  Histogram(int bins, double lo, double hi);
  void add(const float* x, int64_t n, bool absolute);  // |x| when absolute
  int bins() const { return bins_; }
  double lo() const { return lo_; }
  double hi() const { return hi_; }
  double width() const { return width_; }
  double edge(int64_t i) const { return lo_ + static_cast<double>(i) * width_; }
  const std::vector<int64_t>& counts() const { return counts_; }
  int64_t total() const { return total_; }
  // The value below which `fraction` of the mass lies, linear within the bin where the
  // cumulative count crosses it.
  double quantile(double fraction) const;

 private:
  void flush(std::vector<uint32_t>& ways, size_t stride, int count);  // adds and clears
  int bins_;
  double lo_, hi_, width_;
  std::vector<int64_t> counts_;
  int64_t total_ = 0;
};

// Percentile, KL and MSE: pass 0 records the range (of x, or of |x| for symmetric configs),
// pass 1 fills a histogram over that fixed range; render() asks the subclass for a clip range.
class TwoPassObserver : public Observer {
 public:
  TwoPassObserver(const char* algorithm, const TensorQuantizationConfig& config,
                  const ObserverOptions& options);
  int passes() const override { return 2; }
  void observe(const Tensor& values, int pass) override;
  void render(TensorQuantizationConfig& config) const override;
  // Non-finite values of pass 0 only: pass 1 sees the same data again.
  int64_t non_finite_count() const override { return range_.non_finite; }

 protected:
  // The clip range [min, max] picked from the histogram (compute_scale_offset widens it to 0).
  virtual std::pair<double, double> choose_range(const Histogram& histogram,
                                                 const TensorQuantizationConfig& config) const = 0;
  bool absolute() const { return absolute_; }  // histogram of |x| (symmetric configs)
  const RangeStats& range() const { return range_; }
  const ObserverOptions& options() const { return options_; }
  const char* algorithm() const { return algorithm_; }

 private:
  const char* algorithm_;
  ObserverOptions options_;
  bool absolute_;
  RangeStats range_;
  std::optional<Histogram> histogram_;
};

// Writes a per-tensor scale/offset (scalar tensors) from a range and sets the config Activated.
void write_range(TensorQuantizationConfig& config, float min_value, float max_value);
// Per channel: [C] tensors; a channel that saw no finite value fails.
void write_channel_ranges(TensorQuantizationConfig& config, const std::vector<float>& mins,
                          const std::vector<float>& maxs, const char* algorithm);
// Renders running ranges (one entry per tensor, or per channel when `per_channel`) into
// `config`, whose per-channel flag must match; fails when no entry saw a finite value.
void render_ranges(TensorQuantizationConfig& config, bool per_channel,
                   const std::vector<float>& mins, const std::vector<float>& maxs,
                   const char* algorithm);
// Fails with an Argument error when the config asks for per-channel quantization.
void reject_per_channel(const TensorQuantizationConfig& config, const char* algorithm);
[[noreturn]] void fail_nothing_observed(const char* algorithm);
// Fails unless `pass` is below `passes`.
void check_pass(int pass, int passes, const char* algorithm);

// Factories, one per observer file, listed by observer_registry.cpp.
std::unique_ptr<Observer> make_minmax_observer(const TensorQuantizationConfig& config,
                                               const ObserverOptions& options);
std::unique_ptr<Observer> make_percentile_observer(const TensorQuantizationConfig& config,
                                                   const ObserverOptions& options);
std::unique_ptr<Observer> make_kl_observer(const TensorQuantizationConfig& config,
                                           const ObserverOptions& options);
std::unique_ptr<Observer> make_mse_observer(const TensorQuantizationConfig& config,
                                            const ObserverOptions& options);
std::unique_ptr<Observer> make_isotone_observer(const TensorQuantizationConfig& config,
                                                const ObserverOptions& options);
std::unique_ptr<Observer> make_ema_observer(const TensorQuantizationConfig& config,
                                            const ObserverOptions& options);

}  // namespace qforge::observers
