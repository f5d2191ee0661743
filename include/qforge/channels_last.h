// SPDX-License-Identifier: Apache-2.0
// The channels-last pass, an inference optimization (ONNX Runtime's NCHWc transformer plays
// the same part): chains of 2-D float Convs, the pooling, element-wise and Concat ops between
// them run on [N, H, W, C] data, each Conv with its weights packed once for oneDNN and its
// Relu/Clip fused; Transposes convert at the chain's ends. Graph inputs and outputs keep their
// names and layout, so the graph computes the same outputs (up to float rounding); the ops
// inside a chain are no longer ONNX ops (domain ai.qforge), so the result is for running in
// qforge's executor, not for quantization or export. `qforge run` and `qforge bench` apply it.
#pragma once

#include "qforge/graph.h"

namespace qforge {

struct ChannelsLastOptions {
  int threads = 0;  // the executor's (0: all cores): oneDNN picks its weight layout for it
  // Relu/Clip after a Conv run inside oneDNN's convolution. Its activations turn NaN into the
  // lower bound where ONNX Runtime keeps NaN: switch off for inputs that hold NaN or Inf
  // (`qforge run` does). For finite inputs the results are the same.
  bool fuse_activations = true;
  // Keep only chains that pay: Transposes at most half as many as Convs, and the Convs' memory
  // in oneDNN at most half of what the chain holds anyway (see conv_overhead_bytes); false
  // converts every eligible op (tests use it to run each kernel).
  bool only_chains_that_pay = true;
  // oneDNN keeps about this much primitive state and generated code per conv. A chain pays
  // when its Convs' weights plus its largest value hold at least twice that per Conv: BlazeFace
  // (37 convs, 0.4 MiB of weights, values of at most 0.4 MiB) would go from 2.7 to 5.3 MiB of
  // private memory, for 0.80-0.85 instead of 1.08 ms at 1 thread. 0: no such limit.
  int64_t conv_overhead_bytes = 72 * 1024;
  // 3x3 stride-1 Convs on planes of at least 14x14 run Winograd's F(2x2, 3x3) in oneDNN:
  // resnet18's 56x56 and 28x28 convs take 0.85-0.95 instead of 1.13-1.19 ms at 1 thread
  // (docs/benchmarks.md), their weights 16/9 of the memory; results agree with the direct
  // conv's to the tests' 1e-4 relative. Its transforms subtract neighbouring inputs, so an Inf
  // can become NaN where a direct conv keeps Inf: switch off for inputs that hold NaN or Inf
  // (`qforge run` does).
  bool winograd = true;
  // Convs that each read only the one before (MobileNet's 1x1 expand, depthwise and 1x1
  // project) run as one ChannelsLastConvChain, band by band of rows with the values between
  // them in cache (see src/runtime/kernels/conv_chain.h), when one of those values, divided by
  // the threads (each computes its share of the rows), takes at least conv_chain_min_bytes per
  // sample; a Conv joins only over a value of at least a quarter of that. Results are those of
  // the Convs run one by one.
  bool conv_chains = true;
  int64_t conv_chain_min_bytes = int64_t{1} << 20;
  // The bytes of those values a chain's thread holds for one band, at most (the bands' height
  // follows): MobileNetV2's 112x112 and 56x56 blocks ran fastest with 0.5-1 MiB (L2: 2 MiB).
  int64_t conv_chain_band_bytes = 768 * 1024;
};

struct ChannelsLastSummary {
  int convs = 0;           // Convs now channels-last
  int packed_convs = 0;    // of them, with weights packed (the rest reorder them per call)
  int winograd_convs = 0;  // of the packed, in Winograd's layout
  int pools = 0;           // MaxPool / AveragePool now channels-last
  int fused_activations = 0;
  int fused_adds = 0;     // residual Adds run inside the Conv before them
  int other_ops = 0;      // element-wise and Concat ops inside chains
  int transposes = 0;     // layout conversions added at the chains' ends
  int conv_chains = 0;    // ChannelsLastConvChains made
  int chained_convs = 0;  // the Convs they run
};

// Rewrites `graph` in place. Convs that oneDNN cannot run, and everything whose input shapes
// are not known (trace them first for models without shape information), stay as they are.
ChannelsLastSummary convert_to_channels_last(Graph& graph, const ChannelsLastOptions& options = {});

}  // namespace qforge
