// SPDX-License-Identifier: Apache-2.0
// PPQ's quantization configs. A TensorQuantizationConfig (TQC) describes how one port of one
// op is quantized: policy, bits, range, rounding, scale/offset and state. TQCs share scales by
// union-find: dominated_by merges two TQCs (the dominated one becomes OVERLAPPED and reads its
// root's scale); master_by makes one follow another's scale while keeping its own state.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "qforge/tensor.h"

namespace qforge {

enum class QuantizationState {
  Initial,       // to be calibrated
  Activated,     // has a scale, fake quantization on
  Baked,         // value pre-quantized (parameters)
  PassiveInit,   // derived scale, not computed yet (bias: s_in * s_w)
  Passive,       // derived scale computed
  PassiveBaked,  // derived and baked
  Overlapped,    // merged into another TQC (dominated_by)
  FP32,          // not quantized
};
const char* quantization_state_name(QuantizationState state);

// Rounding of x / scale; names follow PPQ's RoundingPolicy.
enum class RoundingPolicy { HalfEven, HalfUp, HalfDown, HalfTowardsZero, HalfAwayFromZero, Up, Down };
const char* rounding_policy_name(RoundingPolicy policy);
RoundingPolicy rounding_policy_from_name(const std::string& name);  // "half_even", ...

// PPQ's QuantizationProperty as a struct of flags.
struct QuantizationPolicy {
  bool per_channel = false;  // else per tensor
  bool symmetric = true;     // else asymmetric
  bool power_of_2 = false;   // scales are powers of two
  bool floating = false;     // FP8-style (not linear); reserved
  bool dynamic = false;      // scale computed at run time; reserved
  std::string describe() const;  // "per-tensor symmetric linear"
};

class TensorQuantizationConfig {
 public:
  QuantizationPolicy policy;
  int num_bits = 8;
  int64_t quant_min = -128;
  int64_t quant_max = 127;
  RoundingPolicy rounding = RoundingPolicy::HalfEven;
  int channel_axis = 0;              // for per-channel
  std::string observer_algorithm = "minmax";
  QuantizationState state = QuantizationState::Initial;
  Tensor scale;   // float32: scalar for per-tensor, [C] for per-channel
  Tensor offset;  // float32 holding integers (zero points), same shape as scale

  // Rejects inconsistent settings (range outside num_bits, symmetric with non-centered range,
  // per-channel without axis...) with an Argument error naming `where`.
  void validate(const std::string& where) const;

  // Union-find. The dominated TQC becomes Overlapped and resolves to the root's scale.
  void dominated_by(TensorQuantizationConfig* other);
  // Follows `other`'s scale and offset while keeping its own state (e.g. Passive).
  void master_by(TensorQuantizationConfig* other);
  TensorQuantizationConfig* dominator() { return find_root(); }
  const TensorQuantizationConfig* dominator() const { return const_cast<TensorQuantizationConfig*>(this)->find_root(); }
  TensorQuantizationConfig* master() const { return master_; }
  // The config whose scale this one uses (root of the union, or master's).
  const TensorQuantizationConfig& effective() const;

  // True when values through this port are quantized at run time (Activated/Baked/Passive*,
  // or Overlapped with an active root).
  bool is_active() const;
  // Scale/offset used at run time (the effective config's).
  const Tensor& effective_scale() const { return effective().scale; }
  const Tensor& effective_offset() const { return effective().offset; }

 private:
  TensorQuantizationConfig* find_root();
  TensorQuantizationConfig* parent_ = nullptr;
  TensorQuantizationConfig* master_ = nullptr;
};

// One op's configs, one per port (nullptr-free: non-quantized ports hold an FP32 config).
struct OperationQuantizationConfig {
  std::vector<std::unique_ptr<TensorQuantizationConfig>> input_configs;
  std::vector<std::unique_ptr<TensorQuantizationConfig>> output_configs;
  bool is_quantized = true;
};

// Scale/offset from a range, DESIGN.md's formulas: the range is widened to include 0;
// asymmetric s = (max - min) / (qmax - qmin), o = round(-min / s) + qmin;
// symmetric s = 2 max(|min|, |max|) / (qmax - qmin), o = 0 for signed ranges (midpoint for
// unsigned); s >= 1e-8; power-of-2 rounds log2(s) up.
void compute_scale_offset(float min_value, float max_value, const TensorQuantizationConfig& config, float* scale,
                          float* offset);

// Fake quantization: q = clamp(round(x / s) + o, qmin, qmax); x' = (q - o) * s, bit-exact with
// ONNX Runtime's QuantizeLinear + DequantizeLinear for HalfEven rounding.
Tensor fake_quantize(const Tensor& x, const TensorQuantizationConfig& config);
// Integer values q (as float) without dequantizing, for baking and export.
Tensor quantize_to_integers(const Tensor& x, const TensorQuantizationConfig& config, DataType storage);

}  // namespace qforge
