// SPDX-License-Identifier: Apache-2.0
// Kernel family: conv (this file: the oneDNN path). Dense 2-D float convs whose weights are
// small next to their work run as a oneDNN convolution in its blocked layout (reorders from
// and to NCHW included); everything else stays on im2col + GEMM. Called from conv.cpp; tested
// in tests/runtime/test_conv.cpp.
#include "conv_dnnl.h"

#include <omp.h>

#include <dnnl.hpp>

namespace qforge::kernels {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// Measured on resnet18 layers (1 thread, AVX-512): oneDNN's blocked conv with per-call
// reorders took 1.36-1.45 ms against 1.97 ms for im2col + GEMM on 64x56x56 3x3, but its weight
// reorder made it lose on 512x7x7 (2.39 vs 2.34 ms). Reordering costs per weight byte what the
// faster kernel saves per ~64 multiply-adds, hence this rule.
bool worth_it(const DnnlConv& c) {
  if (c.kernel[0] * c.kernel[1] == 1) return false;  // 1x1: GEMM is faster (0.09 vs 0.35 ms)
  // A ConvTranspose does the work of the forward conv from its y to its x.
  const int64_t* small = c.transposed ? c.in : c.out;
  const int64_t macs =
      c.batch * c.out_channels * small[0] * small[1] * c.in_channels * c.kernel[0] * c.kernel[1];
  const int64_t weight_bytes = c.out_channels * c.in_channels * c.kernel[0] * c.kernel[1] * 4;
  return weight_bytes * 64 < macs;
}

// A user buffer in NCHW/OIHW, reordered into `want` when the primitive asks for another layout.
memory to_layout(const memory& user, const memory::desc& want, dnnl::stream& s) {
  if (user.get_desc() == want) return user;
  memory m(want, cpu_engine());
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
  if (c.transposed)
    return dnnl::deconvolution_forward::primitive_desc(
        dnnl::deconvolution_forward::desc(inference, dnnl::algorithm::deconvolution_direct, src,
                                          wei, bias, dst, strides, dilates, pad_l, pad_r),
        cpu_engine());
  return dnnl::convolution_forward::primitive_desc(
      dnnl::convolution_forward::desc(inference, dnnl::algorithm::convolution_direct, src, wei,
                                      bias, dst, strides, dilates, pad_l, pad_r),
      cpu_engine());
}

void run(const DnnlConv& c, const float* x, const float* w, const float* bias, float* y) {
  dnnl::engine& eng = cpu_engine();
  dnnl::stream s(eng);
  const memory::dims src{c.batch, c.in_channels, c.in[0], c.in[1]},
      dst{c.batch, c.out_channels, c.out[0], c.out[1]};
  const memory::dims wei{c.out_channels, c.in_channels, c.kernel[0], c.kernel[1]},
      bia{c.out_channels};
  const memory::dims strides{c.stride[0], c.stride[1]},
      dilates{c.dilation[0] - 1, c.dilation[1] - 1};
  const memory::dims pad_l{c.pad_begin[0], c.pad_begin[1]}, pad_r{c.pad_end[0], c.pad_end[1]};
  const auto any = [](const memory::dims& d) {
    return memory::desc(d, memory::data_type::f32, Tag::any);
  };
  const memory::desc bias_desc =
      bias ? memory::desc(bia, memory::data_type::f32, Tag::x) : memory::desc();
  const auto pd =
      primitive_desc(c, any(src), any(wei), bias_desc, any(dst), strides, dilates, pad_l,
                     pad_r);  // JIT code is cached by oneDNN
  const auto plain = [&](const memory::dims& d, Tag t, const float* p) {
    return memory(memory::desc(d, memory::data_type::f32, t), eng, const_cast<float*>(p));
  };
  memory x_user = plain(src, Tag::nchw, x),
         w_user = plain(wei, c.transposed ? Tag::iohw : Tag::oihw, w),
         y_user = plain(dst, Tag::nchw, y);
  memory x_m = to_layout(x_user, pd.src_desc(0), s), w_m = to_layout(w_user, pd.weights_desc(0), s);
  memory y_m = pd.dst_desc(0) == y_user.get_desc() ? y_user : memory(pd.dst_desc(0), eng);
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, x_m}, {DNNL_ARG_WEIGHTS, w_m}, {DNNL_ARG_DST, y_m}};
  if (bias) args.emplace(DNNL_ARG_BIAS, plain(bia, Tag::x, bias));
  dnnl::primitive(pd).execute(s, args);
  if (y_m != y_user) dnnl::reorder(y_m, y_user).execute(s, y_m, y_user);
  s.wait();
}

}  // namespace

bool conv_dnnl(const DnnlConv& c, const float* x, const float* w, const float* bias, float* y,
               int threads) {
  if (!worth_it(c) || omp_in_parallel()) return false;
  // oneDNN threads through the same OpenMP pool as parallel_for; it takes its count from here.
  const int saved = omp_get_max_threads();
  omp_set_num_threads(std::max(threads, 1));
  bool ok = true;
  try {
    run(c, x, w, bias, y);
  } catch (const dnnl::error&) {
    ok = false;  // no oneDNN implementation for this case: the caller falls back to im2col
  }
  omp_set_num_threads(saved);
  return ok;
}

}  // namespace qforge::kernels
