// SPDX-License-Identifier: Apache-2.0
// Shared by `run` and `bench`: reading --input name=file arguments (.npy or TensorProto .pb)
// and making inputs from a model's declared shapes (--shape name=1x3x224x224, --batch N).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "qforge/graph.h"

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

// --layout of `run` and `bench`: "channels-last" (the default) applies the channels-last pass
// (qforge/channels_last.h), tracing shapes on `inputs` first when the model does not declare
// those of its Conv inputs; "channels-last-all" converts every eligible op, whether its chain
// pays or not; "onnx" runs the graph as loaded. `winograd` lets the pass run 3x3 convs as
// Winograd's F(2x2, 3x3) (--no-winograd turns it off); it and the fused activations are used
// only for inputs free of NaN and Inf. Prints what changed with `verbose`.
inline constexpr const char* kLayoutHelp =
    "channels-last (default: conv chains that pay run on [N, H, W, C] data, weights packed "
    "once), channels-last-all (every eligible op, whether it pays or not) or onnx (the graph as "
    "loaded)";
inline constexpr const char* kNoWinogradHelp =
    "With a channels-last layout: run 3x3 convs directly, not as Winograd's F(2x2, 3x3) (slower, "
    "rounding as a direct conv's)";
void apply_layout(Graph& graph, const std::string& layout,
                  const std::map<std::string, Tensor>& inputs, int threads, bool winograd,
                  bool verbose);

}  // namespace qforge::cli
