// SPDX-License-Identifier: Apache-2.0
// One register function per kernel family (src/runtime/kernels/<family>.cpp). The list that
// calls them is kFamilies in src/runtime/kernel_registry.cpp.
#pragma once

#include "qforge/kernel.h"

namespace qforge::kernels {

void register_elementwise_kernels(KernelRegistry& registry);     // elementwise.cpp
void register_activation_kernels(KernelRegistry& registry);      // activation.cpp
void register_reduce_kernels(KernelRegistry& registry);          // reduce.cpp
void register_tensor_kernels(KernelRegistry& registry);          // tensor.cpp (shape manipulation)
void register_gather_scatter_kernels(KernelRegistry& registry);  // gather_scatter.cpp
void register_resize_kernels(KernelRegistry& registry);          // resize.cpp
void register_conv_kernels(KernelRegistry& registry);            // conv.cpp
void register_gemm_kernels(KernelRegistry& registry);            // gemm.cpp
void register_pooling_kernels(KernelRegistry& registry);         // pooling.cpp
void register_normalization_kernels(KernelRegistry& registry);   // normalization.cpp
void register_rnn_kernels(KernelRegistry& registry);             // rnn.cpp
void register_control_flow_kernels(KernelRegistry& registry);    // control_flow.cpp
void register_quantization_kernels(KernelRegistry& registry);    // quantization.cpp
void register_misc_kernels(KernelRegistry& registry);            // misc.cpp (TopK, NMS, ...)
void register_loss_kernels(KernelRegistry& registry);  // loss.cpp (NLL, SoftmaxCE, optimizers)

}  // namespace qforge::kernels
