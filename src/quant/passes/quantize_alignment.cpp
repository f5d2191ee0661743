// SPDX-License-Identifier: Apache-2.0
// Scale alignment from the platform's rules: "output" makes every data input share the
// output's scale (Concat); "max" makes the inputs share one scale covering every input's range
// (Add on DSPs). Tested in tests/quant/test_passes.cpp (QuantPassAlignment.*).
#include <algorithm>

#include "quant_passes.h"

namespace qforge {

namespace {

// The real range [lo, hi] a per-tensor config represents; false when it has no scale yet.
bool represented_range(const TensorQuantizationConfig& config, float* lo, float* hi) {
  const Tensor& s = config.effective_scale();
  const Tensor& o = config.effective_offset();
  if (!s.defined() || s.numel() != 1 || !o.defined() || o.numel() != 1) return false;
  *lo = (static_cast<float>(config.quant_min) - o.data<float>()[0]) * s.data<float>()[0];
  *hi = (static_cast<float>(config.quant_max) - o.data<float>()[0]) * s.data<float>()[0];
  return true;
}

// "max": the inputs share the config with the largest represented range. With asymmetric
// ranges that one need not hold the others (a Relu output in [0, 10] and a branch in [-9, 0]:
// its scale alone would clip every negative value to 0), so the shared scale and offset then
// widen to the union of the ranges. Nothing is aligned while an input has no per-tensor scale.
void align_to_largest(const std::vector<TensorQuantizationConfig*>& inputs) {
  TensorQuantizationConfig* target = nullptr;
  float lo = 0, hi = 0, widest = -1;
  for (TensorQuantizationConfig* in : inputs) {
    float in_lo, in_hi;
    if (!represented_range(*in, &in_lo, &in_hi)) return;
    if (in_hi - in_lo > widest) {
      widest = in_hi - in_lo;
      target = in;
    }
    lo = std::min(lo, in_lo);
    hi = std::max(hi, in_hi);
  }
  float target_lo, target_hi;
  represented_range(*target, &target_lo, &target_hi);
  for (TensorQuantizationConfig* in : inputs) in->dominated_by(target);
  if (lo >= target_lo && hi <= target_hi) return;  // always so for symmetric signed ranges
  TensorQuantizationConfig* root = target->dominator();
  float scale, offset;
  compute_scale_offset(lo, hi, *root, &scale, &offset);
  root->scale = Tensor::scalar<float>(scale);
  root->offset = Tensor::scalar<float>(offset);
}

}  // namespace

void quantize_alignment(Graph& graph, const PassContext& ctx) {
  for (const auto& owned : graph.operations()) {
    const Operation& op = *owned;
    auto rule = ctx.platform.alignment.find(op.type);
    if (!op.quant_config || rule == ctx.platform.alignment.end() || rule->second == "none")
      continue;
    std::vector<TensorQuantizationConfig*> inputs;
    for (size_t i = 0; i < op.num_inputs(); ++i)
      if (TensorQuantizationConfig* in = input_config(op, i);
          is_quantizable(in) && !op.input(i)->is_parameter())
        inputs.push_back(in);
    if (inputs.empty()) continue;
    if (rule->second == "max") {
      align_to_largest(inputs);
      continue;
    }
    TensorQuantizationConfig* target = output_config(op, 0);
    if (!is_quantizable(target)) continue;
    for (TensorQuantizationConfig* in : inputs) in->dominated_by(target);
  }
}

}  // namespace qforge
