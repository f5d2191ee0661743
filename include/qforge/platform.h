// SPDX-License-Identifier: Apache-2.0
// Target platforms as data. Each platform is one JSON table (src/quant/platforms/<name>.json,
// embedded at build time; users can pass their own file): activation, weight and bias schemes,
// quantized op types, passive op types, fusion patterns, alignment rules, default observers
// and exporter. There is no class per platform.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "qforge/quantization_config.h"

namespace qforge {

struct QuantScheme {
  QuantizationPolicy policy;
  int num_bits = 8;
  int64_t quant_min = -128;
  int64_t quant_max = 127;
  RoundingPolicy rounding = RoundingPolicy::HalfEven;
  std::string observer = "minmax";
  int channel_axis = 0;
  // Makes a TQC in state Initial with this scheme.
  TensorQuantizationConfig make_config() const;
};

enum class BiasMode { FP32, Int32Passive };

struct Platform {
  std::string name;         // "TRT_INT8"
  std::string description;
  QuantScheme activation;
  QuantScheme weight;
  BiasMode bias = BiasMode::FP32;
  std::map<std::string, int> weight_channel_axis;  // op type -> axis (ConvTranspose: 1)
  std::vector<std::string> quantized_ops;   // computing ops whose ports are quantized
  std::vector<std::string> passive_ops;     // ops that share their input's scale
  std::vector<std::string> fusible_activations;  // fused into a preceding Conv/Gemm
  std::map<std::string, std::string> alignment;  // op type -> "output" | "max" | "none"
  bool quantize_outputs = true;  // NCNN: only inputs of computing ops are quantized
  std::string exporter = "qdq_onnx";

  bool quantizes(const std::string& op_type) const;
  bool is_passive(const std::string& op_type) const;
};

// Names of the built-in platforms ("TRT_INT8", "ORT_INT8", ...).
std::vector<std::string> builtin_platforms();
// A built-in platform by name (case-insensitive), or a platform JSON file when `name_or_path`
// ends with .json. Errors name the file and the field at fault.
Platform load_platform(const std::string& name_or_path);
Platform parse_platform(const std::string& json_text, const std::string& where);

}  // namespace qforge
