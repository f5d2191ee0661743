// SPDX-License-Identifier: Apache-2.0
// kl observer (PPQ's TorchHistObserver, TensorRT's entropy calibration): pass 1 fills a
// histogram of |x| (4096 bins), then the clip threshold minimizing KL(P || Q) is searched;
// symmetric configs only. Registered in observer_registry.cpp; tested in
// tests/quant/test_observers.cpp.
//
// For each candidate i in [kl_target_bins, bins]: P = the first i bins with the mass beyond
// them added to bin i - 1; Q = the first i bins without that mass, merged into kl_target_bins
// buckets and spread evenly back over each bucket's bins where P is non-zero; threshold =
// (i + 0.5) * bin width, capped at max |x|. Q leaves the outliers out (PPQ, TensorRT), or else
// i = kl_target_bins would give Q = P and always win; a Q that is zero where P is not (the
// outliers' bin with nothing else in its bucket) gives an infinite divergence.
// Differences from PPQ, on purpose: every i is a candidate (PPQ tries multiples of 128 only;
// buckets here differ in size by at most one bin); Q's non-zero mask is P's (TensorRT's), so
// the outliers' bin shares its bucket's mass where PPQ's mask drops it; PPQ's reset of bin
// int(bins * 0.002) to a count of 1 is not copied.
#include <cmath>

#include "histogram.h"

namespace qforge::observers {

namespace {

constexpr const char* kName = "kl";

inline double xlogx(double x) {
  return x > 0 ? x * std::log(x) : 0.0;
}

class KlObserver final : public TwoPassObserver {
 public:
  KlObserver(const TensorQuantizationConfig& config, const ObserverOptions& options)
      : TwoPassObserver(kName, config, options) {}

 protected:
  std::pair<double, double> choose_range(const Histogram& histogram,
                                         const TensorQuantizationConfig&) const override {
    const int bins = histogram.bins();
    const int target = options().kl_target_bins;
    std::vector<double> count(histogram.counts().begin(), histogram.counts().end());
    ignore_near_zero(count);
    // Prefix sums make each candidate cost O(target) instead of O(i): with T the total, C the
    // mass of the first i bins, P_j and S_j bucket j's mass in P and in the clipped histogram
    // and n_j its bins where P > 0, T * KL(P || Q) = sum p log p - T log T + T log C
    // - sum_j P_j log(S_j / n_j).
    std::vector<double> mass(count.size() + 1, 0.0), plogp(count.size() + 1, 0.0),
        nonzero(count.size() + 1, 0.0);
    for (size_t k = 0; k < count.size(); ++k) {
      mass[k + 1] = mass[k] + count[k];
      plogp[k + 1] = plogp[k] + xlogx(count[k]);
      nonzero[k + 1] = nonzero[k] + (count[k] > 0 ? 1.0 : 0.0);
    }
    int best = bins;
    double best_divergence = std::numeric_limits<double>::infinity();
    for (int i = target; i <= bins; ++i) {
      const double d = divergence(count, mass, plogp, nonzero, i, target);
      if (d < best_divergence) {
        best_divergence = d;
        best = i;
      }
    }
    const double threshold =
        std::min((best + 0.5) * histogram.width(), static_cast<double>(range().abs_max()));
    return {-threshold, threshold};
  }

 private:
  // PPQ drops the first 0.2% of the bins ("crucial, do not move"): the spike of exact and
  // near zeros (ReLU outputs, padding) would otherwise dominate P and pull the threshold down.
  static void ignore_near_zero(std::vector<double>& count) {
    const size_t skip = static_cast<size_t>(static_cast<double>(count.size()) * 0.002);
    double rest = 0;
    for (size_t k = skip; k < count.size(); ++k) rest += count[k];
    if (skip == 0 || rest <= 0) return;  // nothing would be left: keep the histogram
    std::fill(count.begin(), count.begin() + static_cast<std::ptrdiff_t>(skip), 0.0);
  }

  // T * KL(P || Q) for candidate i (T is the same for every candidate); +inf when Q misses
  // some of P's mass.
  static double divergence(const std::vector<double>& count, const std::vector<double>& mass,
                           const std::vector<double>& plogp, const std::vector<double>& nonzero,
                           int i, int target) {
    const size_t last = static_cast<size_t>(i - 1);
    const double total = mass.back(), kept = mass[last + 1];
    const double outliers = total - kept;
    if (kept <= 0) return std::numeric_limits<double>::infinity();
    const double last_p = count[last] + outliers;
    double result = plogp[last] + xlogx(last_p) - xlogx(total) + total * std::log(kept);
    for (int64_t j = 0; j < target; ++j) {
      const size_t b0 = static_cast<size_t>((j * i + target - 1) / target);
      const size_t b1 = static_cast<size_t>(((j + 1) * i + target - 1) / target);
      const double s = mass[b1] - mass[b0];
      double p = s, n = nonzero[b1] - nonzero[b0];
      if (j == target - 1) {  // the bucket holding bin i - 1 also holds the outliers in P
        p += outliers;
        if (count[last] == 0 && last_p > 0) n += 1;
      }
      if (p <= 0) continue;
      if (s <= 0) return std::numeric_limits<double>::infinity();
      result -= p * std::log(s / n);
    }
    return result;
  }
};

}  // namespace

std::unique_ptr<Observer> make_kl_observer(const TensorQuantizationConfig& config,
                                           const ObserverOptions& options) {
  reject_per_channel(config, kName);
  // PPQ refuses asymmetric configs (its divergence is over |x|); qforge falls back to minmax
  // for them so a platform with asymmetric activations can still name "kl".
  if (!config.policy.symmetric) return make_minmax_observer(config, options);
  return std::make_unique<KlObserver>(config, options);
}

}  // namespace qforge::observers
