// SPDX-License-Identifier: Apache-2.0
// What the channels-last conv kernels share (conv_channels_last.cpp: ChannelsLastConv,
// conv_chain.cpp: ChannelsLastConvChain): a conv's dims in oneDNN's terms and the oneDNN
// convolution on [N, H, W, C] data that computes it, its Relu/Clip and residual sum included.
#pragma once

#include <optional>

#include <dnnl.hpp>

#include "nn_util.h"
#include "qforge/kernel.h"

namespace qforge::kernels {

// The conv of `batch` samples: oneDNN's dims, in its NCHW order of dimensions. Slots 1 and 2
// of the geometry are height and width.
struct ConvDims {
  int64_t batch = 1, channels = 0, out_channels = 0, group = 1;
  WindowGeometry g;
  dnnl::memory::dims src() const { return {batch, channels, g.in[1], g.in[2]}; }
  dnnl::memory::dims dst() const { return {batch, out_channels, g.out[1], g.out[2]}; }
  dnnl::memory::dims weights() const {
    if (group == 1) return {out_channels, channels, g.kernel[1], g.kernel[2]};
    return {group, out_channels / group, channels / group, g.kernel[1], g.kernel[2]};
  }
  dnnl::memory::format_tag plain_weights() const {
    return group == 1 ? dnnl::memory::format_tag::oihw : dnnl::memory::format_tag::goihw;
  }
  ConvDims one_sample() const {
    ConvDims d = *this;
    d.batch = 1;
    return d;
  }
  bool operator==(const ConvDims& o) const {
    return batch == o.batch && channels == o.channels && out_channels == o.out_channels &&
           group == o.group && g.in == o.g.in && g.kernel == o.g.kernel && g.stride == o.g.stride &&
           g.dilation == o.g.dilation && g.pad_begin == o.g.pad_begin && g.pad_end == o.g.pad_end;
  }
};

// The dims of ctx.op(), a Conv with ONNX weight shape `weights` ([M, C/group, kH, kW]), on an
// input of NCHW shape `x_nchw`; a malformed conv is a Shape error naming the node.
ConvDims conv_dims(const KernelContext& ctx, const Shape& x_nchw, const Shape& weights);

// How a channels-last convolution is made: with a bias, with the residual sum (y's old
// contents added), with working memory given by the caller rather than kept by oneDNN.
struct ConvExtras {
  bool bias = false;
  bool residual = false;
  bool user_scratchpad = false;
};

// The convolution of `d` for `op` (its activation attributes fused), weights in
// `weights_format` (any: oneDNN's choice), on channels-last x and y, or, for Winograd, on the
// blocked layouts oneDNN picks for them. Throws dnnl::error when oneDNN has none.
dnnl::convolution_forward::primitive_desc channels_last_conv_desc(
    const Operation& op, const ConvDims& d, const ConvExtras& extras,
    dnnl::memory::format_tag weights_format,
    dnnl::algorithm algorithm = dnnl::algorithm::convolution_direct);

// The layout of `op`'s weight input of dims `d`: format tag `format` (0: plain OIHW / GOIHW); a
// tag that names no oneDNN layout for them is an InvalidModel error naming the op.
dnnl::memory::desc weight_input_desc(const Operation& op, const ConvDims& d, int64_t format);

// The format tag whose layout is `desc`, if one is.
std::optional<int64_t> format_tag_of(const dnnl::memory::desc& desc);

// `from` (a float tensor in layout `from_desc`) reordered into `to`, as a 1-D float tensor.
Tensor reorder_weights(const Tensor& from, const dnnl::memory::desc& from_desc,
                       const dnnl::memory::desc& to);

}  // namespace qforge::kernels
