// SPDX-License-Identifier: Apache-2.0
// Kernel family: conv (this file: the oneDNN path). Dense 2-D float convs whose weights are
// small next to their work run as a oneDNN convolution in its blocked layout (reorders from
// and to NCHW included); everything else stays on im2col + GEMM. Called from conv.cpp; tested
// in tests/runtime/test_conv.cpp.
#include "conv_dnnl.h"

#include <omp.h>

#include <dnnl.hpp>

#include "dnnl_util.h"

namespace qforge::kernels {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

// Forward convs: oneDNN, copies and per-call weight reorder included, now beats the other
// paths wherever conv.cpp still asks (the direct kernel goes first on 7x7 planes and on channel
// counts oneDNN pads): resnet18's 256x14x14 3x3 took 1.35 ms against 1.64 direct (1 thread),
// 128->256 3x3 stride 2 0.75 against 0.89 for im2col + GEMM; the whole model 16.0 -> 13.9 ms
// with 2 threads. ConvTranspose keeps the older rule: reordering costs per weight byte what the
// faster kernel saves per ~64 multiply-adds, unless the weights are kept reordered.
bool worth_it(const DnnlConv& c, bool weights_kept) {
  if (c.kernel[0] * c.kernel[1] == 1) return false;  // 1x1: the direct kernel
  // A short im2col matrix (mobilenet_v2's first conv: 3 channels x 3x3 = 27 rows) goes faster
  // through im2col and the direct kernel (0.55 vs 0.73 ms), which do not pay oneDNN's copies.
  if (c.in_channels * c.kernel[0] * c.kernel[1] <= kShortIm2col) return false;
  if (weights_kept || !c.transposed) return true;
  // A ConvTranspose does the work of the forward conv from its y to its x.
  const int64_t macs =
      c.batch * c.out_channels * c.in[0] * c.in[1] * c.in_channels * c.kernel[0] * c.kernel[1];
  const int64_t weight_bytes = c.out_channels * c.in_channels * c.kernel[0] * c.kernel[1] * 4;
  return weight_bytes * 64 < macs;
}

// Memory for layout copies: the kernel's scratch (the executor's arena, so that the copies
// share bytes with dead activations instead of fragmenting the heap), else oneDNN's own.
class Scratch {
 public:
  explicit Scratch(KernelContext* ctx) : ctx_(ctx) {}
  memory make(const memory::desc& desc) {
    if (!ctx_) return memory(desc, dnnl_engine());
    held_.push_back(ctx_->allocate_scratch(desc.get_size()));
    return memory(desc, dnnl_engine(), held_.back().raw());
  }

