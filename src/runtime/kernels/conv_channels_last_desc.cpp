// SPDX-License-Identifier: Apache-2.0
// oneDNN descriptions of channels-last convs (conv_channels_last_desc.h).
#include "conv_channels_last_desc.h"

#include "dnnl_util.h"

namespace qforge::kernels {

using dnnl::memory;
using Tag = memory::format_tag;

ConvDims conv_dims(const KernelContext& ctx, const Shape& x_nchw, const Shape& weights) {
  const std::string node = ctx.op().describe();
  if (x_nchw.size() != 4 || weights.size() != 4)
    fail(ErrorKind::Shape, "{}: needs a 4-D input and weight, got {} and {}", node,
         shape_to_string(x_nchw), shape_to_string(weights));
  ConvDims d;
  d.batch = x_nchw[0];
  d.channels = x_nchw[1];
  d.out_channels = weights[0];
  d.group = ctx.attr_int("group", 1);
  if (d.group < 1 || d.channels % d.group != 0 || d.out_channels % d.group != 0 ||
      weights[1] * d.group != d.channels)
    fail(ErrorKind::Shape, "{}: input channels {} and weight {} do not fit group {}", node,
         d.channels, shape_to_string(weights), d.group);
  d.g = window_geometry(ctx, x_nchw, {weights[2], weights[3]});
  return d;
}

namespace {

// What runs on the conv's output inside oneDNN: the residual sum (preloaded into the output),
// then the activation.
dnnl::primitive_attr post_ops_attr(const Operation& op, const ConvExtras& extras) {
  dnnl::primitive_attr attr;
  if (extras.user_scratchpad) attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::post_ops post;
  if (extras.residual) post.append_sum(1.0f);
  const std::string activation = op.attr_string("activation", "");
  if (activation == "Relu")
    post.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  else if (activation == "Clip")
    post.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, op.attr_float("clip_min", 0.0f),
                        op.attr_float("clip_max", 0.0f));
  else if (!activation.empty())
    fail(ErrorKind::InvalidModel, "{}: unknown activation '{}'", op.describe(), activation);
  attr.set_post_ops(post);
  return attr;
}

}  // namespace

dnnl::convolution_forward::primitive_desc channels_last_conv_desc(const Operation& op,
                                                                  const ConvDims& d,
                                                                  const ConvExtras& extras,
                                                                  Tag weights_format,
                                                                  dnnl::algorithm algorithm) {
  const auto f32 = memory::data_type::f32;
  const Tag data_format = algorithm == dnnl::algorithm::convolution_winograd ? Tag::any : Tag::nhwc;
  const memory::desc src(d.src(), f32, data_format), dst(d.dst(), f32, data_format);
  const memory::desc wei(d.weights(), f32, weights_format);
  const memory::desc bia =
      extras.bias ? memory::desc({d.out_channels}, f32, Tag::x) : memory::desc();
  const WindowGeometry& g = d.g;
  return dnnl::convolution_forward::primitive_desc(
      dnnl::convolution_forward::desc(
          dnnl::prop_kind::forward_inference, algorithm, src, wei, bia, dst,
          {g.stride[1], g.stride[2]}, {g.dilation[1] - 1, g.dilation[2] - 1},
          {g.pad_begin[1], g.pad_begin[2]}, {g.pad_end[1], g.pad_end[2]}),
      post_ops_attr(op, extras), dnnl_engine());
}

memory::desc weight_input_desc(const Operation& op, const ConvDims& d, int64_t format) {
  const memory::dims dims = d.weights();
  try {
    return memory::desc(dims, memory::data_type::f32,
                        format ? static_cast<Tag>(format) : d.plain_weights());
  } catch (const dnnl::error&) {
    fail(ErrorKind::InvalidModel, "{}: weights_format {} is no oneDNN layout of weights {}",
         op.describe(), format, shape_to_string(Shape(dims.begin(), dims.end())));
  }
}

std::optional<int64_t> format_tag_of(const memory::desc& desc) {
  const memory::dims dims = desc.dims();
  for (int tag = dnnl_a; tag < dnnl_format_tag_last; ++tag) {
    dnnl_memory_desc_t candidate;
    if (dnnl_memory_desc_init_by_tag(&candidate, static_cast<int>(dims.size()), dims.data(),
                                     dnnl_f32, static_cast<dnnl_format_tag_t>(tag)) != dnnl_success)
      continue;
    if (dnnl_memory_desc_equal(&candidate, &desc.data)) return tag;
  }
  return std::nullopt;
}

Tensor reorder_weights(const Tensor& from, const memory::desc& from_desc, const memory::desc& to) {
  Tensor packed(DataType::Float, {static_cast<int64_t>(to.get_size() / sizeof(float))});
  memory given(from_desc, dnnl_engine(), const_cast<void*>(from.raw()));
  memory wanted(to, dnnl_engine(), packed.raw());
  dnnl::stream stream(dnnl_engine());
  dnnl::reorder(given, wanted).execute(stream, given, wanted);
  stream.wait();
  return packed;
}

}  // namespace qforge::kernels
