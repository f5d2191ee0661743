// SPDX-License-Identifier: Apache-2.0
// Kernel family: conv (this file: ChannelsLastConv, see conv_channels_last.h). oneDNN's
// convolutions are fastest on channels-last data with weights in their own blocked layout; the
// NCHW Conv kernel pays a reorder of x, y and the weights on every call (resnet18, 1 thread:
// 3.3 of 25 ms). Here x and y already are channels-last and the weights were packed by the pass.
#include "conv_channels_last.h"

#include <omp.h>

#include <dnnl.hpp>

#include "conv_channels_last_desc.h"
#include "dnnl_util.h"

namespace qforge::kernels {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

// The op's convolution: its residual sum when it has a fourth input; its working memory comes
// from the executor's scratch (oneDNN would allocate and free it on every call, and keep up to
// 2 MiB per Winograd primitive).
dnnl::convolution_forward::primitive_desc primitive_desc(
    const Operation& op, const ConvDims& d, bool bias, Tag weights_format,
    dnnl::algorithm algorithm = dnnl::algorithm::convolution_direct) {
  const ConvExtras extras{bias, op.num_inputs() > 3 && op.input(3) != nullptr, true};
  return channels_last_conv_desc(op, d, extras, weights_format, algorithm);
}

// Whether Winograd's F(2x2, 3x3) pays for `d` (one sample): 3x3 stride-1 dense convs on planes
// of at least 14x14 with at least 16 channels each side. On resnet18 at 1 thread, with the
// reorders of x and y, 56x56 and 28x28 convs take 0.85-0.95 instead of 1.13-1.19 ms and 14x14
// ones 1.09-1.11 instead of 1.24-1.26 (docs/benchmarks.md); on 7x7 it gains nothing while its
// weights, as in every case, take 16/9 of the memory.
bool winograd_pays(const ConvDims& d) {
  const WindowGeometry& g = d.g;
  return d.group == 1 && g.kernel[1] == 3 && g.kernel[2] == 3 && g.stride[1] == 1 &&
         g.stride[2] == 1 && g.dilation[1] == 1 && g.dilation[2] == 1 && d.channels >= 16 &&
         d.out_channels >= 16 && g.out[1] * g.out[2] >= 14 * 14;
}

// The Winograd convolution of one sample as oneDNN makes it on `threads` threads (its weight
// layout may depend on them).
dnnl::convolution_forward::primitive_desc winograd_desc(const Operation& op, const ConvDims& sample,
                                                        bool bias, int threads) {
  const DnnlThreads scope(threads);
  return primitive_desc(op, sample, bias, Tag::any, dnnl::algorithm::convolution_winograd);
}

// The op's primitive for one input shape and thread count, kept between runs, and, when the
// packed layout is not the one the primitive reads, the weights reordered for it.
struct ChannelsLastConvState final : KernelState {
  ConvDims dims;
  int threads = 0;
  bool bias = false;
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim;
  int64_t samples_per_call = 1;  // the batch, or 1
  bool reorder_weights = false;  // the input's layout differs from pd.weights_desc()
  Tensor weight;                 // the weight input `reordered` was made from
  memory reordered;
  // Winograd: x, the residual and y are reordered to and from oneDNN's blocked layouts one
  // sample at a time, on `run_threads` (the packing's thread count when the executor's would
  // want other weights).
  bool winograd = false;
  int run_threads = 0;
  dnnl::reorder src_to_blocked, dst_to_blocked, dst_to_channels_last;
  // The direct conv's arguments, made once and pointed at each call's buffers (made per call,
  // they cost allocations).
  memory src, dst, weights_in, bias_in, work;
};

// The direct convolution: the whole batch in one primitive (threads share out more work) when
// oneDNN's own choice of weight layout for it is the packed one; else one sample at a time, the
// shape the weights were packed for; else, asking for the packed layout, if oneDNN then keeps its
// implementation (some, e.g. its 1x1 convs, take only their own choice and fall back to
// reference code otherwise); else its choice, the weights reordered on every call.
void make_direct(ChannelsLastConvState& state, const Operation& op, Tag packed) {
  const ConvDims& d = state.dims;
  const ConvDims sample = d.one_sample();
  const memory::desc packed_desc(d.weights(), memory::data_type::f32, packed);
  const auto chosen_is_packed = [&](const ConvDims& dims) {
    try {
      auto chosen = primitive_desc(op, dims, state.bias, Tag::any);
      if (chosen.weights_desc() != packed_desc) return false;
      state.pd = std::move(chosen);
      return true;
    } catch (const dnnl::error&) {
      return false;
    }
  };
  const auto given_keeps_impl = [&](const ConvDims& dims) {
    try {
      auto given = primitive_desc(op, dims, state.bias, packed);
      if (given.impl_info_str() != primitive_desc(op, dims, state.bias, Tag::any).impl_info_str())
        return false;
      state.pd = std::move(given);
      return true;
    } catch (const dnnl::error&) {
      return false;
    }
  };
  if (!chosen_is_packed(d) && !(d.batch > 1 && chosen_is_packed(sample)) && !given_keeps_impl(d) &&
      !(d.batch > 1 && given_keeps_impl(sample)))
    try {
      state.pd = primitive_desc(op, sample, state.bias, Tag::any);
    } catch (const dnnl::error& e) {
      fail(ErrorKind::UnsupportedOp, "{}: oneDNN has no convolution for input {}: {}",
           op.describe(), shape_to_string(Shape{d.batch, d.g.in[1], d.g.in[2], d.channels}),
           e.what());
    }
  state.samples_per_call = state.pd.src_desc().dims()[0];
  state.reorder_weights = state.pd.weights_desc() != packed_desc;
  state.prim = dnnl::convolution_forward(state.pd);
  state.src = memory(state.pd.src_desc(), dnnl_engine(), DNNL_MEMORY_NONE);
  state.dst = memory(state.pd.dst_desc(), dnnl_engine(), DNNL_MEMORY_NONE);
  state.weights_in = memory(state.pd.weights_desc(), dnnl_engine(), DNNL_MEMORY_NONE);
  state.work = memory(state.pd.scratchpad_desc(), dnnl_engine(), DNNL_MEMORY_NONE);
  if (state.bias)
    state.bias_in = memory(memory::desc({d.out_channels}, memory::data_type::f32, Tag::x),
                           dnnl_engine(), DNNL_MEMORY_NONE);
}

// Winograd on weights the pass packed for one sample on `packed_threads` threads.
void make_winograd(ChannelsLastConvState& state, const Operation& op, int packed_threads,
                   size_t weight_bytes) {
  const ConvDims sample = state.dims.one_sample();
  try {
    state.pd = winograd_desc(op, sample, state.bias, state.threads);
    state.run_threads = state.threads;
    if (state.threads != packed_threads) {
      auto as_packed = winograd_desc(op, sample, state.bias, packed_threads);
      if (as_packed.weights_desc() != state.pd.weights_desc()) {
        state.pd = std::move(as_packed);
        state.run_threads = packed_threads;
      }
    }
  } catch (const dnnl::error& e) {
    fail(ErrorKind::UnsupportedOp, "{}: oneDNN has no Winograd convolution for input {}: {}",
         op.describe(),
         shape_to_string(Shape{sample.batch, sample.g.in[1], sample.g.in[2], sample.channels}),
         e.what());
  }
  if (state.pd.weights_desc().get_size() != weight_bytes)
    fail(ErrorKind::InvalidModel,
         "{}: its weights ({} bytes) are not in oneDNN's Winograd layout ({} bytes)", op.describe(),
         weight_bytes, state.pd.weights_desc().get_size());
  const DnnlThreads scope(state.run_threads);
  const auto f32 = memory::data_type::f32;
  const memory::desc src(sample.src(), f32, Tag::nhwc), dst(sample.dst(), f32, Tag::nhwc);
  const auto reorder = [](const memory::desc& from, const memory::desc& to) {
    return dnnl::reorder(dnnl::reorder::primitive_desc(dnnl_engine(), from, dnnl_engine(), to));
  };
  state.src_to_blocked = reorder(src, state.pd.src_desc());
  if (op.num_inputs() > 3 && op.input(3))  // the residual, added to y's old contents
    state.dst_to_blocked = reorder(dst, state.pd.dst_desc());
  state.dst_to_channels_last = reorder(state.pd.dst_desc(), dst);
  state.prim = dnnl::convolution_forward(state.pd);
  state.winograd = true;
  state.samples_per_call = 1;
}

// y = conv(x) (+ y's old contents, the residual) on the Winograd primitive, one sample at a time
// through blocked copies.
void run_winograd(KernelContext& ctx, const ChannelsLastConvState& state, const memory& weights,
                  const memory* bias, const Tensor& x, Tensor& y, bool residual) {
  const DnnlThreads scope(state.run_threads);
  const memory::desc src_desc = state.pd.src_desc();
  const memory::desc dst_desc = state.pd.dst_desc();
  const memory::desc work_desc = state.pd.scratchpad_desc();
  Tensor scratch =
      ctx.allocate_scratch(src_desc.get_size() + dst_desc.get_size() + work_desc.get_size());
  auto* blocked = static_cast<char*>(scratch.raw());
  memory src(src_desc, dnnl_engine(), blocked);
  memory dst(dst_desc, dnnl_engine(), blocked + src_desc.get_size());
  memory work(work_desc, dnnl_engine(), blocked + src_desc.get_size() + dst_desc.get_size());
  const auto f32 = memory::data_type::f32;
  const ConvDims sample = state.dims.one_sample();
  const memory::desc x_sample(sample.src(), f32, Tag::nhwc), y_sample(sample.dst(), f32, Tag::nhwc);
  const int64_t batch = x.dim(0);
  for (int64_t n = 0; n < batch; ++n) {
    memory x_n(x_sample, dnnl_engine(),
               const_cast<float*>(x.data<float>()) + n * (x.numel() / batch));
    memory y_n(y_sample, dnnl_engine(), y.data<float>() + n * (y.numel() / batch));
    dnnl_execute(state.src_to_blocked, {{DNNL_ARG_FROM, &x_n}, {DNNL_ARG_TO, &src}});
    if (residual) dnnl_execute(state.dst_to_blocked, {{DNNL_ARG_FROM, &y_n}, {DNNL_ARG_TO, &dst}});
    dnnl_execute(state.prim, {{DNNL_ARG_SRC, &src},
                              {DNNL_ARG_WEIGHTS, &weights},
                              {DNNL_ARG_BIAS, bias},
                              {DNNL_ARG_DST, &dst},
                              {DNNL_ARG_SCRATCHPAD, &work}});
    dnnl_execute(state.dst_to_channels_last, {{DNNL_ARG_FROM, &dst}, {DNNL_ARG_TO, &y_n}});
  }
}

void channels_last_conv(KernelContext& ctx) {
  const Operation& op = ctx.op();
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor* b = ctx.optional_input(2);
  const Tensor* residual = ctx.optional_input(3);
  if (x.dtype() != DataType::Float || w.dtype() != DataType::Float ||
      (b && b->dtype() != DataType::Float) || (residual && residual->dtype() != DataType::Float))
    fail(ErrorKind::InvalidModel, "{}: takes float tensors only", op.describe());
  if (x.rank() != 4)
    fail(ErrorKind::Shape, "{}: input needs shape [N, H, W, C], got {}", op.describe(),
         shape_to_string(x.shape()));
  const int64_t format = op.attr_int("weights_format", 0);
  const int64_t winograd_threads = op.attr_int("winograd_threads", 0);
  const Shape weight_shape = format || winograd_threads ? op.attr_ints("weights_shape") : w.shape();
  const ConvDims d = conv_dims(ctx, {x.dim(0), x.dim(3), x.dim(1), x.dim(2)}, weight_shape);
  if (b && b->numel() != d.out_channels)
    fail(ErrorKind::Shape, "{}: bias needs {} values, got {}", op.describe(), d.out_channels,
         shape_to_string(b->shape()));
  if (x.numel() == 0) {
    ctx.allocate_output(0, DataType::Float, {x.dim(0), d.g.out[1], d.g.out[2], d.out_channels});
    return;
  }
  const int threads = std::max(ctx.num_threads(), 1);
  // The layout the weight input is in: packed by the pass, or plain.
  const Tag packed = format ? static_cast<Tag>(format) : d.plain_weights();
  const DnnlThreads scope(threads);

  std::unique_ptr<KernelState> local;
  std::unique_ptr<KernelState>* slot = ctx.kernel_state() ? ctx.kernel_state() : &local;
  auto* state = dynamic_cast<ChannelsLastConvState*>(slot->get());
  if (!state || !(state->dims == d) || state->threads != threads || state->bias != (b != nullptr)) {
    slot->reset();
    weight_input_desc(op, d, format);  // a format that names no layout: an error naming the op
    auto fresh = std::make_unique<ChannelsLastConvState>();
    fresh->dims = d;
    fresh->threads = threads;
    fresh->bias = b != nullptr;
    if (winograd_threads > 0)
      make_winograd(*fresh, op, static_cast<int>(winograd_threads), w.numel() * sizeof(float));
    else
      make_direct(*fresh, op, packed);
    state = fresh.get();
    *slot = std::move(fresh);
  }

  const auto f32 = memory::data_type::f32;
  memory weights;
  Tensor scratch;
  if (!state->reorder_weights && !state->winograd) {
    state->weights_in.set_data_handle(const_cast<void*>(w.raw()));
    weights = state->weights_in;
  } else if (!state->reorder_weights) {
    weights = memory(state->pd.weights_desc(), dnnl_engine(), const_cast<void*>(w.raw()));
  } else if (ctx.may_keep_weights() && state->weight.defined() && state->weight.raw() == w.raw()) {
    weights = state->reordered;
  } else {
    memory given(memory::desc(d.weights(), f32, packed), dnnl_engine(), const_cast<void*>(w.raw()));
    if (ctx.may_keep_weights()) {
      state->reordered = memory(state->pd.weights_desc(), dnnl_engine());
      state->weight = w;
      weights = state->reordered;
    } else {
      scratch = ctx.allocate_scratch(state->pd.weights_desc().get_size());
      weights = memory(state->pd.weights_desc(), dnnl_engine(), scratch.raw());
    }
    dnnl_execute(dnnl::reorder(given, weights), {{DNNL_ARG_FROM, &given}, {DNNL_ARG_TO, &weights}});
  }

  const int64_t batch = x.dim(0);
  const Shape y_shape{batch, d.g.out[1], d.g.out[2], d.out_channels};
  if (residual && residual->shape() != y_shape)
    fail(ErrorKind::Shape, "{}: the added input needs shape {}, got {}", op.describe(),
         shape_to_string(y_shape), shape_to_string(residual->shape()));
  // oneDNN adds the output's old contents: the residual, in its own buffer when it dies here.
  Tensor& y = residual ? ctx.allocate_output_in_place(0, 3, DataType::Float, y_shape)
                       : ctx.allocate_output(0, DataType::Float, y_shape,
                                             KernelContext::OutputInit::Uninitialized);
  if (residual && y.raw() != residual->raw())
    std::copy_n(residual->data<float>(), residual->numel(), y.data<float>());
  if (state->winograd) {
    std::optional<memory> bias;
    if (b)
      bias.emplace(memory::desc({d.out_channels}, f32, Tag::x), dnnl_engine(),
                   const_cast<float*>(b->data<float>()));
    run_winograd(ctx, *state, weights, bias ? &*bias : nullptr, x, y, residual != nullptr);
    return;
  }
  if (b) state->bias_in.set_data_handle(const_cast<float*>(b->data<float>()));
  Tensor work = ctx.allocate_scratch(state->pd.scratchpad_desc().get_size());
  state->work.set_data_handle(work.raw());
  const int64_t step = state->samples_per_call;
  const int64_t x_sample = x.numel() / std::max<int64_t>(batch, 1) * step;
  const int64_t y_sample = y.numel() / std::max<int64_t>(batch, 1) * step;
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  for (int64_t n = 0; n < batch / step; ++n) {
    state->src.set_data_handle(const_cast<float*>(xp + n * x_sample));
    state->dst.set_data_handle(yp + n * y_sample);
    dnnl_execute(state->prim, {{DNNL_ARG_SRC, &state->src},
                               {DNNL_ARG_WEIGHTS, &weights},
                               {DNNL_ARG_BIAS, b ? &state->bias_in : nullptr},
                               {DNNL_ARG_DST, &state->dst},
                               {DNNL_ARG_SCRATCHPAD, &state->work}});
  }
}

}  // namespace

