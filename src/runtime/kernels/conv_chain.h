// SPDX-License-Identifier: Apache-2.0
// Kernel family: conv, channels-last. ChannelsLastConvChain (domain ai.qforge) runs two or more
// ChannelsLastConvs (conv_channels_last.h), each reading only the output of the one before (a
// MobileNet block: 1x1 expand, depthwise 3x3, 1x1 project), band by band of output rows, so
// that the values between them never leave the cache: the rows a band needs of each value are
// computed into a small buffer per thread, rows shared with the next band kept, and each
// thread runs its own part of the rows. The convs are oneDNN's, made for the band shapes on
// one thread, so results are those of the convs run one by one.
//   Inputs: x ([N, H, W, C]), then each stage's weights and bias (empty: none), then, optional,
//   the residual the last stage adds to its output.
//   Attributes: `stages`, their count; `band_bytes`, what a thread's buffers may hold of the
//   values between stages (the bands are as tall as fit; absent: one row); and each stage's
//   ChannelsLastConv attributes named "stage<i>.<name>" (weights_shape and weights_format describe
//   its weight input), with "stage<i>.node", the name of the node it was.
// Tested in tests/runtime/test_conv_chain.cpp.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "conv_channels_last.h"
#include "qforge/kernel.h"

namespace qforge::kernels {

inline constexpr const char* kConvChainType = "ChannelsLastConvChain";

// "stage<i>.<name>": the chain's attribute that holds stage i's attribute `name`.
std::string conv_chain_attr(size_t stage, std::string_view name);

// For a chain of `stages` (ChannelsLastConvs, each with its weight value in `weights`) on a
// channels-last input of shape `x_nhwc` (batch 1) run on `threads` threads with bands of at
// most `band_bytes` (see the attribute): each stage's
// weights in the layout its band convolutions read (with that layout's format tag), or
// nullopt when oneDNN has no such convolution or its layout has no format tag.
std::optional<std::vector<PackedConvWeights>> pack_conv_chain_weights(
    const std::vector<const Operation*>& stages, const std::vector<const Tensor*>& weights,
    const Shape& x_nhwc, int threads, int64_t band_bytes);

void register_conv_chain_kernels(KernelRegistry& registry);

}  // namespace qforge::kernels
