// SPDX-License-Identifier: Apache-2.0
// isotone observer (PPQ's TorchIsotoneObserver), for softmax/sigmoid outputs whose argmax is
// what matters: per row along ObserverOptions::isotone_axis (default the last axis) it takes
// the largest value L1 and the second largest L2 and picks the smallest scale that keeps
// quant(L1) > quant(L2) for as many rows as possible. One pass. Registered in
// observer_registry.cpp; tested in tests/quant/test_observers.cpp.
//
// A row is kept when s >= L2 / (P - 0.51) (L2 is not rounded into the top level P = qmax - zero
// point; PPQ's margin) and s < L1 - L2 (the gap spans a full step, so the two round apart).
// PPQ uses s < 2 (L1 - L2), which only makes the gap half a step and does not guarantee the
// order. PPQ caches every row and sweeps the exact interval ends; to keep memory fixed, the
// ends are counted here on a log grid of 64 scales per octave (2^-40 .. 2^24), rounding each
// interval inward, so the chosen scale keeps at least the rows it counts. Symmetric configs use
// |L1|, |L2| as PPQ does; asymmetric ones use a zero point at quant_min (softmax outputs are
// >= 0) and fall back to minmax when negative values show up. With no row that can be kept,
// the range [0, max L1] is used (PPQ's fallback).
#include <algorithm>
#include <cfloat>
#include <cmath>

#include "histogram.h"

namespace qforge::observers {

namespace {

constexpr const char* kName = "isotone";
constexpr int kLog2Low = -40;
constexpr int kPerOctave = 64;
constexpr int kEdges = 64 * kPerOctave;  // edge k is the scale 2^(kLog2Low + k / kPerOctave)

inline double edge_scale(int k) {
  return std::exp2(kLog2Low + static_cast<double>(k) / kPerOctave);
}
// The first edge >= s, as an index in [0, kEdges].
inline int edge_at_or_above(double s) {
  if (s <= edge_scale(0)) return 0;
  const double k = std::ceil((std::log2(s) - kLog2Low) * kPerOctave);
  return static_cast<int>(std::min(k, static_cast<double>(kEdges)));
}

class IsotoneObserver final : public Observer {
 public:
  IsotoneObserver(const TensorQuantizationConfig& config, const ObserverOptions& options)
      : symmetric_(config.policy.symmetric), axis_(options.isotone_axis), delta_(kEdges + 1, 0) {
    reject_per_channel(config, kName);
    // Levels above zero: qmax minus the zero point the render will use.
    float s = 0, zero_point = static_cast<float>(config.quant_min);
    if (symmetric_) compute_scale_offset(-1.0f, 1.0f, config, &s, &zero_point);
    top_level_ = static_cast<double>(config.quant_max) - zero_point;
  }

  int passes() const override { return 1; }

  void observe(const Tensor& values, int pass) override {
    check_pass(pass, 1, kName);
    const Tensor data = as_float32(values, kName);
    const RangeStats stats = scan_range(data.data<float>(), data.numel());
    range_.merge(stats);
    if (stats.finite == 0) return;
    const AxisLayout rows = data.rank() == 0 ? AxisLayout{} : axis_layout(data, axis_, kName);
    top_two(data.data<float>(), rows);
  }

  void render(TensorQuantizationConfig& config) const override {
    if (range_.finite == 0) fail_nothing_observed(kName);
    reject_per_channel(config, kName);
    if (!symmetric_ && range_.min < 0) {
      // A zero point that depends on the data's negative side is outside the method.
      write_range(config, range_.min, range_.max);
      return;
    }
    int64_t kept = 0, best_kept = 0;
    int best = -1;
    for (int k = 0; k < kEdges; ++k) {
      kept += delta_[static_cast<size_t>(k)];
      if (kept > best_kept) {
        best_kept = kept;
        best = k;
      }
    }
    if (best < 0) {
      write_range(config, 0.0f, static_cast<float>(max_top_));
      return;
    }
    // The scale s as a range compute_scale_offset maps back to s (power-of-2 and the 1e-8
    // floor applied there).
    const double s = edge_scale(best);
    const double span = s * static_cast<double>(config.quant_max - config.quant_min);
    if (symmetric_)
      write_range(config, static_cast<float>(-span / 2), static_cast<float>(span / 2));
    else
      write_range(config, 0.0f, static_cast<float>(span));
  }

