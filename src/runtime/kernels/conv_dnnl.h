// SPDX-License-Identifier: Apache-2.0
// The oneDNN path of the conv family (conv_dnnl.cpp), used by conv.cpp for dense 2-D float
// convs where it measured faster than im2col + GEMM. Tested through tests/runtime/test_conv.cpp.
#pragma once

#include <cstdint>
#include <memory>

#include "qforge/kernel.h"

namespace qforge::kernels {

// One dense (group 1) 2-D convolution in NCHW / OIHW, or, when `transposed`, a ConvTranspose
// with ONNX's IOHW weights; [0] is height, [1] width. `in`/`out` are the spatial sizes of x
// and y, and pads/strides are those of the ONNX node.
struct DnnlConv {
  int64_t batch, in_channels, out_channels;
  int64_t in[2], out[2], kernel[2], stride[2], dilation[2], pad_begin[2], pad_end[2];
  bool transposed = false;
  bool operator==(const DnnlConv&) const = default;
};

// Where the oneDNN path may keep the op's primitive, and with `keep_weights` its weights
// reordered into oneDNN's layout, between runs (see KernelContext::kernel_state); `weight` is
// the weight input, whose buffer identifies the reordered copy. Empty: prepare all per call.
struct DnnlConvCache {
  std::unique_ptr<KernelState>* slot = nullptr;
  const Tensor* weight = nullptr;
  bool keep_weights = false;
  // Where layout copies (reordered inputs, weights, blocked outputs) get their memory; oneDNN
  // allocates them itself when null.
  KernelContext* scratch = nullptr;
};

// Rows of an im2col matrix up to which conv.cpp multiplies it with the direct kernel (beyond,
// a GEMM, which packs its operands, is faster: resnet18's 256 x 3x3 at 14x14, 2304 rows, took
// 2.9 ms direct against 2.05 ms).
constexpr int64_t kShortIm2col = 64;

// Runs the conv through oneDNN and returns true, or returns false when im2col + GEMM is
// expected to be faster or oneDNN has no implementation for it (y must then be computed anew).
bool conv_dnnl(const DnnlConv& conv, const float* x, const float* w, const float* bias, float* y,
               int threads, const DnnlConvCache& cache = {});

}  // namespace qforge::kernels
