// SPDX-License-Identifier: Apache-2.0
// The quantization passes, in pipeline order (see Quantizer::quantize in src/quant/quantizer.cpp).
#pragma once

#include "pass_context.h"

namespace qforge {

void init_quantization_configs(Graph& graph, const PassContext& ctx);      // init_quantization_configs.cpp
void quantize_fusion(Graph& graph, const PassContext& ctx);                // quantize_fusion.cpp
void quantize_simplify(Graph& graph, const PassContext& ctx);              // quantize_simplify.cpp
void parameter_quantization(Graph& graph, const PassContext& ctx);         // parameter_quantization.cpp
void runtime_calibration(Graph& graph, const PassContext& ctx);            // runtime_calibration.cpp
void quantize_alignment(Graph& graph, const PassContext& ctx);             // quantize_alignment.cpp
void passive_parameter_quantization(Graph& graph, const PassContext& ctx); // passive_parameter_quantization.cpp
void parameter_baking(Graph& graph, const PassContext& ctx);               // parameter_baking.cpp

}  // namespace qforge
