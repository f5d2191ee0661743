// SPDX-License-Identifier: Apache-2.0
// Kernel family: pooling, channels-last. ChannelsLastMaxPool and ChannelsLastAveragePool
// (domain ai.qforge), put by the channels-last pass (include/qforge/channels_last.h) in place of
// 2-D MaxPool / AveragePool inside a chain: x and y are [N, H, W, C], attributes those of the
// ONNX op (dilations 1, storage_order 0, one output). Tested in
// tests/runtime/test_channels_last.cpp.
#pragma once

#include "qforge/kernel.h"

namespace qforge::kernels {

void register_channels_last_pooling_kernels(KernelRegistry& registry);

}  // namespace qforge::kernels
