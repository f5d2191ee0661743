// SPDX-License-Identifier: Apache-2.0
// Kernel family: conv, channels-last. The channels-last pass (include/qforge/channels_last.h)
// replaces 2-D float Convs by ChannelsLastConv (domain ai.qforge): x and y are [N, H, W, C],
// the weights are packed once into the layout oneDNN's convolution reads, and a following
// Relu/Clip runs inside it. Attributes: those of Conv, plus
//   weights_shape   the ONNX weight shape [M, C/group, kH, kW] (the input is then packed),
//   weights_format  the oneDNN format tag of the packed input (absent: plain OIHW weights),
//   winograd_threads  n > 0: the weights are in the layout of oneDNN's Winograd convolution of
//                   one sample made on n threads (the kernel then runs on n threads when its
//                   own count would want another layout; samples go one at a time),
//   activation      "Relu" or "Clip" (with clip_min, clip_max), absent: none.
// Tested in tests/runtime/test_channels_last.cpp.
#pragma once

#include <optional>

#include "qforge/kernel.h"

namespace qforge::kernels {

inline constexpr const char* kChannelsLastDomain = "ai.qforge";

struct PackedConvWeights {
  Tensor packed;             // 1-D float in oneDNN's blocked layout (may be padded), or `w` itself
  int64_t format;            // the dnnl_format_tag_t that describes it; 0: plain OIHW or Winograd
  int winograd_threads = 0;  // > 0: oneDNN's Winograd layout for one sample on these threads
};

// Whether oneDNN has a channels-last convolution for `conv` (an ONNX Conv, `bias` whether it has
// one) on an NCHW input of shape `x_nchw`; a malformed conv is an Error naming the node.
bool channels_last_conv_supported(const Operation& conv, const Shape& x_nchw, const Shape& w_shape,
                                  bool bias, int threads);

// `conv` (an ONNX Conv, `bias` whether it has one) on an NCHW input of shape `x_nchw`, with OIHW
// weights `w`: its weights in the layout oneDNN's channels-last convolution wants on `threads`
// threads; `w` itself when that layout has no format tag or asking for it changes oneDNN's
// implementation (the kernel then reorders them on every call); nullopt when oneDNN has no
// channels-last convolution for it. With `allow_winograd`, 3x3 stride-1 convs on large enough
// planes get Winograd's layout (F(2x2, 3x3), see winograd_pays in the .cpp: the weights 16/9 as
// large, results within the tests' 1e-4 relative of the direct conv).
std::optional<PackedConvWeights> pack_channels_last_conv_weights(const Operation& conv,
                                                                 const Shape& x_nchw,
                                                                 const Tensor& w, bool bias,
                                                                 int threads, bool allow_winograd);

void register_channels_last_conv_kernels(KernelRegistry& registry);

}  // namespace qforge::kernels
