// SPDX-License-Identifier: Apache-2.0
// Shared by `run` and `bench`: reading --input name=file arguments (.npy or TensorProto .pb)
// and making inputs from a model's declared shapes (--shape name=1x3x224x224, --batch N).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "qforge/graph.h"

namespace CLI {
class App;
}  // namespace CLI

namespace qforge::cli {

std::map<std::string, Tensor> read_input_files(const Graph& graph,
                                               const std::vector<std::string>& specs);
// "name=1x3x224x224" -> {name: shape}
std::map<std::string, Shape> parse_shape_overrides(const std::vector<std::string>& specs);
// Random inputs (fixed seed) of the declared shapes; symbolic dims take `batch` for the first
// axis, otherwise an override is required.
std::map<std::string, Tensor> make_random_inputs(const Graph& graph,
                                                 const std::map<std::string, Shape>& shapes,
                                                 int64_t batch);

// --layout, --no-winograd and --no-conv-chains of `run` and `bench`. The layout is
// "channels-last" (the default: the channels-last pass, qforge/channels_last.h, tracing shapes
// on the inputs first when the model does not declare those of its Conv inputs),
// "channels-last-all" (every eligible op converted, whether its chain pays or not) or "onnx"
// (the graph as loaded). Winograd's F(2x2, 3x3) for 3x3 convs and the fused activations are
// used only for inputs free of NaN and Inf.
struct LayoutFlags {
  std::string layout = "channels-last";
  bool no_winograd = false;
  bool no_conv_chains = false;
};
void add_layout_flags(CLI::App& cmd, LayoutFlags& flags);
// Applies the layout to `graph` for `threads` threads; prints what changed with `verbose`.
void apply_layout(Graph& graph, const LayoutFlags& flags,
                  const std::map<std::string, Tensor>& inputs, int threads, bool verbose);

}  // namespace qforge::cli
