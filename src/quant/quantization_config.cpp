// SPDX-License-Identifier: Apache-2.0
// TQC state, union-find, scale computation and fake quantization. Tested in
// tests/quant/test_quantization_config.cpp (and against ONNX Runtime in the fidelity tests).
#include "qforge/quantization_config.h"

#include <cmath>

#include "qforge/kernel.h"

namespace qforge {

const char* quantization_state_name(QuantizationState state) {
  switch (state) {
    case QuantizationState::Initial: return "INITIAL";
    case QuantizationState::Activated: return "ACTIVATED";
    case QuantizationState::Baked: return "BAKED";
    case QuantizationState::PassiveInit: return "PASSIVE_INIT";
    case QuantizationState::Passive: return "PASSIVE";
    case QuantizationState::PassiveBaked: return "PASSIVE_BAKED";
    case QuantizationState::Overlapped: return "OVERLAPPED";
    case QuantizationState::FP32: return "FP32";
  }
  return "?";
}

namespace {
constexpr std::pair<RoundingPolicy, const char*> kRoundingNames[] = {
    {RoundingPolicy::HalfEven, "half_even"},
    {RoundingPolicy::HalfUp, "half_up"},
    {RoundingPolicy::HalfDown, "half_down"},
    {RoundingPolicy::HalfTowardsZero, "half_towards_zero"},
    {RoundingPolicy::HalfAwayFromZero, "half_away_from_zero"},
    {RoundingPolicy::Up, "up"},
    {RoundingPolicy::Down, "down"},
};
}  // namespace

const char* rounding_policy_name(RoundingPolicy policy) {
  for (const auto& [p, name] : kRoundingNames)
    if (p == policy) return name;
  return "?";
}

RoundingPolicy rounding_policy_from_name(const std::string& name) {
  for (const auto& [p, n] : kRoundingNames)
    if (name == n) return p;
  fail(ErrorKind::Argument, "unknown rounding policy '{}' (expected half_even, half_up, half_down, "
                            "half_towards_zero, half_away_from_zero, up or down)", name);
}

std::string QuantizationPolicy::describe() const {
  return fmt::format("{} {} {}{}", per_channel ? "per-channel" : "per-tensor", symmetric ? "symmetric" : "asymmetric",
                     floating ? "floating" : "linear", power_of_2 ? " power-of-2" : "");
}

void TensorQuantizationConfig::validate(const std::string& where) const {
  // 2..16 bits for activations and weights; 32 only for passive (bias) configs.
  if (num_bits < 2 || (num_bits > 16 && num_bits != 32))
    fail(ErrorKind::Argument, "{}: num_bits {} is outside 2..16", where, num_bits);
  if (quant_min >= quant_max)
    fail(ErrorKind::Argument, "{}: quant_min {} must be below quant_max {}", where, quant_min, quant_max);
  const int64_t span = int64_t{1} << num_bits;
  const bool fits_signed = quant_min >= -span / 2 && quant_max <= span / 2 - 1;
  const bool fits_unsigned = quant_min >= 0 && quant_max <= span - 1;
  if (!fits_signed && !fits_unsigned)
    fail(ErrorKind::Argument, "{}: range [{}, {}] does not fit in {} bits", where, quant_min, quant_max, num_bits);
  if (policy.per_channel && channel_axis < 0)
    fail(ErrorKind::Argument, "{}: per-channel quantization needs a channel axis >= 0", where);
  if (policy.floating) fail(ErrorKind::Argument, "{}: floating (FP8) quantization is not supported yet", where);
}

TensorQuantizationConfig* TensorQuantizationConfig::find_root() {
  TensorQuantizationConfig* node = this;
  while (node->parent_) node = node->parent_;
  // Path compression keeps chains short after many merges.
  for (TensorQuantizationConfig* walk = this; walk->parent_ && walk->parent_ != node;) {
    TensorQuantizationConfig* next = walk->parent_;
    walk->parent_ = node;
    walk = next;
  }
  return node;
}

void TensorQuantizationConfig::dominated_by(TensorQuantizationConfig* other) {
  QF_ASSERT(other != nullptr);
  TensorQuantizationConfig* mine = find_root();
  TensorQuantizationConfig* theirs = other->find_root();
  if (mine == theirs) return;
  mine->parent_ = theirs;
  if (this != theirs) state = QuantizationState::Overlapped;
  if (mine != this && mine != theirs) mine->state = QuantizationState::Overlapped;
}

void TensorQuantizationConfig::master_by(TensorQuantizationConfig* other) {
  QF_ASSERT(other != nullptr && other != this);
  master_ = other;
}

const TensorQuantizationConfig& TensorQuantizationConfig::effective() const {
  const TensorQuantizationConfig* config = dominator();
  // Follow master links (bounded: a master chain longer than the graph would be a cycle).
  for (int hops = 0; config->master_ && hops < 1 << 20; ++hops) config = config->master_->dominator();
  return *config;
}

bool TensorQuantizationConfig::is_active() const {
  const TensorQuantizationConfig& e = state == QuantizationState::Overlapped ? *dominator() : *this;
  switch (e.state) {
    case QuantizationState::Activated:
    case QuantizationState::Baked:
    case QuantizationState::Passive:
    case QuantizationState::PassiveBaked: return effective().scale.defined();
    default: return false;
  }
}

void compute_scale_offset(float min_value, float max_value, const TensorQuantizationConfig& config, float* scale,
                          float* offset) {
  min_value = std::min(min_value, 0.0f);
  max_value = std::max(max_value, 0.0f);
  if (!std::isfinite(min_value) || !std::isfinite(max_value))
    fail(ErrorKind::Argument, "cannot compute a scale from a non-finite range [{}, {}]", min_value, max_value);
  const double qrange = static_cast<double>(config.quant_max - config.quant_min);
  double s;
  double o;
  if (config.policy.symmetric) {
    s = 2.0 * std::max(std::abs(min_value), std::abs(max_value)) / qrange;
    // Signed ranges center on 0; unsigned symmetric ranges center on the midpoint.
    o = config.quant_min < 0 ? 0.0 : std::ceil((config.quant_min + config.quant_max) / 2.0);
  } else {
    s = (static_cast<double>(max_value) - min_value) / qrange;
    o = 0.0;
  }
  s = std::max(s, 1e-8);
  if (config.policy.power_of_2) s = std::pow(2.0, std::ceil(std::log2(s)));
  if (!config.policy.symmetric) {
    o = std::nearbyint(-static_cast<double>(min_value) / s) + static_cast<double>(config.quant_min);
    o = std::clamp(o, static_cast<double>(config.quant_min), static_cast<double>(config.quant_max));
  }
  *scale = static_cast<float>(s);
  *offset = static_cast<float>(o);
}

namespace {

inline float round_with(float v, RoundingPolicy policy) {
  switch (policy) {
    case RoundingPolicy::HalfEven: return std::nearbyint(v);  // default FE_TONEAREST mode
    case RoundingPolicy::HalfUp: return std::floor(v + 0.5f);
    case RoundingPolicy::HalfDown: return std::ceil(v - 0.5f);
    case RoundingPolicy::HalfTowardsZero: return v >= 0 ? std::ceil(v - 0.5f) : std::floor(v + 0.5f);
    case RoundingPolicy::HalfAwayFromZero: return std::round(v);
    case RoundingPolicy::Up: return std::ceil(v);
    case RoundingPolicy::Down: return std::floor(v);
  }
  return v;
}

// Calls body(begin, end, scale, offset) over runs of elements sharing one scale.
template <typename Body>
void for_each_channel_run(const Tensor& x, const TensorQuantizationConfig& config, Body&& body) {
  const Tensor& scale = config.effective_scale();
  const Tensor& offset = config.effective_offset();
  const float* s = scale.data<float>();
  const float* o = offset.defined() ? offset.data<float>() : nullptr;
  if (scale.numel() == 1) {
    body(0, x.numel(), s[0], o ? o[0] : 0.0f);
    return;
  }
  const int axis = config.channel_axis;
  if (axis >= x.rank() || x.dim(axis) != scale.numel())
    fail(ErrorKind::Shape, "per-channel scale of {} values does not match axis {} of a {} tensor", scale.numel(), axis,
         shape_to_string(x.shape()));
  int64_t inner = 1;
  for (int d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
  const int64_t channels = x.dim(axis);
  const int64_t outer = x.numel() / std::max<int64_t>(channels * inner, 1);
  for (int64_t a = 0; a < outer; ++a)
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t begin = (a * channels + c) * inner;
      body(begin, begin + inner, s[c], o ? o[c] : 0.0f);
    }
}

}  // namespace

Tensor fake_quantize(const Tensor& x, const TensorQuantizationConfig& config) {
  if (x.dtype() != DataType::Float) fail(ErrorKind::Argument, "fake quantization needs float32, got {}", dtype_name(x.dtype()));
  Tensor out(DataType::Float, x.shape());
  const float* in = x.data<float>();
  float* dst = out.data<float>();
  const float qmin = static_cast<float>(config.quant_min), qmax = static_cast<float>(config.quant_max);
  const RoundingPolicy rounding = config.rounding;
  for_each_channel_run(x, config, [&](int64_t begin, int64_t end, float s, float o) {
    if (rounding == RoundingPolicy::HalfEven) {
      // The hot path: branch-free so it vectorizes. Division (not a reciprocal multiply)
      // matches ONNX Runtime's QuantizeLinear bit for bit.
      for (int64_t i = begin; i < end; ++i) {
        const float q = std::min(std::max(std::nearbyint(in[i] / s) + o, qmin), qmax);
        dst[i] = (q - o) * s;
      }
    } else {
      for (int64_t i = begin; i < end; ++i) {
        const float q = std::min(std::max(round_with(in[i] / s, rounding) + o, qmin), qmax);
        dst[i] = (q - o) * s;
      }
    }
  });
  return out;
}

Tensor quantize_to_integers(const Tensor& x, const TensorQuantizationConfig& config, DataType storage) {
  if (x.dtype() != DataType::Float) fail(ErrorKind::Argument, "quantization needs float32, got {}", dtype_name(x.dtype()));
  Tensor q(DataType::Float, x.shape());
  const float* in = x.data<float>();
  float* dst = q.data<float>();
  const float qmin = static_cast<float>(config.quant_min), qmax = static_cast<float>(config.quant_max);
  for_each_channel_run(x, config, [&](int64_t begin, int64_t end, float s, float o) {
    for (int64_t i = begin; i < end; ++i)
      dst[i] = std::isnan(in[i]) ? o : std::min(std::max(round_with(in[i] / s, config.rounding) + o, qmin), qmax);
  });
  return q.cast(storage);
}

}  // namespace qforge
