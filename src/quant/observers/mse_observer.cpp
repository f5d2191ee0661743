// SPDX-License-Identifier: Apache-2.0
// mse observer: the clip range minimizing the expected squared quantization error (rounding
// inside the range, clipping outside), estimated from the pass-1 histogram. Symmetric configs
// scan thresholds of |x|; asymmetric ones scan (min, max) pairs. Registered in
// observer_registry.cpp; tested in tests/quant/test_observers.cpp.
//
// PPQ's TorchMSEObserver measures error in whole bins and tries only scales that are integer
// multiples of the bin width; here each bin's error is integrated exactly under a uniform
// density inside the bin, for the scale and zero point compute_scale_offset really produces.
#include <cmath>

#include "histogram.h"

namespace qforge::observers {

namespace {

constexpr const char* kName = "mse";
// Symmetric: thresholds max|x| * k / 128, then 16 finer steps on each side of the best one.
// Asymmetric: a 16 x 16 grid of (min, max) shrink factors, then two 9 x 9 refinements around
// the best pair, each 4 times finer. The error is smooth in the range, so this lands within
// about max / 2000 of the optimum in a few hundred evaluations.
constexpr int kCoarseSteps = 128;
constexpr int kFineSteps = 16;
constexpr int kCoarseSteps2d = 16;
constexpr int kRefinements2d = 2;

struct Bin {
  double a, b, n;  // [a, b) holding n values
};

inline double cube(double x) {
  return x * x * x;
}

// Antiderivative of (x - s * round(x / s))^2 with G(0) = 0: each period adds s^3 / 12.
inline double rounding_integral(double x, double s, double inv_s) {
  const double k = std::floor(x * inv_s + 0.5);
  const double r = x - k * s;
  return k * cube(s) / 12.0 + cube(r) / 3.0;
}

// Expected total squared error of the values in `bins` quantized with step s (grid points are
// multiples of s since the zero point is an integer) and clipped to [lmin, lmax].
double expected_error(const std::vector<Bin>& bins, double s, double lmin, double lmax) {
  const double inv_s = 1.0 / s;
  double total = 0;
  for (const Bin& bin : bins) {
    double e = 0;
    if (bin.a < lmin) e += (cube(std::min(bin.b, lmin) - lmin) - cube(bin.a - lmin)) / 3.0;
    const double lo = std::max(bin.a, lmin), hi = std::min(bin.b, lmax);
    if (hi > lo) e += rounding_integral(hi, s, inv_s) - rounding_integral(lo, s, inv_s);
    if (bin.b > lmax) e += (cube(bin.b - lmax) - cube(std::max(bin.a, lmax) - lmax)) / 3.0;
    total += e * bin.n / (bin.b - bin.a);
  }
  return total;
}

class MseObserver final : public TwoPassObserver {
 public:
  MseObserver(const TensorQuantizationConfig& config, const ObserverOptions& options)
      : TwoPassObserver(kName, config, options) {}

 protected:
  std::pair<double, double> choose_range(const Histogram& histogram,
                                         const TensorQuantizationConfig& config) const override {
    std::vector<Bin> bins;
    for (int k = 0; k < histogram.bins(); ++k)
      if (const int64_t n = histogram.counts()[static_cast<size_t>(k)]; n > 0)
        bins.push_back({histogram.edge(k), histogram.edge(k + 1), static_cast<double>(n)});
    return absolute() ? search_symmetric(bins, config) : search_asymmetric(bins, config);
  }

 private:
  // Error of the clip range [lo, hi] with the scale and offset the config would really use.
  static double range_error(const std::vector<Bin>& bins, double lo, double hi,
                            const TensorQuantizationConfig& config, bool absolute) {
    float s = 0, o = 0;
    compute_scale_offset(static_cast<float>(lo), static_cast<float>(hi), config, &s, &o);
    double lmin = (static_cast<double>(config.quant_min) - o) * s;
    double lmax = (static_cast<double>(config.quant_max) - o) * s;
    // |x| folds both signs: clip at the nearer end (int8: 127 s, not 128 s).
    if (absolute) lmax = std::min(lmax, -lmin);
    return expected_error(bins, s, lmin, lmax);
  }

  std::pair<double, double> search_symmetric(const std::vector<Bin>& bins,
                                             const TensorQuantizationConfig& config) const {
    const double top = range().abs_max();
    auto error_at = [&](double t) { return range_error(bins, -t, t, config, true); };
    double best_t = top, best = error_at(top);
    auto scan = [&](double from, double step, int count) {
      for (int k = 0; k < count; ++k) {
        const double t = from + step * k;
        if (t <= 0 || t > top) continue;
        if (const double e = error_at(t); e < best) {
          best = e;
          best_t = t;
        }
      }
    };
    const double coarse = top / kCoarseSteps;
    scan(coarse, coarse, kCoarseSteps);
    const double fine = coarse / kFineSteps;
    scan(best_t - coarse, fine, 2 * kFineSteps + 1);
    return {-best_t, best_t};
  }

  // Scans (a * min, b * max) over a grid of shrink factors a, b in (0, 1], then refines around
  // the best pair; a side that is 0 (all values of one sign) has nothing to shrink.
  std::pair<double, double> search_asymmetric(const std::vector<Bin>& bins,
                                              const TensorQuantizationConfig& config) const {
    const double lo0 = std::min(range().min, 0.0f), hi0 = std::max(range().max, 0.0f);
    double best_a = 1, best_b = 1, best = range_error(bins, lo0, hi0, config, false);
    auto scan = [&](double a0, double b0, double step, int count) {
      const int a_count = lo0 < 0 ? count : 1, b_count = hi0 > 0 ? count : 1;
      for (int i = 0; i < a_count; ++i)
        for (int j = 0; j < b_count; ++j) {
          const double a = lo0 < 0 ? a0 + step * i : 1.0, b = hi0 > 0 ? b0 + step * j : 1.0;
          if (a <= 0 || a > 1 || b <= 0 || b > 1) continue;
          if (const double e = range_error(bins, a * lo0, b * hi0, config, false); e < best) {
            best = e;
            best_a = a;
            best_b = b;
          }
        }
    };
    double step = 1.0 / kCoarseSteps2d;
    scan(step, step, step, kCoarseSteps2d);
    for (int r = 0; r < kRefinements2d; ++r) {
      scan(best_a - step, best_b - step, step / 4, 9);
      step /= 4;
    }
    return {best_a * lo0, best_b * hi0};
  }
};

}  // namespace

std::unique_ptr<Observer> make_mse_observer(const TensorQuantizationConfig& config,
                                            const ObserverOptions& options) {
  return std::make_unique<MseObserver>(config, options);
}

}  // namespace qforge::observers
