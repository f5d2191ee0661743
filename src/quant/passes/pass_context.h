// SPDX-License-Identifier: Apache-2.0
// What every quantization pass receives. Each pass is one function in its own file of this
// folder, declared in quant_passes.h; the order lives only in Quantizer::quantize.
#pragma once

#include "qforge/calibration_data.h"
#include "qforge/platform.h"
#include "qforge/quantization_config.h"
#include "qforge/quantizer.h"

namespace qforge {

struct PassContext {
  const Platform& platform;
  const QuantizationSetting& setting;
  CalibrationDataset* data = nullptr;
  CalibrationReport* report = nullptr;
};

// Helpers shared by passes.
TensorQuantizationConfig* input_config(const Operation& op, size_t index);   // nullptr: none
TensorQuantizationConfig* output_config(const Operation& op, size_t index);  // nullptr: none
// A config that counts (not FP32, not missing).
bool is_quantizable(const TensorQuantizationConfig* config);
bool is_weight_port(const Operation& op, size_t index);
bool is_bias_port(const Operation& op, size_t index);
// Parameters compared with or placed among the op's input values, so quantized with the input's
// scale (PPQ's passive parameters): Clip's min and max, a constant Pad's value.
bool is_input_scaled_port(const Operation& op, size_t index);
// Output-channel axis of a weight for `op` (Conv: 0, ConvTranspose: 1, Gemm: by transB, MatMul:
// last).
int weight_channel_axis(const Operation& op, const Platform& platform, const Tensor& weight);

}  // namespace qforge