 private:
  KernelContext* ctx_;
  std::vector<Tensor> held_;
};

// A user buffer in NCHW/OIHW, reordered into `want` when the primitive asks for another layout.
memory to_layout(const memory& user, const memory::desc& want, dnnl::stream& s, Scratch& scratch) {
  if (user.get_desc() == want) return user;
  memory m = scratch.make(want);
  dnnl::reorder(user, m).execute(s, const_cast<memory&>(user), m);
  return m;
}

// The forward convolution, or for a ConvTranspose oneDNN's deconvolution, on the given layouts.
dnnl::primitive_desc primitive_desc(const DnnlConv& c, const memory::desc& src,
                                    const memory::desc& wei, const memory::desc& bias,
                                    const memory::desc& dst, const memory::dims& strides,
                                    const memory::dims& dilates, const memory::dims& pad_l,
                                    const memory::dims& pad_r) {
  const auto inference = dnnl::prop_kind::forward_inference;
  // Its working memory comes from the caller (oneDNN would allocate and free it on every call).
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (c.transposed)
    return dnnl::deconvolution_forward::primitive_desc(
        dnnl::deconvolution_forward::desc(inference, dnnl::algorithm::deconvolution_direct, src,
                                          wei, bias, dst, strides, dilates, pad_l, pad_r),
        attr, dnnl_engine());
  return dnnl::convolution_forward::primitive_desc(
      dnnl::convolution_forward::desc(inference, dnnl::algorithm::convolution_direct, src, wei,
                                      bias, dst, strides, dilates, pad_l, pad_r),
      attr, dnnl_engine());
}

// The conv's memory descriptions: NCHW / OIHW (IOHW) user layouts and oneDNN's choice.
struct Layouts {
  memory::dims src, dst, wei, bia;
  dnnl::primitive_desc pd;
};

// The primitive is built for one sample (see execute), whatever the batch.
Layouts layouts(const DnnlConv& c, bool bias) {
  Layouts l;
  l.src = {1, c.in_channels, c.in[0], c.in[1]};
  l.dst = {1, c.out_channels, c.out[0], c.out[1]};
  l.wei = {c.out_channels, c.in_channels, c.kernel[0], c.kernel[1]};
  l.bia = {c.out_channels};
  const memory::dims strides{c.stride[0], c.stride[1]},
      dilates{c.dilation[0] - 1, c.dilation[1] - 1};
  const memory::dims pad_l{c.pad_begin[0], c.pad_begin[1]}, pad_r{c.pad_end[0], c.pad_end[1]};
  const auto any = [](const memory::dims& d) {
    return memory::desc(d, memory::data_type::f32, Tag::any);
  };
  const memory::desc bias_desc =
      bias ? memory::desc(l.bia, memory::data_type::f32, Tag::x) : memory::desc();
  l.pd = primitive_desc(c, any(l.src), any(l.wei), bias_desc, any(l.dst), strides, dilates, pad_l,
                        pad_r);  // JIT code is cached by oneDNN
  return l;
}

memory plain(const memory::dims& d, Tag t, const float* p) {
  return memory(memory::desc(d, memory::data_type::f32, t), dnnl_engine(), const_cast<float*>(p));
}

Tag weight_tag(const DnnlConv& c) {
  return c.transposed ? Tag::iohw : Tag::oihw;
}

// Runs `prim` from NCHW x to NCHW y one sample at a time, reordering around it when oneDNN
// wants other layouts: the blocked copies then hold one sample, not the batch (resnet18 at
// batch 8: 3.2 instead of 25.7 MiB for the first conv's output), at no measured cost in speed.
void execute(const DnnlConv& c, const Layouts& l, const dnnl::primitive& prim,
             const memory& weights, const float* x, const float* bias, float* y, dnnl::stream& s,
             Scratch& scratch) {
  const int64_t x_sample = c.in_channels * c.in[0] * c.in[1];
  const int64_t y_sample = c.out_channels * c.out[0] * c.out[1];
  const memory::desc x_plain(l.src, memory::data_type::f32, Tag::nchw);
  const memory::desc y_plain(l.dst, memory::data_type::f32, Tag::nchw);
  const bool x_copy = l.pd.src_desc(0) != x_plain, y_copy = l.pd.dst_desc(0) != y_plain;
  memory x_m = x_copy ? scratch.make(l.pd.src_desc(0)) : memory();
  memory y_m = y_copy ? scratch.make(l.pd.dst_desc(0)) : memory();
  const memory work = scratch.make(l.pd.scratchpad_desc());
  const memory bias_m = bias ? plain(l.bia, Tag::x, bias) : memory();
  for (int64_t n = 0; n < c.batch; ++n) {
    memory x_user = plain(l.src, Tag::nchw, x + n * x_sample);
    memory y_user = plain(l.dst, Tag::nchw, y + n * y_sample);
    if (x_copy) dnnl::reorder(x_user, x_m).execute(s, x_user, x_m);
    dnnl_execute(prim, {{DNNL_ARG_SRC, x_copy ? &x_m : &x_user},
                        {DNNL_ARG_WEIGHTS, &weights},
                        {DNNL_ARG_BIAS, bias ? &bias_m : nullptr},
                        {DNNL_ARG_DST, y_copy ? &y_m : &y_user},
                        {DNNL_ARG_SCRATCHPAD, &work}});
    if (y_copy) dnnl::reorder(y_m, y_user).execute(s, y_m, y_user);
  }
  s.wait();
}

void run(const DnnlConv& c, const float* x, const float* w, const float* bias, float* y) {
  dnnl::stream& s = dnnl_stream();
  const Layouts l = layouts(c, bias != nullptr);
  Scratch scratch(nullptr);
  const memory w_m = to_layout(plain(l.wei, weight_tag(c), w), l.pd.weights_desc(0), s, scratch);
  execute(c, l, dnnl::primitive(l.pd), w_m, x, bias, y, s, scratch);
}

// The op's primitive, and when allowed its weights in oneDNN's layout, kept between runs.
struct DnnlConvState final : KernelState {
  DnnlConv conv;
  bool bias = false;
  int threads = 0;  // oneDNN picks its blocking for the thread count
  Layouts layouts;
  dnnl::primitive prim;
  Tensor weight;  // the weight input `weights` was made from (undefined: none kept)
  memory weights;
};

void run_with_state(const DnnlConv& c, const float* x, const float* w, const float* bias, float* y,
                    int threads, const DnnlConvCache& cache) {
  dnnl::stream& s = dnnl_stream();
  auto* state = dynamic_cast<DnnlConvState*>(cache.slot->get());
  if (!state || !(state->conv == c) || state->bias != (bias != nullptr) ||
      state->threads != threads) {
    cache.slot->reset();  // an old weight copy goes before a new one is made
    auto fresh = std::make_unique<DnnlConvState>();
    fresh->conv = c;
    fresh->bias = bias != nullptr;
    fresh->threads = threads;
    fresh->layouts = layouts(c, fresh->bias);
    fresh->prim = dnnl::primitive(fresh->layouts.pd);
    state = fresh.get();
    *cache.slot = std::move(fresh);
  }
  const memory w_user = plain(state->layouts.wei, weight_tag(c), w);
  Scratch scratch(cache.scratch);
  if (!cache.keep_weights) {
    const memory w_m = to_layout(w_user, state->layouts.pd.weights_desc(0), s, scratch);
    execute(c, state->layouts, state->prim, w_m, x, bias, y, s, scratch);
    return;
  }
  if (!state->weight.defined() || state->weight.raw() != cache.weight->raw()) {
    state->weights = memory();
    state->weight = Tensor();
    Scratch own(nullptr);  // kept between runs: not from the arena
    state->weights = to_layout(w_user, state->layouts.pd.weights_desc(0), s, own);
    state->weight = *cache.weight;
  }
  execute(c, state->layouts, state->prim, state->weights, x, bias, y, s, scratch);
}

}  // namespace

bool conv_dnnl(const DnnlConv& c, const float* x, const float* w, const float* bias, float* y,
               int threads, const DnnlConvCache& cache) {
  const bool stateful = cache.slot && cache.weight;
  if (!worth_it(c, stateful && cache.keep_weights) || omp_in_parallel()) return false;
  const DnnlThreads scope(threads);
  bool ok = true;
  try {
    if (stateful)
      run_with_state(c, x, w, bias, y, std::max(threads, 1), cache);
    else
      run(c, x, w, bias, y);
  } catch (const dnnl::error&) {
    if (stateful) cache.slot->reset();
    ok = false;  // no oneDNN implementation for this case: the caller falls back to im2col
  }
  return ok;
}

}  // namespace qforge::kernels
