// SPDX-License-Identifier: Apache-2.0
// The metrics of error analysis (qforge/error_analysis.h): running sums of one quantized vs
// FP32 comparison and what they give (PPQ's noise/signal ratio, SNR in dB, cosine, max abs
// error). Tested in tests/analysis/test_error_analysis.cpp.
#include <algorithm>
#include <cmath>
#include <limits>

#include "qforge/error_analysis.h"

namespace qforge {

const char* analysed_ops_name(AnalysedOps ops) {
  switch (ops) {
    case AnalysedOps::Computing:
      return "computing";
    case AnalysedOps::Quantized:
      return "quantized";
    case AnalysedOps::All:
      return "all";
  }
  return "?";
}

AnalysedOps analysed_ops_from_name(const std::string& name) {
  for (AnalysedOps ops : {AnalysedOps::Computing, AnalysedOps::Quantized, AnalysedOps::All})
    if (name == analysed_ops_name(ops)) return ops;
  fail(ErrorKind::Argument,
       "unknown set of ops to analyse '{}' (expected computing, quantized or all)", name);
}

void ErrorStats::add(const Tensor& quantized, const Tensor& reference) {
  if (quantized.dtype() != DataType::Float || reference.dtype() != DataType::Float) return;
  if (quantized.shape() != reference.shape()) {
    left_out += reference.numel();
    return;
  }
  const float* q = quantized.data<float>();
  const float* f = reference.data<float>();
  // Sums in double: a float accumulator loses the small noise of 8-bit quantization against a
  // signal summed over millions of elements.
  double n = 0, s = 0, qq = 0, qf = 0, worst = max_abs_error;
  int64_t used = 0;
  const int64_t count = reference.numel();
  for (int64_t i = 0; i < count; ++i) {
    if (!std::isfinite(q[i]) || !std::isfinite(f[i])) continue;
    const double a = q[i], b = f[i], d = a - b;
    n += d * d;
    s += b * b;
    qq += a * a;
    qf += a * b;
    worst = std::max(worst, std::abs(d));
    ++used;
  }
  noise += n;
  signal += s;
  quantized_power += qq;
  dot += qf;
  max_abs_error = worst;
  elements += used;
  left_out += count - used;
}

void ErrorStats::merge(const ErrorStats& other) {
  noise += other.noise;
  signal += other.signal;
  quantized_power += other.quantized_power;
  dot += other.dot;
  max_abs_error = std::max(max_abs_error, other.max_abs_error);
  elements += other.elements;
  left_out += other.left_out;
}

double ErrorStats::noise_signal_ratio() const {
  if (noise == 0) return 0;
  if (signal == 0) return std::numeric_limits<double>::infinity();
  return noise / signal;
}

double ErrorStats::snr_db() const {
  if (noise == 0) return std::numeric_limits<double>::infinity();
  if (signal == 0) return -std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / noise);
}

double ErrorStats::cosine() const {
  if (quantized_power == 0 && signal == 0) return 1;
  if (quantized_power == 0 || signal == 0) return 0;
  return dot / std::sqrt(quantized_power * signal);
}

}  // namespace qforge