bool channels_last_conv_supported(const Operation& conv, const Shape& x_nchw, const Shape& w_shape,
                                  bool bias, int threads) {
  const KernelContext ctx(conv, {}, 0, threads);
  const ConvDims d = conv_dims(ctx, x_nchw, w_shape);
  const DnnlThreads scope(threads);
  try {
    primitive_desc(conv, d, bias, Tag::any);
    return true;
  } catch (const dnnl::error&) {
    return false;
  }
}

std::optional<PackedConvWeights> pack_channels_last_conv_weights(const Operation& conv,
                                                                 const Shape& x_nchw,
                                                                 const Tensor& w, bool bias,
                                                                 int threads, bool allow_winograd) {
  if (w.dtype() != DataType::Float) return std::nullopt;
  const KernelContext ctx(conv, {}, 0, threads);
  const ConvDims d = conv_dims(ctx, x_nchw, w.shape());
  const DnnlThreads scope(threads);
  const auto packed_for = [&](const memory::desc& want) {
    return reorder_weights(w, memory::desc(d.weights(), memory::data_type::f32, d.plain_weights()),
                           want);
  };
  if (allow_winograd && winograd_pays(d)) try {
      const memory::desc want = winograd_desc(conv, d, bias, threads).weights_desc();
      return PackedConvWeights{packed_for(want), 0, threads};
    } catch (const dnnl::error&) {
      // no Winograd convolution here: the direct one below
    }
  try {
    const memory::desc want = primitive_desc(conv, d, bias, Tag::any).weights_desc();
    const std::optional<int64_t> tag = format_tag_of(want);
    if (!tag) return PackedConvWeights{w, 0};
    return PackedConvWeights{packed_for(want), *tag};
  } catch (const dnnl::error&) {
    return std::nullopt;
  }
}

void register_channels_last_conv_kernels(KernelRegistry& registry) {
  registry.add(kChannelsLastDomain, "ChannelsLastConv", 1, kLatestOpset, channels_last_conv);
}

}  // namespace qforge::kernels