  int64_t non_finite_count() const override { return range_.non_finite; }

 private:
  // Top two finite values of every row; rows run along the middle axis of [outer, size, inner].
  void top_two(const float* x, const AxisLayout& rows) {
    const float low = -std::numeric_limits<float>::infinity();
    if (rows.inner == 1) {
      // Contiguous rows (the last axis): kLanes strided partial results per row, then merged.
      constexpr int64_t kLanes = 16;
      float first[kLanes], second[kLanes];
      for (int64_t o = 0; o < rows.outer; ++o) {
        std::fill_n(first, kLanes, low);
        std::fill_n(second, kLanes, low);
        const float* row = x + o * rows.size;
        int64_t l = 0;
        for (; l + kLanes <= rows.size; l += kLanes) update_top_two(row + l, kLanes, first, second);
        update_top_two(row + l, rows.size - l, first, second);
        const int64_t m = std::max_element(first, first + kLanes) - first;
        float runner_up = *std::max_element(second, second + kLanes);
        for (int64_t k = 0; k < kLanes; ++k)
          if (k != m) runner_up = std::max(runner_up, first[k]);
        add_row(first[m], runner_up);
      }
      return;
    }
    // Strided rows: the inner positions are the lanes.
    std::vector<float> first(static_cast<size_t>(rows.inner)),
        second(static_cast<size_t>(rows.inner));
    for (int64_t o = 0; o < rows.outer; ++o) {
      std::fill(first.begin(), first.end(), low);
      std::fill(second.begin(), second.end(), low);
      for (int64_t l = 0; l < rows.size; ++l)
        update_top_two(x + (o * rows.size + l) * rows.inner, rows.inner, first.data(),
                       second.data());
      for (size_t i = 0; i < first.size(); ++i) add_row(first[i], second[i]);
    }
  }

  // Folds one value per lane into each lane's top two, branch-free so it vectorizes.
  static void update_top_two(const float* v, int64_t count, float* first, float* second) {
    for (int64_t i = 0; i < count; ++i) {
      const bool finite = std::fabs(v[i]) <= FLT_MAX;
      const float f = first[i], s = second[i];
      const bool above_first = finite & (v[i] > f);
      const bool above_second = finite & (v[i] > s);
      second[i] = above_first ? f : (above_second ? v[i] : s);
      first[i] = above_first ? v[i] : f;
    }
  }

  void add_row(double l1, double l2) {
    if (std::isinf(l1)) return;  // no finite value in the row
    if (symmetric_) l1 = std::fabs(l1);
    max_top_ = std::max(max_top_, l1);
    if (std::isinf(l2)) return;  // a single finite value: no order to keep
    if (symmetric_) l2 = std::fabs(l2);
    const double low = std::max(l2 / (top_level_ - 0.51), 0.0);
    const double high = l1 - std::max(l2, 0.0);
    if (!(high > low) || l1 <= 0) return;
    // Scales on edges [first edge >= low, first edge >= high) satisfy low <= s < high.
    const int begin = edge_at_or_above(low), end = edge_at_or_above(high);
    if (begin >= end) return;
    ++delta_[static_cast<size_t>(begin)];
    --delta_[static_cast<size_t>(end)];
  }

  bool symmetric_;
  int axis_;
  double top_level_ = 127;
  RangeStats range_;
  double max_top_ = 0;          // largest L1 seen (PPQ's fallback range)
  std::vector<int64_t> delta_;  // rows whose scale interval starts (+1) / ends (-1) at an edge
};

}  // namespace

std::unique_ptr<Observer> make_isotone_observer(const TensorQuantizationConfig& config,
                                                const ObserverOptions& options) {
  return std::make_unique<IsotoneObserver>(config, options);
}

}  // namespace qforge::observers
