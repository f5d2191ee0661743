// SPDX-License-Identifier: Apache-2.0
// Kernel family: pooling (this file: the channels-last ops, see pooling_channels_last.h), on
// oneDNN's pooling, which vectorizes over channels.
#include "pooling_channels_last.h"

#include <dnnl.hpp>

#include "conv_channels_last.h"
#include "dnnl_util.h"
#include "nn_util.h"

namespace qforge::kernels {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

struct ChannelsLastPoolState final : KernelState {
  Shape x_shape;
  int threads = 0;
  dnnl::pooling_forward::primitive_desc pd;
  dnnl::pooling_forward prim;
};

template <bool kMax>
void channels_last_pool(KernelContext& ctx) {
  const Operation& op = ctx.op();
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DataType::Float || x.rank() != 4)
    fail(ErrorKind::Shape, "{}: needs a float [N, H, W, C] input, got {} {}", op.describe(),
         dtype_name(x.dtype()), shape_to_string(x.shape()));
  const std::vector<int64_t> kernel = ctx.attr_ints("kernel_shape");
  if (kernel.size() != 2)
    fail(ErrorKind::InvalidModel, "{}: needs a 2-D kernel_shape", op.describe());
  const int64_t batch = x.dim(0), channels = x.dim(3);
  const WindowGeometry g = window_geometry(ctx, {batch, channels, x.dim(1), x.dim(2)}, kernel,
                                           ctx.attr_int("ceil_mode", 0) != 0);
  const int threads = std::max(ctx.num_threads(), 1);
  const DnnlThreads scope(threads);

  std::unique_ptr<KernelState> local;
  std::unique_ptr<KernelState>* slot = ctx.kernel_state() ? ctx.kernel_state() : &local;
  auto* state = dynamic_cast<ChannelsLastPoolState*>(slot->get());
  if (!state || state->x_shape != x.shape() || state->threads != threads) {
    auto fresh = std::make_unique<ChannelsLastPoolState>();
    fresh->x_shape = x.shape();
    fresh->threads = threads;
    const auto f32 = memory::data_type::f32;
    const memory::desc src({batch, channels, g.in[1], g.in[2]}, f32, Tag::nhwc);
    const memory::desc dst({batch, channels, g.out[1], g.out[2]}, f32, Tag::nhwc);
    // ceil_mode's last window may hang over the end: oneDNN sees that as more padding.
    memory::dims pad_end(2);
    for (int s = 1; s <= 2; ++s) {
      const int64_t covered = (g.out[s] - 1) * g.stride[s] + g.kernel[s];
      pad_end[s - 1] = std::max(g.pad_end[s], covered - g.in[s] - g.pad_begin[s]);
    }
    const bool include_pad = ctx.attr_int("count_include_pad", 0) != 0;
    const auto algorithm = kMax          ? dnnl::algorithm::pooling_max
                           : include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                         : dnnl::algorithm::pooling_avg_exclude_padding;
    try {
      fresh->pd = dnnl::pooling_forward::primitive_desc(
          dnnl::pooling_forward::desc(dnnl::prop_kind::forward_inference, algorithm, src, dst,
                                      {g.stride[1], g.stride[2]}, {g.kernel[1], g.kernel[2]},
                                      {g.pad_begin[1], g.pad_begin[2]}, pad_end),
          dnnl_engine());
    } catch (const dnnl::error& e) {
      fail(ErrorKind::UnsupportedOp, "{}: oneDNN has no pooling for input {}: {}", op.describe(),
           shape_to_string(x.shape()), e.what());
    }
    fresh->prim = dnnl::pooling_forward(fresh->pd);
    state = fresh.get();
    *slot = std::move(fresh);
  }
  Tensor& y = ctx.allocate_output(0, DataType::Float, {batch, g.out[1], g.out[2], channels},
                                  KernelContext::OutputInit::Uninitialized);
  dnnl::stream stream(dnnl_engine());
  memory src(state->pd.src_desc(), dnnl_engine(), const_cast<void*>(x.raw()));
  memory dst(state->pd.dst_desc(), dnnl_engine(), y.raw());
  state->prim.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
  stream.wait();
}

}  // namespace

void register_channels_last_pooling_kernels(KernelRegistry& registry) {
  registry.add(kChannelsLastDomain, "ChannelsLastMaxPool", 1, kLatestOpset,
               channels_last_pool<true>);
  registry.add(kChannelsLastDomain, "ChannelsLastAveragePool", 1, kLatestOpset,
               channels_last_pool<false>);
}

}  // namespace qforge::kernels
